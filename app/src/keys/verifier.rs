//! The hot path: verifying presented keys in microseconds.
//!
//! `guard -> HMAC -> cache or one indexed lookup -> status, pause and expiry -> principal`.
//! Verified keys are cached in memory (bounded in size and lifetime) in a map whose
//! readers take no lock; revoke, roll and membership changes remove their entries at
//! once. No request writes to the database: outcomes and last-used times are counted on
//! the key's [`KeyMeter`] (atomics, no lock) and flushed in the background. Failed
//! verifications are counted per client address; over the limit an address gets 429
//! for anything the cache cannot answer, so a flood of bad keys never reaches the
//! database while valid (cached) callers carry on (K7).
//!
//! The one write a verification can make is an imported key's first use, which moves it
//! from the other product's SHA-256 to our digest, once ([`super::imports`]).

use std::net::IpAddr;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement, TransactionTrait,
};

use super::digest::{self, KeyPrincipal, VerifyError};
use super::imports::{self, Imports};
use super::meter::{Decision, KeyMeter, Meters, STATS};
use super::usage::Outcome;
use crate::entities::cache_event;
use crate::shared::SharedLimits;
use crate::ssr::{Secret, address_bucket};
use crate::windows::FixedWindows;

/// How long a verified key is trusted without looking at the database again: the
/// backstop for changes made by another instance.
pub const CACHE_TTL: Duration = Duration::from_secs(30);
/// Most keys kept in the cache; beyond it, the stalest entries are dropped.
pub const CACHE_CAPACITY: usize = 100_000;
/// Failed verifications allowed per client address per [`FAILURE_WINDOW`].
pub const DEFAULT_FAILURE_LIMIT: u32 = 30;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// The most client addresses whose failures are counted at once in memory (L3): past
/// it, the oldest window that blocks nobody is forgotten.
pub const FAILURE_ADDRESSES: usize = 100_000;

/// Why a presented key was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    Invalid(VerifyError),
    /// Too many failures from this address: retry after this many seconds.
    RateLimited(u64),
}

/// A key this instance verified: what the database said, and the key's meter.
#[derive(Debug)]
pub struct Verified {
    pub key: KeyPrincipal,
    pub meter: Arc<KeyMeter>,
    /// Answers that depend on the key alone, made on first use and kept as long as this
    /// entry is: a cached key's whoami or `/verify` is answered without serializing
    /// (short answers only: see `MAX_KEPT_ANSWER` in the REST API).
    pub answers: KeyAnswers,
}

/// See [`Verified::answers`]. Filled by whoever serves them (the REST API); an entry is
/// replaced, never changed, when its key is, so an answer can never outlive its key.
#[derive(Debug, Default)]
pub struct KeyAnswers {
    pub whoami: OnceLock<Arc<[u8]>>,
    pub verify: OnceLock<Arc<[u8]>>,
}

impl Deref for Verified {
    type Target = KeyPrincipal;

    fn deref(&self) -> &KeyPrincipal {
        &self.key
    }
}

impl Verified {
    /// Counts how the request this key made ended.
    pub fn count(&self, outcome: Outcome) {
        self.meter.count(outcome, Utc::now().timestamp());
    }
}

enum Cached {
    Fresh(Result<Arc<Verified>, VerifyError>),
    /// Known, but older than the TTL: look again.
    Stale,
    Miss,
}

#[derive(Debug)]
struct Entry {
    verified: Arc<Verified>,
    cached_at: Instant,
}

