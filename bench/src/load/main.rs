//! Loopback load test of the release binary: seeds a database, starts `keygate` and a
//! small upstream, and reports requests per second, p50 and p99 for
//!
//! 1. `GET /healthz` (no authentication) — the baseline;
//! 2. `GET /api/v1/whoami` with valid keys (100 keys in the database);
//! 3. `GET /gw/` through the gateway to the upstream;
//! 4. whoami with valid keys while other connections flood invalid keys;
//! 5. whoami with 1,000,000 keys in the database;
//! 6. whoami with one and with two instances on PostgreSQL (when reachable).
//!
//! With `--only usage`, the figures of usage counting and rate limits instead: whoami with
//! keys without a limit and with a (never reached) limit, the same with the limits in
//! Redis, and the memory 100,000 keys' counters take.
//!
//! With `--only propagation`, how long a revocation takes to reach an instance that has
//! the key cached, on a shared SQLite file and on PostgreSQL (`propagation.rs`).
//!
//! With `--only rules`, the gateway's server CPU per request with no route rules and with
//! 100 (`rules.rs`).
//!
//! With `--only cost`, only the server CPU per request of `/healthz`, whoami and the
//! gateway, each scenario run `--rounds` times in turn (the median is reported), and
//! the ratios issue 12 sets goals for; beside them, the same requests answered and
//! forwarded by `bare` (`bench/src/bare.rs`, built with `--bin bare`), servers with none
//! of Keygate's code, which measure what forwarding alone costs.
//!
//! `cargo run --release -p bench --bin load -- [--seconds 10] [--connections 16]
//!  [--large 1000000] [--binary target/release/keygate]
//!  [--postgres postgres://postgres@127.0.0.1:5432/postgres] [--redis redis://127.0.0.1:6379]
//!  [--only usage|cost|rules|propagation] [--rounds 3]`
//!
//! The load generator runs on the same 2-core machine as the server; it is not a test.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use app::keys::format;
use http_body_util::{BodyExt, Empty};

mod propagation;
mod rules;
mod setup;

use setup::*;

pub(crate) const SECRET: &str = "bench-load-secret-0123456789abcdef0123456789abcdef";
/// Keys the load uses (all valid); the rest of a large table is never asked for.
pub(crate) const HOT_KEYS: usize = 100;

struct Options {
    seconds: u64,
    connections: usize,
    large: usize,
    binary: PathBuf,
    /// Any database on the PostgreSQL server; the benchmark makes its own.
    postgres: String,
    redis: String,
    only: Option<String>,
    rounds: usize,
}

fn options() -> Options {
    let mut o = Options {
        seconds: 10,
        connections: 16,
        large: 1_000_000,
        binary: PathBuf::from("target/release/keygate"),
        postgres: "postgres://postgres@127.0.0.1:5432/postgres".into(),
        redis: "redis://127.0.0.1:6379".into(),
        only: None,
        rounds: 3,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--seconds" => o.seconds = value.parse().expect("--seconds N"),
            "--connections" => o.connections = value.parse().expect("--connections N"),
            "--large" => o.large = value.parse().expect("--large N"),
            "--binary" => o.binary = PathBuf::from(value),
            "--postgres" => o.postgres = value,
            "--redis" => o.redis = value,
            "--only" => o.only = Some(value),
            "--rounds" => o.rounds = value.parse().expect("--rounds N"),
            other => panic!("unknown option {other}"),
        }
    }
    o
}

#[derive(Clone)]
struct Load {
    url: String,
    keys: Arc<Vec<String>>,
}

struct Outcome {
    latencies: Vec<u32>,
    errors: u64,
    elapsed: Duration,
    /// Server CPU time spent during the run.
    server_cpu: Duration,
    /// The part of it spent in the kernel (system calls, TCP on loopback, wakeups).
    server_kernel: Duration,
}

