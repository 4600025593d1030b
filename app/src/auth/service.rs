//! Accounts: sign-up and password verification (A1-A4).

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, SqlErr,
};

use super::UserView;
use crate::entities::user;
use crate::ssr::AppState;
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

/// OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane (A1).
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// At most this many argon2 computations run at once: each takes 19 MiB and a core for
/// tens of milliseconds, so a burst of logins queues here instead of exhausting memory.
/// A process-wide limit, like the cores it protects.
fn hashing_permits() -> &'static Arc<tokio::sync::Semaphore> {
    static PERMITS: OnceLock<Arc<tokio::sync::Semaphore>> = OnceLock::new();
    PERMITS.get_or_init(|| {
        Arc::new(tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
        ))
    })
}

/// How many argon2 computations are running right now (never more than the permits).
pub fn hashes_running() -> usize {
    RUNNING.load(Ordering::Relaxed)
}

static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// Runs argon2 off the async runtime, within the hashing limit. The permit moves into the
/// blocking task: a request dropped mid-hash (a closed connection) cannot free its permit
/// while the hash it started is still running, so disconnecting cannot stack up hashes.
async fn hashing<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, AuthError> + Send + 'static,
) -> Result<T, AuthError> {
    let permit = hashing_permits()
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| AuthError::Hash(e.to_string()))?;
    tokio::task::spawn_blocking(move || {
        RUNNING.fetch_add(1, Ordering::Relaxed);
        let result = work();
        RUNNING.fetch_sub(1, Ordering::Relaxed);
        drop(permit);
        result
    })
    .await
    .map_err(|e| AuthError::Hash(e.to_string()))?
}

/// Hashes off the async runtime: argon2 takes tens of milliseconds of CPU by design.
pub async fn hash_password(password: String) -> Result<String, AuthError> {
    hashing(move || {
        let mut salt = [0u8; 16];
        rand::fill(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Hash(e.to_string()))?;
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AuthError::Hash(e.to_string()))
    })
    .await
}

async fn verify_password(password: String, hash: String) -> Result<bool, AuthError> {
    hashing(move || {
        let parsed = PasswordHash::new(&hash).map_err(|e| AuthError::Hash(e.to_string()))?;
        Ok(argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
}

/// The hash an unknown email is checked against (see `AppState::dummy_hash`).
pub async fn dummy_hash() -> Result<String, AuthError> {
    let mut random = [0u8; 24];
    rand::fill(&mut random);
    hash_password(random.iter().map(|b| format!("{b:02x}")).collect()).await
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
    let password_hash = hash_password(password.to_owned()).await?;
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
    let matches = !too_long && verify_password(password.to_owned(), hash).await?;
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
