#![recursion_limit = "256"]
//! Keygate's server: configuration, database, the HTTP router, and the process around
//! them. `main.rs` is a thin wrapper so tests can start the same server in-process.

pub mod api;
pub mod background;
pub mod cli;
pub mod client_addr;
pub mod config;
pub mod csrf;
pub mod db;
pub mod health;
pub mod http;
pub mod metrics;
pub mod plain_forms;
pub mod state;
pub mod upstream;
pub mod webhook_http;
pub mod webhook_worker;

/// What the crate's unit tests share.
#[cfg(test)]
pub(crate) mod test_util {
    use http::{HeaderMap, HeaderName, HeaderValue};

    /// A header map of these pairs (a name may come more than once).
    pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }
}

use app::state::AppState;
use leptos::prelude::LeptosOptions;
use std::future::Future;
use std::net::SocketAddr;
use tokio::net::TcpListener;

use crate::background::Background;
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
    let mut state = AppState::with_signup_limit(db, secret, config.signup_limit)
        .await
        .map_err(StartError::Other)?;
    let shared = std::sync::Arc::new(match &config.redis_url {
        Some(url) => app::keys::verify::shared::SharedLimits::redis(url, &config.redis_prefix)
            .map_err(|_| StartError::Other("KEYGATE_REDIS_URL is not a Redis URL".into()))?,
        None => app::keys::verify::shared::SharedLimits::default(),
    });
    state.verifier = std::sync::Arc::new(
        app::keys::verify::Verifier::new(
            app::keys::verify::CACHE_TTL,
            app::keys::verify::CACHE_CAPACITY,
            config.auth_failure_limit,
        )
        .with_previous_secret(config.previous_secret.clone())
        .with_shared(shared.clone()),
    );
    state.login_throttle = std::sync::Arc::new(
        app::auth::throttle::LoginThrottle::new(config.signup_limit).with_shared(shared),
    );
    state.webhook_allowed_hosts = std::sync::Arc::new(config.webhook_allowed_hosts.clone());
    Ok(state)
}

/// The file cargo-leptos writes next to the server binary when it hashes the bundle's
/// names (`hash-files`): one `ext: hash` line per file. The release build puts a copy in
/// the site root too, so a binary copied with its `site/` alone (a container image, a
/// package) still names the bundle it serves.
const HASH_FILE: &str = "hash.txt";

/// Where the bundle's hashes are: beside the binary, else in the site root; `None` for a
/// build without hashed names (a debug build, the tests' binary).
fn hash_file(config: &Config) -> Option<std::path::PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(HASH_FILE)));
    beside
        .into_iter()
        .chain([config.site_root.join(HASH_FILE)])
        .find(|file| file.is_file())
        // Leptos joins this to the binary's directory: an absolute path replaces it.
        .map(|file| std::path::absolute(&file).unwrap_or(file))
}

pub fn leptos_options(config: &Config) -> LeptosOptions {
    // Hashed names when the build made them; a binary built without cargo-leptos (the
    // tests') serves plain `keygate.wasm` and friends.
    let hash_file = hash_file(config);
    LeptosOptions::builder()
        .output_name(OUTPUT_NAME)
        .site_root(config.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(config.addr)
        .hash_files(hash_file.is_some())
        .hash_file(std::sync::Arc::from(
            hash_file
                .as_deref()
                .map_or(HASH_FILE.into(), |f| f.to_string_lossy()),
        ))
        .build()
}

/// Refuses to start when the pages would name a bundle that is not there: the site root
/// holds a built bundle (`pkg/`) but not the files the hashes name, or hashed files with
/// no hashes to name them. Without any `pkg/` (an API-only deployment, the tests) pages
/// render without their script and style, and a warning says so.
pub fn check_bundle(config: &Config) -> Result<(), StartError> {
    let pkg = config.site_root.join("pkg");
    if !pkg.is_dir() {
        tracing::warn!(
            site_root = %config.site_root.display(),
            "no browser bundle under the site root: pages are served without style or script (set KEYGATE_SITE_ROOT to the build's site/ directory)"
        );
        return Ok(());
    }
    let Some(file) = hash_file(config) else {
        let hashed = std::fs::read_dir(&pkg)
            .map(|entries| {
                entries.filter_map(Result::ok).any(|e| {
                    // `keygate.<hash>.wasm` (and `.br`, `.gz` beside it), not `keygate.wasm`.
                    let name = e.file_name().to_string_lossy().into_owned();
                    let parts: Vec<&str> = name.split('.').collect();
                    parts.len() >= 3
                        && parts[0] == OUTPUT_NAME
                        && matches!(parts[2], "js" | "wasm" | "css")
                })
            })
            .unwrap_or(false);
        return if hashed {
            Err(StartError::Other(format!(
                "the browser bundle in {} has hashed names but no {HASH_FILE} names them: copy the build's site/ directory whole (it holds {HASH_FILE}), or put target/release/{HASH_FILE} beside the binary",
                pkg.display()
            )))
        } else {
            Ok(())
        };
    };
    let hashes = std::fs::read_to_string(&file)
        .map_err(|e| StartError::Other(format!("cannot read {}: {e}", file.display())))?;
    for line in hashes.lines() {
        let Some((ext, hash)) = line.split_once(':') else {
            continue;
        };
        let name = format!("{OUTPUT_NAME}.{}.{}", hash.trim(), ext.trim());
        if !pkg.join(&name).is_file() {
            return Err(StartError::Other(format!(
                "{} names {name}, which is not in {}: the binary and its site/ come from different builds",
                file.display(),
                pkg.display()
            )));
        }
    }
    Ok(())
}

/// Serves Keygate on `listener` until `shutdown` resolves, then drains open requests.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    check_bundle(&config)?;
    let state = build_state(&config).await?;
    // Before the first request: the event follower must know where the log stands
    // before anything is cached (R3).
    let background = Background::start(&state, config.usage_flush_interval).await;
    if let Some(addr) = config.metrics_addr {
        metrics::serve(addr, state.clone())
            .await
            .map_err(StartError::Other)?;
    }
    let router = http::router(state.clone(), leptos_options(&config), &config);
    let served = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(|e| StartError::Other(format!("server error: {e}")));
    // Last-used times still queued, or being written, are written before the process goes.
    background.stop().await;
    served
}