/// `connections` loops, each with its own connection, until `stop`; latencies in µs.
async fn run(
    server: &Server,
    load: Load,
    connections: usize,
    duration: Duration,
    expect: u16,
) -> Outcome {
    let (user_before, kernel_before) = server.cpu_split();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let load = load.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let client = client();
            let uri: http::Uri = load.url.parse().unwrap();
            let mut latencies = Vec::with_capacity(200_000);
            let mut errors = 0u64;
            let mut i = c;
            while !stop.load(Ordering::Relaxed) {
                let mut request = http::Request::get(uri.clone());
                if !load.keys.is_empty() {
                    request = request.header("x-api-key", &load.keys[i % load.keys.len()]);
                }
                i += 1;
                let t = Instant::now();
                match client.request(request.body(Empty::new()).unwrap()).await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let _ = response.into_body().collect().await;
                        if status == expect {
                            latencies.push(t.elapsed().as_micros() as u32);
                        } else {
                            errors += 1;
                        }
                    }
                    Err(_) => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut outcome = Outcome {
        latencies: Vec::new(),
        errors: 0,
        elapsed: Duration::ZERO,
        server_cpu: Duration::ZERO,
        server_kernel: Duration::ZERO,
    };
    for task in tasks {
        let (latencies, errors) = task.await.unwrap();
        outcome.latencies.extend(latencies);
        outcome.errors += errors;
    }
    outcome.elapsed = started.elapsed();
    let (user, kernel) = server.cpu_split();
    outcome.server_kernel = kernel.saturating_sub(kernel_before);
    outcome.server_cpu = user.saturating_sub(user_before) + outcome.server_kernel;
    outcome.latencies.sort_unstable();
    outcome
}

struct Figures {
    rps: f64,
    p50: f64,
    p99: f64,
    /// Server CPU time per request, in µs.
    cpu: f64,
    /// The kernel's part of it, in µs.
    kernel: f64,
}

