//! `/api/v1`: whoami, keys (list, create, get, revoke, roll) and verify. Every handler takes
//! the [`Principal`] and checks scope and role itself (Z3); the org comes from the key,
//! or for a browser session from `org_id` plus the caller's membership (Z1).

use app::keys::context::{self, KeyContext};
use app::keys::digest::KeyPrincipal;
use app::keys::scopes::{DEFAULT_SCOPES, Scope, Scopes};
use app::keys::service::{self as keys, KeyChange, KeyManager};
use app::keys::usage::{Outcome, Period, UsageView};
use app::keys::verifier::Rejection;
use app::keys::{
    ApiKeyView, CreatedKey, KeyPage, KeyPolicy, KeyQuery, MAX_CUSTOM_YEARS, RateLimit, RatePeriod,
};
use app::orgs::service as orgs;
use app::ssr::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Duration, Months, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Principal;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery};

/// An API key as the API shows it: never the key itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKey {
    #[schema(example = "key_3kTMd0PqZc8xY1vB2nR4sQ")]
    pub id: String,
    pub name: String,
    /// The first characters of the key, to recognise it.
    #[schema(example = "kg_AbCd")]
    pub hint: String,
    /// Granted scopes, e.g. `["gateway"]`.
    pub scopes: Vec<String>,
    /// `active`, `paused`, `expired` or `revoked`.
    #[schema(example = "active")]
    pub status: String,
    pub created_at: DateTime<Utc>,
    /// Display name of the person who created it.
    pub created_by: String,
    pub last_used_at: Option<DateTime<Utc>>,
    /// `null` when the key never expires.
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
    /// Set when an active key does less than its status says: its creator left the
    /// organization or lost the role that lets keys act.
    pub notice: Option<String>,
    /// For a paused key: when it works again by itself; `null` while paused means until
    /// someone resumes it.
    pub paused_until: Option<DateTime<Utc>>,
    /// During a roll's overlap: the old secret's hint, still working until this time.
    pub previous_hint: Option<String>,
    pub previous_expires_at: Option<DateTime<Utc>>,
    /// The key lives longer than the organization's key policy allows a new key.
    pub exceeds_policy: bool,
    /// The key's own rate limit; `null`: none.
    pub rate_limit: Option<RateLimitBody>,
    /// The addresses and CIDR ranges the key may be used from; empty: anywhere.
    pub allowed_ips: Vec<String>,
    /// Sorted tags; empty: none.
    #[schema(example = json!(["billing", "prod"]))]
    pub tags: Vec<String>,
    /// The external owner the key is for (a customer or service id); forwarded by the
    /// gateway as `X-Keygate-Key-Owner`.
    #[schema(example = "cus_4QFJ")]
    pub owner_id: Option<String>,
    /// The key's metadata object; `null`: none.
    #[schema(value_type = Option<Object>, example = json!({"plan": "pro"}))]
    pub metadata: Option<serde_json::Value>,
    /// When the key was imported from another product (`keygate key import`); `null`:
    /// made in Keygate. An imported key keeps its old hint and works as it is.
    pub imported_at: Option<DateTime<Utc>>,
}

/// Metadata as stored (compact JSON of an object) as a JSON value.
fn metadata_value(text: Option<&str>) -> Option<serde_json::Value> {
    text.and_then(|t| serde_json::from_str(t).ok())
}

/// A key's own rate limit: at most `requests` per `per`, as a sliding window. Over it,
/// the key's requests get 429 `rate_limited` with `Retry-After`; every response to the
/// key carries `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitBody {
    #[schema(minimum = 1, maximum = 1000000, example = 100)]
    pub requests: u32,
    /// `second`, `minute` or `hour`.
    #[schema(example = "minute")]
    pub per: String,
}

impl From<RateLimit> for RateLimitBody {
    fn from(l: RateLimit) -> Self {
        Self {
            requests: l.requests,
            per: l.per.as_str().into(),
        }
    }
}

impl RateLimitBody {
    /// The limit, or a field error under `field` naming what is wrong.
    fn parse(&self, field: &str) -> Result<RateLimit, ApiError> {
        let per = RatePeriod::parse(&self.per).ok_or_else(|| ApiError::Invalid {
            field: format!("{field}.per"),
            message: "per must be second, minute or hour.".into(),
        })?;
        RateLimit::new(self.requests, per).map_err(|message| ApiError::Invalid {
            field: format!("{field}.requests"),
            message,
        })
    }
}

