//! The real `keygate` binary in its own process, for tests that kill, restart or run
//! several instances.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_keygate");
pub const SECRET: &str = "process-test-secret-0123456789abcdef0123456789";

/// `keygate` with a clean environment: this data dir, the shared test secret, and
/// `extra` variables (such as `KEYGATE_DATABASE_URL`).
pub fn keygate(data_dir: &Path, extra: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KEYGATE_DATA_DIR", data_dir)
        .env("KEYGATE_SECRET", SECRET)
        .env("KEYGATE_SITE_ROOT", data_dir.join("site"))
        // Tests sign many people up from one address.
        .env("KEYGATE_SIGNUP_LIMIT", "1000");
    for (k, v) in extra {
        command.env(k, v);
    }
    command
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs a one-shot CLI command and returns its stdout, trimmed.
pub fn cli(data_dir: &Path, extra: &[(&str, &str)], args: &[&str]) -> String {
    let output = keygate(data_dir, extra).args(args).output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "keygate {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout.trim().to_owned()
}

/// A running server whose stdout and stderr go to a file.
pub struct Running {
    child: Option<Child>,
    pub base: String,
    pub log: PathBuf,
}

impl Drop for Running {
    /// A test that fails before `stop` still reaps its server.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, signal: i32) -> i32;
}

impl Running {
    pub async fn start(data_dir: &Path, extra: &[(&str, &str)]) -> Running {
        let port = free_port();
        let log = data_dir.join(format!("server-{port}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let addr = format!("127.0.0.1:{port}");
        let mut vars: Vec<(&str, &str)> = vec![("KEYGATE_ADDR", &addr)];
        vars.extend_from_slice(extra);
        let child = keygate(data_dir, &vars)
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap();
        let running = Running {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        for _ in 0..400 {
            if reqwest::get(format!("{}/readyz", running.base))
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return running;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("keygate did not start: {}", running.output());
    }

    pub fn output(&self) -> String {
        let mut out = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.log) {
            let _ = file.read_to_string(&mut out);
        }
        out
    }

    /// SIGTERM, wait for a clean exit, and everything the process wrote.
    pub fn stop(mut self) -> String {
        let mut child = self.child.take().unwrap();
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc_kill(child.id() as i32, 15) };
        let status = child.wait().unwrap();
        assert!(status.success(), "exit: {status}\n{}", self.output());
        self.output()
    }

    /// `kill -9`: no shutdown, no flush, nothing.
    pub fn kill9(mut self) {
        let mut child = self.child.take().unwrap();
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc_kill(child.id() as i32, 9) };
        let _ = child.wait();
    }
}
