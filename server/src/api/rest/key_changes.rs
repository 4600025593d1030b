//! Changes to one key that keep its secret: end a roll's overlap, pause, resume, shorten
//! to the policy, and set its rate limit, allowlist or context.

use app::ids::KeyId;
use app::keys::scopes::Scope;
use app::keys::service::{self as keys, KeyChange};
use app::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::ToSchema;

use super::shared::{ApiKey, OrgQuery, RateLimitBody, manager, parse_allowed_ips, parse_context};
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::{ApiJson, ApiQuery};

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseRequest {
    /// When the key works again by itself (RFC 3339, in the future and before the key
    /// expires); omit to pause until resumed.
    pub until: Option<DateTime<Utc>>,
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
    let key = keys::change_key(&state.db, &state.verifier, &manager, KeyId(id), change).await?;
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
