//! Accounts: sign-up and password verification (A1-A4).

use std::net::IpAddr;

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, SqlErr,
};

use super::UserView;
use super::password::{hash_password, verify_password};
use crate::entities::user;
use crate::state::AppState;
use crate::validate;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("incorrect email or password")]
    InvalidCredentials,
    #[error("too many failed attempts")]
    Throttled { retry_after: u64 },
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<AuthError> for crate::error::AppError {
    fn from(err: AuthError) -> Self {
        use crate::error::AppError;
        match err {
            AuthError::Invalid { field, message } => AppError::invalid(field, message),
            AuthError::EmailTaken => AppError::conflict(
                "email",
                "An account with this email already exists. Log in instead.",
            ),
            AuthError::InvalidCredentials => AppError::InvalidCredentials,
            AuthError::Throttled { retry_after } => AppError::RateLimited { retry_after },
            AuthError::Hash(detail) => {
                tracing::error!(%detail, "password hashing failed");
                AppError::Internal
            }
            AuthError::Db(e) => crate::ssr::db_error(e),
        }
    }
}

fn view(model: user::Model) -> UserView {
    UserView {
        id: model.id,
        email: model.email,
        display_name: model.display_name,
    }
}

pub async fn create_user(
    db: &impl ConnectionTrait,
    email: &str,
    display_name: &str,
    password: &str,
) -> Result<UserView, AuthError> {
    let email = validate::email(email).map_err(|message| AuthError::Invalid {
        field: "email",
        message,
    })?;
    let display_name =
        validate::name(display_name, "Display name").map_err(|message| AuthError::Invalid {
            field: "display_name",
            message,
        })?;
    validate::password(password).map_err(|message| AuthError::Invalid {
        field: "password",
        message,
    })?;
    // A cheap check first so a duplicate does not cost an argon2 hash; the unique index
    // below is what actually guarantees it under concurrency.
    if user::Entity::find()
        .filter(user::Column::Email.eq(&email))
        .one(db)
        .await?
        .is_some()
    {
        return Err(AuthError::EmailTaken);
    }
    let password_hash = hash_password(password.to_owned())
        .await
        .map_err(AuthError::Hash)?;
    let model = user::ActiveModel {
        id: Set(crate::ssr::random_id("usr")),
        email: Set(email),
        display_name: Set(display_name),
        password_hash: Set(password_hash),
        created_at: Set(chrono::Utc::now()),
    };
    match user::Entity::insert(model.clone())
        .exec_without_returning(db)
        .await
    {
        Ok(_) => {}
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            return Err(AuthError::EmailTaken);
        }
        Err(e) => return Err(e.into()),
    }
    let id = model.id.unwrap();
    let created = user::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(DbErr::RecordNotInserted)?;
    Ok(view(created))
}

/// Checks an email and password. Unknown email and wrong password are indistinguishable
/// in result and (through the dummy hash) in time (A3); failures are throttled (A4).
pub async fn authenticate(
    state: &AppState,
    email: &str,
    password: &str,
    ip: Option<IpAddr>,
) -> Result<UserView, AuthError> {
    let email = email.trim().to_lowercase();
    state
        .login_throttle
        .begin_attempt(&email, ip)
        .await
        .map_err(|retry_after| AuthError::Throttled { retry_after })?;
    // Longer than any valid password: refuse before hashing so it cannot be used to burn CPU.
    let too_long = password.chars().count() > validate::PASSWORD_MAX;
    let found = user::Entity::find()
        .filter(user::Column::Email.eq(&email))
        .one(&state.db)
        .await?;
    let (hash, user) = match found {
        Some(user) => (user.password_hash.clone(), Some(user)),
        None => (state.dummy_hash.to_string(), None),
    };
    let matches = !too_long
        && verify_password(password.to_owned(), hash)
            .await
            .map_err(AuthError::Hash)?;
    match user {
        Some(user) if matches => {
            state.login_throttle.record_success(&email, ip).await;
            Ok(view(user))
        }
        _ => Err(AuthError::InvalidCredentials),
    }
}

pub async fn find_user(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Option<UserView>, DbErr> {
    Ok(user::Entity::find_by_id(user_id.to_owned())
        .one(db)
        .await?
        .map(view))
}