impl From<ApiKeyView> for ApiKey {
    fn from(v: ApiKeyView) -> Self {
        let (previous_hint, previous_expires_at) = match v.rolling {
            Some(overlap) => (Some(overlap.hint), Some(overlap.until)),
            None => (None, None),
        };
        Self {
            status: v.status.as_str().into(),
            paused_until: v.paused_until,
            previous_hint,
            previous_expires_at,
            exceeds_policy: v.exceeds_policy,
            rate_limit: v.rate_limit.map(RateLimitBody::from),
            allowed_ips: v.allowed_ips,
            tags: v.tags,
            metadata: metadata_value(v.metadata.as_deref()),
            owner_id: v.owner,
            imported_at: v.imported_at,
            id: v.id,
            name: v.name,
            hint: v.hint,
            scopes: v.scopes,
            created_at: v.created_at,
            created_by: v.created_by,
            last_used_at: v.last_used_at,
            expires_at: v.expires_at,
            revoked_at: v.revoked_at,
            revoked_by: v.revoked_by,
            notice: v.notice,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub org_id: String,
    pub keys: Vec<ApiKey>,
    /// 1-based page number.
    pub page: u64,
    pub pages: u64,
    /// Keys that match the filters, on all pages.
    pub total: u64,
    /// Live keys of the organization expiring within 7 days (all pages, any filter).
    pub expiring_soon: u64,
}

impl From<KeyPage> for KeyList {
    fn from(p: KeyPage) -> Self {
        Self {
            org_id: p.org_id,
            keys: p.keys.into_iter().map(ApiKey::from).collect(),
            page: p.page,
            pages: p.pages,
            total: p.total,
            expiring_soon: p.expiring_soon,
        }
    }
}

/// The one response that carries a raw key (`Cache-Control: no-store`). Store it now:
/// Keygate cannot show it again.
#[derive(Serialize, ToSchema)]
pub struct NewKey {
    pub key: ApiKey,
    /// The API key.
    #[schema(example = "kg_...")]
    pub secret: String,
}

impl From<CreatedKey> for NewKey {
    fn from(c: CreatedKey) -> Self {
        Self {
            key: c.key.into(),
            secret: c.secret,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// 1 to 100 characters, no control characters; surrounding spaces are trimmed.
    #[schema(
        example = "Billing service (production)",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// Scopes to grant; default `["gateway"]`. A key can only grant scopes it has.
    #[schema(value_type = Option<Vec<ScopeName>>)]
    pub scopes: Option<Vec<String>>,
    /// Expire after this many days. Give this or `expires_at`, or neither for a key
    /// that never expires. When a key calls, the new key's expiry is capped at the
    /// calling key's own.
    #[schema(minimum = 1, maximum = 1830)]
    pub expires_in_days: Option<u32>,
    /// Expire at this time (RFC 3339, in the future, within 5 years).
    pub expires_at: Option<DateTime<Utc>>,
    /// The key's own rate limit; omit for none.
    pub rate_limit: Option<RateLimitBody>,
    /// Up to 50 IPv4/IPv6 addresses or CIDR ranges the key may be used from; omit (or
    /// give none) for anywhere. From any other client address the key gets 403
    /// `ip_not_allowed`.
    #[schema(example = json!(["203.0.113.0/24", "2001:db8::/32"]))]
    pub allowed_ips: Option<Vec<String>>,
    /// Up to 20 tags of lower-case letters, digits, `-`, `:` and `.` (at most 64
    /// characters each).
    #[schema(example = json!(["billing", "prod"]))]
    pub tags: Option<Vec<String>>,
    /// The external owner the key is for (a customer or service id), up to 128
    /// characters.
    #[schema(example = "cus_4QFJ", max_length = 128)]
    pub owner_id: Option<String>,
    /// A JSON object of up to 4096 bytes (as compact JSON).
    #[schema(value_type = Option<Object>, example = json!({"plan": "pro"}))]
    pub metadata: Option<serde_json::Value>,
}

/// A scope a key can be given (documentation only: requests carry plain strings, and an
/// unknown one gets a field error naming it).
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum ScopeName {
    #[schema(rename = "gateway")]
    Gateway,
    #[schema(rename = "keys:read")]
    KeysRead,
    #[schema(rename = "keys:write")]
    KeysWrite,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrgQuery {
    /// The organization, when calling with a browser session. With a key, the key's own
    /// organization is used (and any other value is 404).
    pub org_id: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1-based page number (25 keys per page).
    #[param(minimum = 1)]
    pub page: Option<u64>,
    /// As for the other key routes.
    pub org_id: Option<String>,
    /// Only live keys expiring within 7 days (the same as `status=expiring`).
    pub expiring_soon: Option<bool>,
    /// Part of the name or the hint, in any case, or a key id (at most 100 characters).
    pub q: Option<String>,
    /// Only keys with this tag.
    pub tag: Option<String>,
    /// Only keys for this owner id.
    pub owner: Option<String>,
    /// `active`, `paused`, `expiring` (live, expiring within 7 days), `expired` or
    /// `revoked`.
    pub status: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollRequest {
    /// How long the old secret keeps working, 0 (the default: it stops now) to 604800
    /// (7 days). Rolling a key already in an overlap ends the older secret first.
    #[schema(minimum = 0, maximum = 604800)]
    pub overlap_seconds: Option<u32>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseRequest {
    /// When the key works again by itself (RFC 3339, in the future and before the key
    /// expires); omit to pause until resumed.
    pub until: Option<DateTime<Utc>>,
}

/// The organization's rules for new keys.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Longest lifetime of a new key, 1 to 366 days; `null`: no limit.
    #[schema(minimum = 1, maximum = 366)]
    pub max_days: Option<u32>,
    /// Every new key must expire.
    #[serde(default)]
    pub require_expiry: bool,
    /// Keys unused for this many days (30 to 365) are revoked automatically; `null`: never.
    #[schema(minimum = 30, maximum = 365)]
    pub idle_days: Option<u32>,
}

impl From<KeyPolicy> for Policy {
    fn from(p: KeyPolicy) -> Self {
        Self {
            max_days: p.max_days,
            require_expiry: p.require_expiry,
            idle_days: p.idle_days,
        }
    }
}

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
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyResponse {
    pub valid: bool,
    /// Why an invalid key is refused: `key_expired`, `key_revoked`, `key_paused`,
    /// `rate_limited` for a key over its own rate limit, or `invalid_token` for a key
    /// that is malformed or unknown. `null` when valid.
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
    State(state): State<crate::http::ServerState>,
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

/// The key manager for this request: scope, org and the acting person's current role,
/// read from the database now (writes never trust the cache).
pub(super) async fn manager(
    state: &AppState,
    principal: &Principal,
    org_id: Option<&str>,
    scope: Scope,
) -> Result<KeyManager, ApiError> {
    principal.require_key_scope(scope)?;
    match principal {
        Principal::Key(key) => {
            if org_id.is_some_and(|org| org != key.org_id) {
                return Err(ApiError::NotFound);
            }
            let member = match orgs::membership(&state.db, &key.creator_id, &key.org_id).await {
                Ok(member) => member,
                Err(orgs::OrgError::NotFound) => return Err(ApiError::InvalidToken),
                Err(e) => return Err(app::error::AppError::from(e).into()),
            };
            KeyManager::for_key(member, key.scopes, key.expires_at)
                .map(|manager| manager.with_caller_limits(key.rate_limit, key.allowed_ips.clone()))
                .map_err(|_| ApiError::InsufficientScope(scope))
        }
        Principal::User { user_id } => {
            let org_id = org_id.ok_or_else(|| ApiError::Invalid {
                field: "org_id".into(),
                message: "Give org_id (the organization) when calling with a browser session."
                    .into(),
            })?;
            let member = orgs::membership(&state.db, user_id, org_id)
                .await
                .map_err(app::error::AppError::from)?;
            Ok(KeyManager::new(member).map_err(app::error::AppError::from)?)
        }
    }
}

/// The organization's keys, newest first, 25 per page. Needs `keys:read`.
#[utoipa::path(
    get, path = "/api/v1/keys", tag = "keys", params(ListQuery),
    security(("api_key" = ["keys:read"]), ("bearer" = ["keys:read"]), ("session" = [])),
    responses(
        (status = 200, body = KeyList),
        (status = 400, description = "Bad query string", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The key lacks keys:read, or the role cannot manage keys", body = ErrorBody),
        (status = 404, description = "Another organization", body = ErrorBody),
    )
)]
pub async fn list_keys(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<KeyList>, ApiError> {
    let page = query.page.unwrap_or(1);
    if page == 0 {
        return Err(ApiError::Invalid {
            field: "page".into(),
            message: "Pages start at 1.".into(),
        });
    }
    let status = match (query.status.as_deref(), query.expiring_soon) {
        (Some(status), Some(true)) if status != "expiring" => {
            return Err(ApiError::Invalid {
                field: "status".into(),
                message: "expiring_soon=true is status=expiring: give one of them.".into(),
            });
        }
        (None, Some(true)) => Some("expiring"),
        (status, _) => status,
    };
    let filters = KeyQuery::parse(
        query.q.as_deref(),
        query.tag.as_deref(),
        query.owner.as_deref(),
        status,
    )
    .map_err(|(field, message)| ApiError::Invalid {
        field: field.into(),
        message,
    })?;
    let manager = manager(&state, &principal, query.org_id.as_deref(), Scope::KeysRead).await?;
    Ok(Json(
        keys::list_keys(&state.db, &manager, page, &filters)
            .await?
            .into(),
    ))
}

fn resolve_api_expiry(
    request: &CreateKeyRequest,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    let invalid = |field: &str, message: &str| ApiError::Invalid {
        field: field.into(),
        message: message.into(),
    };
    match (request.expires_in_days, request.expires_at) {
        (Some(_), Some(_)) => Err(invalid(
            "expires_at",
            "Give expires_in_days or expires_at, not both.",
        )),
        (Some(days), None) => {
            if !(1..=366 * MAX_CUSTOM_YEARS).contains(&days) {
                return Err(invalid(
                    "expires_in_days",
                    "expires_in_days must be between 1 and 1830.",
                ));
            }
            Ok(Some(now + Duration::days(i64::from(days))))
        }
        (None, Some(at)) => {
            if at <= now {
                return Err(invalid("expires_at", "expires_at must be in the future."));
            }
            if now
                .checked_add_months(Months::new(12 * MAX_CUSTOM_YEARS))
                .is_some_and(|limit| at > limit)
            {
                return Err(invalid(
                    "expires_at",
                    "expires_at must be within 5 years; omit it for a key that never expires.",
                ));
            }
            Ok(Some(at))
        }
        (None, None) => Ok(None),
    }
}

/// Creates a key and returns it once (`Cache-Control: no-store`). Needs `keys:write`;
/// a key cannot grant scopes it does not have (K9).
#[utoipa::path(
    post, path = "/api/v1/keys", tag = "keys", params(OrgQuery), request_body = CreateKeyRequest,
    security(("api_key" = ["keys:write"]), ("bearer" = ["keys:write"]), ("session" = [])),
    responses(
        (status = 201, body = NewKey, headers(
            ("cache-control" = String, description = "no-store"),
            ("location" = String, description = "The new key, `/api/v1/keys/{id}`"),
        )),
        (status = 400, description = "Invalid name, scopes or expiry, or unknown fields", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Missing keys:write, or broader scopes than the caller's", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
    )
)]
pub async fn create_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<OrgQuery>,
    ApiJson(request): ApiJson<CreateKeyRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let manager = manager(
        &state,
        &principal,
        query.org_id.as_deref(),
        Scope::KeysWrite,
    )
    .await?;
    let scopes = match &request.scopes {
        None => DEFAULT_SCOPES,
        Some(names) => Scopes::parse_list(names.iter().map(String::as_str)).map_err(|message| {
            ApiError::Invalid {
                field: "scopes".into(),
                message,
            }
        })?,
    };
    let expires_at = resolve_api_expiry(&request, Utc::now())?;
    let limit = request
        .rate_limit
        .as_ref()
        .map(|l| l.parse("rate_limit"))
        .transpose()?;
    let allowed_ips = parse_allowed_ips(request.allowed_ips.as_deref())?;
    let context = parse_context(
        request.tags.as_deref(),
        request.owner_id.as_deref(),
        request.metadata.as_ref(),
    )?;
    let created = keys::create_key_with(
        &state.db,
        &state.secret,
        &manager,
        &request.name,
        expires_at,
        scopes,
        keys::KeyExtras {
            rate_limit: limit,
            allowed_ips,
            context,
        },
    )
    .await?;
    let location = format!("/api/v1/keys/{}", created.key.id);
    Ok((
        StatusCode::CREATED,
        [(http::header::LOCATION, location)],
        Json(NewKey::from(created)),
    ))
}

/// One key of the organization. Needs `keys:read`.
#[utoipa::path(
    get, path = "/api/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "Key id"), OrgQuery),
    security(("api_key" = ["keys:read"]), ("bearer" = ["keys:read"]), ("session" = [])),
    responses(
        (status = 200, body = ApiKey),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The key lacks keys:read, or the role cannot manage keys", body = ErrorBody),
        (status = 404, description = "No such key in this organization", body = ErrorBody),
    )
)]
pub async fn get_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<OrgQuery>,
) -> Result<Json<ApiKey>, ApiError> {
    let manager = manager(&state, &principal, query.org_id.as_deref(), Scope::KeysRead).await?;
    Ok(Json(keys::get_key(&state.db, &manager, &id).await?.into()))
}

/// Revokes a key at once. Needs `keys:write`. Revoking a revoked key is a no-op.
#[utoipa::path(
    delete, path = "/api/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "Key id"), OrgQuery),
    security(("api_key" = ["keys:write"]), ("bearer" = ["keys:write"]), ("session" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such key in this organization", body = ErrorBody),
    )
)]
pub async fn revoke_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<OrgQuery>,
) -> Result<StatusCode, ApiError> {
    let manager = manager(
        &state,
        &principal,
        query.org_id.as_deref(),
        Scope::KeysWrite,
    )
    .await?;
    keys::revoke_key(&state.db, &state.verifier, &manager, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Issues a new secret for a key (same id, name, scopes, expiry and usage). The old
/// secret stops now, or after `overlap_seconds` (up to 7 days) during which both work.
/// Needs `keys:write` and every scope of the rolled key; the roller becomes the key's
/// creator.
#[utoipa::path(
    post, path = "/api/v1/keys/{id}/roll", tag = "keys",
    params(("id" = String, Path, description = "Key id"), OrgQuery),
    request_body(content = Option<RollRequest>, description = "Optional; no body means no overlap"),
    security(("api_key" = ["keys:write"]), ("bearer" = ["keys:write"]), ("session" = [])),
    responses(
        (status = 200, body = NewKey, headers(("cache-control" = String, description = "no-store"))),
        (status = 400, description = "overlap_seconds out of range", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The key is revoked or expired", body = ErrorBody),
    )
)]
pub async fn roll_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<OrgQuery>,
    request: Option<ApiJson<RollRequest>>,
) -> Result<Json<NewKey>, ApiError> {
    let overlap = request
        .and_then(|ApiJson(r)| r.overlap_seconds)
        .unwrap_or(0);
    let manager = manager(
        &state,
        &principal,
        query.org_id.as_deref(),
        Scope::KeysWrite,
    )
    .await?;
    let rolled = keys::roll_key(
        &state.db,
        &state.secret,
        &state.verifier,
        &manager,
        &id,
        overlap,
    )
    .await?;
    Ok(Json(rolled.into()))
}

