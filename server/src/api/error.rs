//! Errors of the REST API and the gateway: a status, a stable code and a message, as
//! `{"error": "<code>", "message": "..."}`. Messages are generic where detail would help
//! an attacker (K6) and never carry a key, SQL or driver text. A key that exists but is
//! expired, revoked or paused gets its own code (`key_expired`, `key_revoked`,
//! `key_paused`): only its holder can present it, so the reason tells them nothing they
//! could not learn otherwise, and lets them act. Unknown and malformed keys stay
//! `invalid_token`.

use app::error::AppError;
use app::keys::scopes::Scope;
use app::keys::verify::digest::VerifyError;
use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable, machine-readable code such as `invalid_token` or `insufficient_scope`.
    #[schema(example = "invalid_token")]
    pub error: &'static str,
    /// A sentence for people.
    pub message: String,
    /// The request field the error is about, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// With `insufficient_permission`: the permissions the key lacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<Vec<String>>,
}

/// The code of an error answer, left on the response for the request log line.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// No credential at all (401).
    Unauthenticated,
    /// A key that is malformed or unknown (401, `invalid_token`).
    InvalidToken,
    /// A key that exists but has expired (401, `key_expired`).
    KeyExpired,
    /// A key that exists but was revoked, or a rolled-away secret after its overlap (401,
    /// `key_revoked`).
    KeyRevoked,
    /// A key that exists but is paused (401, `key_paused`).
    KeyPaused,
    /// A valid key without the scope this route needs (403).
    InsufficientScope(Scope),
    /// A gateway request a route rule refuses: the permissions the key lacks (empty when
    /// no rule matched and the organization refuses unmatched routes) (403).
    InsufficientPermission(Vec<String>),
    /// An authenticated caller whose role does not allow this (403).
    Forbidden(String),
    /// A valid key used from an address its allowlist does not name (403).
    IpNotAllowed,
    NotFound,
    /// Two different keys in `x-api-key` and `Authorization`, or another unreadable request.
    BadRequest(String),
    /// A field's value is not acceptable; `field` names it.
    Invalid {
        field: String,
        message: String,
    },
    Conflict(String),
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited(u64),
    /// A valid key over its own rate limit (429, `rate_limited`).
    KeyRateLimited(app::keys::verify::meter::Decision),
    Unavailable,
    StorageFull,
    Internal,
    /// `/gw/*` without `KEYGATE_UPSTREAM_URL`.
    NoUpstream,
    BadGateway,
    GatewayTimeout,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated
            | Self::InvalidToken
            | Self::KeyExpired
            | Self::KeyRevoked
            | Self::KeyPaused => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope(_)
            | Self::InsufficientPermission(_)
            | Self::Forbidden(_)
            | Self::IpNotAllowed => StatusCode::FORBIDDEN,
            Self::NotFound | Self::NoUpstream => StatusCode::NOT_FOUND,
            Self::BadRequest(_) | Self::Invalid { .. } => StatusCode::BAD_REQUEST,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited(_) | Self::KeyRateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::BadGateway => StatusCode::BAD_GATEWAY,
            Self::GatewayTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::InvalidToken => "invalid_token",
            Self::KeyExpired => "key_expired",
            Self::KeyRevoked => "key_revoked",
            Self::KeyPaused => "key_paused",
            Self::InsufficientScope(_) => "insufficient_scope",
            Self::InsufficientPermission(_) => "insufficient_permission",
            Self::Forbidden(_) => "forbidden",
            Self::IpNotAllowed => "ip_not_allowed",
            Self::NotFound => "not_found",
            Self::BadRequest(_) => "bad_request",
            Self::Invalid { .. } => "invalid_request",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited(_) | Self::KeyRateLimited(_) => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::StorageFull => "storage_full",
            Self::Internal => "internal",
            Self::NoUpstream => "no_upstream",
            Self::BadGateway => "bad_gateway",
            Self::GatewayTimeout => "gateway_timeout",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Self::Unauthenticated => {
                "An API key is required: send it in the x-api-key header or as Authorization: Bearer <key>.".into()
            }
            Self::InvalidToken => "The API key is not valid.".into(),
            Self::KeyExpired => "This API key has expired. Ask for a new key.".into(),
            Self::KeyRevoked => "This API key was revoked or replaced by a roll.".into(),
            Self::KeyPaused => {
                "This API key is paused. It works again when its organization resumes it.".into()
            }
            Self::InsufficientScope(scope) => {
                format!("This API key lacks the {} scope.", scope.as_str())
            }
            Self::InsufficientPermission(missing) if missing.is_empty() => {
                "No route rule allows this request, and this organization refuses requests that no rule matches.".into()
            }
            Self::InsufficientPermission(missing) => format!(
                "This API key lacks the permission{} this request needs: {}.",
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", ")
            ),
            Self::Forbidden(m) | Self::BadRequest(m) | Self::Conflict(m) => m.clone(),
            Self::IpNotAllowed => {
                "This API key may not be used from this address: its organization limits it to listed addresses.".into()
            }
            Self::Invalid { message, .. } => message.clone(),
            Self::NotFound => "Not found.".into(),
            Self::PayloadTooLarge => "The request body is too large.".into(),
            Self::UnsupportedMediaType => {
                "Send the request body as JSON with Content-Type: application/json.".into()
            }
            Self::RateLimited(secs) => {
                format!("Too many failed attempts. Try again in {secs} seconds.")
            }
            Self::KeyRateLimited(decision) => format!(
                "This API key's rate limit ({}) is used up. Try again in {} seconds.",
                decision.limit.text(),
                decision.retry_after
            ),
            Self::Unavailable => {
                "Keygate is temporarily unavailable. Please try again shortly.".into()
            }
            Self::StorageFull => {
                "Keygate's database is full, so nothing was saved. Ask your operator to free space."
                    .into()
            }
            Self::Internal => "Something went wrong on our side. Please try again.".into(),
            Self::NoUpstream => {
                "No upstream is configured for the gateway: set KEYGATE_UPSTREAM_URL.".into()
            }
            Self::BadGateway => "The upstream service could not be reached.".into(),
            Self::GatewayTimeout => "The upstream service did not answer in time.".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code(),
            message: self.message(),
            field: match &self {
                Self::Invalid { field, .. } => Some(field.clone()),
                _ => None,
            },
            missing: match &self {
                Self::InsufficientPermission(missing) => Some(missing.clone()),
                _ => None,
            },
        };
        let mut response = (self.status(), Json(body)).into_response();
        response.extensions_mut().insert(ErrorCode(self.code()));
        let headers = response.headers_mut();
        let challenge = match &self {
            Self::Unauthenticated => Some(r#"Bearer realm="keygate""#.to_owned()),
            // RFC 6750 has one code for all of them; the body says which.
            Self::InvalidToken | Self::KeyExpired | Self::KeyRevoked | Self::KeyPaused => {
                Some(r#"Bearer realm="keygate", error="invalid_token""#.to_owned())
            }
            Self::InsufficientScope(scope) => Some(format!(
                r#"Bearer realm="keygate", error="insufficient_scope", scope="{}""#,
                scope.as_str()
            )),
            _ => None,
        };
        if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        match self {
            Self::RateLimited(secs) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            Self::KeyRateLimited(decision) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(decision.retry_after));
            }
            _ => {}
        }
        response
    }
}

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        match err {
            AppError::Unauthenticated | AppError::InvalidCredentials => Self::Unauthenticated,
            AppError::Forbidden => {
                Self::Forbidden("Your role in this organization does not allow this.".into())
            }
            AppError::StaleForm => Self::Forbidden(AppError::StaleForm.to_string()),
            AppError::NotFound => Self::NotFound,
            AppError::Invalid { field, message } => Self::Invalid { field, message },
            AppError::Conflict { message, .. } => Self::Conflict(message),
            AppError::RateLimited { retry_after } => Self::RateLimited(retry_after),
            AppError::BadRequest { message } => Self::BadRequest(message),
            AppError::Unavailable => Self::Unavailable,
            AppError::StorageFull => Self::StorageFull,
            AppError::Internal | AppError::Network { .. } => Self::Internal,
        }
    }
}

