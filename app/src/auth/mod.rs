//! Accounts and sessions: sign up, log in, log out, and who is logged in.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

pub mod csrf;
#[cfg(feature = "ssr")]
pub mod password;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod session;
#[cfg(feature = "ssr")]
pub mod session_store;
#[cfg(feature = "ssr")]
pub mod throttle;
pub mod ui;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub display_name: String,
}

#[server(prefix = "/rpc", endpoint = "sign_up")]
pub async fn sign_up(
    email: String,
    display_name: String,
    password: String,
) -> Result<UserView, AppError> {
    use crate::ssr;
    let state = crate::state::state()?;
    let session = crate::state::session().await?;
    // Each sign-up costs a password hash: limited per client address.
    state
        .login_throttle
        .begin_sign_up(ssr::client_ip().await)
        .await
        .map_err(|retry_after| AppError::RateLimited { retry_after })?;
    let user = service::create_user(&state.db, &email, &display_name, &password).await?;
    session::log_in(&session, &user.id).await?;
    leptos_axum::redirect("/orgs");
    Ok(user)
}

#[server(prefix = "/rpc", endpoint = "log_in")]
pub async fn log_in(email: String, password: String) -> Result<UserView, AppError> {
    use crate::ssr;
    let state = crate::state::state()?;
    let session = crate::state::session().await?;
    let ip = ssr::client_ip().await;
    let user = service::authenticate(&state, &email, &password, ip).await?;
    session::log_in(&session, &user.id).await?;
    leptos_axum::redirect("/orgs");
    Ok(user)
}

#[server(prefix = "/rpc", endpoint = "log_out")]
pub async fn log_out() -> Result<(), AppError> {
    let session = crate::state::session().await?;
    session::log_out(&session).await?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// The logged-in user, or `None`.
#[server(prefix = "/rpc", endpoint = "current_user")]
pub async fn current_user() -> Result<Option<UserView>, AppError> {
    use crate::ssr;
    let state = crate::state::state()?;
    let session = crate::state::session().await?;
    let Some(user_id) = session::user_id(&session).await? else {
        return Ok(None);
    };
    // A deleted account's session is worthless.
    service::find_user(&state.db, &user_id)
        .await
        .map_err(ssr::db_error)
}
