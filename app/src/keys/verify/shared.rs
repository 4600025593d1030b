//! Limits every instance shares: with `KEYGATE_REDIS_URL` set, per-key rate limits, the
//! failed-verification limit per client address and the login and sign-up throttles are
//! counted in Redis by atomic scripts on keys that expire, so N instances enforce one
//! limit, not N. Without it (or while Redis cannot be reached) each instance counts in
//! its own memory, as the callers do when a method here returns `None`.
//!
//! Redis never costs a request a 5xx: a command that fails or takes longer than
//! [`RESPONSE_TIMEOUT`] is answered from the local counters, Redis is left alone for
//! [`BACKOFF`], the outage is logged at most once a minute, and the next command after the
//! backoff tries Redis again.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::meter::Decision;
use crate::keys::RateLimit;

/// Longest wait for Redis to answer one command.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_millis(100);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(250);
/// After a failure, Redis is not tried again for this long.
pub const BACKOFF: Duration = Duration::from_secs(1);
const WARN_EVERY_MS: i64 = 60_000;

/// GCRA on the key's theoretical arrival time, in microseconds of Redis's own clock (one
/// clock for every instance). `{allowed, microseconds the arrival time is ahead of now}`.
/// With ARGV[3] = 1 it only says what it would answer, and takes nothing.
static GCRA: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local step = tonumber(ARGV[1])
        local tolerance = tonumber(ARGV[2])
        local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
        if tat < now then tat = now end
        if tat - now > tolerance then return {0, tat - now} end
        local next = tat + step
        if ARGV[3] == '1' then return {1, next - now} end
        redis.call('SET', KEYS[1], string.format('%.0f', next), 'PX', math.ceil((next - now) / 1000) + 1)
        return {1, next - now}
    ",
    )
});

/// A fixed window: counts ARGV[2] more, starting the window on the first. `{count, ms
/// left}`.
static HIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local c = redis.call('INCRBY', KEYS[1], ARGV[2])
        local ttl = redis.call('PTTL', KEYS[1])
        if c == tonumber(ARGV[2]) or ttl < 0 then
            redis.call('PEXPIRE', KEYS[1], ARGV[1])
            ttl = tonumber(ARGV[1])
        end
        return {c, ttl}
    ",
    )
});

/// A window's count without counting. `{count, ms left}`.
static PEEK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        return {tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('PTTL', KEYS[1])}
    ",
    )
});

/// Charges one attempt to every window named, unless one of them is full: then nothing is
/// charged and the answer is how long to wait. ARGV: window ms, then each key's limit.
/// `{1, 0}` when charged, `{0, ms to wait}` when not.
static CHARGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local wait = 0
        for i, key in ipairs(KEYS) do
            local c = tonumber(redis.call('GET', key) or '0')
            local ttl = redis.call('PTTL', key)
            if c >= tonumber(ARGV[i + 1]) and ttl > wait then wait = ttl end
        end
        if wait > 0 then return {0, wait} end
        for _, key in ipairs(KEYS) do
            local c = redis.call('INCR', key)
            if c == 1 or redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, ARGV[1]) end
        end
        return {1, 0}
    ",
    )
});

/// A successful login: the account's window goes, the address's gets its charge back.
static TAKE_BACK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        redis.call('DEL', KEYS[1])
        if KEYS[2] and tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then
            redis.call('DECR', KEYS[2])
        end
        return 1
    ",
    )
});

/// The shared counters, or none (each instance counts alone).
#[derive(Debug, Default)]
pub struct SharedLimits {
    redis: Option<Redis>,
}

