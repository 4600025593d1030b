//! Who is calling (`/api/v1/whoami`) and, for services that receive keys themselves,
//! whether a key is valid (`/api/v1/verify`): both read the verifier's verdict, and a
//! cached key's answer is served without serializing it again.

use app::keys::usage::Outcome;
use app::keys::verify::Verified;
use app::keys::verify::digest::KeyPrincipal;
use app::keys::verify::meter::RouteOutcome;
use app::keys::verify::routes::VERIFY_RULE;
use app::keys::verify::verdict::{Use, Verdict};
use app::permissions::Grants;
use app::permissions::expr::Query;
use app::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::shared::metadata_value;
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::ApiJson;

#[derive(Debug, Serialize, ToSchema)]
pub struct WhoAmI {
    /// `key` or `user`.
    #[schema(example = "key")]
    pub kind: &'static str,
    pub org_id: Option<String>,
    pub key_id: Option<String>,
    /// The key's effective scopes (its own, capped by its creator's current role).
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The key's tags (empty for a user).
    pub tags: Vec<String>,
    /// The key's external owner id.
    pub owner_id: Option<String>,
    /// The key's metadata object.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// The permissions of the API the key holds (its own and its roles'), sorted.
    pub permissions: Vec<String>,
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    /// For a browser session: the CSRF token its API writes send in `x-csrf-token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The key a client presented to your service.
    pub key: String,
    /// A permission question: a list (the key must hold all of them) or an expression
    /// such as `invoices:read and (refunds:write or admin)` (`and` binds tighter than
    /// `or`). A key that does not satisfy it is answered `valid: false`,
    /// `error: "insufficient_permission"`, with the permissions it lacks in `missing`.
    #[schema(value_type = Option<Object>, example = json!(["invoices:read"]))]
    pub permissions: Option<serde_json::Value>,
}

/// `["invoices:read", "refunds:write"]` (all of) or `"invoices:read and (refunds:write or
/// admin)"`, read into a question; anything else is a field error.
/// Counts a question's permissions (those the key used, or those it lacked) on the
/// key's meter, as the gateway counts its route rules: what the key's page shows as used.
fn count_question(key: &Verified, permissions: Vec<String>, outcome: RouteOutcome) {
    for permission in permissions {
        key.meter.count_rule(
            &std::sync::Arc::from(format!("{VERIFY_RULE}{permission}")),
            outcome,
        );
    }
}

