//! Throttling of failed logins per account and per client address (A4).
//!
//! Also throttles sign-ups per client address (each one costs an argon2 hash). With
//! `KEYGATE_REDIS_URL` the windows are counted in Redis and every instance enforces one
//! limit; without it (or while Redis is down) each instance counts in its own memory, so
//! the effective limit is multiplied by the instance count (noted in docs).

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::keys::verify::shared::SharedLimits;
use crate::ssr::address_bucket;
use crate::windows::FixedWindows;

/// Failed attempts allowed per account within [`WINDOW`].
pub const ACCOUNT_LIMIT: u32 = 5;
/// Failed attempts allowed per client address within [`WINDOW`] (several accounts).
pub const ADDRESS_LIMIT: u32 = 20;
/// Sign-ups allowed per client address within [`WINDOW`] by default: each costs an
/// argon2 hash.
pub const DEFAULT_SIGNUP_LIMIT: u32 = 10;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// The most keys tracked at once (a few MB): past it, the oldest window that is not
/// throttling anyone is forgotten (`crate::windows`).
pub const MAX_TRACKED: usize = 100_000;

#[derive(Debug)]
pub struct LoginThrottle {
    windows: Mutex<FixedWindows<Key>>,
    signup_limit: u32,
    shared: Arc<SharedLimits>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::new(DEFAULT_SIGNUP_LIMIT)
    }
}

/// What a window counts against. Accounts are a digest of the email, so a megabyte of
/// "email" costs the map 16 bytes; addresses are grouped as the key verifier groups
/// them (an IPv6 client by its /64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Account([u8; 16]),
    Address(IpAddr),
    SignUp(IpAddr),
}

impl Key {
    /// The window's name in Redis.
    fn name(self) -> String {
        match self {
            Key::Account(digest) => {
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                format!("login:account:{hex}")
            }
            Key::Address(ip) => format!("login:address:{ip}"),
            Key::SignUp(ip) => format!("signup:{ip}"),
        }
    }

    fn account(email: &str) -> Key {
        let digest = Sha256::digest(email.as_bytes());
        let mut short = [0u8; 16];
        short.copy_from_slice(&digest[..16]);
        Key::Account(short)
    }
}

impl LoginThrottle {
    /// A throttle admitting `signup_limit` sign-ups per address per [`WINDOW`].
    pub fn new(signup_limit: u32) -> Self {
        Self {
            windows: Mutex::new(FixedWindows::new(WINDOW, MAX_TRACKED)),
            signup_limit: signup_limit.max(1),
            shared: Arc::default(),
        }
    }

    /// Counts in `shared` (Redis) when it can be reached.
    pub fn with_shared(mut self, shared: Arc<SharedLimits>) -> Self {
        self.shared = shared;
        self
    }

    fn limit(&self, key: Key) -> u32 {
        match key {
            Key::Account(_) => ACCOUNT_LIMIT,
            Key::Address(_) => ADDRESS_LIMIT,
            Key::SignUp(_) => self.signup_limit,
        }
    }

    /// Admits one login attempt, or says how many seconds to wait. The attempt is counted
    /// as a failure at once, under the same lock as the check, so parallel attempts cannot
    /// all slip through before any of them fails; a success takes it back.
    pub async fn begin_attempt(&self, email: &str, ip: Option<IpAddr>) -> Result<(), u64> {
        let keys = [
            Some(Key::account(email)),
            ip.map(|ip| Key::Address(address_bucket(ip))),
        ];
        self.charge(keys.into_iter().flatten()).await
    }

    /// Admits one sign-up from `ip`, or says how many seconds to wait. Every sign-up
    /// counts, successful or not: each one costs a password hash.
    pub async fn begin_sign_up(&self, ip: Option<IpAddr>) -> Result<(), u64> {
        self.charge(ip.map(|ip| Key::SignUp(address_bucket(ip))).into_iter())
            .await
    }

    async fn charge(&self, keys: impl Iterator<Item = Key> + Clone) -> Result<(), u64> {
        let named: Vec<(String, u32)> = keys.clone().map(|k| (k.name(), self.limit(k))).collect();
        if named.is_empty() {
            return Ok(());
        }
        if let Some(answer) = self.shared.charge(&named, WINDOW).await {
            return answer;
        }
        self.charge_locally(keys)
    }

    fn charge_locally(&self, keys: impl Iterator<Item = Key> + Clone) -> Result<(), u64> {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let wait = keys
            .clone()
            .filter_map(|key| {
                let (failures, left) = windows.get(&key, now)?;
                (failures >= self.limit(key)).then_some(left)
            })
            .max();
        if let Some(wait) = wait {
            return Err(wait.as_secs().max(1));
        }
        for key in keys {
            windows.add(key, 1, now, |key, failures| failures >= self.limit(key));
        }
        Ok(())
    }