#[derive(Debug)]
pub struct Verifier {
    /// Lock-free for readers: a cache hit takes no lock at all.
    cache: papaya::HashMap<[u8; 32], Entry>,
    /// Bumped by every invalidation: a lookup that started before one does not cache.
    generation: AtomicU64,
    ttl: Duration,
    capacity: usize,
    /// Serializes making room when the cache is full (rare), never a lookup.
    evicting: Mutex<()>,
    meters: Meters,
    /// Unix milliseconds of the last usage flush that wrote (or had nothing to write).
    last_flush: std::sync::atomic::AtomicI64,
    failures: Mutex<FixedWindows<IpAddr>>,
    failure_limit: u32,
    /// During a secret rotation: the secret keys may still be digested with.
    previous_secret: Option<Secret>,
    /// Per-key rate limits and the failure limit, shared by every instance through Redis
    /// when configured.
    shared: Arc<SharedLimits>,
    /// Keys imported from another product: whether a foreign string is worth a lookup.
    imports: Imports,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new(CACHE_TTL, CACHE_CAPACITY, DEFAULT_FAILURE_LIMIT)
    }
}

impl Verifier {
    pub fn new(ttl: Duration, capacity: usize, failure_limit: u32) -> Self {
        Self {
            cache: papaya::HashMap::new(),
            generation: AtomicU64::new(0),
            ttl,
            capacity: capacity.max(1),
            evicting: Mutex::default(),
            meters: Meters::default(),
            last_flush: std::sync::atomic::AtomicI64::new(Utc::now().timestamp_millis()),
            failures: Mutex::new(FixedWindows::new(FAILURE_WINDOW, FAILURE_ADDRESSES)),
            failure_limit,
            previous_secret: None,
            shared: Arc::default(),
            imports: Imports::default(),
        }
    }

    /// Counts rate limits and failures in `shared` (Redis), falling back to this
    /// instance's own counters when it cannot be reached.
    pub fn with_shared(mut self, shared: Arc<SharedLimits>) -> Self {
        self.shared = shared;
        self
    }

    /// The key's rate limit's answer for one more request, if it has a limit: counted in
    /// Redis when limits are shared, else (or while Redis is down) on the key's meter.
    pub async fn admit(&self, key: &Verified) -> Option<Decision> {
        let limit = key.rate_limit?;
        // Boxed: the shared store's future is large, and only some deployments take it.
        if self.shared.is_shared()
            && let Some(decision) = Box::pin(self.shared.admit_key(&key.key_id, limit)).await
        {
            return Some(decision);
        }
        Some(key.meter.admit(limit, self.meters.now_ns()))
    }

    /// What [`Verifier::admit`] would answer now, taking nothing: for `/verify`, whose
    /// caller is not the key's holder and may be anywhere, so it must not spend the
    /// holder's requests (issue 27 §9).
    pub async fn rate_limit_state(&self, key: &Verified) -> Option<Decision> {
        let limit = key.rate_limit?;
        if self.shared.is_shared()
            && let Some(decision) = Box::pin(self.shared.peek_key(&key.key_id, limit)).await
        {
            return Some(decision);
        }
        Some(key.meter.peek(limit, self.meters.now_ns()))
    }

    /// Accepts keys whose digest was made with `previous` (the secret being rotated out)
    /// and re-digests each with the current secret on its first use.
    pub fn with_previous_secret(mut self, previous: Option<Secret>) -> Self {
        self.previous_secret = previous;
        self
    }

    /// Every key's counters on this instance.
    pub fn meters(&self) -> &Meters {
        &self.meters
    }

    /// What this instance knows of imported keys.
    pub fn imports(&self) -> &Imports {
        &self.imports
    }

    /// Verifies `presented` for a caller at `ip`. `Err` only for a database failure.
    ///
    /// A key that exists but is refused (revoked, expired, paused) is counted on its
    /// meter here; an accepted key's outcome is counted by the caller once the request
    /// is answered ([`Verified::count`]), since a scope or a rate limit may still refuse it.
    pub async fn verify(
        &self,
        db: &impl ConnectionTrait,
        secret: &Secret,
        presented: &str,
        ip: Option<IpAddr>,
    ) -> Result<Result<Arc<Verified>, Rejection>, DbErr> {
        // The common case, a key of ours in the cache, answered without a future of its
        // own: everything else may wait on the database or the shared store, and is
        // boxed, so that every request's future (which the runtime moves about) stays a
        // few hundred bytes rather than holding room for a database query.
        if super::format::check(presented).is_ok() {
            let digest = digest::digest_bytes(secret, presented);
            if let Cached::Fresh(answer) = self.cached(&digest, Utc::now()) {
                STATS.cache_hits.add(1);
                return Ok(answer.map_err(Rejection::Invalid));
            }
        }
        Box::pin(self.verify_uncached(db, secret, presented, ip)).await
    }

