//! Prometheus metrics (issue 10 §5): off unless `KEYGATE_METRICS_ADDR` is set; then
//! `/metrics` on that port only, with verifications by outcome, latency histograms, the
//! cache, rate limits, the gateway's upstream, the usage flush and the database pool.
//! One test per process: the metrics recorder is global to the process.

mod common;

use std::time::{Duration, Instant};

use common::process::free_port;
use common::{TestDb, TestServer};
use reqwest::StatusCode;

/// The value of the sample `name{labels}` (exact text), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l[series.len()..].trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_on_their_own_port_with_every_family() {
    // An upstream that answers 204.
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_addr = upstream.local_addr().unwrap();
    tokio::spawn(async move {
        let app = axum::Router::new().fallback(|| async { StatusCode::NO_CONTENT });
        axum::serve(upstream, app).await.unwrap();
    });
    let port = free_port();
    let metrics_addr = format!("127.0.0.1:{port}");
    let upstream_url = format!("http://{upstream_addr}");
    let server = TestServer::start_with(
        TestDb::sqlite().await,
        &[
            ("KEYGATE_METRICS_ADDR", metrics_addr.as_str()),
            ("KEYGATE_UPSTREAM_URL", upstream_url.as_str()),
            ("KEYGATE_USAGE_FLUSH_INTERVAL", "1"),
        ],
    )
    .await;
    let (owner, _) = server.user("Ada").await;
    let org = owner.create_org("Acme").await;
    let (key_id, key) = owner.create_key(&org, "busy", "gateway").await;
    owner
        .call(
            "set_key_rate_limit",
            &[
                ("org_id", org.as_str()),
                ("key_id", key_id.as_str()),
                ("requests", "5"),
                ("per", "minute"),
            ],
        )
        .await;
    let http = reqwest::Client::new();
    let get = |path: &str, key: &str| {
        http.get(format!("{}{path}", server.base))
            .header("x-api-key", key)
            .send()
    };
    for _ in 0..3 {
        assert_eq!(
            get("/api/v1/whoami", &key).await.unwrap().status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        get("/gw/thing", &key).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        get("/api/v1/keys", &key).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get("/api/v1/whoami", &key).await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let stranger = app::keys::format::key_from_bytes(&[5; 32]);
    assert_eq!(
        get("/api/v1/whoami", &stranger).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get("/api/v1/whoami", "kg_typo").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    // Not on the main port.
    assert_eq!(
        http.get(format!("{}/metrics", server.base))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let started = Instant::now();
    let text = loop {
        let response = http
            .get(format!("http://{metrics_addr}/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let text = response.text().await.unwrap();
        // The flush histogram appears once a flush ran.
        if text.contains("keygate_usage_flush_seconds_count") {
            break text;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let value =
        |series: &str| sample(&text, series).unwrap_or_else(|| panic!("no {series}:\n{text}"));
    assert_eq!(value(r#"keygate_verifications_total{outcome="ok"}"#), 4.0);
    assert_eq!(
        value(r#"keygate_verifications_total{outcome="insufficient_scope"}"#),
        1.0
    );
    assert_eq!(
        value(r#"keygate_verifications_total{outcome="rate_limited"}"#),
        1.0
    );
    assert_eq!(
        value(r#"keygate_verifications_total{outcome="unknown"}"#),
        1.0
    );
    assert_eq!(
        value(r#"keygate_verifications_total{outcome="malformed"}"#),
        1.0
    );
    assert_eq!(value(r#"keygate_rate_limited_total{limit="key"}"#), 1.0);
    assert_eq!(
        value(r#"keygate_gateway_upstream_responses_total{class="2xx"}"#),
        1.0
    );
    assert_eq!(value("keygate_gateway_upstream_seconds_count"), 1.0);
    // Six presentations of well-formed keys: one database lookup each for the two keys,
    // the rest from the cache.
    assert!(value("keygate_verification_seconds_count") >= 7.0);
    assert!(value("keygate_key_cache_hits_total") >= 4.0);
    assert!(value("keygate_key_cache_misses_total") >= 2.0);
    assert!(value("keygate_key_cache_entries") >= 1.0);
    assert!(value("keygate_usage_flush_lag_seconds") < 10.0);
    assert!(text.contains(r#"keygate_db_pool_connections{state="in_use"}"#));
    assert!(text.contains("# TYPE keygate_verification_seconds histogram"));
    assert!(text.contains(r#"keygate_verification_seconds_bucket{le="0.0001"}"#));
    assert!(!text.contains(&key), "no key in the metrics");
}
