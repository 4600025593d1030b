//! What Keygate keeps in a session, and the server-side lifetime rules (S2-S4).

use tower_sessions::Session;

use crate::error::AppError;

const USER_ID: &str = "uid";
const AUTHENTICATED_AT: &str = "auth_at";
const REFRESHED_AT: &str = "seen";
const CSRF_TOKEN: &str = "csrf";

/// Idle timeout, enforced by the store's expiry, which moves forward whenever the session
/// is saved.
pub const IDLE_TIMEOUT_SECS: i64 = 12 * 60 * 60;
/// A session in use is saved (and its idle expiry moved) at most this often: browsing
/// does not write the database on every page and server-function call.
pub const REFRESH_EVERY_SECS: i64 = 60;
/// Absolute lifetime from login, whatever the activity.
pub const ABSOLUTE_LIFETIME_SECS: i64 = 7 * 24 * 60 * 60;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn store_error(err: tower_sessions::session::Error) -> AppError {
    // The store reports a database it cannot reach as a backend error.
    tracing::warn!(error = %err, "session store error");
    AppError::Unavailable
}

/// Binds the session to `user_id` under a fresh session id, so a cookie planted or
/// seen before login is worthless afterwards (S2).
pub async fn log_in(session: &Session, user_id: &str) -> Result<(), AppError> {
    session.cycle_id().await.map_err(store_error)?;
    session
        .insert(USER_ID, user_id)
        .await
        .map_err(store_error)?;
    session
        .insert(AUTHENTICATED_AT, now())
        .await
        .map_err(store_error)?;
    session
        .insert(REFRESHED_AT, now())
        .await
        .map_err(store_error)?;
    session
        .insert(CSRF_TOKEN, super::csrf::fresh())
        .await
        .map_err(store_error)?;
    Ok(())
}

/// Deletes the session server-side, so replaying the old cookie is unauthenticated (S3).
pub async fn log_out(session: &Session) -> Result<(), AppError> {
    session.flush().await.map_err(store_error)
}

/// The logged-in user's id, if any; a session past its absolute lifetime is deleted.
pub async fn user_id(session: &Session) -> Result<Option<String>, AppError> {
    let Some(user_id) = session.get::<String>(USER_ID).await.map_err(store_error)? else {
        return Ok(None);
    };
    let authenticated_at = session
        .get::<i64>(AUTHENTICATED_AT)
        .await
        .map_err(store_error)?
        .unwrap_or(0);
    let now = now();
    if now - authenticated_at > ABSOLUTE_LIFETIME_SECS {
        log_out(session).await?;
        return Ok(None);
    }
    // Changing the session makes the layer save it, which moves its idle expiry (S4);
    // once a minute is enough for a 12-hour timeout.
    let refreshed_at = session
        .get::<i64>(REFRESHED_AT)
        .await
        .map_err(store_error)?
        .unwrap_or(0);
    if now - refreshed_at >= REFRESH_EVERY_SECS {
        session
            .insert(REFRESHED_AT, now)
            .await
            .map_err(store_error)?;
    }
    Ok(Some(user_id))
}

/// The logged-in user's id, or `Unauthenticated`.
pub async fn require_user_id(session: &Session) -> Result<String, AppError> {
    user_id(session).await?.ok_or(AppError::Unauthenticated)
}

/// The CSRF token of a logged-in session (T4, see `auth::csrf`), made now for a session
/// from before tokens existed; `None` when nobody is logged in.
pub async fn csrf_token(
    session: &Session,
) -> Result<Option<super::csrf::CsrfToken>, tower_sessions::session::Error> {
    if session.get::<String>(USER_ID).await?.is_none() {
        return Ok(None);
    }
    let token = match session.get::<String>(CSRF_TOKEN).await? {
        Some(token) => token,
        None => {
            let token = super::csrf::fresh();
            session.insert(CSRF_TOKEN, &token).await?;
            token
        }
    };
    Ok(Some(super::csrf::CsrfToken(token.into())))
}
