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
//! from the other product's SHA-256 to our digest, once ([`imported`]).
//!
//! This module stands alone: it imports nothing from key management, leak reports or
//! the bulk import (which import it). `docs/architecture.md` draws the layers.

pub mod digest;
mod failures;
mod flush;
pub mod imported;
pub mod invalidation;
pub mod meter;
pub mod routes;
pub mod shared;
pub mod verdict;

use std::net::IpAddr;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr};

use self::digest::{KeyPrincipal, VerifyError};
use self::imported::Imports;
use self::meter::{Decision, KeyMeter, Meters, STATS};
use self::shared::SharedLimits;
use crate::keys::format;
use crate::keys::usage::Outcome;
use crate::ssr::Secret;
use crate::windows::FixedWindows;

pub use self::invalidation::{
    EVENT_BACKSTOP_INTERVAL, EVENT_POLL_INTERVAL, EVENT_POLL_TIMEOUT, EventFollower, Invalidation,
    NOTIFY_CHANNEL, announce, prune_events,
};

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
    /// Each organization's gateway route rules, compiled.
    routes: routes::RouteCache,
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
            routes: routes::RouteCache::default(),
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
        if format::check(presented).is_ok() {
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
        let foreign = match format::check(presented) {
            Ok(()) => false,
            Err(_) if imported::foreign_shape(presented) && self.imports.any() => true,
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
                imported::claim(db, presented, &digest).await?
            } else {
                imported::Claim::Nothing
            };
            match claim {
                imported::Claim::Moved => {
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
                imported::Claim::MovedElsewhere => {
                    self.imports.seen_moved(digest);
                    outcome = digest::lookup_digest(db, &digest).await?;
                }
                imported::Claim::Nothing if unknown => self.imports.missed(digest),
                imported::Claim::Nothing => self.imports.seen_moved(digest),
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