    /// [`Verifier::verify`] for a key not answered from the cache (or in another format).
    async fn verify_uncached(
        &self,
        db: &impl ConnectionTrait,
        secret: &Secret,
        presented: &str,
        ip: Option<IpAddr>,
    ) -> Result<Result<Arc<Verified>, Rejection>, DbErr> {
        // A string in another format can only be a key imported from another product,
        // and only while some exist (see `imports`); else it is refused unhashed (K3).
        let foreign = match super::format::check(presented) {
            Ok(()) => false,
            Err(_) if imports::foreign_shape(presented) && self.imports.any() => true,
            Err(_) => return Ok(Err(self.fail(ip, VerifyError::Malformed).await)),
        };
        let digest = digest::digest_bytes(secret, presented);
        let now = Utc::now();
        let stale = match self.cached(&digest, now) {
            Cached::Fresh(answer) => {
                STATS.cache_hits.add(1);
                return Ok(answer.map_err(Rejection::Invalid));
            }
            // A key this instance verified before is re-read even from a throttled
            // address: a flood must not lock out a valid caller when its entry ages out.
            Cached::Stale => true,
            Cached::Miss => {
                if foreign && !self.imports.worth_lookup(&digest) {
                    return Ok(Err(self.fail(ip, VerifyError::Malformed).await));
                }
                if let Some(wait) = self.limited(ip).await {
                    STATS.address_limited.add(1);
                    return Ok(Err(Rejection::RateLimited(wait)));
                }
                false
            }
        };
        STATS.cache_misses.add(1);
        let generation = self.generation.load(Ordering::SeqCst);
        let mut outcome = digest::lookup_digest(db, &digest).await?;
        if matches!(outcome, Err((VerifyError::Unknown, _)))
            && let Some(previous) = &self.previous_secret
        {
            let old = digest::digest_bytes(previous, presented);
            if digest::move_digest(db, &old, &digest).await? {
                tracing::info!("a key made under the previous secret was moved to the current one");
                outcome = digest::lookup_digest(db, &digest).await?;
            }
        }
        if foreign {
            let unknown = matches!(outcome, Err((VerifyError::Unknown, _)));
            // Not `self.imports.waiting()` again: a request racing this one may have moved
            // the last waiting key since this one was let through, and this one must then
            // find it moved rather than be refused.
            let claim = if unknown {
                imports::claim(db, presented, &digest).await?
            } else {
                imports::Claim::Nothing
            };
            match claim {
                imports::Claim::Moved => {
                    tracing::info!(
                        "an imported key was used for the first time and moved to Keygate's digest"
                    );
                    outcome = digest::lookup_digest(db, &digest).await?;
                    // Only a key that can still be used was counted as waiting (an expired
                    // one is moved all the same, and refused as expired).
                    if matches!(
                        outcome,
                        Err((VerifyError::Expired | VerifyError::Revoked, _))
                    ) {
                        self.imports.seen_moved(digest);
                    } else {
                        self.imports.claimed(digest);
                    }
                }
                // Moved by a request that raced this one: found as a key of ours now.
                imports::Claim::MovedElsewhere => {
                    self.imports.seen_moved(digest);
                    outcome = digest::lookup_digest(db, &digest).await?;
                }
                imports::Claim::Nothing if unknown => self.imports.missed(digest),
                imports::Claim::Nothing => self.imports.seen_moved(digest),
            }
        }
        match outcome {
            Ok(key) => {
                let meter = self.meters.meter(&key.org_id, &key.key_id);
                let verified = Arc::new(Verified {
                    key,
                    meter,
                    answers: KeyAnswers::default(),
                });
                self.insert(digest, verified.clone(), generation);
                // A genuine key refused for now (paused, or past its expiry or overlap) is
                // answered from the cache from now on and is not a failed guess (K7): a
                // paused caller retrying must not be locked out when the pause ends.
                if let Some(reason) = verified.refusal(now) {
                    verified.count(refused_outcome(reason));
                    return Ok(Err(Rejection::Invalid(reason)));
                }
                Ok(Ok(verified))
            }
            Err((reason, key)) => {
                if let Some(key) = key {
                    self.meters
                        .meter(&key.org_id, &key.key_id)
                        .count(refused_outcome(reason), now.timestamp());
                }
                // Only a stale entry can be there to drop: a flood of unknown keys never
                // touches the cache.
                if stale {
                    self.cache.pin().remove(&digest);
                }
                Ok(Err(self.fail(ip, reason).await))
            }
        }
    }

