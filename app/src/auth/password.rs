//! Password hashing (A1): argon2id off the async runtime, within a process-wide limit,
//! and the dummy hash unknown emails are checked against (A3). A leaf: it knows nothing
//! of accounts or the application state. Errors are the hasher's own words, for a log.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane (A1).
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// At most this many argon2 computations run at once: each takes 19 MiB and a core for
/// tens of milliseconds, so a burst of logins queues here instead of exhausting memory.
/// A process-wide limit, like the cores it protects.
fn hashing_permits() -> &'static Arc<tokio::sync::Semaphore> {
    static PERMITS: OnceLock<Arc<tokio::sync::Semaphore>> = OnceLock::new();
    PERMITS.get_or_init(|| {
        Arc::new(tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
        ))
    })
}

/// How many argon2 computations are running right now (never more than the permits).
pub fn hashes_running() -> usize {
    RUNNING.load(Ordering::Relaxed)
}

static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// How many password verifications this process has run to the end, each a full argon2
/// computation: a login with an unknown email must cost one, as a wrong password does
/// (A3; the login test counts them).
pub fn verifications() -> usize {
    VERIFIED.load(Ordering::Relaxed)
}

static VERIFIED: AtomicUsize = AtomicUsize::new(0);

/// Runs argon2 off the async runtime, within the hashing limit. The permit moves into the
/// blocking task: a request dropped mid-hash (a closed connection) cannot free its permit
/// while the hash it started is still running, so disconnecting cannot stack up hashes.
async fn hashing<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let permit = hashing_permits()
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| e.to_string())?;
    tokio::task::spawn_blocking(move || {
        RUNNING.fetch_add(1, Ordering::Relaxed);
        let result = work();
        RUNNING.fetch_sub(1, Ordering::Relaxed);
        drop(permit);
        result
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Hashes off the async runtime: argon2 takes tens of milliseconds of CPU by design.
pub async fn hash_password(password: String) -> Result<String, String> {
    hashing(move || {
        let mut salt = [0u8; 16];
        rand::fill(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| e.to_string())
    })
    .await
}

pub async fn verify_password(password: String, hash: String) -> Result<bool, String> {
    hashing(move || {
        let parsed = PasswordHash::new(&hash).map_err(|e| e.to_string())?;
        let matches = argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        VERIFIED.fetch_add(1, Ordering::Relaxed);
        Ok(matches)
    })
    .await
}

/// The hash an unknown email is checked against (see `AppState::dummy_hash`).
pub async fn dummy_hash() -> Result<String, String> {
    let mut random = [0u8; 24];
    rand::fill(&mut random);
    hash_password(random.iter().map(|b| format!("{b:02x}")).collect()).await
}
