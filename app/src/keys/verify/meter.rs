//! What this instance counts per key between flushes, without a lock on the request path:
//! verification outcomes per hour, the last use, and the state of the key's own rate
//! limit. Each key's [`KeyMeter`] is shared by every cached entry of that key (its
//! current and a rolled-away secret), so counting is a few atomic operations on memory
//! the request already holds. The registry of meters is sharded; its shard locks are
//! taken only when a key is first looked up, by the background flush, and by the sweep
//! that drops meters nobody holds.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use crate::keys::RateLimit;
use crate::keys::usage::Outcome;

const SHARDS: usize = 64;
const HOUR: i64 = 3_600;

/// A counter many threads add to without sharing a cache line: each thread adds to its
/// own stripe, and a read sums them.
#[derive(Debug)]
pub struct Striped([Stripe; STRIPES]);

const STRIPES: usize = 16;

#[derive(Debug, Default)]
#[repr(align(64))]
struct Stripe(AtomicU64);

impl Striped {
    pub const fn new() -> Self {
        Self([const { Stripe(AtomicU64::new(0)) }; STRIPES])
    }

    pub fn add(&self, n: u64) {
        thread_local! {
            static STRIPE: usize = {
                static NEXT: AtomicU64 = AtomicU64::new(0);
                (NEXT.fetch_add(1, Ordering::Relaxed) as usize) % STRIPES
            };
        }
        let stripe = STRIPE.with(|s| *s);
        self.0[stripe].0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
    }
}

impl Default for Striped {
    fn default() -> Self {
        Self::new()
    }
}

/// This process's totals, for operators' metrics: counted where the per-key counts are,
/// without a shared lock or cache line.
#[derive(Debug)]
pub struct Stats {
    /// Verifications of known keys by [`Outcome`].
    pub outcomes: [Striped; Outcome::COUNT],
    /// Well-formed keys that matched no key.
    pub unknown: Striped,
    /// Credentials that cannot be keys (shape, checksum, length).
    pub malformed: Striped,
    /// Verifications answered from the cache, and those that went to the database.
    pub cache_hits: Striped,
    pub cache_misses: Striped,
    /// Requests refused because their address failed too often.
    pub address_limited: Striped,
}

pub static STATS: Stats = Stats {
    outcomes: [const { Striped::new() }; Outcome::COUNT],
    unknown: Striped::new(),
    malformed: Striped::new(),
    cache_hits: Striped::new(),
    cache_misses: Striped::new(),
    address_limited: Striped::new(),
};

/// How a route rule (or a `/verify` question) decided one of a key's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteOutcome {
    Allowed = 0,
    /// A report-only rule would have refused it.
    WouldDeny = 1,
    Denied = 2,
}

impl RouteOutcome {
    pub const COUNT: usize = 3;
    pub const ALL: [Self; Self::COUNT] = [Self::Allowed, Self::WouldDeny, Self::Denied];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::WouldDeny => "would_deny",
            Self::Denied => "denied",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// Requests per route rule by [`RouteOutcome`], not yet written.
type RuleCounts = papaya::HashMap<Arc<str>, [AtomicU32; RouteOutcome::COUNT]>;

/// One key's counters on this instance.
#[derive(Debug)]
pub struct KeyMeter {
    pub org_id: Arc<str>,
    pub key_id: Arc<str>,
    /// Outcomes counted in the current and the previous hour: `[hour % 2][outcome]`.
    counts: [[AtomicU32; Outcome::COUNT]; 2],
    /// Unix second of the last use of the valid key (0: none since this meter was made).
    last_used: AtomicI64,
    /// The last use already written.
    written_used: AtomicI64,
    /// The rate limit's theoretical arrival time (GCRA), in nanoseconds since the
    /// registry's epoch.
    tat: AtomicU64,
    /// The limit `tat` was counted under: a changed limit starts afresh.
    limit_id: AtomicU64,
    /// Requests by route rule (or `verify <permission>`) and outcome: made on the key's
    /// first request a rule decides, so most keys never have one.
    rules: OnceLock<RuleCounts>,
}

impl KeyMeter {
    fn new(org_id: Arc<str>, key_id: Arc<str>) -> Self {
        Self {
            org_id,
            key_id,
            counts: Default::default(),
            last_used: AtomicI64::new(0),
            written_used: AtomicI64::new(0),
            tat: AtomicU64::new(0),
            limit_id: AtomicU64::new(0),
            rules: OnceLock::new(),
        }
    }