    /// The cached answer for a digest. A key past its expiry is refused from the cache.
    fn cached(&self, digest: &[u8; 32], now: DateTime<Utc>) -> Cached {
        let cache = self.cache.pin();
        let Some(entry) = cache.get(digest) else {
            return Cached::Miss;
        };
        if entry.cached_at.elapsed() >= self.ttl {
            return Cached::Stale;
        }
        // Expiry, the end of a roll's overlap and a pause: decided by time alone, so every
        // instance refuses (or resumes) the key at the same moment with no event.
        if let Some(reason) = entry.verified.refusal(now) {
            entry
                .verified
                .meter
                .count(refused_outcome(reason), now.timestamp());
            return Cached::Fresh(Err(reason));
        }
        Cached::Fresh(Ok(entry.verified.clone()))
    }

    fn insert(&self, digest: [u8; 32], verified: Arc<Verified>, generation: u64) {
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if self.cache.len() >= self.capacity {
            self.make_room();
        }
        let cache = self.cache.pin();
        cache.insert(
            digest,
            Entry {
                verified: verified.clone(),
                cached_at: Instant::now(),
            },
        );
        // An invalidation between the check above and the insert may have swept before
        // the entry was there: take it out again. One after this check sees the entry.
        if self.generation.load(Ordering::SeqCst) != generation {
            cache
                .remove_if(&digest, |_, e| Arc::ptr_eq(&e.verified, &verified))
                .ok();
        }
    }

    /// Drops stale entries, and the older half if the cache is still full of fresh ones.
    fn make_room(&self) {
        let _one_at_a_time = self.evicting.lock().unwrap_or_else(|p| p.into_inner());
        if self.cache.len() < self.capacity {
            return;
        }
        let cache = self.cache.pin();
        let ttl = self.ttl;
        cache.retain(|_, e| e.cached_at.elapsed() < ttl);
        if cache.len() >= self.capacity {
            let mut ages: Vec<Instant> = cache.values().map(|e| e.cached_at).collect();
            if ages.is_empty() {
                return;
            }
            let middle = ages.len() / 2;
            let (_, median, _) = ages.select_nth_unstable(middle);
            let median = *median;
            cache.retain(|_, e| e.cached_at > median);
        }
    }

