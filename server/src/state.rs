//! What the HTTP handlers share ([`ServerState`]) and the session cookie's names.

use std::sync::Arc;

use app::state::AppState;
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;

use crate::health::Health;
use crate::upstream::Gateway;

/// The session cookie's name over plain HTTP, and with `KEYGATE_COOKIE_SECURE`.
pub const SESSION_COOKIE: &str = "keygate_session";
pub const SECURE_SESSION_COOKIE: &str = "__Host-keygate";

/// What the handlers share. axum clones the router's state for every request it routes,
/// so this is one `Arc`: a clone is one atomic increment, not a copy of the Leptos
/// options, the application state and the gateway's client (which cost about a tenth of
/// the server's CPU per request before).
#[derive(Clone)]
pub struct ServerState(pub(crate) Arc<Shared>);

pub struct Shared {
    pub leptos_options: LeptosOptions,
    pub app: AppState,
    pub gateway: Gateway,
    pub health: Arc<Health>,
}

impl std::ops::Deref for ServerState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl FromRef<ServerState> for LeptosOptions {
    fn from_ref(state: &ServerState) -> Self {
        state.leptos_options.clone()
    }
}

impl FromRef<ServerState> for AppState {
    fn from_ref(state: &ServerState) -> Self {
        state.app.clone()
    }
}

impl FromRef<ServerState> for Gateway {
    fn from_ref(state: &ServerState) -> Self {
        state.gateway.clone()
    }
}

impl FromRef<ServerState> for Arc<Health> {
    fn from_ref(state: &ServerState) -> Self {
        state.health.clone()
    }
}