struct Redis {
    client: redis::Client,
    prefix: String,
    conn: tokio::sync::OnceCell<ConnectionManager>,
    /// Unix milliseconds until which Redis is not tried.
    down_until: AtomicI64,
    last_warned: AtomicI64,
    down: AtomicBool,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("Redis")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl SharedLimits {
    /// Counters in Redis at `url`, every key under `prefix`. Only the URL's form is
    /// checked here: Keygate starts, and serves on local counters, while Redis is down.
    pub fn redis(url: &str, prefix: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        Ok(Self {
            redis: Some(Redis {
                client,
                prefix: prefix.to_owned(),
                conn: tokio::sync::OnceCell::new(),
                down_until: AtomicI64::new(0),
                last_warned: AtomicI64::new(i64::MIN),
                down: AtomicBool::new(false),
            }),
        })
    }

    /// Whether the limits are meant to be shared (Redis configured), reachable or not.
    pub fn is_shared(&self) -> bool {
        self.redis.is_some()
    }

    /// Runs `script` with `keys` (prefixed) and `args`; `None` when there is no Redis or
    /// it failed (then the caller counts locally).
    async fn run(&self, script: &Script, keys: &[String], args: &[i64]) -> Option<(i64, i64)> {
        let redis = self.redis.as_ref()?;
        if now_ms() < redis.down_until.load(Ordering::Relaxed) {
            return None;
        }
        let conn = match tokio::time::timeout(
            CONNECT_TIMEOUT,
            redis.conn.get_or_try_init(|| {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT))
                    .set_number_of_retries(1);
                ConnectionManager::new_with_config(redis.client.clone(), config)
            }),
        )
        .await
        {
            Ok(Ok(conn)) => conn.clone(),
            Ok(Err(e)) => return redis.failed(&e.to_string()),
            Err(_) => return redis.failed("no connection within 250 ms"),
        };
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(format!("{}{key}", redis.prefix));
        }
        for arg in args {
            invocation.arg(*arg);
        }
        let mut conn = conn;
        // The connection's own response timeout bounds the wait (no timer per call here).
        match invocation.invoke_async::<(i64, i64)>(&mut conn).await {
            Ok(answer) => {
                if redis.down.load(Ordering::Relaxed) && redis.down.swap(false, Ordering::Relaxed) {
                    tracing::info!("Redis is reachable again: limits are shared again");
                }
                Some(answer)
            }
            Err(e) => redis.failed(&e.to_string()),
        }
    }

    /// A key's rate limit on Redis's clock, shared by every instance.
    pub async fn admit_key(&self, key_id: &str, limit: RateLimit) -> Option<Decision> {
        self.key_limit(key_id, limit, false).await
    }

    /// What [`SharedLimits::admit_key`] would answer, taking nothing.
    pub async fn peek_key(&self, key_id: &str, limit: RateLimit) -> Option<Decision> {
        self.key_limit(key_id, limit, true).await
    }

    async fn key_limit(&self, key_id: &str, limit: RateLimit, peek: bool) -> Option<Decision> {
        self.redis.as_ref()?;
        let (step, tolerance) = limit.gcra_micros();
        let name = format!("rl:{key_id}:{}:{}", limit.requests, limit.per.seconds());
        let (allowed, ahead) = self
            .run(
                &GCRA,
                &[name],
                &[step as i64, tolerance as i64, i64::from(peek)],
            )
            .await?;
        Some(Decision::of_gcra(
            limit,
            allowed == 1,
            u64::try_from(ahead).unwrap_or(0) * 1_000,
        ))
    }

    /// Counts `n` events in the fixed window `name`: the count and the time left.
    pub async fn hit(&self, name: &str, window: Duration, n: u32) -> Option<(u32, Duration)> {
        let (count, ttl) = self
            .run(
                &HIT,
                &[name.to_owned()],
                &[window.as_millis() as i64, i64::from(n)],
            )
            .await?;
        Some(window_answer(count, ttl))
    }

    /// The count of the window `name` and the time left, without counting.
    pub async fn peek(&self, name: &str) -> Option<(u32, Duration)> {
        let (count, ttl) = self.run(&PEEK, &[name.to_owned()], &[]).await?;
        Some(window_answer(count, ttl))
    }

    /// Charges one attempt to each `(window, limit)` unless one is full: `Err(seconds to
    /// wait)` then.
    pub async fn charge(
        &self,
        windows: &[(String, u32)],
        window: Duration,
    ) -> Option<Result<(), u64>> {
        let keys: Vec<String> = windows.iter().map(|(name, _)| name.clone()).collect();
        let mut args = vec![window.as_millis() as i64];
        args.extend(windows.iter().map(|(_, limit)| i64::from(*limit)));
        let (charged, wait_ms) = self.run(&CHARGE, &keys, &args).await?;
        Some(if charged == 1 {
            Ok(())
        } else {
            Err((u64::try_from(wait_ms).unwrap_or(0).div_ceil(1_000)).max(1))
        })
    }

    /// Drops the window `clear` and takes one charge back from `give_back`.
    pub async fn take_back(&self, clear: &str, give_back: Option<&str>) -> Option<()> {
        let mut keys = vec![clear.to_owned()];
        keys.extend(give_back.map(str::to_owned));
        self.run(&TAKE_BACK, &keys, &[]).await.map(|_| ())
    }
}

fn window_answer(count: i64, ttl_ms: i64) -> (u32, Duration) {
    (
        u32::try_from(count).unwrap_or(u32::MAX),
        Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(0)),
    )
}

impl Redis {
    /// Leaves Redis alone for [`BACKOFF`] and says so, at most once a minute.
    fn failed<T>(&self, error: &str) -> Option<T> {
        let now = now_ms();
        self.down_until
            .store(now + BACKOFF.as_millis() as i64, Ordering::Relaxed);
        self.down.store(true, Ordering::Relaxed);
        let last = self.last_warned.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= WARN_EVERY_MS
            && self
                .last_warned
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                %error,
                "Redis cannot be reached: limits are counted by each instance alone until it is back"
            );
        }
        None
    }
}