    fn invalidate(&self, drop: impl Fn(&KeyPrincipal) -> bool) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.cache.pin().retain(|_, e| !drop(&e.verified.key));
    }

    /// After a revoke or roll: the key's old secret is refused from the next request on.
    pub fn forget_key(&self, key_id: &str) {
        self.invalidate(|p| p.key_id == key_id);
    }

    /// After a member's role changed or they left: their keys' rights are re-read (K9).
    pub fn forget_creator(&self, org_id: &str, user_id: &str) {
        self.invalidate(|p| p.org_id == org_id && p.creator_id == user_id);
    }

    /// Drops every cached key (when invalidations may have been missed).
    pub fn clear(&self) {
        self.invalidate(|_| true);
    }

    pub fn cached_len(&self) -> usize {
        self.cache.len()
    }

    /// The secret being rotated out, if any (see [`Verifier::with_previous_secret`]).
    pub fn previous_secret(&self) -> Option<&Secret> {
        self.previous_secret.as_ref()
    }

    // ---- failures (K7) ----

    /// Counts a leak report of `keys` well-formed keys from `ip` against the same
    /// per-address budget as failed verifications, one unit per key, as if each had been
    /// tried (a report must not be a cheaper way to test keys); `Err(retry_after)` when
    /// over it.
    pub async fn count_report(&self, ip: Option<IpAddr>, keys: u32) -> Result<(), u64> {
        STATS.malformed.add(1);
        match self
            .count_failures(ip, VerifyError::Malformed, keys.max(1))
            .await
        {
            Rejection::RateLimited(retry_after) => {
                STATS.address_limited.add(1);
                Err(retry_after)
            }
            Rejection::Invalid(_) => Ok(()),
        }
    }

    /// A credential that cannot be a key at all (too long, not ASCII) still counts.
    pub async fn refuse_malformed(&self, ip: Option<IpAddr>) -> Rejection {
        self.fail(ip, VerifyError::Malformed).await
    }

    /// Counts a failure; the one that goes over the limit is answered 429. In Redis when
    /// limits are shared, else (or while it is down) in this instance's map.
    async fn fail(&self, ip: Option<IpAddr>, reason: VerifyError) -> Rejection {
        match reason {
            VerifyError::Unknown => STATS.unknown.add(1),
            VerifyError::Malformed => STATS.malformed.add(1),
            // Known keys are counted on their meter.
            _ => {}
        }
        let rejection = self.count_failures(ip, reason, 1).await;
        if matches!(rejection, Rejection::RateLimited(_)) {
            STATS.address_limited.add(1);
        }
        rejection
    }

    async fn count_failures(&self, ip: Option<IpAddr>, reason: VerifyError, n: u32) -> Rejection {
        let Some(ip) = ip.map(address_bucket) else {
            return Rejection::Invalid(reason);
        };
        if self.shared.is_shared()
            && let Some((count, left)) = self
                .shared
                .hit(&format!("fail:{ip}"), FAILURE_WINDOW, n)
                .await
        {
            return if count > self.failure_limit {
                Rejection::RateLimited(left.as_secs().max(1))
            } else {
                Rejection::Invalid(reason)
            };
        }
        let limit = self.failure_limit;
        let (count, left) = self.failures.lock().unwrap_or_else(|p| p.into_inner()).add(
            ip,
            n,
            Instant::now(),
            |_, count| count > limit,
        );
        if count > limit {
            Rejection::RateLimited(left.as_secs().max(1))
        } else {
            Rejection::Invalid(reason)
        }
    }

    /// Seconds to wait when `ip` is over its failure limit.
    async fn limited(&self, ip: Option<IpAddr>) -> Option<u64> {
        let ip = address_bucket(ip?);
        if self.shared.is_shared()
            && let Some((count, left)) = self.shared.peek(&format!("fail:{ip}")).await
        {
            return (count >= self.failure_limit && !left.is_zero()).then(|| left.as_secs().max(1));
        }
        let (count, left) = self
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&ip, Instant::now())?;
        (count >= self.failure_limit).then(|| left.as_secs().max(1))
    }

    // ---- usage and last used ----

    /// Writes what the meters counted since the last flush (outcomes per key and hour,
    /// added to what other instances wrote, and last-used times) in one transaction, and
    /// returns how many keys' last use was written. On failure, and if this future is
    /// dropped before the write commits (a shutdown, a timeout), the counts go back to
    /// the meters: a batch taken is never lost.
    pub async fn flush_usage(&self, db: &impl TransactionTrait) -> Result<usize, DbErr> {
        let started = Utc::now();
        let batch = self.meters.drain(started.timestamp());
        if batch.is_empty() {
            self.meters.sweep();
            self.last_flush
                .store(started.timestamp_millis(), Ordering::Relaxed);
            return Ok(0);
        }
        let mut pending = Requeue {
            meters: &self.meters,
            batch: Some(batch),
        };
        super::usage::store::write(db, pending.batch.as_ref().expect("set above")).await?;
        let batch = pending.batch.take().expect("set above");
        self.meters.written(&batch);
        let written = batch.last_used.len();
        drop(batch);
        self.meters.sweep();
        self.last_flush
            .store(started.timestamp_millis(), Ordering::Relaxed);
        Ok(written)
    }

    /// How long ago the counts of the last successful flush were taken: what a usage
    /// chart may lag behind by (one flush interval when all is well).
    pub fn flush_lag(&self) -> Duration {
        let ms = Utc::now().timestamp_millis() - self.last_flush.load(Ordering::Relaxed);
        Duration::from_millis(u64::try_from(ms).unwrap_or(0))
    }

    /// How many keys have a last-used time waiting to be written.
    pub fn pending_usage(&self) -> usize {
        self.meters.pending_last_used()
    }
}

