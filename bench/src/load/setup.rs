//! The load test's fixtures: a seeded database, the server under test, a small upstream,
//! and the client that loads them.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use app::entities::api_key;
use app::ids::UserId;
use app::keys::format;
use app::keys::verify::digest;
use app::ssr::Secret;
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sea_orm::{EntityTrait, TransactionTrait};

use crate::{HOT_KEYS, SECRET};

/// A database in `dir` with one org and `count` keys; returns `HOT_KEYS` raw keys.
pub(crate) async fn seed(dir: &Path, count: usize, database_url: Option<&str>) -> Vec<String> {
    seed_with(dir, count, database_url, None).await
}

/// [`seed`], every key with the rate limit `limit` (requests, window seconds).
pub(crate) async fn seed_with(
    dir: &Path,
    count: usize,
    database_url: Option<&str>,
    limit: Option<(i32, i32)>,
) -> Vec<String> {
    let data_dir = dir.to_str().unwrap().to_owned();
    let config = server::config::Config::from_lookup(|name| match name {
        "KEYGATE_DATA_DIR" => Some(data_dir.clone()),
        "KEYGATE_SECRET" => Some(SECRET.into()),
        "KEYGATE_DATABASE_URL" => database_url.map(str::to_owned),
        _ => None,
    })
    .unwrap();
    let db = server::db::connect(&config).await.unwrap();
    let user = app::auth::service::create_user(&db, "load@example.com", "Load", "load password")
        .await
        .unwrap();
    let org = app::orgs::service::create_org(&db, UserId(&user.id), "Load")
        .await
        .unwrap();
    let secret = Secret::new(SECRET);
    let started = Instant::now();
    let mut hot = Vec::with_capacity(HOT_KEYS);
    let now = chrono::Utc::now();
    // As many rows per INSERT as the bound values allow: SQLite takes at most 32,766
    // per statement (PostgreSQL 65,535), and every column of a row is one.
    let columns = <api_key::Column as sea_orm::Iterable>::iter().count();
    let rows_per_insert = (32_766 / columns).max(1);
    let mut i = 0;
    while i < count {
        let batch = (count - i).min(rows_per_insert);
        let txn = db.begin().await.unwrap();
        let rows: Vec<api_key::ActiveModel> = (i..i + batch)
            .map(|n| {
                let mut bytes = [0u8; 32];
                rand::fill(&mut bytes);
                let raw = format::key_from_bytes(&bytes);
                let row = api_key::Model {
                    id: format!("key_load{n:08}"),
                    name: format!("load {n}"),
                    start: format::hint(&raw),
                    lookup_digest: digest::digest(&secret, &raw),
                    scopes: "gateway keys:read".into(),
                    rate_limit: limit.map(|l| l.0),
                    rate_limit_window: limit.map(|l| l.1),
                    ..api_key::Model::new_in(&org.id, &user.id, now)
                };
                if hot.len() < HOT_KEYS && n % (count / HOT_KEYS).max(1) == 0 {
                    hot.push(raw);
                }
                api_key::ActiveModel::from(row)
            })
            .collect();
        api_key::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await
            .unwrap();
        txn.commit().await.unwrap();
        i += batch;
    }
    eprintln!(
        "seeded {count} keys in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Start the server on a settled file: WAL folded in and written out.
    use sea_orm::ConnectionTrait;
    if database_url.is_none() {
        db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
            .await
            .unwrap();
    }
    db.close().await.unwrap();
    // SAFETY: sync(2) has no preconditions.
    unsafe { libc::sync() };
    hot
}

/// A fresh PostgreSQL database for one scenario, made on the server at `admin_url` (any
/// database there); `None` when that server is not reachable.
pub(crate) struct BenchDatabase {
    admin: sea_orm::DatabaseConnection,
    name: String,
    pub(crate) url: String,
}

impl BenchDatabase {
    pub(crate) async fn create(admin_url: &str, label: &str) -> Option<BenchDatabase> {
        use sea_orm::ConnectionTrait;
        let admin = sea_orm::Database::connect(admin_url).await.ok()?;
        let name = format!("keygate_bench_{label}_{}", std::process::id());
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
            .await
            .unwrap();
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
        Some(BenchDatabase { admin, name, url })
    }

    /// Drops it, with whatever is still connected.
    pub(crate) async fn drop_database(self) {
        use sea_orm::ConnectionTrait;
        self.admin
            .execute_unprepared(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await
            .unwrap();
    }
}

pub(crate) struct Server {
    child: Child,
    pub(crate) base: String,
}

impl Server {
    /// CPU time the server process has used so far, in user space and in the kernel.
    pub(crate) fn cpu_split(&self) -> (Duration, Duration) {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name, which is in parentheses.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        let time = |ticks: u64| Duration::from_micros(ticks * 1_000_000 / hz);
        (time(ticks(11)), time(ticks(12)))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) async fn start_server(
    binary: &Path,
    dir: &Path,
    upstream: SocketAddr,
    database_url: Option<&str>,
) -> Server {
    start_server_with(binary, dir, upstream, database_url, &[]).await
}

pub(crate) async fn start_server_with(
    binary: &Path,
    dir: &Path,
    upstream: SocketAddr,
    database_url: Option<&str>,
    extra: &[(&str, &str)],
) -> Server {
    let port = free_port();
    let mut command = Command::new(binary);
    if let Some(url) = database_url {
        command.env("KEYGATE_DATABASE_URL", url);
    }
    for (k, v) in extra {
        command.env(k, v);
    }
    let child = command
        .env("KEYGATE_ADDR", format!("127.0.0.1:{port}"))
        .env("KEYGATE_DATA_DIR", dir)
        .env("KEYGATE_SECRET", SECRET)
        .env("KEYGATE_UPSTREAM_URL", format!("http://{upstream}"))
        // Request lines are logged at info; at tens of thousands of requests per second
        // the terminal would be what is measured.
        .env("KEYGATE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {}: {e} (build it with cargo leptos build --release)",
                binary.display()
            )
        });
    // Owned at once, so the process is reaped (Drop) whatever happens next.
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    ready(server, "keygate").await
}

/// A loopback port nothing listens on (a moment ago).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `server` once it answers `/readyz`.
pub(crate) async fn ready(server: Server, name: &str) -> Server {
    let client = client();
    for _ in 0..400 {
        if let Ok(r) = client
            .get(format!("{}/readyz", server.base).parse().unwrap())
            .await
            && r.status().is_success()
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{name} did not start");
}

/// `bench/src/bare.rs` in `mode` (direct, proxy or conn), forwarding to `upstream`.
pub(crate) async fn start_bare(mode: &str, upstream: SocketAddr) -> Server {
    let port = free_port();
    let binary = std::env::current_exe().unwrap().with_file_name("bare");
    let child = Command::new(&binary)
        .args([mode, &format!("127.0.0.1:{port}"), &upstream.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {}: {e} (build it with cargo build --release -p bench --bin bare)",
                binary.display()
            )
        });
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    ready(server, "bare").await
}

pub(crate) async fn start_upstream() -> SocketAddr {
    let app = axum::Router::new().fallback(|| async { "ok" });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

pub(crate) fn client() -> Client<HttpConnector, Empty<Bytes>> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1024)
        .build(connector)
}