/// The body of every route that changes one key without a new secret: `keys:write`, then
/// the change.
async fn change(
    state: &AppState,
    principal: &Principal,
    query: OrgQuery,
    id: &str,
    change: KeyChange,
) -> Result<Json<ApiKey>, ApiError> {
    let manager = manager(state, principal, query.org_id.as_deref(), Scope::KeysWrite).await?;
    let key = keys::change_key(&state.db, &state.verifier, &manager, id, change).await?;
    Ok(Json(key.into()))
}

/// Ends a roll's overlap now: the old secret is refused from the next request on, on
/// every instance. A key not in an overlap is returned unchanged. Needs `keys:write`.
#[utoipa::path(
    post, path = "/api/v1/keys/{id}/end-overlap", tag = "keys",
    params(("id" = String, Path, description = "Key id"), OrgQuery),
    security(("api_key" = ["keys:write"]), ("bearer" = ["keys:write"]), ("session" = [])),
    responses(
        (status = 200, body = ApiKey),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn end_overlap(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<OrgQuery>,
) -> Result<Json<ApiKey>, ApiError> {
    change(&state, &principal, query, &id, KeyChange::EndOverlap).await
}

/// Pauses a key, until resumed or until `until`: it is refused with `key_paused` on every
/// instance within a second and works again by itself at `until`. Needs `keys:write`.
#[utoipa::path(
    post, path = "/api/v1/keys/{id}/pause", tag = "keys",
    params(("id" = String, Path, description = "Key id"), OrgQuery),
    request_body(content = Option<PauseRequest>, description = "Optional; no body pauses until resumed"),
    security(("api_key" = ["keys:write"]), ("bearer" = ["keys:write"]), ("session" = [])),
    responses(
        (status = 200, body = ApiKey),
        (status = 400, description = "`until` is not in the future, or after the key expires", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The key is revoked or expired", body = ErrorBody),
    )
)]
pub async fn pause_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<OrgQuery>,
    request: Option<ApiJson<PauseRequest>>,
) -> Result<Json<ApiKey>, ApiError> {
    let until = request.and_then(|ApiJson(r)| r.until);
    change(&state, &principal, query, &id, KeyChange::Pause { until }).await
}

