//! Prometheus metrics (issue 10 §5): off unless `KEYGATE_METRICS_ADDR` is set; then
//! `/metrics` on that port only, with verifications by outcome, latency histograms, the
//! cache, rate limits, the gateway's upstream, the usage flush and the database pool.
//! One test per process: the metrics recorder is global to the process.

mod common;

use common::{TestDb, TestServer, WAIT_LIMIT, eventually};
use reqwest::StatusCode;

/// The value of the sample `name{labels}` (exact text), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l[series.len()..].trim().parse().ok())
}

/// The address in the metrics listener's `serving Prometheus metrics at /metrics
/// bound=<address>` log line, once it is there.
fn metrics_address(log: &str) -> Option<String> {
    let line = log
        .lines()
        .find(|l| l.contains("serving Prometheus metrics at /metrics"))?;
    let addr = line.split("bound=").nth(1)?.split_whitespace().next()?;
    addr.contains(':').then(|| addr.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_on_their_own_port_with_every_family() {
    common::within_time_limit(
        "metrics_are_served_on_their_own_port_with_every_family",
        async {
            // An upstream that answers 204.
            let upstream_url =
                common::serve(axum::Router::new().fallback(|| async { StatusCode::NO_CONTENT }))
                    .await;
            // The real binary, so the metrics listener can take a port of its own choosing
            // (port 0) and say which in its log.
            let server = TestServer::start_in_own_process_with(
                TestDb::sqlite().await,
                &[
                    ("KEYGATE_METRICS_ADDR", "127.0.0.1:0"),
                    ("KEYGATE_UPSTREAM_URL", upstream_url.as_str()),
                    ("KEYGATE_USAGE_FLUSH_INTERVAL", "1"),
                ],
            )
            .await;
            let metrics_addr =
                eventually("the metrics address in the log", WAIT_LIMIT, async || {
                    metrics_address(&server.process_output())
                })
                .await;
            let (owner, _) = server.user("Ada").await;
            let org = owner.create_org("Acme").await;
            let (key_id, key) = owner.create_key(&org, "busy", "gateway").await;
            let (status, body) = owner
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
            assert_eq!(status, StatusCode::OK, "set the rate limit: {body}");
            let http = common::http();
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
            // The flush histogram appears once a flush ran.
            let text = eventually(
                "a usage flush shows in the metrics",
                WAIT_LIMIT,
                async || {
                    let response = http
                        .get(format!("http://{metrics_addr}/metrics"))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), StatusCode::OK);
                    let text = response.text().await.unwrap();
                    if text.contains("keygate_usage_flush_seconds_count") {
                        Ok(text)
                    } else {
                        Err(text)
                    }
                },
            )
            .await;
            let value = |series: &str| {
                sample(&text, series).unwrap_or_else(|| panic!("no {series}:\n{text}"))
            };
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
            // A duration: how long it is depends on the machine, only that it is there does not.
            let lag = value("keygate_usage_flush_lag_seconds");
            assert!(lag.is_finite() && lag >= 0.0, "flush lag {lag}");
            assert!(text.contains(r#"keygate_db_pool_connections{state="in_use"}"#));
            assert!(text.contains("# TYPE keygate_verification_seconds histogram"));
            assert!(text.contains(r#"keygate_verification_seconds_bucket{le="0.0001"}"#));
            assert!(!text.contains(&key), "no key in the metrics");
        },
    )
    .await;
}
