//! `/api/v1/keys`: list, create, get, revoke and roll (a new secret, with an overlap).

use app::ids::KeyId;
use app::keys::expiry;
use app::keys::scopes::{DEFAULT_SCOPES, Scope, Scopes};
use app::keys::service::{self as keys};
use app::keys::{CreatedKey, KeyPage, KeyQuery};
use app::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::shared::{
    ApiKey, OrgQuery, RateLimitBody, ScopeName, manager, parse_allowed_ips, parse_context,
    parse_permissions,
};
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::{ApiJson, ApiQuery};

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
    #[schema(minimum = 1, maximum = 1826)]
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
    /// Permissions of the API behind the gateway, from the organization's catalog, and
    /// wildcards (`invoices:*`, `*`); omit for none. A key can give only what it holds.
    #[schema(example = json!(["invoices:read"]))]
    pub permissions: Option<Vec<String>>,
    /// Roles of the organization's catalog; omit for none.
    #[schema(example = json!(["billing-readonly"]))]
    pub roles: Option<Vec<String>>,
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
    let invalid = |field: &str, message: String| ApiError::Invalid {
        field: field.into(),
        message,
    };
    match (request.expires_in_days, request.expires_at) {
        (Some(_), Some(_)) => Err(invalid(
            "expires_at",
            "Give expires_in_days or expires_at, not both.".into(),
        )),
        (Some(days), None) => expiry::in_days(days, now)
            .map(Some)
            .map_err(|message| invalid("expires_in_days", message)),
        (None, Some(at)) => expiry::check_at(at, now)
            .map(Some)
            .map_err(|message| invalid("expires_at", message)),
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
        (status = 400, description = "Invalid name, scopes, expiry or permissions (not in the catalog, or more than a calling key holds), or unknown fields", body = ErrorBody),
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
    let (grants, roles) =
        parse_permissions(request.permissions.as_deref(), request.roles.as_deref())?;
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
            grants,
            roles,
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
    Ok(Json(
        keys::get_key(&state.db, &manager, KeyId(&id)).await?.into(),
    ))
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
    keys::revoke_key(&state.db, &state.verifier, &manager, KeyId(&id)).await?;
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
        KeyId(&id),
        overlap,
    )
    .await?;
    Ok(Json(rolled.into()))
}
