//! Throttling of failed logins per account and per client address (A4).
//!
//! In memory, per process: with several instances each one throttles on its own, so the
//! effective limit is multiplied by the instance count (noted in docs).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed attempts allowed per account within [`WINDOW`].
pub const ACCOUNT_LIMIT: u32 = 5;
/// Failed attempts allowed per client address within [`WINDOW`] (several accounts).
pub const ADDRESS_LIMIT: u32 = 20;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Above this many tracked keys, expired windows are swept on the next failure.
const SWEEP_AT: usize = 10_000;

#[derive(Debug, Default)]
pub struct LoginThrottle {
    windows: Mutex<HashMap<Key, Window>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Address(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

impl LoginThrottle {
    /// Admits one login attempt, or says how many seconds to wait. The attempt is counted
    /// as a failure at once, under the same lock as the check, so parallel attempts cannot
    /// all slip through before any of them fails; a success takes it back.
    pub fn begin_attempt(&self, email: &str, ip: Option<IpAddr>) -> Result<(), u64> {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = Duration::ZERO;
        for (key, limit) in Self::keys(email, ip) {
            if let Some(w) = windows.get(&key) {
                let elapsed = now.duration_since(w.started);
                if w.failures >= limit && elapsed < WINDOW {
                    wait = wait.max(WINDOW - elapsed);
                }
            }
        }
        if !wait.is_zero() {
            return Err(wait.as_secs().max(1));
        }
        if windows.len() >= SWEEP_AT {
            windows.retain(|_, w| now.duration_since(w.started) < WINDOW);
        }
        for (key, _) in Self::keys(email, ip) {
            let w = windows.entry(key).or_insert(Window {
                started: now,
                failures: 0,
            });
            if now.duration_since(w.started) >= WINDOW {
                *w = Window {
                    started: now,
                    failures: 0,
                };
            }
            w.failures += 1;
        }
        Ok(())
    }

    /// A successful login clears the account's count and takes back its own charge on the
    /// address.
    pub fn record_success(&self, email: &str, ip: Option<IpAddr>) {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        windows.remove(&Key::Account(email.to_owned()));
        if let Some(w) = ip.and_then(|ip| windows.get_mut(&Key::Address(ip))) {
            w.failures = w.failures.saturating_sub(1);
        }
    }

    fn keys(email: &str, ip: Option<IpAddr>) -> impl Iterator<Item = (Key, u32)> {
        std::iter::once((Key::Account(email.to_owned()), ACCOUNT_LIMIT))
            .chain(ip.map(|ip| (Key::Address(ip), ADDRESS_LIMIT)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    #[test]
    fn account_is_throttled_after_the_limit() {
        let t = LoginThrottle::default();
        for _ in 0..ACCOUNT_LIMIT {
            assert!(t.begin_attempt("a@x.io", IP).is_ok());
        }
        let wait = t.begin_attempt("a@x.io", IP).unwrap_err();
        assert!(wait > 0 && wait <= WINDOW.as_secs());
        // Another account from another address is unaffected.
        assert!(t.begin_attempt("b@x.io", None).is_ok());
    }

    #[test]
    fn address_is_throttled_across_accounts() {
        let t = LoginThrottle::default();
        for i in 0..ADDRESS_LIMIT {
            assert!(t.begin_attempt(&format!("user{i}@x.io"), IP).is_ok());
        }
        assert!(t.begin_attempt("fresh@x.io", IP).is_err());
        assert!(t.begin_attempt("fresh@x.io", None).is_ok());
    }

    #[test]
    fn successes_give_their_charge_back() {
        let t = LoginThrottle::default();
        for _ in 0..ACCOUNT_LIMIT - 1 {
            t.begin_attempt("a@x.io", IP).unwrap();
        }
        t.begin_attempt("a@x.io", IP).unwrap();
        t.record_success("a@x.io", IP);
        assert!(t.begin_attempt("a@x.io", IP).is_ok());
        // Many successful logins from one office address never lock it out.
        for i in 0..(ADDRESS_LIMIT * 2) {
            let email = format!("user{i}@x.io");
            t.begin_attempt(&email, IP).unwrap();
            t.record_success(&email, IP);
        }
        assert!(t.begin_attempt("last@x.io", IP).is_ok());
    }

    #[test]
    fn parallel_attempts_cannot_exceed_the_limit() {
        let t = std::sync::Arc::new(LoginThrottle::default());
        let admitted: u32 = std::thread::scope(|s| {
            let handles: Vec<_> = (0..50)
                .map(|_| s.spawn(|| u32::from(t.begin_attempt("a@x.io", None).is_ok())))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(admitted, ACCOUNT_LIMIT);
    }
}