/// Resumes a paused key now. Needs `keys:write`.
#[utoipa::path(
    post, path = "/api/v1/keys/{id}/resume", tag = "keys",
    params(("id" = String, Path, description = "Key id"), OrgQuery),
    security(("api_key" = ["keys:write"]), ("bearer" = ["keys:write"]), ("session" = [])),
    responses(
        (status = 200, body = ApiKey),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn resume_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<OrgQuery>,
) -> Result<Json<ApiKey>, ApiError> {
    change(&state, &principal, query, &id, KeyChange::Resume).await
}

/// Gives a key that outlives the organization's key policy the longest expiry the policy
/// allows from now. Needs `keys:write`.
#[utoipa::path(
    post, path = "/api/v1/keys/{id}/shorten-to-policy", tag = "keys",
    params(("id" = String, Path, description = "Key id"), OrgQuery),
    security(("api_key" = ["keys:write"]), ("bearer" = ["keys:write"]), ("session" = [])),
    responses(
        (status = 200, body = ApiKey),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The key is revoked or expired", body = ErrorBody),
    )
)]
pub async fn shorten_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<OrgQuery>,
) -> Result<Json<ApiKey>, ApiError> {
    change(&state, &principal, query, &id, KeyChange::ShortenToPolicy).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRateLimitRequest {
    /// The new limit; `null` removes it.
    pub rate_limit: Option<RateLimitBody>,
}

/// Sets or removes a key's own rate limit; every instance applies it within a second.
/// Needs `keys:write`.
#[utoipa::path(
    put, path = "/api/v1/keys/{id}/rate-limit", tag = "keys",
    params(("id" = String, Path, description = "Key id"), OrgQuery),
    request_body = SetRateLimitRequest,
    security(("api_key" = ["keys:write"]), ("bearer" = ["keys:write"]), ("session" = [])),
    responses(
        (status = 200, body = ApiKey),
        (status = 400, description = "A limit out of range, or an unknown period", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The key is revoked or expired", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
    )
)]
pub async fn set_rate_limit(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<OrgQuery>,
    ApiJson(request): ApiJson<SetRateLimitRequest>,
) -> Result<Json<ApiKey>, ApiError> {
    let limit = request
        .rate_limit
        .as_ref()
        .map(|l| l.parse("rate_limit"))
        .transpose()?;
    change(
        &state,
        &principal,
        query,
        &id,
        KeyChange::SetRateLimit(limit),
    )
    .await
}

