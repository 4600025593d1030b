//! Limits shared through Redis (issue 10 §4), with the real Redis at 127.0.0.1:6379 (a
//! distinct key prefix per test) and two instances on one database: a key's limit of 100
//! per minute admits 100 in all, not 200; the failed-verification limit and the login
//! throttle hold across instances too. And a Redis of the test's own, stopped mid-test:
//! service goes on (never a 5xx), the outage is logged once, and the limits are shared
//! again by themselves once Redis is back.
//!
//! Every test here needs Redis (its name starts with `redis::`, see `common::NEEDS`): a
//! missing Redis fails them, and the test command leaves them out, reported as skipped.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::api::call;
use common::api::whoami_status as whoami;
use common::process::Running;
use common::{TestDb, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::json;

mod redis {
    use super::*;

    on_both_databases!(
        a_key_limit_of_100_admits_100_across_two_instances,
        failure_and_login_limits_hold_across_instances,
    );

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn service_goes_on_while_redis_is_down_and_limits_are_shared_again_after() {
        common::within_time_limit(
            "redis::service_goes_on_while_redis_is_down_and_limits_are_shared_again_after",
            super::service_goes_on_while_redis_is_down_and_limits_are_shared_again_after(),
        )
        .await;
    }
}

const REDIS: &str = "redis://127.0.0.1:6379";

/// A key prefix no other test (or run) uses.
fn prefix() -> String {
    format!(
        "kgtest:{}:{}:",
        std::process::id(),
        app::ssr::random_id("t")
    )
}

/// Fails the test, naming the way out, when the shared Redis does not answer: a test
/// that could not run is never reported as passed.
async fn require_redis() {
    if let Err(e) = tokio::net::TcpStream::connect("127.0.0.1:6379").await {
        panic!(
            "Redis is not reachable at 127.0.0.1:6379 ({e}): start it, or leave these tests \
             out with `cargo test -- --skip redis::` (.ci/test.sh does that, and reports \
             them as skipped)"
        );
    }
}

/// Creates a key with `limit` requests per minute through the REST API; its secret.
async fn limited_key(server: &TestServer, limit: u32) -> String {
    let (_, _, admin) = server.org_with_admin_key().await;
    let (status, body) = call(
        &common::http(),
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
    require_redis().await;
    let prefix = prefix();
    let shared = [
        ("KEYGATE_REDIS_URL", REDIS),
        ("KEYGATE_REDIS_PREFIX", prefix.as_str()),
    ];
    let server = TestServer::start_with(db, &shared).await;
    let other = server.another_instance().await;
    let key = limited_key(&server, 100).await;
    let http = common::http();
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
    require_redis().await;
    let prefix = prefix();
    let shared = [
        ("KEYGATE_REDIS_URL", REDIS),
        ("KEYGATE_REDIS_PREFIX", prefix.as_str()),
        ("KEYGATE_AUTH_FAILURE_LIMIT", "10"),
    ];
    let server = TestServer::start_with(db, &shared).await;
    let other = server.another_instance().await;
    let http = common::http();

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
        let client = common::Client::new(common::http(), base.clone());
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
        let client = common::Client::new(common::http(), base.clone());
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

/// A Redis server of this test's own, without persistence, listening on a Unix socket
/// only (no TCP port to pick, so none another process can hold).
struct OwnRedis {
    child: Child,
}

impl OwnRedis {
    async fn start(socket: &std::path::Path) -> OwnRedis {
        let child = Command::new("redis-server")
            .args(["--port", "0", "--unixsocket"])
            .arg(socket)
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian's redis package) is needed");
        // Reaped on drop, whether it started or not.
        let mut redis = OwnRedis { child };
        common::eventually(
            "redis-server answers on its socket",
            common::WAIT_LIMIT,
            async || {
                if let Some(status) = redis.child.try_wait().unwrap() {
                    panic!("redis-server exited: {status}");
                }
                tokio::net::UnixStream::connect(socket).await.is_ok()
            },
        )
        .await;
        redis
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn service_goes_on_while_redis_is_down_and_limits_are_shared_again_after() {
    if let Err(e) = Command::new("redis-server").arg("--version").output() {
        panic!(
            "redis-server is needed to start a Redis of this test's own ({e}): install it, \
             or leave the Redis tests out with `cargo test -- --skip redis::`"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("redis.sock");
    let redis = OwnRedis::start(&socket).await;
    let url = format!("unix://{}", socket.display());
    let vars = [
        ("KEYGATE_REDIS_URL", url.as_str()),
        ("KEYGATE_REDIS_PREFIX", "kg:"),
        ("KEYGATE_AUTH_FAILURE_LIMIT", "1000"),
    ];
    let a = Running::start(dir.path(), &vars).await;
    let b = Running::start(dir.path(), &vars).await;
    let owner = common::browser(&a.base);
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
    let http = common::http();

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
    let _redis = OwnRedis::start(&socket).await;
    common::eventually(
        "the limits are counted in Redis again",
        common::WAIT_LIMIT,
        async || {
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
            if admitted != 6 {
                // Not yet: give the instances time to reconnect before the next key.
                tokio::time::sleep(Duration::from_millis(500)).await;
                return Err(format!("{admitted} of 10 admitted"));
            }
            Ok(())
        },
    )
    .await;
    assert!(redis_has_keys(&socket).await);
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

/// Whether the Redis on `socket` holds any of Keygate's keys.
async fn redis_has_keys(socket: &std::path::Path) -> bool {
    let out = Command::new("redis-cli")
        .arg("-s")
        .arg(socket)
        .args(["--scan", "--pattern", "kg:*"])
        .output();
    out.is_ok_and(|o| !o.stdout.is_empty())
}
