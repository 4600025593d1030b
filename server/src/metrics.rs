//! Prometheus metrics for operators, on their own port (`KEYGATE_METRICS_ADDR`, off by
//! default) at `/metrics`, through the `metrics` facade and its Prometheus exporter.
//!
//! The request path only records into histograms (lock-free) and adds to the striped
//! counters the verifier keeps anyway (`app::keys::verify::meter::STATS`); counters and gauges
//! that are states rather than events (cache size, pool in use, flush lag) are read when
//! Prometheus scrapes.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use app::keys::usage::Outcome;
use app::keys::verify::meter::STATS;
use app::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::routing;
use metrics::{Counter, Histogram, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Handles made once, so recording costs no name lookup.
pub struct Metrics {
    handle: PrometheusHandle,
    pub verification: Histogram,
    pub upstream: Histogram,
    upstream_status: [Counter; 5],
    upstream_errors: Counter,
    pub flush: Histogram,
    flush_failures: Counter,
    webhook_delivered: Counter,
    webhook_failed: Counter,
    webhook_retried: Counter,
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// The metrics, if `KEYGATE_METRICS_ADDR` switched them on in this process.
pub fn get() -> Option<&'static Metrics> {
    METRICS.get()
}

/// Installs the Prometheus recorder once per process (a second in-process server, as in
/// the tests, shares it).
fn install() -> Result<&'static Metrics, String> {
    if let Some(metrics) = METRICS.get() {
        return Ok(metrics);
    }
    let seconds = [
        0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5,
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)
        .map_err(|e| e.to_string())?
        .build_recorder();
    let handle = recorder.handle();
    // Fails only if another recorder was installed first: then ours is not the one.
    metrics::set_global_recorder(recorder)
        .map_err(|_| "another metrics recorder is installed".to_owned())?;
    describe();
    let status = |class: &'static str| counter!("keygate_gateway_upstream_responses_total", "class" => class);
    let metrics = Metrics {
        handle,
        verification: histogram!("keygate_verification_seconds"),
        upstream: histogram!("keygate_gateway_upstream_seconds"),
        upstream_status: [
            status("1xx"),
            status("2xx"),
            status("3xx"),
            status("4xx"),
            status("5xx"),
        ],
        upstream_errors: counter!("keygate_gateway_upstream_errors_total"),
        flush: histogram!("keygate_usage_flush_seconds"),
        flush_failures: counter!("keygate_usage_flush_failures_total"),
        webhook_delivered: counter!("keygate_webhook_deliveries_total", "result" => "delivered"),
        webhook_failed: counter!("keygate_webhook_deliveries_total", "result" => "failed"),
        webhook_retried: counter!("keygate_webhook_deliveries_total", "result" => "retrying"),
    };
    Ok(METRICS.get_or_init(|| metrics))
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "keygate_verifications_total",
        "API key verifications by outcome: ok, revoked, expired, paused, insufficient_scope, rate_limited (known keys), unknown, malformed"
    );
    describe_histogram!(
        "keygate_verification_seconds",
        Unit::Seconds,
        "Time to verify a presented API key (cache or database)"
    );
    describe_counter!(
        "keygate_key_cache_hits_total",
        "Verifications answered from the key cache"
    );
    describe_counter!(
        "keygate_key_cache_misses_total",
        "Verifications that looked the key up in the database"
    );
    describe_gauge!(
        "keygate_key_cache_entries",
        "Keys in the verification cache"
    );
    describe_gauge!("keygate_key_meters", "Keys with counters on this instance");
    describe_counter!(
        "keygate_rate_limited_total",
        "Requests refused with 429: limit=key (a key's own rate limit) or limit=address (failed verifications)"
    );
    describe_histogram!(
        "keygate_gateway_upstream_seconds",
        Unit::Seconds,
        "Time until the upstream's response head"
    );
    describe_counter!(
        "keygate_gateway_upstream_responses_total",
        "Upstream responses by status class"
    );
    describe_counter!(
        "keygate_gateway_upstream_errors_total",
        "Upstream requests that failed or timed out"
    );
    describe_histogram!(
        "keygate_usage_flush_seconds",
        Unit::Seconds,
        "Time to write a usage flush"
    );
    describe_counter!(
        "keygate_usage_flush_failures_total",
        "Usage flushes that failed (their counts are kept for the next)"
    );
    describe_gauge!(
        "keygate_usage_flush_lag_seconds",
        "Seconds since the counts of the last successful usage flush were taken"
    );
    describe_gauge!(
        "keygate_db_pool_connections",
        "Database pool connections: state=in_use or idle"
    );
    describe_counter!(
        "keygate_webhook_deliveries_total",
        "Webhook delivery attempts by result: delivered, retrying, failed (given up)"
    );
}