fn figures(label: &str, o: &Outcome) -> Figures {
    let pct = |p: f64| {
        o.latencies
            .get(((o.latencies.len().max(1) - 1) as f64 * p) as usize)
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    let requests = (o.latencies.len() as u64 + o.errors).max(1);
    let f = Figures {
        rps: o.latencies.len() as f64 / o.elapsed.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
        cpu: o.server_cpu.as_secs_f64() * 1e6 / requests as f64,
        kernel: o.server_kernel.as_secs_f64() * 1e6 / requests as f64,
    };
    println!(
        "| {label:<52} | {:>9.0} | {:>7.3} | {:>7.3} | {:>6} | {:>7.1} | {:>6.1} |",
        f.rps, f.p50, f.p99, o.errors, f.cpu, f.kernel
    );
    f
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let o = options();
    let duration = Duration::from_secs(o.seconds);
    let upstream = start_upstream().await;
    match o.only.as_deref() {
        Some("usage") => return usage_figures(&o, upstream).await,
        Some("cost") => return cost_figures(&o, upstream).await,
        Some("rules") => return rules::rules_figures(&o, upstream).await,
        Some("propagation") => return propagation::propagation_figures(&o, upstream).await,
        Some(other) => panic!("--only takes usage, cost, rules or propagation, not {other}"),
        None => {}
    }

    let small_dir = tempfile::tempdir().unwrap();
    let hot = Arc::new(seed(small_dir.path(), HOT_KEYS, None).await);
    let server = start_server(&o.binary, small_dir.path(), upstream, None).await;
    let warm = duration.min(Duration::from_secs(2));
    let c = o.connections;

    println!(
        "\n{} connections, {} s per scenario, loopback, load generator on the same machine\n",
        c, o.seconds
    );
    println!("| scenario | req/s | p50 ms | p99 ms | errors | server CPU µs/req | of it kernel |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let none = Arc::new(Vec::new());
    let healthz = Load {
        url: format!("{}/healthz", server.base),
        keys: none.clone(),
    };
    let whoami = Load {
        url: format!("{}/api/v1/whoami", server.base),
        keys: hot.clone(),
    };
    let gateway = Load {
        url: format!("{}/gw/", server.base),
        keys: hot.clone(),
    };

    run(&server, healthz.clone(), c, warm, 200).await;
    let base = figures(
        "GET /healthz (no auth)",
        &run(&server, healthz, c, duration, 200).await,
    );
    run(&server, whoami.clone(), c, warm, 200).await;
    let quiet = figures(
        "GET /api/v1/whoami, valid key (100 keys)",
        &run(&server, whoami.clone(), c, duration, 200).await,
    );
    run(&server, gateway.clone(), c, warm, 200).await;
    figures(
        "GET /gw/ -> upstream, valid key",
        &run(&server, gateway, c, duration, 200).await,
    );

    // Flood: half the connections send well-formed keys nobody issued (they pass the
    // checksum, so each costs an HMAC) while the other half keep calling with valid keys.
    let invalid: Vec<String> = (0..1000u32)
        .map(|i| {
            let mut bytes = [0u8; 32];
            bytes[..4].copy_from_slice(&i.to_le_bytes());
            bytes[4] = 0xee;
            format::key_from_bytes(&bytes)
        })
        .collect();
    let flood = Load {
        url: format!("{}/api/v1/whoami", server.base),
        keys: Arc::new(invalid),
    };
    let (during, flood_outcome) = tokio::join!(
        run(&server, whoami.clone(), c / 2, duration, 200),
        run(&server, flood, c / 2, duration, 429)
    );
    let in_flood = figures("whoami, valid key, during an invalid-key flood", &during);
    figures("  the flood itself (answered 429)", &flood_outcome);
    let quiet_half = figures(
        "whoami, valid key, same connections, no flood",
        &run(&server, whoami, c / 2, duration, 200).await,
    );
    drop(server);

    let large_dir = tempfile::tempdir().unwrap();
    let large_hot = Arc::new(seed(large_dir.path(), o.large, None).await);
    let server = start_server(&o.binary, large_dir.path(), upstream, None).await;
    let large = Load {
        url: format!("{}/api/v1/whoami", server.base),
        keys: large_hot,
    };
    run(&server, large.clone(), c, warm, 200).await;
    let big = figures(
        &format!("GET /api/v1/whoami, valid key ({} keys)", o.large),
        &run(&server, large, c, duration, 200).await,
    );
    drop(server);

    // Instances on PostgreSQL: one, then two sharing the database (and the two cores).
    let pg = instances_on_postgres(&o, upstream, duration, warm).await;

    println!("\nTargets:");
    println!(
        "- whoami throughput / healthz throughput = {:.1}% (target >= 85%)",
        quiet.rps / base.rps * 100.0
    );
    println!(
        "- whoami p99 at {c} connections = {:.3} ms (target <= 2 ms)",
        quiet.p99
    );
    println!(
        "- p99 with {} keys / p99 with 100 keys = {:.2} (target <= 1.2)",
        o.large,
        big.p99 / quiet.p99
    );
    println!(
        "- valid p99 during the flood / quiet p99 = {:.2} (target <= 2)",
        in_flood.p99 / quiet_half.p99
    );
    if let Some((one, two)) = pg {
        println!(
            "- PostgreSQL: two instances / one instance throughput = {:.2} (both on the same 2 cores); SQLite one instance: {:.0} req/s",
            two / one,
            quiet.rps
        );
    }
}

/// Server CPU per request of `/healthz`, whoami and the gateway on one server, and of
/// the same requests answered and forwarded by `bare` servers with none of Keygate's code;
/// the scenarios are taken in turn `rounds` times so that a noisy moment does not land on
/// one of them only; the medians give the ratios.
async fn cost_figures(o: &Options, upstream: SocketAddr) {
    let dir = tempfile::tempdir().unwrap();
    let hot = Arc::new(seed(dir.path(), HOT_KEYS, None).await);
    let servers = [
        start_server(&o.binary, dir.path(), upstream, None).await,
        start_bare("direct", upstream).await,
        start_bare("proxy", upstream).await,
        start_bare("conn", upstream).await,
    ];
    let c = o.connections;
    let duration = Duration::from_secs(o.seconds);
    let none = Arc::new(Vec::new());
    let scenarios = [
        ("GET /healthz (no auth)", 0, "/healthz", none.clone()),
        (
            "GET /api/v1/whoami, valid key (100 keys)",
            0,
            "/api/v1/whoami",
            hot.clone(),
        ),
        ("GET /gw/ -> upstream, valid key", 0, "/gw/", hot.clone()),
        ("bare: answered (no Keygate code)", 1, "/", hot.clone()),
        ("bare: forwarded, hyper-util's pool", 2, "/", hot.clone()),
        ("bare: forwarded, on the request's task", 3, "/", hot),
    ];
    println!(
        "\n{c} connections, {} s per scenario, {} rounds, loopback, load generator on the same machine\n",
        o.seconds, o.rounds
    );
    println!("| scenario | req/s | p50 ms | p99 ms | errors | server CPU µs/req | of it kernel |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut cpu: [Vec<f64>; 6] = Default::default();
    let mut kernel: [Vec<f64>; 6] = Default::default();
    for _ in 0..o.rounds.max(1) {
        for (i, (label, server, path, keys)) in scenarios.iter().enumerate() {
            let server = &servers[*server];
            let load = Load {
                url: format!("{}{path}", server.base),
                keys: keys.clone(),
            };
            run(
                server,
                load.clone(),
                c,
                duration.min(Duration::from_secs(1)),
                200,
            )
            .await;
            let f = figures(label, &run(server, load, c, duration, 200).await);
            cpu[i].push(f.cpu);
            kernel[i].push(f.kernel);
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let [healthz, whoami, gateway, answered, pooled, on_task] = cpu.map(median);
    let [
        healthz_kernel,
        whoami_kernel,
        gateway_kernel,
        answered_kernel,
        ..,
    ] = kernel.map(median);
    println!(
        "\nMedian server CPU per request: healthz {healthz:.1} µs, whoami {whoami:.1} µs, gateway {gateway:.1} µs"
    );
    // A forwarded request makes a second TCP exchange (to the upstream and back), whose
    // kernel work, on loopback, is largely done in the server's own context.
    println!(
        "- of it in the kernel: healthz {healthz_kernel:.1} µs, whoami {whoami_kernel:.1} µs, gateway {gateway_kernel:.1} µs"
    );
    println!(
        "- whoami / healthz = {:.2}x (goal <= 1.1x)",
        whoami / healthz
    );
    println!(
        "- gateway / whoami = {:.2}x (goal <= 1.6x)",
        gateway / whoami
    );
    // The gateway does all of whoami's work, then forwards; forwarding alone, measured on
    // servers without any of Keygate's code, bounds what the gateway can cost.
    println!(
        "\nWithout Keygate's code: answered {answered:.1} µs (kernel {answered_kernel:.1}), forwarded {pooled:.1} µs with hyper-util's pool, {on_task:.1} µs on the request's task"
    );
    let (forwarding, cheapest) = (pooled - answered, on_task - answered);
    println!(
        "- forwarding alone costs {forwarding:.1} µs ({cheapest:.1} µs on the request's task); Keygate's gateway costs {:.1} µs more than whoami",
        gateway - whoami
    );
    println!(
        "- the least a gateway that forwards as cheaply as hyper allows could cost: whoami + {cheapest:.1} µs = {:.2}x whoami",
        (whoami + cheapest) / whoami
    );
}

/// whoami with one and with two instances on a fresh PostgreSQL database; returns the
/// two throughputs, or `None` when no PostgreSQL server is reachable.
async fn instances_on_postgres(
    o: &Options,
    upstream: SocketAddr,
    duration: Duration,
    warm: Duration,
) -> Option<(f64, f64)> {
    let database = BenchDatabase::create(&o.postgres, "instances").await?;
    let url = database.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let hot = Arc::new(seed(dir.path(), HOT_KEYS, Some(&url)).await);
    let a = start_server(&o.binary, dir.path(), upstream, Some(&url)).await;
    let c = o.connections;
    let load_a = Load {
        url: format!("{}/api/v1/whoami", a.base),
        keys: hot.clone(),
    };
    run(&a, load_a.clone(), c, warm, 200).await;
    let one = figures(
        "PostgreSQL, one instance: whoami",
        &run(&a, load_a.clone(), c, duration, 200).await,
    );
    let dir_b = tempfile::tempdir().unwrap();
    let b = start_server(&o.binary, dir_b.path(), upstream, Some(&url)).await;
    let load_b = Load {
        url: format!("{}/api/v1/whoami", b.base),
        keys: hot.clone(),
    };
    run(&b, load_b.clone(), c / 2, warm, 200).await;
    let (on_a, on_b) = tokio::join!(
        run(&a, load_a, c / 2, duration, 200),
        run(&b, load_b, c / 2, duration, 200)
    );
    let fa = figures("PostgreSQL, two instances: whoami on A", &on_a);
    let fb = figures("PostgreSQL, two instances: whoami on B", &on_b);
    println!(
        "| PostgreSQL, two instances: together | {:.0} | | | | |",
        fa.rps + fb.rps
    );
    drop((a, b));
    database.drop_database().await;
    Some((one.rps, fa.rps + fb.rps))
}

/// Issue 10's figures: the cost of counting usage and of a rate limit, in memory and in
/// Redis, and the memory of 100,000 keys' counters.
async fn usage_figures(o: &Options, upstream: SocketAddr) {
    let duration = Duration::from_secs(o.seconds);
    let warm = duration.min(Duration::from_secs(2));
    let c = o.connections;
    let plain_dir = tempfile::tempdir().unwrap();
    let plain_keys = Arc::new(seed(plain_dir.path(), HOT_KEYS, None).await);
    // A limit no run reaches: every request pays for the check, none is refused.
    let limited_dir = tempfile::tempdir().unwrap();
    let limited_keys =
        Arc::new(seed_with(limited_dir.path(), HOT_KEYS, None, Some((1_000_000, 3_600))).await);
    let plain = start_server(&o.binary, plain_dir.path(), upstream, None).await;
    let limited = start_server(&o.binary, limited_dir.path(), upstream, None).await;
    let prefix = format!("kgbench:{}:", std::process::id());
    let redis_vars = [
        ("KEYGATE_REDIS_URL", o.redis.as_str()),
        ("KEYGATE_REDIS_PREFIX", prefix.as_str()),
    ];
    let redis_dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        limited_dir.path().join("keygate.db"),
        redis_dir.path().join("keygate.db"),
    )
    .unwrap();
    let in_redis =
        start_server_with(&o.binary, redis_dir.path(), upstream, None, &redis_vars).await;
    let load = |server: &Server, keys: &Arc<Vec<String>>| Load {
        url: format!("{}/api/v1/whoami", server.base),
        keys: keys.clone(),
    };
    println!(
        "\n{} connections, {} s per scenario, loopback, load generator on the same machine\n",
        c, o.seconds
    );
    println!("| scenario | req/s | p50 ms | p99 ms | errors | server CPU µs/req | of it kernel |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    // Alternated three times, so drift on a shared machine falls on both.
    let mut plain_rps = Vec::new();
    let mut limited_rps = Vec::new();
    let mut limited_p99 = Vec::new();
    for round in 1..=3 {
        run(&plain, load(&plain, &plain_keys), c, warm, 200).await;
        let f = figures(
            &format!("whoami, counted, no rate limit (round {round})"),
            &run(&plain, load(&plain, &plain_keys), c, duration, 200).await,
        );
        plain_rps.push(f.rps);
        run(&limited, load(&limited, &limited_keys), c, warm, 200).await;
        let f = figures(
            &format!("whoami, counted, rate limit in memory (round {round})"),
            &run(&limited, load(&limited, &limited_keys), c, duration, 200).await,
        );
        limited_rps.push(f.rps);
        limited_p99.push(f.p99);
    }
    run(&in_redis, load(&in_redis, &limited_keys), c, warm, 200).await;
    let redis = figures(
        "whoami, counted, rate limit in Redis",
        &run(&in_redis, load(&in_redis, &limited_keys), c, duration, 200).await,
    );
    drop((plain, limited, in_redis));

    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (counters_mb, batch_mb) = meter_memory(100_000);
    println!("\nTargets:");
    println!(
        "- whoami with counting and a rate limit / whoami with counting only = {:.3} (target >= 0.95)",
        mean(&limited_rps) / mean(&plain_rps)
    );
    println!(
        "- whoami p99 with the limit in Redis / in memory = {:.3} / {:.3} ms = {:.2} (target <= 1.5)",
        redis.p99,
        mean(&limited_p99),
        redis.p99 / mean(&limited_p99)
    );
    println!(
        "- 100,000 keys counted for a minute: +{counters_mb:.1} MB RSS for their counters, +{batch_mb:.1} MB more while a flush holds their batch (target <= 32 MB)"
    );
}

/// Resident memory of this process, in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64
}

/// The RSS that `keys` keys' meters add when each is counted once a second for a minute
/// (five outcomes), and what a flush's batch of them adds on top; in MB.
fn meter_memory(keys: usize) -> (f64, f64) {
    use app::keys::usage::Outcome;
    use app::keys::verify::meter::Meters;
    let ids: Vec<String> = (0..keys).map(|i| format!("key_{i:020}")).collect();
    let before = rss();
    let meters = Meters::default();
    let held: Vec<_> = ids
        .iter()
        .map(|id| meters.meter("org_bench0000000000000", id))
        .collect();
    let start = chrono::Utc::now().timestamp();
    for second in 0..60 {
        for (i, meter) in held.iter().enumerate() {
            let outcome = Outcome::ALL[(i + second) % 5];
            meter.count(outcome, start + second as i64);
        }
    }
    let counted = rss();
    let batch = meters.drain(start + 60);
    let with_batch = rss();
    assert!(batch.rows.len() >= keys);
    drop(batch);
    drop(held);
    let mb = |b: u64| b as f64 / 1_048_576.0;
    (
        mb(counted.saturating_sub(before)),
        mb(with_batch.saturating_sub(counted)),
    )
}
