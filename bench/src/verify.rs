//! Cost of verifying an API key against a real SQLite file (release build): the guard
//! alone, guard + HMAC, the uncached path (`verify_key`) for valid, unknown and malformed
//! keys, and the server's path through the verifier's cache, with 100 and N keys, from
//! one thread and from two at once.
//!
//! `cargo run --release -p bench --bin verify -- [N=100000] [ITERATIONS=20000]`

use std::time::{Duration, Instant};

use app::ids::{OrgId, UserId};
use app::keys::format;
use app::keys::scopes::DEFAULT_SCOPES;
use app::keys::service::{self as keys, KeyManager};
use app::keys::verify::digest;
use app::ssr::Secret;
use rand::seq::IndexedRandom;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "| {label:<44} | {:>9.2} | {:>9.2} | {:>9.2} |",
        mean.as_secs_f64() * 1e6,
        percentile(&samples, 0.50).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6,
    );
}

async fn timed<F, Fut>(iterations: usize, mut f: F) -> Vec<Duration>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut samples = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let start = Instant::now();
        f(i).await;
        samples.push(start.elapsed());
    }
    samples
}

/// Cached verifications per second from 1 thread and from 2 at once, on one shared
/// verifier (as the server's worker threads share it), each counted on the key's meter.
/// With no lock on a cache hit, 2 threads should do close to twice the work of one when
/// they verify different keys; when both verify the same keys, each key's counters and
/// reference count move between the cores' caches, which costs what it costs on any
/// design that counts per key.
fn scaling(
    db: &sea_orm::DatabaseConnection,
    secret: &Secret,
    verifier: &app::keys::verify::Verifier,
    secrets: &[String],
    count: usize,
) {
    const RUN: Duration = Duration::from_secs(3);
    let run = |threads: usize, same_keys: bool| -> f64 {
        let started = Instant::now();
        let done: usize = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    scope.spawn(move || {
                        let runtime = tokio::runtime::Builder::new_current_thread()
                            .build()
                            .unwrap();
                        runtime.block_on(async {
                            let mut done = 0;
                            let mut i = t * 7919;
                            let until = Instant::now() + RUN;
                            while Instant::now() < until {
                                for _ in 0..256 {
                                    // Different keys: thread t takes those at t, t + 2, ...
                                    let key = if same_keys {
                                        &secrets[i % secrets.len()]
                                    } else {
                                        &secrets[(i * threads + t) % secrets.len()]
                                    };
                                    i = i.wrapping_add(104_729);
                                    let verified = verifier.verify(db, secret, key, None).await;
                                    verified
                                        .unwrap()
                                        .unwrap()
                                        .count(app::keys::usage::Outcome::Ok);
                                    done += 1;
                                }
                            }
                            done
                        })
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).sum()
        });
        done as f64 / started.elapsed().as_secs_f64()
    };
    let one = run(1, true);
    let two = run(2, false);
    let two_same = run(2, true);
    // What this machine's cores give when nothing at all is shared: the guard and HMAC
    // of each thread's own key.
    let alone = |threads: usize| -> f64 {
        let started = Instant::now();
        let done: usize = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let key = format::key_from_bytes(&[t as u8; 32]);
                    scope.spawn(move || {
                        let mut done = 0;
                        let until = Instant::now() + RUN;
                        while Instant::now() < until {
                            for _ in 0..256 {
                                format::check(std::hint::black_box(&key)).unwrap();
                                std::hint::black_box(digest::digest(secret, &key));
                                done += 1;
                            }
                        }
                        done
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).sum()
        });
        done as f64 / started.elapsed().as_secs_f64()
    };
    let ceiling = alone(2) / alone(1);
    eprintln!(
        "{count} keys cached: 1 thread {:.2} M verifications/s; 2 threads, different keys \
         {:.2} M/s: {:.2}x; 2 threads, the same keys {:.2} M/s: {:.2}x \
         (guard + HMAC with nothing shared: {ceiling:.2}x on this machine)",
        one / 1e6,
        two / 1e6,
        two / one,
        two_same / 1e6,
        two_same / one
    );
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let big: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let iterations: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let secret = Secret::new("bench-secret-0123456789abcdef0123456789abcdef");

    println!("| path (µs per verification) | mean | p50 | p99 |");
    println!("|---|---:|---:|---:|");
    let guard_samples: Vec<Duration> = {
        let key = format::key_from_bytes(&[42; 32]);
        (0..iterations)
            .map(|_| {
                let start = Instant::now();
                std::hint::black_box(format::check(std::hint::black_box(&key))).unwrap();
                start.elapsed()
            })
            .collect()
    };
    report("shape + checksum guard only", guard_samples);
    let hmac_samples: Vec<Duration> = {
        let key = format::key_from_bytes(&[42; 32]);
        (0..iterations)
            .map(|_| {
                let start = Instant::now();
                std::hint::black_box(format::check(&key)).unwrap();
                std::hint::black_box(digest::digest(&secret, std::hint::black_box(&key)));
                start.elapsed()
            })
            .collect()
    };
    report("guard + HMAC-SHA256", hmac_samples);
    // What a permission question adds to a verification: a key holding 10 grants (8
    // exact, a resource wildcard, and its roles' ones folded in) asked for two of them,
    // as the gateway's route rules and `/verify` ask.
    let grants = app::permissions::Grants::new(
        app::permissions::parse_grants([
            "invoices:read invoices:write refunds:read customers:read customers:write \
             orders:read orders:write reports:read payouts:* admin",
        ])
        .unwrap(),
    );
    let required = vec!["orders:write".to_owned(), "payouts:create".to_owned()];
    let permission_samples: Vec<Duration> = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(
                std::hint::black_box(&grants).missing(std::hint::black_box(&required)),
            );
            start.elapsed()
        })
        .collect();
    report("permission check (2 of 10 grants)", permission_samples);

    for count in [100, big] {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().to_str().unwrap().to_owned();
        let config = server::config::Config::from_lookup(|name| {
            (name == "KEYGATE_DATA_DIR").then(|| data_dir.clone())
        })
        .unwrap();
        let db = server::db::connect(&config).await.unwrap();
        let user =
            app::auth::service::create_user(&db, "bench@example.com", "Bench", "bench password")
                .await
                .unwrap();
        let org = app::orgs::service::create_org(&db, UserId(&user.id), "Bench")
            .await
            .unwrap();
        let manager = KeyManager::new(
            app::orgs::access::membership(&db, UserId(&user.id), OrgId(&org.id))
                .await
                .unwrap(),
        )
        .unwrap();
        let seeding = Instant::now();
        let mut secrets = Vec::with_capacity(count);
        for i in 0..count {
            secrets.push(
                keys::create_key(
                    &db,
                    &secret,
                    &manager,
                    &format!("k{i}"),
                    None,
                    DEFAULT_SCOPES,
                )
                .await
                .unwrap()
                .secret,
            );
        }
        eprintln!(
            "seeded {count} keys in {:.1} s",
            seeding.elapsed().as_secs_f64()
        );

        let valid = timed(iterations, |_| {
            let key = secrets.choose(&mut rand::rng()).unwrap().clone();
            let (db, secret) = (&db, &secret);
            async move {
                assert!(digest::verify_key(db, secret, &key).await.unwrap().is_ok());
            }
        })
        .await;
        report(&format!("valid key, {count} keys in SQLite"), valid);
        // What the server does: the same keys through the verifier, cache warm.
        let verifier = app::keys::verify::Verifier::default();
        for key in &secrets {
            assert!(
                verifier
                    .verify(&db, &secret, key, None)
                    .await
                    .unwrap()
                    .is_ok()
            );
        }
        let cached = timed(iterations, |_| {
            let key = secrets.choose(&mut rand::rng()).unwrap().clone();
            let (db, secret, verifier) = (&db, &secret, &verifier);
            async move {
                // As the server does: the request's outcome is counted on the key's meter.
                let verified = verifier.verify(db, secret, &key, None).await.unwrap();
                verified.unwrap().count(app::keys::usage::Outcome::Ok);
            }
        })
        .await;
        report(&format!("valid key via the cache, {count} keys"), cached);
        scaling(&db, &secret, &verifier, &secrets, count);
        let unknown = timed(iterations, |i| {
            let mut bytes = [0u8; 32];
            bytes[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let key = format::key_from_bytes(&bytes);
            let (db, secret) = (&db, &secret);
            async move {
                assert!(digest::verify_key(db, secret, &key).await.unwrap().is_err());
            }
        })
        .await;
        report(&format!("well-formed unknown key, {count} keys"), unknown);
        let malformed = timed(iterations, |_| {
            let (db, secret) = (&db, &secret);
            async move {
                assert!(
                    digest::verify_key(db, secret, "kg_not-a-key-at-all")
                        .await
                        .unwrap()
                        .is_err()
                );
            }
        })
        .await;
        report(&format!("malformed key (typo), {count} keys"), malformed);
    }
}
