//! The verification cache's map, measured before choosing: lookups per second of a
//! `RwLock<HashMap>` (Keygate's cache before issue 10) and of `papaya::HashMap` (lock-free
//! for readers, the cache since), with 1 and 2 reader threads and with a writer inserting
//! and removing entries the whole time (as cache misses and invalidations do).
//!
//! `cargo run --release -p bench --bin cache -- [KEYS=100000] [SECONDS=3]`

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

trait Map: Send + Sync + 'static {
    fn get(&self, k: &[u8; 32]) -> Option<Arc<u64>>;
    fn insert(&self, k: [u8; 32], v: Arc<u64>);
    fn remove(&self, k: &[u8; 32]);
}

impl Map for RwLock<HashMap<[u8; 32], Arc<u64>>> {
    fn get(&self, k: &[u8; 32]) -> Option<Arc<u64>> {
        self.read().unwrap().get(k).cloned()
    }
    fn insert(&self, k: [u8; 32], v: Arc<u64>) {
        self.write().unwrap().insert(k, v);
    }
    fn remove(&self, k: &[u8; 32]) {
        self.write().unwrap().remove(k);
    }
}

impl Map for papaya::HashMap<[u8; 32], Arc<u64>> {
    fn get(&self, k: &[u8; 32]) -> Option<Arc<u64>> {
        self.pin().get(k).cloned()
    }
    fn insert(&self, k: [u8; 32], v: Arc<u64>) {
        self.pin().insert(k, v);
    }
    fn remove(&self, k: &[u8; 32]) {
        self.pin().remove(k);
    }
}

fn key(i: u64) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..8].copy_from_slice(&i.to_le_bytes());
    k[8..16].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    k
}

/// Lookups per second over `readers` threads, with or without a busy writer.
fn measure(map: Arc<dyn Map>, keys: u64, readers: usize, writer: bool, time: Duration) -> f64 {
    for i in 0..keys {
        map.insert(key(i), Arc::new(i));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for r in 0..readers {
        let (map, stop, done) = (map.clone(), stop.clone(), done.clone());
        threads.push(std::thread::spawn(move || {
            let mut n = 0u64;
            let mut i = r as u64 * 7919;
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..1024 {
                    i = (i + 104_729) % keys;
                    std::hint::black_box(map.get(&key(i)));
                }
                n += 1024;
            }
            done.fetch_add(n, Ordering::Relaxed);
        }));
    }
    if writer {
        let (map, stop) = (map.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut i = keys;
            while !stop.load(Ordering::Relaxed) {
                map.insert(key(i), Arc::new(i));
                map.remove(&key(i - keys / 2));
                i += 1;
            }
        }));
    }
    let started = Instant::now();
    std::thread::sleep(time);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let keys: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let time = Duration::from_secs(seconds);
    println!("| map ({keys} keys) | readers | writer | million lookups/s |");
    println!("|---|---:|---|---:|");
    for (readers, writer) in [(1, false), (2, false), (1, true), (2, true)] {
        let rw: Arc<dyn Map> = Arc::new(RwLock::new(HashMap::new()));
        let lock = measure(rw, keys, readers, writer, time);
        let pap: Arc<dyn Map> = Arc::new(papaya::HashMap::new());
        let free = measure(pap, keys, readers, writer, time);
        let w = if writer {
            "inserting and removing"
        } else {
            "none"
        };
        println!("| RwLock<HashMap> | {readers} | {w} | {:.1} |", lock / 1e6);
        println!("| papaya::HashMap | {readers} | {w} | {:.1} |", free / 1e6);
    }
}