fn permission_question(value: serde_json::Value) -> Result<Query, ApiError> {
    let list = |items: Vec<serde_json::Value>| -> Option<Vec<String>> {
        items
            .into_iter()
            .map(|item| match item {
                serde_json::Value::String(name) => Some(name),
                _ => None,
            })
            .collect()
    };
    match value {
        serde_json::Value::String(text) => Query::parse(&text),
        serde_json::Value::Array(items) => match list(items) {
            Some(names) => Query::all_of(names),
            None => Err("permissions lists permission names, as strings.".into()),
        },
        _ => Err(
            "permissions is a list of permission names (all of them), or an expression such as \
             \"invoices:read and (refunds:write or admin)\"."
                .into(),
        ),
    }
    .map_err(|message| ApiError::Invalid {
        field: "permissions".into(),
        message,
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyResponse {
    pub valid: bool,
    /// Why an invalid key is refused: `key_expired`, `key_revoked`, `key_paused`,
    /// `rate_limited` for a key over its own rate limit, `insufficient_permission` for a
    /// key that does not satisfy the request's `permissions` (its identity is still
    /// given), or `invalid_token` for a key that is malformed or unknown. `null` when
    /// valid.
    pub error: Option<&'static str>,
    pub org_id: Option<String>,
    pub key_id: Option<String>,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The key's tags (empty for a user).
    pub tags: Vec<String>,
    /// The key's external owner id.
    pub owner_id: Option<String>,
    /// The key's metadata object.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// With `rate_limited`: seconds until the key may make a request again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// The permissions of the API the key holds (its own and its roles'), sorted.
    pub permissions: Vec<String>,
    /// With `insufficient_permission`: the permissions the question names that the key
    /// lacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<Vec<String>>,
}

fn key_tags(key: &KeyPrincipal) -> Vec<String> {
    key.context
        .as_ref()
        .map(|c| c.tags.clone())
        .unwrap_or_default()
}

fn key_owner(key: &KeyPrincipal) -> Option<String> {
    key.context.as_ref().and_then(|c| c.owner.clone())
}

fn key_permissions(key: &KeyPrincipal) -> Vec<String> {
    key.grants.as_ref().map(|g| g.names()).unwrap_or_default()
}

fn key_metadata(key: &KeyPrincipal) -> Option<serde_json::Value> {
    metadata_value(key.context.as_ref()?.metadata.as_deref())
}

impl VerifyResponse {
    fn of(key: &KeyPrincipal) -> Self {
        Self {
            valid: true,
            error: None,
            org_id: Some(key.org_id.clone()),
            key_id: Some(key.key_id.clone()),
            scopes: key.scopes.names(),
            expires_at: key.expires_at,
            tags: key_tags(key),
            owner_id: key_owner(key),
            metadata: key_metadata(key),
            retry_after: None,
            permissions: key_permissions(key),
            missing: None,
        }
    }

    fn refused(error: &'static str) -> Self {
        Self {
            valid: false,
            error: Some(error),
            org_id: None,
            key_id: None,
            scopes: Vec::new(),
            expires_at: None,
            tags: Vec::new(),
            owner_id: None,
            metadata: None,
            retry_after: None,
            permissions: Vec::new(),
            missing: None,
        }
    }
}

/// Who is calling: the key's org, id, scopes and expiry, or the logged-in user.
#[utoipa::path(
    get, path = "/api/v1/whoami", tag = "identity",
    security(("api_key" = []), ("bearer" = []), ("session" = [])),
    responses(
        (status = 200, body = WhoAmI),
        (status = 401, description = "No credential (`unauthenticated`), an unknown key (`invalid_token`), or a key that is expired, revoked or paused (`key_expired`, `key_revoked`, `key_paused`)", body = ErrorBody),
        (status = 429, description = "Too many failed verifications from this address", body = ErrorBody),
    )
)]
pub async fn whoami(
    // The shared state, not `AppState`: extracting that clones its five `Arc`s.
    State(state): State<crate::state::ServerState>,
    principal: Principal,
    session: Option<axum::Extension<tower_sessions::Session>>,
) -> Result<axum::response::Response, ApiError> {
    Ok(Json(match principal {
        Principal::Key(key) => {
            return key_answer(&key.answers.whoami, || WhoAmI {
                kind: "key",
                org_id: Some(key.org_id.clone()),
                key_id: Some(key.key_id.clone()),
                scopes: key.scopes.names(),
                expires_at: key.expires_at,
                tags: key_tags(&key),
                owner_id: key_owner(&key),
                metadata: key_metadata(&key),
                permissions: key_permissions(&key),
                user_id: None,
                email: None,
                name: None,
                csrf_token: None,
            });
        }
        Principal::User { user_id } => {
            // Boxed, so that a key caller's future has no room for a query.
            let user = Box::pin(app::auth::service::find_user(&state.app.db, &user_id))
                .await?
                .ok_or(ApiError::Unauthenticated)?;
            WhoAmI {
                kind: "user",
                org_id: None,
                key_id: None,
                scopes: Vec::new(),
                expires_at: None,
                tags: Vec::new(),
                owner_id: None,
                metadata: None,
                permissions: Vec::new(),
                user_id: Some(user.id),
                email: Some(user.email),
                name: Some(user.display_name),
                csrf_token: match session {
                    Some(axum::Extension(session)) => app::auth::session::csrf_token(&session)
                        .await
                        .map_err(|_| ApiError::Unavailable)?
                        .map(|t| t.0.as_ref().to_owned()),
                    None => None,
                },
            }
        }
    })
    .into_response())
}

/// Longest answer kept with a key's cache entry. Most are a few hundred bytes; one with
/// the largest metadata and tags allowed is about 6 KB, and the cache counts entries, not
/// bytes, so such answers are serialized for each request instead.
const MAX_KEPT_ANSWER: usize = 1024;

/// A JSON answer that depends on the key alone: serialized on the key's first use, then
/// served from its cache entry (`Verified::answers`) as long as that lives, unless it is
/// longer than [`MAX_KEPT_ANSWER`].
fn key_answer<T: Serialize>(
    slot: &std::sync::OnceLock<std::sync::Arc<[u8]>>,
    make: impl FnOnce() -> T,
) -> Result<axum::response::Response, ApiError> {
    let body = match slot.get() {
        Some(body) => body.clone(),
        None => {
            let body: std::sync::Arc<[u8]> = serde_json::to_vec(&make())
                .map_err(|e| {
                    tracing::error!(error = %e, "a key's answer could not be serialized");
                    ApiError::Internal
                })?
                .into();
            if body.len() <= MAX_KEPT_ANSWER {
                slot.get_or_init(|| body).clone()
            } else {
                body
            }
        }
    };
    Ok((
        [(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        )],
        axum::body::Body::from(axum::body::Bytes::from_owner(body)),
    )
        .into_response())
}

/// For services that receive keys themselves: is this key valid, and whose is it?
/// Needs no credential; failed checks are rate limited per client address.
#[utoipa::path(
    post, path = "/api/v1/verify", tag = "identity", request_body = VerifyRequest,
    security(()),
    responses(
        (status = 200, description = "`valid` says whether the key is usable", body = VerifyResponse),
        (status = 400, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
        (status = 429, description = "Too many failed verifications from this address", body = ErrorBody),
    )
)]
pub async fn verify(
    State(state): State<AppState>,
    parts: http::request::Parts,
    ApiJson(request): ApiJson<VerifyRequest>,
) -> Result<axum::response::Response, ApiError> {
    let ip = crate::api::auth::client_ip(&parts);
    // A question that cannot be read is the caller's mistake, said before the key is
    // looked at.
    let question = request.permissions.map(permission_question).transpose()?;
    let verdict = state
        .verifier
        .authorize(&state.db, &state.secret, request.key.trim(), ip, Use::Check)
        .await?;
    match verdict {
        Verdict::Allowed { key, .. } => match question {
            None => {
                key.count(Outcome::Ok);
                key_answer(&key.answers.verify, || VerifyResponse::of(&key))
            }
            Some(question) => {
                let empty = Grants::default();
                let grants = key.grants.as_deref().unwrap_or(&empty);
                if question.holds(grants) {
                    key.count(Outcome::Ok);
                    count_question(&key, question.held(grants), RouteOutcome::Allowed);
                    return Ok(Json(VerifyResponse::of(&key)).into_response());
                }
                key.count(Outcome::InsufficientPermission);
                let missing = question.missing(grants);
                count_question(&key, missing.clone(), RouteOutcome::Denied);
                Ok(Json(VerifyResponse {
                    valid: false,
                    error: Some("insufficient_permission"),
                    missing: Some(missing),
                    ..VerifyResponse::of(&key)
                })
                .into_response())
            }
        },
        // Reported as such; `Use::Check` spent none of the key's limit.
        Verdict::RateLimited { decision, .. } => Ok(Json(VerifyResponse {
            retry_after: Some(decision.retry_after),
            ..VerifyResponse::refused("rate_limited")
        })
        .into_response()),
        // Never the verdict of a check (the allowlist is about where a key is used from),
        // and were it one, a refusal is the safe answer.
        Verdict::IpNotAllowed(_) => {
            Ok(Json(VerifyResponse::refused(ApiError::IpNotAllowed.code())).into_response())
        }
        Verdict::Refused(reason) => {
            Ok(Json(VerifyResponse::refused(ApiError::from(reason).code())).into_response())
        }
        Verdict::Throttled(wait) => Err(ApiError::RateLimited(wait)),
    }
}
