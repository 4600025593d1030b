//! `/api/v1/keys/{id}/usage`: a key's requests by hour or day and outcome.

use app::ids::KeyId;
use app::keys::scopes::Scope;
use app::keys::service::{self as keys};
use app::keys::usage::{Outcome, Period, UsageView};
use app::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::shared::manager;
use crate::api::auth::Principal;
use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::ApiQuery;

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
    let key = keys::get_key(&state.db, &manager, KeyId(&id)).await?;
    let usage =
        app::keys::usage::store::of_key(&state.db, manager.org_id(), &key.id, period, Utc::now())
            .await?;
    Ok(Json(Usage::of(key.id, usage)))
}