/// The outcome counted for a key refused for `reason`.
fn refused_outcome(reason: VerifyError) -> Outcome {
    match reason {
        VerifyError::Expired => Outcome::Expired,
        VerifyError::Paused => Outcome::Paused,
        // A rolled-away secret, a revoked key, and a key whose creator left.
        _ => Outcome::Revoked,
    }
}

/// A batch of counts being written: put back in the meters unless the write committed.
struct Requeue<'a> {
    meters: &'a Meters,
    batch: Option<super::meter::Batch>,
}

impl Drop for Requeue<'_> {
    fn drop(&mut self) {
        if let Some(batch) = self.batch.take() {
            self.meters.restore(batch);
        }
    }
}

// ---- invalidation across instances ----

/// How often every instance reads the event log; on SQLite the bound on how long another
/// instance can still accept a key revoked elsewhere (R3), plus one query.
pub const EVENT_POLL_INTERVAL: Duration = Duration::from_millis(200);
/// On PostgreSQL, where changes are pushed (LISTEN/NOTIFY), the poll is only the backstop
/// for a listener connection that dropped.
pub const EVENT_BACKSTOP_INTERVAL: Duration = Duration::from_millis(500);
/// A poll (or a start) that takes longer is abandoned and the cache cleared: a stalled
/// query must not leave revoked keys cached until their entries age out.
pub const EVENT_POLL_TIMEOUT: Duration = Duration::from_millis(500);
/// The PostgreSQL channel invalidations are pushed on.
pub const NOTIFY_CHANNEL: &str = "keygate_cache";
/// Events re-read behind the newest one seen, so a transaction that commits after a
/// later one (possible on PostgreSQL) is still picked up.
const EVENT_LOOKBACK: i64 = 256;
/// Most events read by one poll; a longer backlog is read over the next polls.
const EVENT_BATCH: u64 = 2_000;
/// Events kept in the table; older ones are deleted by [`prune_events`].
const EVENTS_KEPT: i64 = 10_000;

/// What another instance must drop from its cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// A key was revoked or rolled.
    Key(String),
    /// A member's role changed or they left: their keys' rights change (K9).
    Member { org_id: String, user_id: String },
    /// Keys were imported: re-read which imported keys exist.
    Imports,
}

impl Invalidation {
    pub fn payload(&self) -> String {
        match self {
            Invalidation::Key(id) => format!("key {id}"),
            Invalidation::Member { org_id, user_id } => format!("member {org_id} {user_id}"),
            Invalidation::Imports => "imports".to_owned(),
        }
    }

    pub fn parse(payload: &str) -> Option<Self> {
        let mut words = payload.split(' ');
        match (words.next(), words.next(), words.next(), words.next()) {
            (Some("key"), Some(id), None, None) => Some(Invalidation::Key(id.to_owned())),
            (Some("imports"), None, None, None) => Some(Invalidation::Imports),
            (Some("member"), Some(org), Some(user), None) => Some(Invalidation::Member {
                org_id: org.to_owned(),
                user_id: user.to_owned(),
            }),
            _ => None,
        }
    }
}

