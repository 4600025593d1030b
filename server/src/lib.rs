//! Keygate's server: configuration, database, the HTTP router, and the process around
//! them. `main.rs` is a thin wrapper so tests can start the same server in-process.

pub mod config;
pub mod db;
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
    AppState::new(db, secret).await.map_err(StartError::Other)
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
    let router = http::router(state, leptos_options(&config), config.cookie_secure);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(|e| StartError::Other(format!("server error: {e}")))
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
