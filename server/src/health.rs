//! Is the database there? Checked twice a second in the background. While it is not,
//! everything but `/healthz` and the static bundle answers 503 (R4): no request gets a
//! false 200 from the key cache or a 500 from a broken connection, and service resumes
//! by itself when the database is back.
//!
//! For the embedded SQLite database "there" also means the file is still the one that
//! was opened: a file deleted or moved away would otherwise keep working through open
//! handles and lose every write at the next restart.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use sea_orm::DatabaseConnection;

use crate::api::error::ApiError;

pub const PROBE_INTERVAL: Duration = Duration::from_millis(500);
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct Health {
    up: AtomicBool,
    /// Numbers probes in the order they start, so that a slow probe that started before
    /// the database went away cannot overwrite, when it ends, the answer of a later one.
    started: AtomicU64,
    /// The number of the probe whose answer `up` holds.
    decided: Mutex<u64>,
    /// The SQLite file and its identity (device, inode) when it was opened.
    sqlite: Option<(PathBuf, (u64, u64))>,
}

fn identity(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

impl Health {
    pub fn new(sqlite_file: Option<PathBuf>) -> Arc<Self> {
        Arc::new(Self {
            up: AtomicBool::new(true),
            started: AtomicU64::new(0),
            decided: Mutex::new(0),
            sqlite: sqlite_file.and_then(|p| identity(&p).map(|id| (p, id))),
        })
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Checks the database now (the file for SQLite, then a round trip) and records the
    /// answer, logging each change of state.
    /// When probes overlap (the background one and a `/readyz` call), the answer of the
    /// one that started last stands.
    pub async fn probe(&self, db: &DatabaseConnection) -> Result<(), String> {
        let number = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        let result = self.check(db).await;
        let was_up = {
            let mut decided = self.decided.lock().unwrap_or_else(|p| p.into_inner());
            if *decided > number {
                // A later probe has already answered: this one's view is older.
                return result;
            }
            *decided = number;
            self.up.swap(result.is_ok(), Ordering::Relaxed)
        };
        match (was_up, &result) {
            (true, Err(e)) => tracing::error!(error = %e, "database unavailable: answering 503"),
            (false, Ok(())) => tracing::info!("database available again"),
            _ => {}
        }
        result
    }

    async fn check(&self, db: &DatabaseConnection) -> Result<(), String> {
        if let Some((path, id)) = &self.sqlite
            && identity(path) != Some(*id)
        {
            return Err(format!("{} is missing or was replaced", path.display()));
        }
        match tokio::time::timeout(PROBE_TIMEOUT, db.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no answer within 2 s".into()),
        }
    }

    /// Probes forever, logging each change of state.
    pub fn spawn(self: &Arc<Self>, db: DatabaseConnection) {
        let health = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PROBE_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let _ = health.probe(&db).await;
            }
        });
    }
}

/// The 503 a request for `path` gets while the database is unavailable; `None` when it is
/// up, and always for the liveness and readiness checks and the static bundle.
pub fn refusal(health: &Health, path: &str) -> Option<Response> {
    let exempt = path == "/healthz" || path == "/readyz" || path.starts_with("/pkg/");
    if exempt || health.is_up() {
        return None;
    }
    let mut response = ApiError::Unavailable.into_response();
    response.headers_mut().insert(
        http::header::RETRY_AFTER,
        http::HeaderValue::from_static("1"),
    );
    Some(response)
}