    /// Counts a request `rule` decided (its id, or `verify <permission>`). On the
    /// request path: a lock-free lookup, and an insert only on the key's first request
    /// under that rule.
    pub fn count_rule(&self, rule: &Arc<str>, outcome: RouteOutcome) {
        self.add_rule(rule, outcome, 1);
    }

    fn add_rule(&self, rule: &Arc<str>, outcome: RouteOutcome, n: u32) {
        let rules = self.rules.get_or_init(RuleCounts::default).pin();
        let cells = match rules.get(&**rule) {
            Some(cells) => cells,
            None => rules.get_or_insert_with(rule.clone(), Default::default),
        };
        cells[outcome as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Takes the per-rule counts.
    fn take_rules(&self) -> Vec<(Arc<str>, [u32; RouteOutcome::COUNT])> {
        let Some(rules) = self.rules.get() else {
            return Vec::new();
        };
        rules
            .pin()
            .iter()
            .filter_map(|(rule, cells)| {
                let counts: [u32; RouteOutcome::COUNT] =
                    std::array::from_fn(|i| cells[i].swap(0, Ordering::Relaxed));
                counts
                    .iter()
                    .any(|n| *n > 0)
                    .then(|| (rule.clone(), counts))
            })
            .collect()
    }

    /// Counts one verification's outcome at `now` (Unix seconds).
    pub fn count(&self, outcome: Outcome, now: i64) {
        let slot = (now.div_euclid(HOUR) % 2) as usize;
        self.counts[slot][outcome as usize].fetch_add(1, Ordering::Relaxed);
        STATS.outcomes[outcome as usize].add(1);
        // A valid key presented is a use, even when its scope or rate limit refused it.
        if matches!(
            outcome,
            Outcome::Ok
                | Outcome::InsufficientScope
                | Outcome::InsufficientPermission
                | Outcome::RateLimited
        ) {
            // Read first: within the same second this writes nothing, so cores serving
            // one key do not take its cache line from each other for it.
            if self.last_used.load(Ordering::Relaxed) < now {
                self.last_used.fetch_max(now, Ordering::Relaxed);
            }
        }
    }

    /// Takes the rate limit's next request at `now_ns` (see [`Meters::now_ns`]).
    ///
    /// GCRA: each request moves the theoretical arrival time on by `window / requests`;
    /// a request is admitted while that time is at most one window ahead of now. The
    /// result is a sliding window: `requests` at once, then one every `window /
    /// requests`, and never 2x across a boundary as a fixed window allows.
    pub fn admit(&self, limit: RateLimit, now_ns: u64) -> Decision {
        let id = (u64::from(limit.requests) << 32) | u64::from(limit.per.seconds());
        if self.limit_id.load(Ordering::Relaxed) != id
            && self.limit_id.swap(id, Ordering::Relaxed) != id
        {
            self.tat.store(0, Ordering::Relaxed);
        }
        let (step, tolerance) = limit.gcra_nanos();
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let base = tat.max(now_ns);
            if base - now_ns > tolerance {
                return Decision::of_gcra(limit, false, base - now_ns);
            }
            let next = base + step;
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Decision::of_gcra(limit, true, next - now_ns),
                Err(current) => tat = current,
            }
        }
    }

    /// What [`KeyMeter::admit`] would answer at `now_ns`, taking nothing.
    pub fn peek(&self, limit: RateLimit, now_ns: u64) -> Decision {
        let id = (u64::from(limit.requests) << 32) | u64::from(limit.per.seconds());
        let tat = if self.limit_id.load(Ordering::Relaxed) == id {
            self.tat.load(Ordering::Relaxed)
        } else {
            0
        };
        let (step, tolerance) = limit.gcra_nanos();
        let ahead = tat.max(now_ns) - now_ns;
        if ahead > tolerance {
            Decision::of_gcra(limit, false, ahead)
        } else {
            Decision::of_gcra(limit, true, ahead + step)
        }
    }