impl Metrics {
    /// One upstream answer's status, or `None` for a failure or timeout.
    pub fn upstream_answered(&self, status: Option<u16>, took: Duration) {
        self.upstream.record(took);
        match status {
            Some(code) => {
                let class = usize::from((code / 100).clamp(1, 5)) - 1;
                self.upstream_status[class].increment(1);
            }
            None => self.upstream_errors.increment(1),
        }
    }

    pub fn flushed(&self, ok: bool, took: Duration) {
        self.flush.record(took);
        if !ok {
            self.flush_failures.increment(1);
        }
    }

    /// A webhook attempt: delivered, to be retried, or given up.
    pub fn webhook(&self, delivered: bool, gave_up: bool) {
        match (delivered, gave_up) {
            (true, _) => self.webhook_delivered.increment(1),
            (false, true) => self.webhook_failed.increment(1),
            (false, false) => self.webhook_retried.increment(1),
        }
    }

    /// The exposition text, with the states read now.
    fn render(&self, state: &AppState) -> String {
        for outcome in Outcome::ALL {
            counter!("keygate_verifications_total", "outcome" => outcome.as_str())
                .absolute(STATS.outcomes[outcome as usize].get());
        }
        counter!("keygate_verifications_total", "outcome" => "unknown")
            .absolute(STATS.unknown.get());
        counter!("keygate_verifications_total", "outcome" => "malformed")
            .absolute(STATS.malformed.get());
        counter!("keygate_key_cache_hits_total").absolute(STATS.cache_hits.get());
        counter!("keygate_key_cache_misses_total").absolute(STATS.cache_misses.get());
        counter!("keygate_rate_limited_total", "limit" => "key")
            .absolute(STATS.outcomes[Outcome::RateLimited as usize].get());
        counter!("keygate_rate_limited_total", "limit" => "address")
            .absolute(STATS.address_limited.get());
        gauge!("keygate_key_cache_entries").set(state.verifier.cached_len() as f64);
        gauge!("keygate_key_meters").set(state.verifier.meters().len() as f64);
        gauge!("keygate_usage_flush_lag_seconds").set(state.verifier.flush_lag().as_secs_f64());
        let (size, idle) = pool_sizes(&state.db);
        gauge!("keygate_db_pool_connections", "state" => "in_use")
            .set(f64::from(size.saturating_sub(idle)));
        gauge!("keygate_db_pool_connections", "state" => "idle").set(f64::from(idle));
        self.handle.render()
    }
}

/// The database pool's size and idle connections.
fn pool_sizes(db: &sea_orm::DatabaseConnection) -> (u32, u32) {
    match db {
        sea_orm::DatabaseConnection::SqlxSqlitePoolConnection(_) => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle() as u32)
        }
        sea_orm::DatabaseConnection::SqlxPostgresPoolConnection(_) => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle() as u32)
        }
        _ => (0, 0),
    }
}

/// Serves `/metrics` on `addr` for as long as the process runs. Returns the bound
/// address (port 0 picks one).
pub async fn serve(addr: SocketAddr, state: AppState) -> Result<SocketAddr, String> {
    let metrics = install()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("KEYGATE_METRICS_ADDR {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let router = Router::new()
        .route(
            "/metrics",
            routing::get(move |State(state): State<AppState>| async move {
                (
                    [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    metrics.render(&state),
                )
            }),
        )
        .with_state(state);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::warn!(error = %e, "the metrics listener stopped");
        }
    });
    tracing::info!(%bound, "serving Prometheus metrics at /metrics");
    Ok(bound)
}