    /// A successful login clears the account's count and takes back its own charge on the
    /// address.
    pub async fn record_success(&self, email: &str, ip: Option<IpAddr>) {
        let address = ip.map(|ip| Key::Address(address_bucket(ip)).name());
        if self
            .shared
            .take_back(&Key::account(email).name(), address.as_deref())
            .await
            .is_some()
        {
            return;
        }
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        windows.remove(&Key::account(email));
        if let Some(ip) = ip {
            windows.take_back(&Key::Address(address_bucket(ip)), 1);
        }
    }

    /// How many windows are tracked.
    pub fn tracked(&self) -> usize {
        self.windows.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    #[tokio::test]
    async fn account_is_throttled_after_the_limit() {
        let t = LoginThrottle::default();
        for _ in 0..ACCOUNT_LIMIT {
            assert!(t.begin_attempt("a@x.io", IP).await.is_ok());
        }
        let wait = t.begin_attempt("a@x.io", IP).await.unwrap_err();
        assert!(wait > 0 && wait <= WINDOW.as_secs());
        // Another account from another address is unaffected.
        assert!(t.begin_attempt("b@x.io", None).await.is_ok());
    }

    #[tokio::test]
    async fn address_is_throttled_across_accounts() {
        let t = LoginThrottle::default();
        for i in 0..ADDRESS_LIMIT {
            assert!(t.begin_attempt(&format!("user{i}@x.io"), IP).await.is_ok());
        }
        assert!(t.begin_attempt("fresh@x.io", IP).await.is_err());
        assert!(t.begin_attempt("fresh@x.io", None).await.is_ok());
    }

    #[tokio::test]
    async fn successes_give_their_charge_back() {
        let t = LoginThrottle::default();
        for _ in 0..ACCOUNT_LIMIT - 1 {
            t.begin_attempt("a@x.io", IP).await.unwrap();
        }
        t.begin_attempt("a@x.io", IP).await.unwrap();
        t.record_success("a@x.io", IP).await;
        assert!(t.begin_attempt("a@x.io", IP).await.is_ok());
        // Many successful logins from one office address never lock it out.
        for i in 0..(ADDRESS_LIMIT * 2) {
            let email = format!("user{i}@x.io");
            t.begin_attempt(&email, IP).await.unwrap();
            t.record_success(&email, IP).await;
        }
        assert!(t.begin_attempt("last@x.io", IP).await.is_ok());
    }

    #[tokio::test]
    async fn ipv6_addresses_in_one_64_share_a_window() {
        let t = LoginThrottle::default();
        for i in 0..ADDRESS_LIMIT {
            let ip = format!("2001:db8:1:2::{:x}", i + 1).parse().ok();
            assert!(t.begin_attempt(&format!("user{i}@x.io"), ip).await.is_ok());
        }
        // Another address of the same /64 is the same client...
        let same = "2001:db8:1:2:ffff::1".parse().ok();
        assert!(t.begin_attempt("fresh@x.io", same).await.is_err());
        // ...another /64 is not.
        let other = "2001:db8:1:3::1".parse().ok();
        assert!(t.begin_attempt("fresh@x.io", other).await.is_ok());
    }

    #[tokio::test]
    async fn the_map_stays_bounded_and_small() {
        let t = LoginThrottle::default();
        let long = "a".repeat(256);
        for i in 0..(MAX_TRACKED as u32 + 5_000) {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            let _ = t.begin_attempt(&format!("{long}{i}"), Some(ip)).await;
            assert!(
                t.tracked() <= MAX_TRACKED,
                "{} windows after {i}",
                t.tracked()
            );
        }
        // An email of a megabyte is a 16-byte key, not a megabyte.
        assert!(std::mem::size_of::<Key>() <= 24);
    }

    #[tokio::test]
    async fn the_bound_keeps_the_windows_that_throttle() {
        let t = LoginThrottle::default();
        for _ in 0..ACCOUNT_LIMIT {
            t.begin_attempt("victim@x.io", None).await.unwrap();
        }
        for i in 0..(MAX_TRACKED as u32 + 5_000) {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            let _ = t.begin_attempt(&format!("x{i}@x.io"), Some(ip)).await;
        }
        assert!(t.begin_attempt("victim@x.io", None).await.is_err());
    }

    #[tokio::test]
    async fn sign_ups_are_throttled_per_address() {
        let t = LoginThrottle::default();
        for _ in 0..DEFAULT_SIGNUP_LIMIT {
            assert!(t.begin_sign_up(IP).await.is_ok());
        }
        assert!(t.begin_sign_up(IP).await.is_err());
        assert!(t.begin_sign_up("192.0.2.7".parse().ok()).await.is_ok());
        // Logins from the throttled address are a separate count.
        assert!(t.begin_attempt("a@x.io", IP).await.is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn parallel_attempts_cannot_exceed_the_limit() {
        let t = std::sync::Arc::new(LoginThrottle::default());
        let handles: Vec<_> = (0..50)
            .map(|_| {
                let t = t.clone();
                tokio::spawn(
                    async move { u32::from(t.begin_attempt("a@x.io", None).await.is_ok()) },
                )
            })
            .collect();
        let mut admitted = 0;
        for handle in handles {
            admitted += handle.await.unwrap();
        }
        assert_eq!(admitted, ACCOUNT_LIMIT);
    }
}
