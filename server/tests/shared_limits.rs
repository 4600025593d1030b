//! Limits shared through Redis (issue 10 §4), with the real Redis at 127.0.0.1:6379 (a
//! distinct key prefix per test) and two instances on one database: a key's limit of 100
//! per minute admits 100 in all, not 200; the failed-verification limit and the login
//! throttle hold across instances too. And a Redis of the test's own, stopped mid-test:
//! service goes on (never a 5xx), the outage is logged once, and the limits are shared
//! again by themselves once Redis is back.
//!
//! With `CI=true` these tests cannot skip: a missing Redis fails them.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::api::call;
use common::process::{Running, free_port};
use common::{TestDb, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::json;

on_both_databases!(
    a_key_limit_of_100_admits_100_across_two_instances,
    failure_and_login_limits_hold_across_instances,
);

const REDIS: &str = "redis://127.0.0.1:6379";

/// A key prefix no other test (or run) uses.
fn prefix() -> String {
    format!(
        "kgtest:{}:{}:",
        std::process::id(),
        app::ssr::random_id("t")
    )
}

/// Whether the shared Redis answers; on CI a missing Redis is a failure, not a skip.
async fn redis_is_up() -> bool {
    let up = tokio::net::TcpStream::connect("127.0.0.1:6379")
        .await
        .is_ok();
    if !up {
        assert!(
            std::env::var("CI").is_err(),
            "Redis must run at 127.0.0.1:6379 for these tests (CI=true)"
        );
        eprintln!("skipped: no Redis at 127.0.0.1:6379");
    }
    up
}

async fn whoami(http: &reqwest::Client, base: &str, key: &str) -> StatusCode {
    http.get(format!("{base}/api/v1/whoami"))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
        .status()
}

/// Creates a key with `limit` requests per minute through the REST API; its secret.
async fn limited_key(server: &TestServer, limit: u32) -> String {
    let (_, _, admin) = server.org_with_admin_key().await;
    let (status, body) = call(
        &reqwest::Client::new(),
        Method::POST,
        &format!("{}/api/v1/keys", server.base),
        &admin,
        Some(&json!({
            "name": "limited",
            "scopes": ["gateway"],
            "rate_limit": {"requests": limit, "per": "minute"},
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["secret"].as_str().unwrap().to_owned()
}

async fn a_key_limit_of_100_admits_100_across_two_instances(db: TestDb) {
    if !redis_is_up().await {
        return;
    }
    let prefix = prefix();
    let shared = [
        ("KEYGATE_REDIS_URL", REDIS),
        ("KEYGATE_REDIS_PREFIX", prefix.as_str()),
    ];
    let server = TestServer::start_with(db, &shared).await;
    let other = server.another_instance().await;
    let key = limited_key(&server, 100).await;
    let http = reqwest::Client::new();
    // 200 requests, alternating between the instances, 8 at a time.
    let mut admitted = 0;
    let mut refused = 0;
    for round in 0..25 {
        let mut batch = Vec::new();
        for i in 0..8 {
            let base = if (round + i) % 2 == 0 {
                &server.base
            } else {
                &other
            };
            batch.push(whoami(&http, base, &key));
        }
        for status in futures_util::future::join_all(batch).await {
            match status {
                StatusCode::OK => admitted += 1,
                StatusCode::TOO_MANY_REQUESTS => refused += 1,
                other => panic!("unexpected {other}"),
            }
        }
    }
    assert_eq!(
        (admitted, refused),
        (100, 100),
        "one limit for both instances"
    );
}

async fn failure_and_login_limits_hold_across_instances(db: TestDb) {
    if !redis_is_up().await {
        return;
    }
    let prefix = prefix();
    let shared = [
        ("KEYGATE_REDIS_URL", REDIS),
        ("KEYGATE_REDIS_PREFIX", prefix.as_str()),
        ("KEYGATE_AUTH_FAILURE_LIMIT", "10"),
    ];
    let server = TestServer::start_with(db, &shared).await;
    let other = server.another_instance().await;
    let http = reqwest::Client::new();

    // Failed verifications from one address: 10 in all, wherever they land.
    let mut statuses = Vec::new();
    for i in 0..14u8 {
        let base = if i % 2 == 0 { &server.base } else { &other };
        let stranger = app::keys::format::key_from_bytes(&[i; 32]);
        statuses.push(whoami(&http, base, &stranger).await);
    }
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(
        &statuses[..10],
        &[StatusCode::UNAUTHORIZED; 10],
        "{statuses:?}"
    );
    assert_eq!(refused, 4, "{statuses:?}");

    // Failed logins for one account: 5 in all, then both instances refuse it.
    let (_, ada) = server.user("Ada").await;
    for i in 0..5 {
        let base = if i % 2 == 0 { &server.base } else { &other };
        let client = common::Client::new(reqwest::Client::new(), base.clone());
        let (status, _) = client
            .call(
                "log_in",
                &[
                    ("email", ada.email.as_str()),
                    ("password", "wrong password"),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    for base in [&server.base, &other] {
        let client = common::Client::new(reqwest::Client::new(), base.clone());
        let (status, body) = client
            .call(
                "log_in",
                &[
                    ("email", ada.email.as_str()),
                    ("password", common::PASSWORD),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{base}: {body}");
    }
}

/// A Redis server of this test's own, without persistence.
struct OwnRedis {
    child: Child,
}

impl OwnRedis {
    async fn start(port: u16) -> OwnRedis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian's redis package) is needed");
        // Reaped on drop, whether it started or not.
        let redis = OwnRedis { child };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return redis;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("redis-server did not start on {port}");
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_goes_on_while_redis_is_down_and_limits_are_shared_again_after() {
    if Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").is_err(),
            "redis-server is needed (CI=true)"
        );
        eprintln!("skipped: no redis-server");
        return;
    }
    let port = free_port();
    let redis = OwnRedis::start(port).await;
    let url = format!("redis://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let vars = [
        ("KEYGATE_REDIS_URL", url.as_str()),
        ("KEYGATE_REDIS_PREFIX", "kg:"),
        ("KEYGATE_AUTH_FAILURE_LIMIT", "1000"),
    ];
    let a = Running::start(dir.path(), &vars).await;
    let b = Running::start(dir.path(), &vars).await;
    let owner = common::Client::new(
        reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap(),
        a.base.clone(),
    );
    let (status, _) = owner
        .call(
            "sign_up",
            &[
                ("email", "ada@example.com"),
                ("display_name", "Ada"),
                ("password", common::PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let org = owner.create_org("Acme").await;
    let (key_id, key) = owner.create_key(&org, "limited", "gateway").await;
    let (status, body) = owner
        .call(
            "set_key_rate_limit",
            &[
                ("org_id", org.as_str()),
                ("key_id", key_id.as_str()),
                ("requests", "6"),
                ("per", "minute"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let http = reqwest::Client::new();

    // Shared: 6 in all across both instances.
    let mut admitted = 0;
    for i in 0..10 {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        if whoami(&http, base, &key).await == StatusCode::OK {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 6);

    // Redis stops: every request is still answered, from each instance's own counters
    // (so 6 more per instance this minute), never with a 5xx.
    drop(redis);
    let mut statuses = Vec::new();
    for i in 0..30 {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        statuses.push(whoami(&http, base, &key).await);
    }
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(
        ok, 12,
        "each instance counts alone while Redis is down: {statuses:?}"
    );
    // Logins and bad keys keep working too.
    let stranger = app::keys::format::key_from_bytes(&[9; 32]);
    assert_eq!(
        whoami(&http, &a.base, &stranger).await,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = owner
        .call(
            "log_in",
            &[("email", "ada@example.com"), ("password", common::PASSWORD)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Redis is back (empty, as it keeps nothing): both instances use it again by
    // themselves within a few seconds. A new key with a limit of 6 shows it: 6 of 10
    // requests pass when the count is shared, 10 when each instance counts alone.
    let _redis = OwnRedis::start(port).await;
    let started = Instant::now();
    loop {
        let (fresh_id, fresh) = owner.create_key(&org, "fresh", "gateway").await;
        let (status, body) = owner
            .call(
                "set_key_rate_limit",
                &[
                    ("org_id", org.as_str()),
                    ("key_id", fresh_id.as_str()),
                    ("requests", "6"),
                    ("per", "minute"),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut admitted = 0;
        for i in 0..10 {
            let base = if i % 2 == 0 { &a.base } else { &b.base };
            if whoami(&http, base, &fresh).await == StatusCode::OK {
                admitted += 1;
            }
        }
        if admitted == 6 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the limits never came back to Redis ({admitted} of 10 admitted)"
        );
        tokio::time::sleep(Duration::from_millis(1_500)).await;
    }
    assert!(redis_has_keys(port).await);
    for running in [a, b] {
        let log = running.stop();
        let warnings = log.matches("Redis cannot be reached").count();
        assert!(
            (1..=2).contains(&warnings),
            "logged once (per minute), not per request: {warnings}\n{log}"
        );
        assert!(log.contains("Redis is reachable again"), "{log}");
        assert!(!log.contains(&key), "no key in the log");
    }
}

/// Whether the Redis on `port` holds any of Keygate's keys.
async fn redis_has_keys(port: u16) -> bool {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "--scan", "--pattern", "kg:*"])
        .output();
    out.is_ok_and(|o| !o.stdout.is_empty())
}
