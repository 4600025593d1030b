//! Usage and per-key rate limits (issue 10), on a fresh SQLite file and a fresh
//! PostgreSQL database, over HTTP on two in-process instances sharing the database:
//! every outcome counted on each instance adds up exactly in the hourly table; a key's
//! page, its usage over REST and the organization's totals read it back; a key over its
//! own limit gets 429 with `Retry-After` and the `RateLimit` fields on the REST API, the
//! gateway and `/verify`; limits are set at creation and changed later, with field errors.

mod common;

use std::time::Duration;

use common::api::{call, send, whoami_status as whoami};
use common::{TestDb, TestServer, WAIT_LIMIT, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_databases!(
    usage_from_two_instances_adds_up_exactly,
    a_key_over_its_rate_limit_gets_429_and_the_ratelimit_fields,
    verify_reports_a_rate_limit_but_never_spends_it,
    old_usage_is_pruned_and_recent_usage_kept,
);

const FAST_FLUSH: [(&str, &str); 1] = [("KEYGATE_USAGE_FLUSH_INTERVAL", "1")];

/// Polls the key's usage over REST until `done` holds; the last answer.
async fn usage_until(
    http: &reqwest::Client,
    base: &str,
    reader: &str,
    key_id: &str,
    period: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    eventually(
        "the usage reaches the expected counts",
        WAIT_LIMIT,
        async || {
            let (status, body) = call(
                http,
                Method::GET,
                &format!("{base}/api/v1/keys/{key_id}/usage?period={period}"),
                reader,
                None,
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            if done(&body) { Ok(body) } else { Err(body) }
        },
    )
    .await
}

fn sum(usage: &Value, outcome: &str) -> u64 {
    usage["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b[outcome].as_u64().unwrap())
        .sum()
}

async fn usage_from_two_instances_adds_up_exactly(db: TestDb) {
    let server = TestServer::start_with(db, &FAST_FLUSH).await;
    let other = server.another_instance().await;
    let (owner, _) = server.user("Ada").await;
    let org = owner.create_org("Acme").await;
    let (key_id, key) = owner.create_key(&org, "busy", "gateway").await;
    let (quiet_id, quiet) = owner.create_key(&org, "quiet", "gateway").await;
    let (_, reader) = owner.create_key(&org, "reader", "keys:read").await;
    let http = common::http();

    // 7 successes on one instance, 5 on the other; 3 refused for a missing scope.
    for _ in 0..7 {
        assert_eq!(whoami(&http, &server.base, &key).await, StatusCode::OK);
    }
    for _ in 0..5 {
        assert_eq!(whoami(&http, &other, &key).await, StatusCode::OK);
    }
    for base in [&server.base, &other, &other] {
        let (status, body) = call(
            &http,
            Method::GET,
            &format!("{base}/api/v1/keys"),
            &key,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    assert_eq!(whoami(&http, &server.base, &quiet).await, StatusCode::OK);
    // Paused: 2 refusals, counted on the key too.
    let (status, body) = owner
        .call(
            "pause_api_key",
            &[("org_id", org.as_str()), ("key_id", key_id.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Until the other instance hears of the pause, its answers are successes: counted.
    let mut ok = 12;
    for base in [&server.base, &other] {
        eventually(
            &format!("{base} refuses the paused key"),
            WAIT_LIMIT,
            async || {
                if whoami(&http, base, &key).await == StatusCode::UNAUTHORIZED {
                    return true;
                }
                ok += 1;
                false
            },
        )
        .await;
    }

    let usage = usage_until(&http, &server.base, &reader, &key_id, "24h", |u| {
        sum(u, "ok") >= ok && sum(u, "insufficient_scope") >= 3 && sum(u, "paused") >= 2
    })
    .await;
    // A moment more: nothing is counted twice.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let usage = usage_until(&http, &server.base, &reader, &key_id, "24h", |u| {
        sum(u, "ok") == sum(&usage, "ok")
    })
    .await;
    assert_eq!(sum(&usage, "ok"), ok, "{usage}");
    assert_eq!(sum(&usage, "insufficient_scope"), 3, "{usage}");
    assert_eq!(sum(&usage, "paused"), 2, "{usage}");
    assert_eq!(sum(&usage, "rate_limited"), 0, "{usage}");
    assert_eq!(usage["total"], ok + 5, "{usage}");
    assert_eq!(usage["errors"], 5, "{usage}");
    assert_eq!(usage["period"], "24h");
    assert_eq!(usage["buckets"].as_array().unwrap().len(), 24);
    let month = usage_until(&http, &server.base, &reader, &key_id, "30d", |_| true).await;
    assert_eq!(month["buckets"].as_array().unwrap().len(), 30);
    assert_eq!(month["total"], ok + 5, "{month}");

    // The page's server functions: the organization's totals and its busiest keys.
    let (status, org_usage) = owner
        .call("org_usage", &[("org_id", org.as_str()), ("period", "24h")])
        .await;
    assert_eq!(status, StatusCode::OK, "{org_usage}");
    // (The reader key's own polling counts too, so its place varies.)
    let busiest = org_usage["busiest"].as_array().unwrap();
    let totals: Vec<u64> = busiest
        .iter()
        .map(|k| k["total"].as_u64().unwrap())
        .collect();
    assert!(
        totals.windows(2).all(|w| w[0] >= w[1]),
        "busiest first: {org_usage}"
    );
    let of = |id: &str| busiest.iter().find(|k| k["key_id"] == id).cloned();
    let busy = of(&key_id).expect("the busy key is listed");
    assert_eq!(
        (busy["total"].as_u64(), busy["name"].as_str()),
        (Some(ok + 5), Some("busy"))
    );
    assert_eq!(of(&quiet_id).expect("listed")["total"], 1);
    assert!(org_usage["usage"]["buckets"].as_array().unwrap().len() == 24);
    let (status, key) = owner
        .call(
            "get_api_key",
            &[("org_id", org.as_str()), ("key_id", key_id.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{key}");
    assert_eq!(key["name"], "busy");
    let (status, activity) = owner
        .call(
            "list_key_activity",
            &[("org_id", org.as_str()), ("key_id", key_id.as_str())],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{activity}");
    let actions: Vec<&str> = activity
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["key.paused", "key.created"],
        "only this key's events"
    );

    // Bad input: a clear error, nothing else.
    let (status, body) = call(
        &http,
        Method::GET,
        &format!("{}/api/v1/keys/{key_id}/usage?period=7d", server.base),
        &reader,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "period", "{body}");
    let (status, _) = call(
        &http,
        Method::GET,
        &format!("{}/api/v1/keys/key_nope/usage", server.base),
        &reader,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = owner
        .call("org_usage", &[("org_id", org.as_str()), ("period", "1y")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "period", "{body}");
    // Another organization's member sees none of it.
    let (stranger, _) = server.user("Eve").await;
    let (status, body) = stranger
        .call("org_usage", &[("org_id", org.as_str()), ("period", "24h")])
        .await;
    // The same answer as for an organization that does not exist: nothing of its usage.
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body, serde_json::json!({"error": "not_found"}));
}

/// `(status, RateLimit-Policy, RateLimit, Retry-After, error code)` of a whoami.
async fn limited_whoami(
    http: &reqwest::Client,
    base: &str,
    key: &str,
) -> (StatusCode, String, String, String, String) {
    let (status, headers, body) = send(
        http.get(format!("{base}/api/v1/whoami"))
            .header("x-api-key", key),
    )
    .await;
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    (
        status,
        header("ratelimit-policy"),
        header("ratelimit"),
        header("retry-after"),
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn a_key_over_its_rate_limit_gets_429_and_the_ratelimit_fields(db: TestDb) {
    let server = TestServer::start_with(db, &FAST_FLUSH).await;
    let (owner, org, admin) = server.org_with_admin_key().await;
    let http = common::http();
    let keys_url = format!("{}/api/v1/keys", server.base);

    // Field errors name the entry at fault, and create nothing.
    for (limit, field) in [
        (
            json!({"requests": 0, "per": "minute"}),
            "rate_limit.requests",
        ),
        (
            json!({"requests": 2_000_000, "per": "minute"}),
            "rate_limit.requests",
        ),
        (json!({"requests": 5, "per": "week"}), "rate_limit.per"),
    ] {
        let (status, body) = call(
            &http,
            Method::POST,
            &keys_url,
            &admin,
            Some(&json!({"name": "bad", "scopes": ["gateway"], "rate_limit": limit})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["field"], field, "{body}");
    }
    let (_, list) = call(&http, Method::GET, &keys_url, &admin, None).await;
    assert_eq!(list["total"], 1, "nothing was created: {list}");

    let (status, created) = call(
        &http,
        Method::POST,
        &keys_url,
        &admin,
        Some(&json!({
            "name": "limited",
            "scopes": ["gateway", "keys:read"],
            "rate_limit": {"requests": 5, "per": "minute"},
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["key"]["rate_limit"],
        json!({"requests": 5, "per": "minute"})
    );
    let key = created["secret"].as_str().unwrap().to_owned();
    let key_id = created["key"]["id"].as_str().unwrap().to_owned();

    for remaining in (0..5).rev() {
        let (status, policy, state, _, _) = limited_whoami(&http, &server.base, &key).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(policy, r#""key";q=5;w=60"#);
        assert!(
            state.starts_with(&format!(r#""key";r={remaining};t="#)),
            "{state}"
        );
    }
    let (status, policy, state, retry_after, error) =
        limited_whoami(&http, &server.base, &key).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(error, "rate_limited");
    assert_eq!(policy, r#""key";q=5;w=60"#);
    assert!(state.starts_with(r#""key";r=0;t="#), "{state}");
    let retry_after: u64 = retry_after.parse().unwrap();
    assert!(
        (1..=12).contains(&retry_after),
        "one request frees up every 12 s: {retry_after}"
    );
    // The gateway and /verify hold the same limit; the gateway's refusal carries the
    // limit's fields too.
    let (status, headers, body) = send(
        http.get(format!("{}/gw/anything", server.base))
            .header("x-api-key", &key),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        headers.contains_key("ratelimit-policy") && headers.contains_key("ratelimit"),
        "{headers:?}"
    );
    let answer = common::api::verify(&http, &server.base, &key).await;
    assert_eq!(answer["valid"], false);
    assert_eq!(answer["error"], "rate_limited");
    assert!(answer["retry_after"].as_u64().unwrap() >= 1);
    // A key without a limit carries no RateLimit fields.
    let (status, policy, state, _, _) = limited_whoami(&http, &server.base, &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((policy.as_str(), state.as_str()), ("", ""));

    // Raised later by a key manager: the key is admitted again at once.
    let limit_url = format!("{}/api/v1/keys/{key_id}/rate-limit", server.base);
    let (status, body) = call(
        &http,
        Method::PUT,
        &limit_url,
        &admin,
        Some(&json!({"rate_limit": {"requests": 100, "per": "second"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["rate_limit"],
        json!({"requests": 100, "per": "second"})
    );
    let (status, policy, _, _, _) = limited_whoami(&http, &server.base, &key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(policy, r#""key";q=100;w=1"#);
    // Removed: no limit, no fields; the audit log says who did what.
    let (status, body) = call(
        &http,
        Method::PUT,
        &limit_url,
        &admin,
        Some(&json!({"rate_limit": null})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rate_limit"], Value::Null);
    let (status, policy, _, _, _) = limited_whoami(&http, &server.base, &key).await;
    assert_eq!((status, policy.as_str()), (StatusCode::OK, ""));
    let (status, body) = call(
        &http,
        Method::PUT,
        &limit_url,
        &admin,
        Some(&json!({"rate_limit": {"requests": 5, "per": "fortnight"}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "rate_limit.per");
    let (_, activity) = owner
        .call("list_key_activity", &[("org_id", org.as_str())])
        .await;
    let details: Vec<&str> = activity
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "key.rate_limit_changed")
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert_eq!(details, ["rate limit removed", "rate limit 100 per second"]);

    // The refusals were counted: 2 over the limit (REST and gateway) and 1 from /verify.
    let usage = usage_until(&http, &server.base, &admin, &key_id, "24h", |u| {
        sum(u, "rate_limited") >= 3
    })
    .await;
    assert_eq!(sum(&usage, "rate_limited"), 3, "{usage}");
    assert_eq!(sum(&usage, "ok"), 7, "{usage}");

    // A revoked key's limit cannot be changed.
    let (status, _) = call(
        &http,
        Method::DELETE,
        &format!("{keys_url}/{key_id}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = call(
        &http,
        Method::PUT,
        &limit_url,
        &admin,
        Some(&json!({"rate_limit": {"requests": 5, "per": "minute"}})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

async fn old_usage_is_pruned_and_recent_usage_kept(db: TestDb) {
    use app::entities::key_usage;
    use sea_orm::{ActiveValue::Set, EntityTrait, PaginatorTrait};
    let conn = db.connect().await;
    let now = chrono::Utc::now();
    let hour = |days_ago: i64| (now.timestamp() - days_ago * 86_400).div_euclid(3_600) * 3_600;
    for (key, days_ago) in [("key_old", 91), ("key_recent", 89), ("key_today", 0)] {
        key_usage::Entity::insert(key_usage::ActiveModel {
            key_id: Set(key.into()),
            org_id: Set("org_1".into()),
            hour: Set(hour(days_ago)),
            outcome: Set("ok".into()),
            count: Set(3),
        })
        .exec_without_returning(&conn)
        .await
        .unwrap();
    }
    assert_eq!(app::keys::usage::store::prune(&conn, now).await.unwrap(), 1);
    let left: Vec<String> = key_usage::Entity::find()
        .all(&conn)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.key_id)
        .collect();
    assert_eq!(left.len(), 2);
    assert!(!left.contains(&"key_old".to_owned()));
    assert_eq!(key_usage::Entity::find().count(&conn).await.unwrap(), 2);
}

/// Issue 27 §9: `/verify` answers for a key to a caller that is not its holder and may be
/// anywhere, so it reports the key's rate limit but spends none of it: a copy of the key
/// cannot be used to lock its holder out.
async fn verify_reports_a_rate_limit_but_never_spends_it(db: TestDb) {
    let server = TestServer::start(db).await;
    let (_, _, admin) = server.org_with_admin_key().await;
    let http = common::http();
    let (status, created) = call(
        &http,
        Method::POST,
        &format!("{}/api/v1/keys", server.base),
        &admin,
        Some(&json!({
            "name": "limited",
            "scopes": ["gateway"],
            "rate_limit": {"requests": 3, "per": "hour"},
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["secret"].as_str().unwrap().to_owned();
    for _ in 0..10 {
        let answer = common::api::verify(&http, &server.base, &key).await;
        assert_eq!(answer["valid"], true, "{answer}");
    }
    // The holder still has all three requests...
    for _ in 0..3 {
        assert_eq!(whoami(&http, &server.base, &key).await, StatusCode::OK);
    }
    assert_eq!(
        whoami(&http, &server.base, &key).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // ...and once they are spent, /verify says so.
    let answer = common::api::verify(&http, &server.base, &key).await;
    assert_eq!(answer["valid"], false, "{answer}");
    assert_eq!(answer["error"], "rate_limited", "{answer}");
}