/// Records `what` in the caller's transaction: every instance reads it once it commits.
/// On PostgreSQL it is also pushed to every listening instance, by a NOTIFY that the
/// database delivers only if and when the transaction commits.
pub async fn announce(txn: &impl ConnectionTrait, what: &Invalidation) -> Result<(), DbErr> {
    use sea_orm::ActiveValue::Set;
    let payload = what.payload();
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [NOTIFY_CHANNEL.into(), payload.clone().into()],
        ))
        .await?;
    }
    cache_event::Entity::insert(cache_event::ActiveModel {
        payload: Set(payload),
        ..Default::default()
    })
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// Deletes all but the newest [`EVENTS_KEPT`] events; run now and then by the server,
/// apart from the poll, so a slow delete never delays an invalidation.
pub async fn prune_events(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    let Some(newest) = cache_event::Entity::find()
        .order_by_desc(cache_event::Column::Id)
        .one(db)
        .await?
    else {
        return Ok(0);
    };
    let res = cache_event::Entity::delete_many()
        .filter(cache_event::Column::Id.lt(newest.id - EVENTS_KEPT))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

impl Verifier {
    pub fn apply(&self, what: &Invalidation) {
        match what {
            Invalidation::Key(id) => self.forget_key(id),
            Invalidation::Member { org_id, user_id } => self.forget_creator(org_id, user_id),
            Invalidation::Imports => self.imports.mark_stale(),
        }
    }
}

/// Reads the event log from where this instance started and applies what is new.
#[derive(Debug)]
pub struct EventFollower {
    high_water: i64,
    seen: std::collections::BTreeSet<i64>,
}

impl EventFollower {
    /// Starts after the newest event. Whatever the cache holds from before is not
    /// covered: the caller clears it once this returns.
    pub async fn start(db: &impl ConnectionTrait) -> Result<Self, DbErr> {
        let recent = cache_event::Entity::find()
            .order_by_desc(cache_event::Column::Id)
            .limit(EVENT_LOOKBACK as u64)
            .all(db)
            .await?;
        Ok(Self {
            high_water: recent.first().map(|e| e.id).unwrap_or(0),
            seen: recent.into_iter().map(|e| e.id).collect(),
        })
    }

    /// Applies new events to `verifier`; returns how many. Reads at most [`EVENT_BATCH`]
    /// rows: a backlog is worked off over the next polls.
    pub async fn poll(
        &mut self,
        db: &impl ConnectionTrait,
        verifier: &Verifier,
    ) -> Result<usize, DbErr> {
        let rows = cache_event::Entity::find()
            .filter(cache_event::Column::Id.gt(self.high_water - EVENT_LOOKBACK))
            .order_by_asc(cache_event::Column::Id)
            .limit(EVENT_BATCH)
            .all(db)
            .await?;
        let mut applied = 0;
        for row in rows {
            if !self.seen.insert(row.id) {
                continue;
            }
            self.high_water = self.high_water.max(row.id);
            match Invalidation::parse(&row.payload) {
                Some(what) => verifier.apply(&what),
                None => tracing::warn!(id = row.id, "unreadable cache event ignored"),
            }
            applied += 1;
        }
        let floor = self.high_water - EVENT_LOOKBACK;
        self.seen.retain(|id| *id > floor);
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::Invalidation;

    #[test]
    fn invalidations_round_trip_and_garbage_is_refused() {
        for what in [
            Invalidation::Key("key_abc".into()),
            Invalidation::Member {
                org_id: "org_1".into(),
                user_id: "usr_2".into(),
            },
            Invalidation::Imports,
        ] {
            assert_eq!(Invalidation::parse(&what.payload()), Some(what));
        }
        for bad in [
            "",
            "key",
            "key a b",
            "member org",
            "imports all",
            "drop everything",
        ] {
            assert_eq!(Invalidation::parse(bad), None, "{bad}");
        }
    }
}
