//! The application state every server function and handler shares, with its one
//! constructor, and the first lines of every server function: the state, the session
//! and the logged-in user.

use std::sync::Arc;

use leptos::prelude::*;
use sea_orm::DatabaseConnection;
use tower_sessions::Session;

use crate::auth::throttle::LoginThrottle;
use crate::error::AppError;
use crate::ssr::Secret;

/// Everything a server function or handler needs, cloned cheaply into each request.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: DatabaseConnection,
    /// The server secret (HMAC key for API key digests).
    pub secret: Secret,
    pub login_throttle: Arc<LoginThrottle>,
    /// An argon2id hash of a random password, verified against when the email is unknown
    /// so that the response time does not reveal which accounts exist (A3).
    pub dummy_hash: Arc<str>,
    /// The key verification cache, last-used queue and failure counts (the hot path).
    pub verifier: Arc<crate::keys::verify::Verifier>,
    /// `KEYGATE_WEBHOOK_ALLOWED_HOSTS`: the private destinations webhook URLs may name
    /// besides public addresses (W2). None unless the operator names some.
    pub webhook_allowed_hosts: Arc<crate::webhooks::address::AllowedHosts>,
    /// Test events sent per webhook endpoint in the last minute (W4): a test event is a
    /// delivery like any other, and a backlog of them is a backlog for that endpoint.
    pub webhook_tests: Arc<std::sync::Mutex<crate::windows::FixedWindows<String>>>,
    /// Which upstream URLs an organization may name (set by the server from its
    /// configuration; by default none).
    pub upstream_check: crate::permissions::upstreams::UpstreamCheck,
    /// Fetches an OpenAPI document by URL for the import (set by the server; by default
    /// nothing is fetched).
    pub fetch_document: crate::permissions::openapi::DocumentFetch,
}

impl AppState {
    pub async fn new(db: DatabaseConnection, secret: Secret) -> Result<Self, String> {
        Self::with_signup_limit(db, secret, crate::auth::throttle::DEFAULT_SIGNUP_LIMIT).await
    }

    /// The state with `signup_limit` sign-ups allowed per client address per 15 minutes.
    pub async fn with_signup_limit(
        db: DatabaseConnection,
        secret: Secret,
        signup_limit: u32,
    ) -> Result<Self, String> {
        let dummy_hash = crate::auth::password::dummy_hash()
            .await
            .map_err(|e| e.to_string())?;
        Ok(Self {
            db,
            secret,
            login_throttle: Arc::new(LoginThrottle::new(signup_limit)),
            dummy_hash: dummy_hash.into(),
            verifier: Arc::default(),
            webhook_allowed_hosts: Arc::default(),
            webhook_tests: Arc::new(std::sync::Mutex::new(crate::windows::FixedWindows::new(
                crate::webhooks::TEST_EVENT_WINDOW,
                crate::webhooks::TEST_EVENT_ENDPOINTS,
            ))),
            upstream_check: Default::default(),
            fetch_document: Default::default(),
        })
    }
}

/// The state provided to Leptos by the server for every page render and server function.
pub fn state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| {
        tracing::error!("AppState missing from the Leptos context");
        AppError::Internal
    })
}

pub async fn session() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>().await.map_err(|e| {
        tracing::error!(error = %e, "session layer missing");
        AppError::Internal
    })
}

/// The state and the logged-in user's id, or `Unauthenticated`: the first line of every
/// server function that needs a user.
pub async fn authenticated() -> Result<(AppState, String), AppError> {
    let state = state()?;
    let session = session().await?;
    let user_id = crate::auth::session::require_user_id(&session).await?;
    Ok((state, user_id))
}