    /// Takes the counts of `slot`.
    fn take(&self, slot: usize) -> [u32; Outcome::COUNT] {
        std::array::from_fn(|i| self.counts[slot][i].swap(0, Ordering::Relaxed))
    }

    fn is_idle(&self) -> bool {
        self.counts
            .iter()
            .flatten()
            .all(|c| c.load(Ordering::Relaxed) == 0)
            && self.last_used.load(Ordering::Relaxed) <= self.written_used.load(Ordering::Relaxed)
            && self.rules.get().is_none_or(|rules| {
                rules
                    .pin()
                    .values()
                    .flatten()
                    .all(|c| c.load(Ordering::Relaxed) == 0)
            })
    }
}

impl Decision {
    /// The answer of GCRA: admitted or not, and how far (ns) the theoretical arrival time
    /// is ahead of now (after admitting; before refusing).
    pub fn of_gcra(limit: RateLimit, allowed: bool, ahead: u64) -> Self {
        let (step, tolerance) = limit.gcra_nanos();
        let window = step + tolerance;
        if allowed {
            Decision {
                allowed,
                limit,
                remaining: u32::try_from(window.saturating_sub(ahead) / step).unwrap_or(u32::MAX),
                reset_secs: secs_up(ahead),
                retry_after: 0,
            }
        } else {
            Decision {
                allowed,
                limit,
                remaining: 0,
                reset_secs: secs_up(ahead),
                retry_after: secs_up(ahead.saturating_sub(tolerance)).max(1),
            }
        }
    }
}

fn secs_up(ns: u64) -> u64 {
    ns.div_ceil(1_000_000_000)
}

impl RateLimit {
    /// GCRA's emission interval (`window / requests`) and burst tolerance (`window -
    /// interval`, so `requests` may come at once), in nanoseconds.
    pub fn gcra_nanos(self) -> (u64, u64) {
        let window = u64::from(self.per.seconds()) * 1_000_000_000;
        let step = (window / u64::from(self.requests.max(1))).max(1);
        (step, window.saturating_sub(step))
    }

    /// The same in microseconds, for Redis's clock.
    pub fn gcra_micros(self) -> (u64, u64) {
        let (step, tolerance) = self.gcra_nanos();
        ((step / 1_000).max(1), tolerance / 1_000)
    }
}

/// A rate limit's answer for one request, with what the `RateLimit` fields report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: RateLimit,
    /// Requests still allowed now.
    pub remaining: u32,
    /// Seconds until the whole quota is available again.
    pub reset_secs: u64,
    /// When refused: seconds until one request is allowed.
    pub retry_after: u64,
}

/// Counts taken from the meters by a flush: written in one transaction, or put back.
/// One row per key and hour with anything counted, so a flush of 100,000 keys holds a few
/// MB, not a map entry per outcome.
#[derive(Debug, Default)]
pub struct Batch {
    /// `(meter, start of the hour, counts by outcome)`.
    pub rows: Vec<(Arc<KeyMeter>, i64, [u32; Outcome::COUNT])>,
    /// The keys used since the last flush, with their last use.
    pub last_used: Vec<(Arc<KeyMeter>, i64)>,
    /// `(meter, rule, counts by route outcome)`: requests the route rules decided.
    pub rules: Vec<(Arc<KeyMeter>, Arc<str>, [u32; RouteOutcome::COUNT])>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.last_used.is_empty() && self.rules.is_empty()
    }
}

/// One shard of the registry: key id to meter.
type Shard = RwLock<HashMap<Arc<str>, Arc<KeyMeter>>>;

/// Every key's meter on this instance.
#[derive(Debug)]
pub struct Meters {
    shards: Box<[Shard]>,
    hasher: RandomState,
    epoch: Instant,
    /// One copy of each organization id, shared by its keys' meters.
    org_ids: std::sync::Mutex<std::collections::HashSet<Arc<str>>>,
}