/// An allowlist from a request: `None` when absent or empty (anywhere).
fn parse_allowed_ips(
    entries: Option<&[String]>,
) -> Result<Option<Vec<app::keys::allowlist::IpRange>>, ApiError> {
    let Some(entries) = entries else {
        return Ok(None);
    };
    app::keys::allowlist::parse_list(entries.iter().map(String::as_str)).map_err(|message| {
        ApiError::Invalid {
            field: "allowed_ips".into(),
            message,
        }
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAllowedIpsRequest {
    /// Up to 50 addresses or CIDR ranges; empty or `null`: anywhere.
    #[schema(example = json!(["203.0.113.0/24", "2001:db8::/32"]))]
    pub allowed_ips: Option<Vec<String>>,
}

/// Sets the addresses a key may be used from; every instance applies it within a second.
/// A range that allows every address (`/0`) is refused. Needs `keys:write`.
#[utoipa::path(
    put, path = "/api/v1/keys/{id}/allowed-ips", tag = "keys",
    params(("id" = String, Path, description = "Key id"), OrgQuery),
    request_body = SetAllowedIpsRequest,
    security(("api_key" = ["keys:write"]), ("bearer" = ["keys:write"]), ("session" = [])),
    responses(
        (status = 200, body = ApiKey),
        (status = 400, description = "An entry that is not an address or range (named in the message), a /0, or more than 50", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The key is revoked or expired", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
    )
)]
pub async fn set_allowed_ips(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<OrgQuery>,
    ApiJson(request): ApiJson<SetAllowedIpsRequest>,
) -> Result<Json<ApiKey>, ApiError> {
    let ranges = parse_allowed_ips(request.allowed_ips.as_deref())?;
    change(
        &state,
        &principal,
        query,
        &id,
        KeyChange::SetAllowedIps(ranges),
    )
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// `24h` (per hour, the default) or `30d` (per day).
    pub period: Option<String>,
    /// As for the other key routes.
    pub org_id: Option<String>,
}

/// Requests of one hour or day, by outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageBucketBody {
    /// Start of the hour or day (UTC).
    pub start: DateTime<Utc>,
    pub total: u64,
    pub ok: u64,
    pub revoked: u64,
    pub expired: u64,
    pub paused: u64,
    pub insufficient_scope: u64,
    pub rate_limited: u64,
}

/// A key's requests over a period, oldest bucket first. Counts reach the database with
/// each instance's usage flush (every few seconds).
#[derive(Debug, Serialize, ToSchema)]
pub struct Usage {
    pub key_id: String,
    /// `24h` or `30d`.
    pub period: &'static str,
    pub total: u64,
    /// Requests that did not succeed.
    pub errors: u64,
    pub buckets: Vec<UsageBucketBody>,
}

impl Usage {
    fn of(key_id: String, usage: UsageView) -> Self {
        Self {
            key_id,
            period: usage.period.as_str(),
            total: usage.total(),
            errors: usage.errors(),
            buckets: usage
                .buckets
                .into_iter()
                .map(|b| {
                    let n = |o: Outcome| b.counts[o as usize];
                    UsageBucketBody {
                        start: b.start,
                        total: b.total(),
                        ok: n(Outcome::Ok),
                        revoked: n(Outcome::Revoked),
                        expired: n(Outcome::Expired),
                        paused: n(Outcome::Paused),
                        insufficient_scope: n(Outcome::InsufficientScope),
                        rate_limited: n(Outcome::RateLimited),
                    }
                })
                .collect(),
        }
    }
}

/// A key's requests over the last 24 hours (per hour) or 30 days (per day), by outcome.
/// Needs `keys:read`.
#[utoipa::path(
    get, path = "/api/v1/keys/{id}/usage", tag = "keys",
    params(("id" = String, Path, description = "Key id"), UsageQuery),
    security(("api_key" = ["keys:read"]), ("bearer" = ["keys:read"]), ("session" = [])),
    responses(
        (status = 200, body = Usage),
        (status = 400, description = "An unknown period", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn key_usage(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> Result<Json<Usage>, ApiError> {
    let period = match query.period.as_deref() {
        None => Period::Day,
        Some(text) => Period::parse(text).ok_or_else(|| ApiError::Invalid {
            field: "period".into(),
            message: "period must be 24h or 30d.".into(),
        })?,
    };
    let manager = manager(&state, &principal, query.org_id.as_deref(), Scope::KeysRead).await?;
    let key = keys::get_key(&state.db, &manager, &id).await?;
    let usage =
        app::keys::usage::store::of_key(&state.db, manager.org_id(), &key.id, period, Utc::now())
            .await?;
    Ok(Json(Usage::of(key.id, usage)))
}

/// The organization's key policy. Needs `keys:read`.
#[utoipa::path(
    get, path = "/api/v1/policy", tag = "policy", params(OrgQuery),
    security(("api_key" = ["keys:read"]), ("bearer" = ["keys:read"]), ("session" = [])),
    responses(
        (status = 200, body = Policy),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn get_policy(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<OrgQuery>,
) -> Result<Json<Policy>, ApiError> {
    let manager = manager(&state, &principal, query.org_id.as_deref(), Scope::KeysRead).await?;
    Ok(Json(
        keys::org_policy(&state.db, manager.org_id()).await?.into(),
    ))
}

/// Sets the organization's key policy: owners and admins, with a browser session only
/// (keys cannot change their organization's rules). Keys that already outlive it are
/// flagged, not changed.
#[utoipa::path(
    put, path = "/api/v1/policy", tag = "policy", params(OrgQuery), request_body = Policy,
    security(("session" = [])),
    responses(
        (status = 200, body = Policy),
        (status = 400, description = "A value out of range", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "A key, or a role other than owner or admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn set_policy(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<OrgQuery>,
    ApiJson(request): ApiJson<Policy>,
) -> Result<Json<Policy>, ApiError> {
    let Principal::User { user_id } = principal else {
        return Err(ApiError::Forbidden(
            "A key cannot change its organization's key policy.".into(),
        ));
    };
    let org_id = query.org_id.ok_or_else(|| ApiError::Invalid {
        field: "org_id".into(),
        message: "Give org_id (the organization).".into(),
    })?;
    let member = orgs::membership(&state.db, &user_id, &org_id)
        .await
        .map_err(app::error::AppError::from)?;
    let policy = KeyPolicy {
        max_days: request.max_days,
        require_expiry: request.require_expiry,
        idle_days: request.idle_days,
    };
    Ok(Json(
        keys::set_policy(&state.db, &member, policy).await?.into(),
    ))
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
    let ip = super::auth::client_ip(&parts);
    let outcome = if request.key.len() > super::auth::MAX_CREDENTIAL_LEN {
        Err(state.verifier.refuse_malformed(ip).await)
    } else {
        state
            .verifier
            .verify(&state.db, &state.secret, request.key.trim(), ip)
            .await?
    };
    match outcome {
        Ok(key) => {
            // A key over its rate limit is reported as such, but /verify spends none of
            // it: its caller is not the key's holder and may be anywhere (an allowlist
            // cannot hold here), so spending it would let anyone holding a copy lock the
            // holder out (issue 27 §9).
            if let Some(decision) = state.verifier.rate_limit_state(&key).await
                && !decision.allowed
            {
                key.count(Outcome::RateLimited);
                return Ok(Json(VerifyResponse {
                    retry_after: Some(decision.retry_after),
                    ..VerifyResponse::refused("rate_limited")
                })
                .into_response());
            }
            key.count(Outcome::Ok);
            key_answer(&key.answers.verify, || VerifyResponse::of(&key))
        }
        Err(Rejection::RateLimited(wait)) => Err(ApiError::RateLimited(wait)),
        Err(Rejection::Invalid(reason)) => {
            Ok(Json(VerifyResponse::refused(ApiError::from(reason).code())).into_response())
        }
    }
}

/// Tags, owner and metadata from a request, each checked; an error names its field.
fn parse_context(
    tags: Option<&[String]>,
    owner_id: Option<&str>,
    metadata: Option<&serde_json::Value>,
) -> Result<KeyContext, ApiError> {
    let invalid = |field: &str| {
        let field = field.to_owned();
        move |message| ApiError::Invalid { field, message }
    };
    Ok(KeyContext {
        tags: context::parse_tags(tags.unwrap_or_default().iter().map(String::as_str))
            .map_err(invalid("tags"))?,
        owner: context::parse_owner(owner_id.unwrap_or_default()).map_err(invalid("owner_id"))?,
        metadata: metadata
            .map(context::check_metadata)
            .transpose()
            .map_err(invalid("metadata"))?
            .flatten(),
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetContextRequest {
    /// The key's tags (replacing the old ones); empty or `null`: none.
    #[schema(example = json!(["billing", "prod"]))]
    pub tags: Option<Vec<String>>,
    /// The external owner id; `null`: none.
    #[schema(example = "cus_4QFJ", max_length = 128)]
    pub owner_id: Option<String>,
    /// The metadata object (replacing the old one); `null`: none.
    #[schema(value_type = Option<Object>, example = json!({"plan": "pro"}))]
    pub metadata: Option<serde_json::Value>,
}

/// Replaces a key's tags, owner id and metadata (what is left out is cleared); every
/// instance's `/verify`, whoami and gateway see it within a second. Works on any key,
/// even a revoked one. Needs `keys:write`.
#[utoipa::path(
    put, path = "/api/v1/keys/{id}/context", tag = "keys",
    params(("id" = String, Path, description = "Key id"), OrgQuery),
    request_body = SetContextRequest,
    security(("api_key" = ["keys:write"]), ("bearer" = ["keys:write"]), ("session" = [])),
    responses(
        (status = 200, body = ApiKey),
        (status = 400, description = "A bad tag (named in the message), more than 20 tags, an owner id over 128 characters, or metadata that is not an object or over 4096 bytes", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
    )
)]
pub async fn set_context(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<OrgQuery>,
    ApiJson(request): ApiJson<SetContextRequest>,
) -> Result<Json<ApiKey>, ApiError> {
    let context = parse_context(
        request.tags.as_deref(),
        request.owner_id.as_deref(),
        request.metadata.as_ref(),
    )?;
    change(
        &state,
        &principal,
        query,
        &id,
        KeyChange::SetContext(context),
    )
    .await
}
