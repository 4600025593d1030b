//! `POST /api/v1/keys/import`: keys exported from Better Auth or Unkey (their unsalted
//! SHA-256 digests), imported so the keys their holders already use keep working. The
//! same entries, checks and outcome as `keygate key import`, for what fits in one request
//! body; the CLI takes files of any size.

use app::keys::imports::{self, ImportError};
use app::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Principal;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery};
use super::rest::{OrgQuery, manager};
use app::ids::OrgId;
use app::keys::scopes::Scope;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// The keys, each as one line of the `keygate key import` file (docs/migrating.md);
    /// as many as fit in the 64 KB body limit (about 300).
    #[schema(value_type = Vec<ImportEntry>)]
    pub keys: Vec<serde_json::Value>,
}

/// One key as the other product stored it.
#[derive(ToSchema)]
#[allow(dead_code)] // the schema of an entry; entries are checked by `imports::parse_entries`
pub struct ImportEntry {
    /// Its name in Keygate.
    #[schema(example = "Acme production")]
    name: String,
    /// The stored SHA-256 of the key.
    #[schema(example = "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0")]
    sha256: String,
    /// `base64url` (Better Auth), `base64` (Unkey) or `hex`.
    #[schema(example = "base64url")]
    encoding: String,
    /// The key's first characters, shown as its hint (at most 16).
    #[schema(example = "ba_x7Kq")]
    start: Option<String>,
    created_at: Option<DateTime<Utc>>,
    /// A key already expired is skipped.
    expires_at: Option<DateTime<Utc>>,
    /// Keygate scopes; default `["gateway"]`.
    scopes: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportedKey {
    /// Where it was in the request, e.g. `keys[0]`.
    pub at: String,
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportOutcome {
    /// The keys imported, in request order.
    pub imported: Vec<ImportedKey>,
    /// Entries skipped because they had already expired: `keys[3]`, ...
    pub skipped_expired: Vec<String>,
}

/// Imports keys exported from Better Auth or Unkey. Needs `keys:write`; the keys act with
/// no more than the caller's rights and cannot outlive a calling key. Every entry is
/// checked first: if any is wrong (or was imported before), nothing is imported and every
/// problem is listed. Imported keys work as they are, at once, on every instance.
#[utoipa::path(
    post, path = "/api/v1/keys/import", tag = "keys", params(OrgQuery), request_body = ImportRequest,
    security(("api_key" = ["keys:write"]), ("bearer" = ["keys:write"]), ("session" = [])),
    responses(
        (status = 201, body = ImportOutcome),
        (status = 400, description = "A wrong entry (each problem listed by position), none at all, or unknown fields", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Missing keys:write, or scopes broader than the caller's", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
    )
)]
pub async fn import_keys(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<OrgQuery>,
    ApiJson(request): ApiJson<ImportRequest>,
) -> Result<(StatusCode, Json<ImportOutcome>), ApiError> {
    let manager = manager(
        &state,
        &principal,
        query.org_id.as_deref(),
        Scope::KeysWrite,
    )
    .await?;
    let entries: Vec<(String, String)> = request
        .keys
        .iter()
        .enumerate()
        .map(|(i, entry)| (format!("keys[{i}]"), entry.to_string()))
        .collect();
    let invalid = |problems: Vec<String>| ApiError::Invalid {
        field: "keys".into(),
        message: ImportError::Invalid(problems).to_string(),
    };
    let refused = |e: ImportError| match e {
        ImportError::Invalid(problems) => invalid(problems),
        ImportError::Forbidden => ApiError::Forbidden(ImportError::Forbidden.to_string()),
        ImportError::Db(e) => e.into(),
    };
    let policy = app::keys::service::org_policy(&state.db, OrgId(manager.org_id())).await?;
    let plan = imports::parse_entries(
        entries
            .iter()
            .map(|(at, entry)| (at.clone(), entry.as_str())),
        "keys is empty: give at least one key",
        &manager,
        policy,
        Utc::now(),
    )
    .map_err(refused)?;
    let ids = imports::import(&state.db, &manager, &plan)
        .await
        .map_err(refused)?;
    // The others learn of it through the announcement; this instance at once.
    if let Err(e) = state.verifier.imports().reload(&state.db).await {
        tracing::warn!("re-reading the imported keys failed: {e}");
        state.verifier.imports().mark_stale();
    }
    Ok((
        StatusCode::CREATED,
        Json(ImportOutcome {
            imported: plan
                .keys
                .into_iter()
                .zip(ids)
                .map(|(key, id)| ImportedKey {
                    at: key.at,
                    id,
                    name: key.name,
                })
                .collect(),
            skipped_expired: plan.expired.into_iter().map(|(at, _)| at).collect(),
        }),
    ))
}
