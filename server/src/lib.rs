//! Keygate's server: configuration, database, the HTTP router, and the process around
//! them. `main.rs` is a thin wrapper so tests can start the same server in-process.

pub mod api;
pub mod cli;
pub mod client_addr;
pub mod config;
pub mod db;
pub mod health;
pub mod http;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use app::auth::session_store::DbSessionStore;
use app::ssr::AppState;
use leptos::prelude::LeptosOptions;
use tokio::net::TcpListener;

use crate::config::Config;

/// The name cargo-leptos gives the wasm/js/css bundle (`target/site/pkg/<name>.*`).
pub const OUTPUT_NAME: &str = match option_env!("LEPTOS_OUTPUT_NAME") {
    Some(name) => name,
    None => "keygate",
};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("{0}")]
    Other(String),
}

/// Opens and migrates the database, loads the secret and builds the state.
pub async fn build_state(config: &Config) -> Result<AppState, StartError> {
    let secret = config.load_or_create_secret()?;
    let db = db::connect(config).await?;
    let mut state = AppState::new(db, secret).await.map_err(StartError::Other)?;
    state.verifier = std::sync::Arc::new(
        app::keys::verifier::Verifier::new(
            app::keys::verifier::CACHE_TTL,
            app::keys::verifier::CACHE_CAPACITY,
            config.auth_failure_limit,
        )
        .with_previous_secret(config.previous_secret.clone()),
    );
    Ok(state)
}

pub fn leptos_options(config: &Config) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name(OUTPUT_NAME)
        .site_root(config.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(config.addr)
        .build()
}

/// Serves Keygate on `listener` until `shutdown` resolves, then drains open requests.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let state = build_state(&config).await?;
    spawn_session_cleanup(DbSessionStore::new(state.db.clone()));
    let usage = spawn_usage_flush(state.clone(), config.usage_flush_interval);
    spawn_event_follower(state.clone());
    let router = http::router(state.clone(), leptos_options(&config), &config);
    let served = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(|e| StartError::Other(format!("server error: {e}")));
    // Last-used times still queued are written before the process goes.
    usage.abort();
    if let Err(e) = state.verifier.flush_usage(&state.db).await {
        tracing::warn!(error = %e, "could not write last-used times at shutdown");
    }
    served
}

/// Applies the revocations, rolls and membership changes other instances record, a few
/// times a second (R3). After the log could not be read, the whole cache is dropped:
/// what was missed cannot be known.
fn spawn_event_follower(state: AppState) {
    use app::keys::verifier::{EVENT_POLL_INTERVAL, EventFollower};
    tokio::spawn(async move {
        let mut follower = loop {
            match EventFollower::start(&state.db).await {
                Ok(follower) => break follower,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the cache event log yet");
                    state.verifier.clear();
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let mut tick = tokio::time::interval(EVENT_POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tick.tick().await;
            match follower.poll(&state.db, &state.verifier).await {
                Ok(_) if failing => {
                    failing = false;
                    state.verifier.clear();
                    tracing::info!("cache event log readable again; key cache cleared");
                }
                Ok(_) => {}
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "cannot read the cache event log");
                    }
                    failing = true;
                    state.verifier.clear();
                }
            }
        }
    });
}

/// Writes the coalesced last-used times every `interval`: no request writes to the
/// database on the hot path.
fn spawn_usage_flush(state: AppState, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = state.verifier.flush_usage(&state.db).await {
                tracing::warn!(error = %e, "could not write last-used times; will retry");
            }
        }
    })
}

/// Expired sessions are already refused on load; this keeps the table small.
fn spawn_session_cleanup(store: DbSessionStore) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            if let Err(e) = store.delete_expired().await {
                tracing::warn!(error = %e, "could not delete expired sessions");
            }
        }
    });
}
