//! `/api/v1/policy`: the organization's key policy.

use app::ids::OrgId;
use app::keys::KeyPolicy;
use app::keys::scopes::Scope;
use app::keys::service::{self as keys};
use app::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::shared::{OrgQuery, manager};
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::{ApiJson, ApiQuery};

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
        keys::org_policy(&state.db, OrgId(manager.org_id()))
            .await?
            .into(),
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
    let admin = principal
        .session_admin(
            &state,
            query.org_id.as_deref(),
            "A key cannot change its organization's key policy.",
        )
        .await?;
    let policy = KeyPolicy {
        max_days: request.max_days,
        require_expiry: request.require_expiry,
        idle_days: request.idle_days,
    };
    Ok(Json(
        keys::set_policy(&state.db, &admin, policy).await?.into(),
    ))
}
