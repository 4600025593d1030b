//! Fixed-window counters kept in this instance's memory, bounded in size: the one
//! counter behind the per-address and per-account limits (failed verifications, failed
//! logins, sign-ups) when they are not counted in Redis (L3).
//!
//! Windows are kept in the order they started, so expired ones are dropped from the front
//! a few at a time as requests come, and the oldest goes first when the map is full:
//! nothing is ever scanned in full on a request.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// The most blocking windows passed over to find one to forget when the map is full.
const SKIP_BLOCKING: usize = 16;

#[derive(Debug)]
pub struct FixedWindows<K> {
    windows: HashMap<K, Window>,
    /// (start, key) of every window in `windows`, oldest first; an entry whose start no
    /// longer matches its key's window is left over from an earlier window of that key.
    order: VecDeque<(Instant, K)>,
    length: Duration,
    capacity: usize,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

impl<K: Hash + Eq + Clone> FixedWindows<K> {
    /// Windows of `length`; at most `capacity` keys tracked at once (past it, the oldest
    /// window is forgotten).
    pub fn new(length: Duration, capacity: usize) -> Self {
        Self {
            windows: HashMap::new(),
            order: VecDeque::new(),
            length,
            capacity: capacity.max(1),
        }
    }

    /// Adds `n` to `key`'s window (starting one if it has none that is live); its count
    /// afterwards and the time left in it. When the map is full, the oldest window that
    /// is not `blocking` (given a key and its count) is forgotten: forgetting one that
    /// blocks someone would lift the block.
    pub fn add(
        &mut self,
        key: K,
        n: u32,
        now: Instant,
        blocking: impl Fn(K, u32) -> bool,
    ) -> (u32, Duration) {
        self.expire(now);
        let live = self
            .windows
            .get(&key)
            .is_some_and(|w| now.duration_since(w.started) < self.length);
        if !live {
            self.windows.remove(&key);
            while self.windows.len() >= self.capacity {
                self.drop_oldest(&blocking);
            }
            self.windows.insert(
                key.clone(),
                Window {
                    started: now,
                    count: 0,
                },
            );
            self.order.push_back((now, key.clone()));
        }
        let window = self.windows.get_mut(&key).expect("inserted above");
        window.count = window.count.saturating_add(n);
        (
            window.count,
            self.length
                .saturating_sub(now.duration_since(window.started)),
        )
    }

    /// `key`'s count in its live window and the time left in it, without counting.
    pub fn get(&self, key: &K, now: Instant) -> Option<(u32, Duration)> {
        let window = self.windows.get(key)?;
        let elapsed = now.duration_since(window.started);
        (elapsed < self.length).then(|| (window.count, self.length - elapsed))
    }

    /// Takes `n` back from `key`'s window (a success that was charged as a failure).
    pub fn take_back(&mut self, key: &K, n: u32) {
        if let Some(window) = self.windows.get_mut(key) {
            window.count = window.count.saturating_sub(n);
        }
    }

    /// Forgets `key`'s window.
    pub fn remove(&mut self, key: &K) {
        self.windows.remove(key);
    }

    /// How many keys are tracked.
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// Drops the windows that have ended, oldest first, stopping at the first live one
    /// (a blocking window moved back by [`Self::drop_oldest`] may hide ended ones behind
    /// it for a while: they still count as ended, and still count against the bound).
    fn expire(&mut self, now: Instant) {
        while let Some((started, _)) = self.order.front() {
            if now.duration_since(*started) < self.length {
                break;
            }
            if let Some((started, key)) = self.order.pop_front() {
                self.remove_if_started(&key, started);
            }
        }
    }

    /// Drops the oldest window that is not blocking, looking at no more than
    /// [`SKIP_BLOCKING`] blocking ones (they go to the back of the line): when that many
    /// block, the oldest goes all the same, so the work per request stays bounded.
    fn drop_oldest(&mut self, blocking: impl Fn(K, u32) -> bool) {
        let mut skipped = 0;
        while let Some((started, key)) = self.order.pop_front() {
            let Some(window) = self.windows.get(&key).filter(|w| w.started == started) else {
                continue; // left over from an earlier window of that key
            };
            if skipped < SKIP_BLOCKING && blocking(key.clone(), window.count) {
                skipped += 1;
                self.order.push_back((started, key));
                continue;
            }
            self.windows.remove(&key);
            return;
        }
        // `order` ran out before the map did: they disagree, so start over.
        self.windows.clear();
    }

    fn remove_if_started(&mut self, key: &K, started: Instant) {
        if self.windows.get(key).is_some_and(|w| w.started == started) {
            self.windows.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn never(_: u32, _: u32) -> bool {
        false
    }

    #[test]
    fn counts_within_a_window_and_starts_again_after_it() {
        let start = Instant::now();
        let mut w = FixedWindows::new(MINUTE, 10);
        assert_eq!(w.add(1, 1, start, never), (1, MINUTE));
        assert_eq!(w.add(1, 5, start + Duration::from_secs(10), never).0, 6);
        assert_eq!(
            w.get(&1, start + Duration::from_secs(20)),
            Some((6, Duration::from_secs(40)))
        );
        assert_eq!(w.get(&1, start + MINUTE), None, "ended");
        assert_eq!(
            w.add(1, 1, start + MINUTE, never),
            (1, MINUTE),
            "a new window"
        );
        w.take_back(&1, 1);
        assert_eq!(w.get(&1, start + MINUTE).map(|(c, _)| c), Some(0));
    }

    #[test]
    fn never_holds_more_than_its_capacity_and_forgets_the_oldest_first() {
        let start = Instant::now();
        let mut w = FixedWindows::new(MINUTE, 100);
        for i in 0..10_000u32 {
            w.add(i, 1, start + Duration::from_millis(u64::from(i)), never);
            assert!(w.len() <= 100);
        }
        assert!(w.order.len() <= 100, "the order list is bounded too");
        let now = start + Duration::from_millis(10_000);
        assert_eq!(
            w.get(&9_999, now).map(|(c, _)| c),
            Some(1),
            "the newest stays"
        );
        assert_eq!(w.get(&0, now), None, "the oldest went");
    }

    #[test]
    fn a_full_map_keeps_the_windows_that_block() {
        let start = Instant::now();
        let mut w = FixedWindows::new(MINUTE, 100);
        let blocking = |_: u32, count: u32| count >= 5;
        w.add(0, 5, start, blocking);
        for i in 1..10_000u32 {
            w.add(i, 1, start + Duration::from_millis(u64::from(i)), blocking);
            assert!(w.len() <= 100 && w.order.len() <= 100);
        }
        let now = start + Duration::from_millis(10_000);
        assert_eq!(w.get(&0, now).map(|(c, _)| c), Some(5), "still blocked");
    }

    #[test]
    fn ended_windows_leave_as_time_passes() {
        let start = Instant::now();
        let mut w = FixedWindows::new(MINUTE, 1_000);
        for i in 0..500u32 {
            w.add(i, 1, start, never);
        }
        // A key counted again in a later window leaves no stale entry behind.
        w.add(7, 1, start + MINUTE, never);
        assert_eq!(w.len(), 1, "every window of the first minute ended");
        assert_eq!(w.order.len(), 1);
        assert_eq!(w.get(&7, start + MINUTE).map(|(c, _)| c), Some(1));
    }
}
