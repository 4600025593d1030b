//! The real `keygate` binary as operators run it: the CLI bootstraps an account, an org
//! and a key without a browser, and a full create/use/revoke flow leaves no secret in
//! any line the process writes (K8).

mod common;

use std::process::Command;

use reqwest::StatusCode;
use serde_json::json;

use common::process::{Running, SECRET, keygate as keygate_with};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs_in_a_full_flow() {
    common::within_time_limit("no_secret_reaches_the_logs_in_a_full_flow", async {
        let dir = tempfile::tempdir().unwrap();
        // Everything Keygate and its libraries log, at the most verbose level.
        let server = Running::start(dir.path(), &[("KEYGATE_LOG", "trace")]).await;
        let browser = common::browser(&server.base);
        let password = "a long and unique password 1234";
        let (status, body) = browser
            .call(
                "sign_up",
                &[
                    ("email", "k8@example.com"),
                    ("display_name", "Kay"),
                    ("password", password),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, _) = browser.call("log_out", &[]).await;
        assert_eq!(status, StatusCode::OK);
        let login = browser
            .post(
                "log_in",
                &[("email", "k8@example.com"), ("password", password)],
            )
            .await;
        assert_eq!(login.status(), StatusCode::OK);
        let session_id = login
            .cookies()
            .find(|c| c.name() == "keygate_session")
            .map(|c| c.value().to_owned())
            .expect("a session cookie");
        let org = browser.create_org("Logs").await;
        let (key_id, key) = browser
            .create_key(&org, "flow", "gateway keys:read keys:write")
            .await;

        let api = common::http();
        let call = |path: &str| {
            api.get(format!("{}{path}", server.base))
                .header("authorization", format!("Bearer {key}"))
                .send()
        };
        assert_eq!(
            call("/api/v1/whoami").await.unwrap().status(),
            StatusCode::OK
        );
        assert_eq!(call("/api/v1/keys").await.unwrap().status(), StatusCode::OK);
        let (status, made) = common::api::call(
            &api,
            reqwest::Method::POST,
            &format!("{}/api/v1/keys", server.base),
            &key,
            Some(&json!({"name": "child"})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{made}");
        let child = made["secret"].as_str().unwrap().to_owned();
        let verified = common::api::verify(&api, &server.base, &child).await;
        assert_eq!(verified["valid"], true);
        assert_eq!(
            call("/gw/somewhere").await.unwrap().status(),
            StatusCode::NOT_FOUND
        );
        // A mistyped key and a key in the query string are logged as failures, not echoed.
        // The last character changed (to one it is not), so the checksum fails.
        let last = if key.ends_with('x') { "y" } else { "x" };
        let typo = format!("{}{last}", &key[..key.len() - 1]);
        api.get(format!("{}/api/v1/whoami?key={typo}", server.base))
            .header("x-api-key", &typo)
            .send()
            .await
            .unwrap();
        let (status, body) = browser
            .call("revoke_api_key", &[("org_id", &org), ("key_id", &key_id)])
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            call("/api/v1/whoami").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );

        let log = server.stop();
        assert!(
            log.contains("/api/v1/whoami"),
            "the flow was logged: {} bytes",
            log.len()
        );
        for (what, secret) in [
            ("key", key.as_str()),
            ("key body", &key[3..]),
            ("child key", child.as_str()),
            ("mistyped key", typo.as_str()),
            ("password", password),
            ("session id", session_id.as_str()),
            ("server secret", SECRET),
        ] {
            assert!(!log.contains(secret), "the {what} appears in the logs");
        }
    })
    .await;
}