impl From<app::keys::service::KeyError> for ApiError {
    fn from(err: app::keys::service::KeyError) -> Self {
        match err {
            app::keys::service::KeyError::BroaderScopes => Self::Forbidden(
                "A key cannot create or roll a key with scopes it does not have itself.".into(),
            ),
            app::keys::service::KeyError::BroaderPermissions => Self::Forbidden(
                "A key cannot create or roll a key with permissions it does not hold itself."
                    .into(),
            ),
            app::keys::service::KeyError::OutlivesCaller => {
                Self::Forbidden("A key cannot roll a key that expires later than itself.".into())
            }
            other => AppError::from(other).into(),
        }
    }
}

impl From<app::permissions::catalog::CatalogError> for ApiError {
    fn from(err: app::permissions::catalog::CatalogError) -> Self {
        AppError::from(err).into()
    }
}

impl From<VerifyError> for ApiError {
    /// A refused key: whether it exists but cannot be used now (expired, revoked, paused)
    /// is said; anything else is `invalid_token`.
    fn from(err: VerifyError) -> Self {
        match err {
            VerifyError::Expired => Self::KeyExpired,
            VerifyError::Revoked => Self::KeyRevoked,
            VerifyError::Paused => Self::KeyPaused,
            VerifyError::Malformed | VerifyError::Unknown | VerifyError::CreatorGone => {
                Self::InvalidToken
            }
        }
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        app::ssr::db_error(err).into()
    }
}
