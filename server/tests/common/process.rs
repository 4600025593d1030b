//! The real `keygate` binary in its own process, for tests that kill, restart or run
//! several instances.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// The base URL in the `Keygate listening on http://<address>` line of a server's log
/// (as [`Running::output`] gives it, without colours), once the whole line is there.
pub fn listening_on(log: &str) -> Option<String> {
    let line = log
        .lines()
        .find(|l| l.contains("Keygate listening on http://"))?;
    // A line is complete once its newline was written: `lines` also yields a last,
    // unfinished line, so check that the log goes on after it.
    let end = log.find(line)? + line.len();
    if !log[end..].starts_with('\n') {
        return None;
    }
    let addr = line
        .split("Keygate listening on http://")
        .nth(1)?
        .split_whitespace()
        .next()?;
    Some(format!("http://{addr}"))
}

/// `text` without ANSI escape sequences (the colours a log may carry).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.next() == Some('[') {
            // Parameters and intermediates, up to the final byte (@ to ~).
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, signal: i32) -> i32;
}

impl Running {
    /// Starts the binary on a port of its own choosing (`KEYGATE_ADDR=127.0.0.1:0`), learns
    /// the address it bound from its log, and waits until it answers `/readyz`; checks all
    /// along that the child is still alive, so a child that failed to start fails the test
    /// with its log instead of another process answering in its place.
    pub async fn start(data_dir: &Path, extra: &[(&str, &str)]) -> Running {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let log = data_dir.join(format!("server-{}-{n}.log", std::process::id()));
        let file = std::fs::File::create(&log).unwrap();
        let mut vars: Vec<(&str, &str)> = vec![("KEYGATE_ADDR", "127.0.0.1:0")];
        vars.extend_from_slice(extra);
        let child = keygate(data_dir, &vars)
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap();
        Running::watch(child, log).await
    }

    /// Takes charge of `child`, a server started with `KEYGATE_ADDR=127.0.0.1:0` whose
    /// stdout and stderr go to `log`: learns its address from the log and waits until it
    /// answers `/readyz`, failing with the log if the child exits first.
    pub async fn watch(child: Child, log: PathBuf) -> Running {
        let mut running = Running {
            child: Some(child),
            base: String::new(),
            log,
        };
        let base = super::eventually(
            "keygate logs the address it listens on",
            super::WAIT_LIMIT,
            async || {
                running.fail_if_exited();
                listening_on(&running.output())
            },
        )
        .await;
        running.base = base;
        let probe = super::http();
        let ready = format!("{}/readyz", running.base);
        super::eventually("keygate answers /readyz", super::WAIT_LIMIT, async || {
            running.fail_if_exited();
            probe
                .get(&ready)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        running
    }

    /// Panics with the log if the child has exited.
    fn fail_if_exited(&mut self) {
        let child = self.child.as_mut().expect("a running child");
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "keygate exited ({status}) before it was ready:\n{}",
                self.output()
            );
        }
    }

    /// Everything the process wrote so far, without colours.
    pub fn output(&self) -> String {
        let mut out = Vec::new();
        if let Ok(mut file) = std::fs::File::open(&self.log) {
            let _ = file.read_to_end(&mut out);
        }
        strip_ansi(&String::from_utf8_lossy(&out))
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
