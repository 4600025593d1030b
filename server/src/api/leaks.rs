//! `POST /api/v1/keys/leaked`: anyone who finds Keygate keys where they should not be (a
//! public repository, a paste, a log) reports them, with no credential, and every live one
//! stops at once. The answer never says whether a key matched.

use app::keys::leaks::{self, MAX_REPORTED};
use app::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::ApiJson;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeakReport {
    /// 1 to 100 raw keys (`kg_...`) as found.
    #[schema(example = json!(["kg_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG123456"]))]
    pub keys: Vec<String>,
    /// Where they were found: an `http(s)` URL, recorded in the organization's activity.
    #[schema(example = "https://github.com/acme/app/blob/main/.env")]
    pub source: Option<String>,
}

/// The same answer whether or not any reported key was a live key.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeakReceipt {
    /// How many keys the report carried.
    pub received: usize,
}

/// Reports leaked keys: each that is live is revoked on every instance within a second (a
/// reported old secret still in a roll's overlap is stopped, and the key's new secret keeps
/// working), with an audit event and `key.leaked` and `key.revoked` webhook events. No
/// credential needed; reports count against the per-address failed-verification limit.
#[utoipa::path(
    post, path = "/api/v1/keys/leaked", tag = "keys", request_body = LeakReport,
    security(()),
    responses(
        (status = 202, description = "Received; every live key among them is revoked", body = LeakReceipt),
        (status = 400, description = "No keys, more than 100, or a source that is not an http(s) URL", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
        (status = 429, description = "Too many reports or failed verifications from this address", body = ErrorBody),
    )
)]
pub async fn report_leaked(
    State(state): State<AppState>,
    parts: http::request::Parts,
    ApiJson(report): ApiJson<LeakReport>,
) -> Result<(StatusCode, Json<LeakReceipt>), ApiError> {
    let ip = super::auth::client_ip(&parts);
    state
        .verifier
        .count_report(ip, leaks::lookups(&state.verifier, &report.keys))
        .await
        .map_err(ApiError::RateLimited)?;
    if report.keys.is_empty() || report.keys.len() > MAX_REPORTED {
        return Err(ApiError::Invalid {
            field: "keys".into(),
            message: format!("Report 1 to {MAX_REPORTED} keys at a time."),
        });
    }
    let source =
        leaks::check_source(report.source.as_deref()).map_err(|message| ApiError::Invalid {
            field: "source".into(),
            message,
        })?;
    let outcome = leaks::revoke_leaked(
        &state.db,
        &state.secret,
        &state.verifier,
        &report.keys,
        source.as_deref(),
    )
    .await?;
    if !outcome.revoked.is_empty() || !outcome.overlaps_ended.is_empty() {
        tracing::warn!(
            revoked = outcome.revoked.len(),
            old_secrets_stopped = outcome.overlaps_ended.len(),
            "keys reported leaked were stopped"
        );
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(LeakReceipt {
            received: report.keys.len(),
        }),
    ))
}
