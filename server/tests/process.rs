//! The real `keygate` binary as operators run it: the CLI bootstraps an account, an org
//! and a key without a browser. (K8, no secret in any line the process writes, is
//! `secrets.rs`, over the whole product on both databases.)

mod common;

use std::process::Command;

use reqwest::StatusCode;
use serde_json::json;

use common::process::{Running, keygate as keygate_with};

fn keygate(data_dir: &std::path::Path) -> Command {
    keygate_with(data_dir, &[])
}

fn run_ok(command: &mut Command) -> (String, String) {
    let output = command.output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        output.status.success(),
        "{command:?}\nstdout: {stdout}\nstderr: {stderr}"
    );
    (stdout, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_bootstraps_a_working_key_without_a_browser() {
    common::within_time_limit("cli_bootstraps_a_working_key_without_a_browser", async {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        let (out, _) = run_ok(keygate(data).arg("migrate"));
        assert_eq!(out.trim(), "migrations applied");
        let (user_id, _) = run_ok(
            keygate(data)
                .args([
                    "user",
                    "create",
                    "--email",
                    "ops@example.com",
                    "--name",
                    "Ops",
                ])
                .env("KEYGATE_PASSWORD", common::PASSWORD),
        );
        assert!(user_id.trim().starts_with("usr_"), "{user_id}");
        let (org, _) = run_ok(keygate(data).args([
            "org",
            "create",
            "--name",
            "Bootstrap",
            "--owner",
            "ops@example.com",
        ]));
        let org = org.trim().to_owned();
        assert!(org.starts_with("org_"), "{org}");
        let (key, stderr) = run_ok(keygate(data).args([
            "key",
            "create",
            "--org",
            &org,
            "--name",
            "ci",
            "--expires-in",
            "7d",
            "--scopes",
            "keys:read,gateway",
        ]));
        let key = key.trim().to_owned();
        assert!(
            app::keys::format::check(&key).is_ok(),
            "stdout is the key alone: {key:?}"
        );
        assert!(!stderr.contains(&key), "the key is printed once, on stdout");
        assert!(stderr.contains("keys:read"), "{stderr}");

        // Usage mistakes exit 2 with a message; runtime errors exit 1.
        let output = keygate(data)
            .args(["key", "create", "--name", "x"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("required") && stderr.contains("--org"),
            "{stderr}"
        );
        // Every subcommand has --help, on stdout with status 0.
        let output = keygate(data)
            .args(["key", "create", "--help"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0));
        assert!(String::from_utf8_lossy(&output.stdout).contains("--expires-in"));
        let output = keygate(data)
            .args([
                "org",
                "create",
                "--name",
                "X",
                "--owner",
                "nobody@example.com",
            ])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&output.stderr).contains("no account"));

        let server = Running::start(data, &[("KEYGATE_LOG", "info")]).await;
        let (status, who) = common::api::call(
            &common::http(),
            reqwest::Method::GET,
            &format!("{}/api/v1/whoami", server.base),
            &key,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{who}");
        assert_eq!(who["org_id"], org.as_str());
        assert_eq!(who["scopes"], json!(["gateway", "keys:read"]));
        server.stop();
    })
    .await;
}