impl Default for Meters {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            hasher: RandomState::new(),
            epoch: Instant::now(),
            org_ids: Default::default(),
        }
    }
}

impl Meters {
    fn shard(&self, key_id: &str) -> &Shard {
        &self.shards[(self.hasher.hash_one(key_id) as usize) % SHARDS]
    }

    /// Nanoseconds on this instance's clock, for [`KeyMeter::admit`].
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The meter of a key, made on first use. Taken when a key is looked up in the
    /// database, never on a cache hit.
    pub fn meter(&self, org_id: &str, key_id: &str) -> Arc<KeyMeter> {
        let shard = self.shard(key_id);
        if let Some(meter) = shard.read().unwrap_or_else(|p| p.into_inner()).get(key_id) {
            return meter.clone();
        }
        let org_id = self.org_id(org_id);
        let mut map = shard.write().unwrap_or_else(|p| p.into_inner());
        map.entry(Arc::from(key_id))
            .or_insert_with_key(|id| Arc::new(KeyMeter::new(org_id, id.clone())))
            .clone()
    }

    fn org_id(&self, org_id: &str) -> Arc<str> {
        let mut ids = self.org_ids.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(id) = ids.get(org_id) {
            return id.clone();
        }
        let id: Arc<str> = Arc::from(org_id);
        ids.insert(id.clone());
        id
    }

    /// Takes every count and last use not yet written, as of `now` (Unix seconds): the
    /// current hour's counts and the previous hour's stragglers.
    pub fn drain(&self, now: i64) -> Batch {
        let hour = now.div_euclid(HOUR);
        let mut batch = Batch::default();
        for shard in self.shards.iter() {
            let map = shard.read().unwrap_or_else(|p| p.into_inner());
            for meter in map.values() {
                for h in [hour, hour - 1] {
                    let counts = meter.take(h.rem_euclid(2) as usize);
                    if counts.iter().any(|n| *n > 0) {
                        batch.rows.push((meter.clone(), h * HOUR, counts));
                    }
                }
                let used = meter.last_used.load(Ordering::Relaxed);
                if used > meter.written_used.load(Ordering::Relaxed) {
                    batch.last_used.push((meter.clone(), used));
                }
                for (rule, counts) in meter.take_rules() {
                    batch.rules.push((meter.clone(), rule, counts));
                }
            }
        }
        batch
    }

    /// After a batch was written: its last uses count as written.
    pub fn written(&self, batch: &Batch) {
        for (meter, used) in &batch.last_used {
            meter.written_used.fetch_max(*used, Ordering::Relaxed);
        }
    }

    /// After a batch could not be written: its counts go back, to be written next time.
    pub fn restore(&self, batch: Batch) {
        for (meter, hour, counts) in batch.rows {
            let slot = hour.div_euclid(HOUR).rem_euclid(2) as usize;
            for (cell, n) in meter.counts[slot].iter().zip(counts) {
                cell.fetch_add(n, Ordering::Relaxed);
            }
        }
        for (meter, rule, counts) in batch.rules {
            for outcome in RouteOutcome::ALL {
                meter.add_rule(&rule, outcome, counts[outcome as usize]);
            }
        }
    }

