//! Issue 27 (deployment): a `keygate` binary copied without the `hash.txt` cargo-leptos
//! writes beside it, started from another directory with only `KEYGATE_SITE_ROOT`, names
//! and serves the bundle its `site/` holds; and one whose site does not hold the bundle
//! its hashes name refuses to start, saying why, rather than serving pages whose every
//! button stays disabled.
//!
//! The bundle here is made by the test (three files under hashed names and the
//! `hash.txt` the build copies into the site root), so the test runs the same in a debug
//! build, which has no bundle of its own.

mod common;

use common::process::{BIN, Running, SECRET};
use std::path::Path;
use std::process::{Command, Stdio};

const HASH: &str = "0123456789abcdefDEPLOY";

/// A copy of the binary alone in a directory of its own (no `hash.txt` beside it).
fn copied_binary(dir: &Path) -> std::path::PathBuf {
    let bin = dir.join("keygate");
    let _no_fork_meanwhile = FORKING.lock().unwrap_or_else(|e| e.into_inner());
    std::fs::copy(BIN, &bin).unwrap();
    bin
}

/// Held while a binary is copied and while a process is started: a child forked while
/// another test's copy is still open for writing inherits that file, and executing the
/// copy then fails with "Text file busy" (ETXTBSY).
static FORKING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `command` to its end, started under [`FORKING`].
fn run_to_end(command: &mut std::process::Command) -> std::process::Output {
    let child = {
        let _one_at_a_time = FORKING.lock().unwrap_or_else(|e| e.into_inner());
        command.stdin(Stdio::null()).spawn().unwrap()
    };
    child.wait_with_output().unwrap()
}

/// A site root with a bundle under hashed names, and its `hash.txt` when `with_hashes`.
fn make_site(dir: &Path, with_hashes: bool) -> std::path::PathBuf {
    let site = dir.join("site");
    let pkg = site.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    for (ext, body) in [
        ("js", "export default function init() {}"),
        ("wasm", "\0asm"),
        ("css", "body { color: black }"),
    ] {
        std::fs::write(pkg.join(format!("keygate.{HASH}.{ext}")), body).unwrap();
    }
    if with_hashes {
        std::fs::write(
            site.join("hash.txt"),
            format!("js: {HASH}\nwasm: {HASH}\ncss: {HASH}\n"),
        )
        .unwrap();
    }
    site
}

/// The copied binary, started from elsewhere, on a port of its own choosing.
fn command(bin: &Path, site: &Path, data: &Path) -> Command {
    let mut command = Command::new(bin);
    command
        .env_clear()
        .env("KEYGATE_DATA_DIR", data)
        .env("KEYGATE_SECRET", SECRET)
        .env("KEYGATE_SITE_ROOT", site)
        .env("KEYGATE_ADDR", "127.0.0.1:0")
        // Started from somewhere else: nothing is found by a relative path.
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_binary_serves_the_bundle_its_site_names() {
    common::within_time_limit("a_copied_binary_serves_the_bundle_its_site_names", async {
        let dir = tempfile::tempdir().unwrap();
        let bin = copied_binary(dir.path());
        let site = make_site(dir.path(), true);
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let log = data.join("server.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = {
            let _one_at_a_time = FORKING.lock().unwrap_or_else(|e| e.into_inner());
            command(&bin, &site, &data)
                .stdout(Stdio::from(file.try_clone().unwrap()))
                .stderr(Stdio::from(file))
                .spawn()
                .unwrap()
        };
        let server = Running::watch(child, log).await;
        let http = common::http();
        let page = http
            .get(format!("{}/login", server.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let bundle = http
            .get(format!("{}/pkg/keygate.{HASH}.js", server.base))
            .send()
            .await
            .unwrap();
        let status = bundle.status();
        let body = bundle.text().await.unwrap();
        server.stop();
        for ext in ["js", "wasm", "css"] {
            let name = format!("/pkg/keygate.{HASH}.{ext}");
            assert!(page.contains(&name), "the page names {name}: {page}");
        }
        assert_eq!(status, reqwest::StatusCode::OK);
        assert!(body.contains("export default function init"), "{body}");
    })
    .await;
}

#[test]
fn a_site_without_the_named_bundle_refuses_to_start() {
    // Hashed files, but no hashes to name them.
    let dir = tempfile::tempdir().unwrap();
    let bin = copied_binary(dir.path());
    let site = make_site(dir.path(), false);
    let output = run_to_end(&mut command(&bin, &site, &dir.path().join("data")));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("no hash.txt names them"), "{stderr}");

    // Hashes that name files from another build.
    let dir = tempfile::tempdir().unwrap();
    let bin = copied_binary(dir.path());
    let site = make_site(dir.path(), true);
    std::fs::remove_file(site.join(format!("pkg/keygate.{HASH}.wasm"))).unwrap();
    let output = run_to_end(&mut command(&bin, &site, &dir.path().join("data")));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("keygate.{HASH}.wasm, which is not in")),
        "{stderr}"
    );
}
