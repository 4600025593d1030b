//! Least privilege from real use: what a key did with its permissions in the last 30
//! days (`GET /api/v1/keys/{id}/permissions/usage`), and restricting it to that
//! (`POST /api/v1/keys/{id}/permissions/restrict`).

use app::ids::{KeyId, OrgId};
use app::keys::scopes::Scope;
use app::keys::service as keys;
use app::permissions::usage::{self, PermissionUse, RuleUse};
use app::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::shared::{ApiKey, OrgQuery, manager};
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::{ApiJson, ApiQuery};

/// Requests of the key that one route rule (or one permission of `/verify` questions)
/// decided.
#[derive(Debug, Serialize, ToSchema)]
pub struct RouteUseBody {
    /// The rule's methods and path, or `POST /api/v1/verify`.
    #[schema(example = "GET /invoices/{id}")]
    pub route: String,
    /// What the rule required when last counted.
    pub permissions: Vec<String>,
    pub allowed: u64,
    /// Refused by a report-only rule, which let them through.
    pub would_deny: u64,
    pub denied: u64,
    /// The start (UTC) of the last day with a request.
    pub last_day: DateTime<Utc>,
}

impl From<RuleUse> for RouteUseBody {
    fn from(r: RuleUse) -> Self {
        Self {
            route: r.route,
            permissions: r.permissions,
            allowed: r.allowed,
            would_deny: r.would_deny,
            denied: r.denied,
            last_day: r.last_day,
        }
    }
}

/// What a key did with its permissions, and what restricting it would change.
#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionUseBody {
    /// The period, in days up to today (UTC).
    pub days: i64,
    /// Busiest first.
    pub routes: Vec<RouteUseBody>,
    /// Permissions its allowed requests needed that it still holds: what it keeps.
    pub used: Vec<String>,
    /// Its own permissions and wildcards restricting takes away.
    pub removes: Vec<String>,
    /// Its roles restricting takes away.
    pub removes_roles: Vec<String>,
}

impl From<PermissionUse> for PermissionUseBody {
    fn from(u: PermissionUse) -> Self {
        Self {
            days: u.days,
            routes: u.routes.into_iter().map(Into::into).collect(),
            used: u.used,
            removes: u.removes,
            removes_roles: u.removes_roles,
        }
    }
}

/// Which permissions the key used in the last 30 days: per gateway route rule and per
/// permission a `/verify` question named, with allowed, refused and report-only refused
/// counts, summed over every instance as of the last usage flush. Needs `keys:read`.
#[utoipa::path(
    get, path = "/api/v1/keys/{id}/permissions/usage", tag = "keys",
    params(("id" = String, Path, description = "Key id"), OrgQuery),
    security(("api_key" = ["keys:read"]), ("bearer" = ["keys:read"]), ("session" = [])),
    responses(
        (status = 200, body = PermissionUseBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn key_permission_use(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<OrgQuery>,
) -> Result<Json<PermissionUseBody>, ApiError> {
    let manager = manager(&state, &principal, query.org_id.as_deref(), Scope::KeysRead).await?;
    let key = keys::get_key(&state.db, &manager, KeyId(&id)).await?;
    let used = usage::permission_use(&state.db, OrgId(manager.org_id()), &key, Utc::now()).await?;
    Ok(Json(used.into()))
}

/// What the caller saw restricting would remove; when given, the restriction happens
/// only if that is still what it removes.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestrictRequest {
    /// `removes` of `GET …/permissions/usage`.
    #[serde(default)]
    pub removes: Option<Vec<String>>,
    /// `removes_roles` of `GET …/permissions/usage`.
    #[serde(default)]
    pub removes_roles: Option<Vec<String>>,
}

/// The key, restricted, and what it was restricted by.
#[derive(Debug, Serialize, ToSchema)]
pub struct RestrictAnswer {
    pub key: ApiKey,
    pub removed: Vec<String>,
    pub removed_roles: Vec<String>,
}

/// Restricts the key to the permissions it used in the last 30 days: they are given by
/// name, and every other permission, wildcard and role is taken away (audited as
/// `key.permissions_changed`, on every instance within a second). Needs `keys:write`.
#[utoipa::path(
    post, path = "/api/v1/keys/{id}/permissions/restrict", tag = "keys",
    params(("id" = String, Path, description = "Key id"), OrgQuery),
    request_body(content = Option<RestrictRequest>, description = "Optional: what the caller expects to be removed"),
    security(("api_key" = ["keys:write"]), ("bearer" = ["keys:write"]), ("session" = [])),
    responses(
        (status = 200, body = RestrictAnswer),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Missing keys:write", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Nothing to remove, the key no longer works, or what it would remove is not what `removes` says", body = ErrorBody),
    )
)]
pub async fn restrict_key_permissions(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<OrgQuery>,
    request: Option<ApiJson<RestrictRequest>>,
) -> Result<Json<RestrictAnswer>, ApiError> {
    let request = request.map(|ApiJson(r)| r).unwrap_or_default();
    let manager = manager(
        &state,
        &principal,
        query.org_id.as_deref(),
        Scope::KeysWrite,
    )
    .await?;
    let confirmed = match (request.removes, request.removes_roles) {
        (None, None) => None,
        (removes, roles) => Some((removes.unwrap_or_default(), roles.unwrap_or_default())),
    };
    let (key, found) =
        usage::restrict(&state.db, &state.verifier, &manager, KeyId(&id), confirmed).await?;
    Ok(Json(RestrictAnswer {
        key: key.into(),
        removed: found.removes,
        removed_roles: found.removes_roles,
    }))
}