    /// Drops meters no cached key holds and with nothing left to write. Under the shard's
    /// write lock nobody can take a new hold on a meter, so none is dropped while in use.
    pub fn sweep(&self) -> usize {
        let mut dropped = 0;
        for shard in self.shards.iter() {
            let mut map = shard.write().unwrap_or_else(|p| p.into_inner());
            let before = map.len();
            map.retain(|_, meter| Arc::strong_count(meter) > 1 || !meter.is_idle());
            dropped += before - map.len();
        }
        dropped
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many keys have a last use waiting to be written.
    pub fn pending_last_used(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.read()
                    .unwrap_or_else(|p| p.into_inner())
                    .values()
                    .filter(|m| {
                        m.last_used.load(Ordering::Relaxed) > m.written_used.load(Ordering::Relaxed)
                    })
                    .count()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::RatePeriod;

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn gcra_admits_the_limit_then_one_per_step_and_never_twice_the_limit() {
        let meters = Meters::default();
        let meter = meters.meter("org_1", "key_1");
        let limit = RateLimit::new(10, RatePeriod::Minute).unwrap();
        let t0 = 1_000 * SEC;
        let admitted = (0..20).filter(|_| meter.admit(limit, t0).allowed).count();
        assert_eq!(admitted, 10);
        let refused = meter.admit(limit, t0);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, 6, "one request frees up every 6 s");
        // Across what a fixed window would call a boundary, only the refilled share passes.
        let later = t0 + 30 * SEC;
        let admitted = (0..20)
            .filter(|_| meter.admit(limit, later).allowed)
            .count();
        assert_eq!(admitted, 5);
        // A full window later, the whole quota is back.
        let much_later = later + 60 * SEC;
        let first = meter.admit(limit, much_later);
        assert!(first.allowed);
        assert_eq!(first.remaining, 9);
        assert_eq!(first.reset_secs, 6);
    }

    #[test]
    fn counts_are_drained_once_and_restored_after_a_failed_write() {
        let meters = Meters::default();
        let now = 10 * HOUR + 5;
        let meter = meters.meter("org_1", "key_1");
        meter.count(Outcome::Ok, now);
        meter.count(Outcome::Ok, now);
        meter.count(Outcome::Paused, now - HOUR);
        let batch = meters.drain(now);
        let count = |b: &Batch, h: i64, o: Outcome| {
            b.rows
                .iter()
                .find(|(m, hour, _)| &*m.key_id == "key_1" && *hour == h)
                .map(|(_, _, counts)| counts[o as usize])
        };
        assert_eq!(count(&batch, 10 * HOUR, Outcome::Ok), Some(2));
        assert_eq!(count(&batch, 9 * HOUR, Outcome::Paused), Some(1));
        assert_eq!(batch.rows.len(), 2);
        assert_eq!(batch.last_used.len(), 1);
        assert!(meters.drain(now).rows.is_empty(), "taken once");
        meters.restore(batch);
        let again = meters.drain(now);
        assert_eq!(count(&again, 10 * HOUR, Outcome::Ok), Some(2));
        meters.written(&again);
        assert!(meters.drain(now).is_empty());
    }

    #[test]
    fn sweep_keeps_meters_in_use_or_with_counts() {
        let meters = Meters::default();
        let held = meters.meter("org_1", "key_held");
        let counted = meters.meter("org_1", "key_counted");
        counted.count(Outcome::Ok, 100);
        drop(counted);
        drop(meters.meter("org_1", "key_idle"));
        assert_eq!(meters.sweep(), 1);
        assert_eq!(meters.len(), 2);
        let batch = meters.drain(100);
        meters.written(&batch);
        drop(batch);
        assert_eq!(meters.sweep(), 1, "written and unheld: dropped");
        assert!(Arc::ptr_eq(&held, &meters.meter("org_1", "key_held")));
    }

    #[test]
    fn rule_counts_are_drained_restored_and_keep_their_meter() {
        let meters = Meters::default();
        let rule: Arc<str> = Arc::from("rul_1");
        let meter = meters.meter("org_1", "key_1");
        meter.count_rule(&rule, RouteOutcome::Allowed);
        meter.count_rule(&rule, RouteOutcome::Allowed);
        meter.count_rule(&rule, RouteOutcome::Denied);
        drop(meter);
        assert_eq!(meters.sweep(), 0, "unwritten rule counts keep the meter");
        let batch = meters.drain(100);
        assert_eq!(batch.rules.len(), 1);
        assert_eq!(batch.rules[0].2, [2, 0, 1]);
        assert!(meters.drain(100).rules.is_empty(), "taken once");
        meters.restore(batch);
        let again = meters.drain(100);
        assert_eq!(again.rules[0].2, [2, 0, 1], "put back after a failed write");
        meters.written(&again);
        drop(again);
        assert_eq!(meters.sweep(), 1);
    }
}
