//! `/api/v1/webhooks`: the organization's webhook endpoints and deliveries, for owners and
//! admins with a browser session (a key cannot choose where its organization's events go).

use app::orgs::access::OrgAdmin;
use app::state::AppState;
use app::webhooks::service as hooks;
use app::webhooks::{CreatedEndpoint, DeliveryView, EndpointView, parse_events};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Principal;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery};
use super::rest::OrgQuery;

/// A webhook endpoint: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct Endpoint {
    #[schema(example = "whe_3kTMd0PqZc8xY1vB2nR4sQ")]
    pub id: String,
    #[schema(example = "https://example.com/keygate-events")]
    pub url: String,
    /// The event types it receives.
    #[schema(example = json!(["key.created", "key.revoked"]))]
    pub events: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// Display name of whoever added it.
    pub created_by: String,
}

impl From<EndpointView> for Endpoint {
    fn from(v: EndpointView) -> Self {
        Endpoint {
            id: v.id,
            url: v.url,
            events: v.events,
            created_at: v.created_at,
            created_by: v.created_by,
        }
    }
}

/// A new endpoint with its signing secret, which is never shown again.
#[derive(Serialize, ToSchema)]
pub struct NewEndpoint {
    pub endpoint: Endpoint,
    /// `whsec_` and the base64 HMAC key: verify `webhook-signature` with it.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

impl From<CreatedEndpoint> for NewEndpoint {
    fn from(c: CreatedEndpoint) -> Self {
        NewEndpoint {
            endpoint: c.endpoint.into(),
            secret: c.secret,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpointRequest {
    /// An `http://` or `https://` URL; not a private or loopback address.
    #[schema(example = "https://example.com/keygate-events")]
    pub url: String,
    /// Event types: `key.created`, `key.rolled`, `key.revoked`, `key.paused`,
    /// `key.expiring`, `key.expired`, `member.removed`. Default: all of them.
    #[schema(example = json!(["key.created", "key.revoked"]))]
    pub events: Option<Vec<String>>,
}

/// One event sent (or being sent) to one endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct Delivery {
    /// The `webhook-id` of every attempt.
    #[schema(example = "msg_p5jXN8AQM9LWM0D4loKWxJek")]
    pub event_id: String,
    #[schema(example = "key.created")]
    pub event_type: String,
    pub endpoint_id: String,
    pub endpoint_url: String,
    /// `pending` (not delivered yet, retried), `delivered` or `failed` (gave up after 24 hours).
    #[schema(example = "delivered")]
    pub status: String,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When a pending delivery is tried next.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status of the last answer.
    pub response_status: Option<u16>,
    /// At most 1 KB of the last answer's body.
    pub response_excerpt: Option<String>,
    /// Why the last attempt got no answer.
    pub error: Option<String>,
}

impl From<DeliveryView> for Delivery {
    fn from(d: DeliveryView) -> Self {
        Delivery {
            status: d.status.as_str().to_owned(),
            event_id: d.event_id,
            event_type: d.event_type,
            endpoint_id: d.endpoint_id,
            endpoint_url: d.endpoint_url,
            attempts: d.attempts,
            created_at: d.created_at,
            last_attempt_at: d.last_attempt_at,
            next_attempt_at: d.next_attempt_at,
            response_status: d.response_status,
            response_excerpt: d.response_excerpt,
            error: d.error,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestEvent {
    /// The queued event's id: its delivery shows in `/api/v1/webhooks/deliveries`.
    #[schema(example = "msg_p5jXN8AQM9LWM0D4loKWxJek")]
    pub event_id: String,
}

/// An owner or admin of `org_id`, calling with a browser session.
async fn admin(
    state: &AppState,
    principal: &Principal,
    query: OrgQuery,
) -> Result<OrgAdmin, ApiError> {
    principal
        .session_admin(
            state,
            query.org_id.as_deref(),
            "A key cannot manage its organization's webhooks: use a browser session.",
        )
        .await
}

/// The organization's webhook endpoints, oldest first. Owners and admins, session only.
#[utoipa::path(
    get, path = "/api/v1/webhooks", tag = "webhooks", params(OrgQuery),
    security(("session" = [])),
    responses(
        (status = 200, body = Vec<Endpoint>),
        (status = 400, description = "No org_id", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "A key, or a role other than owner or admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn list_endpoints(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<OrgQuery>,
) -> Result<Json<Vec<Endpoint>>, ApiError> {
    let admin = admin(&state, &principal, query).await?;
    let endpoints = hooks::list_endpoints(&state.db, &admin).await?;
    Ok(Json(endpoints.into_iter().map(Endpoint::from).collect()))
}

/// Adds an endpoint; the answer carries its `whsec_` secret, once (`Cache-Control: no-store`).
#[utoipa::path(
    post, path = "/api/v1/webhooks", tag = "webhooks", params(OrgQuery),
    request_body = CreateEndpointRequest,
    security(("session" = [])),
    responses(
        (status = 201, body = NewEndpoint, headers(("cache-control" = String, description = "no-store"))),
        (status = 400, description = "A refused URL, an unknown event, or unknown fields", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "A key, or a role other than owner or admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The URL is already an endpoint, or the organization has 10", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
    )
)]
pub async fn create_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<OrgQuery>,
    ApiJson(request): ApiJson<CreateEndpointRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let admin = admin(&state, &principal, query).await?;
    let events = match &request.events {
        None => app::webhooks::EVENT_TYPES
            .iter()
            .map(|(name, _)| (*name).to_owned())
            .collect(),
        Some(names) => {
            parse_events(names.iter().map(String::as_str)).map_err(|message| ApiError::Invalid {
                field: "events".into(),
                message,
            })?
        }
    };
    let created = hooks::create_endpoint(&state, &admin, &request.url, &events).await?;
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(NewEndpoint::from(created)),
    ))
}

/// Deletes an endpoint; its undelivered events are dropped.
#[utoipa::path(
    delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path), OrgQuery),
    security(("session" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn delete_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<OrgQuery>,
) -> Result<StatusCode, ApiError> {
    let admin = admin(&state, &principal, query).await?;
    hooks::delete_endpoint(&state.db, &admin, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Queues a `webhook.test` event for one endpoint.
#[utoipa::path(
    post, path = "/api/v1/webhooks/{id}/test", tag = "webhooks", params(("id" = String, Path), OrgQuery),
    security(("session" = [])),
    responses(
        (status = 202, body = TestEvent),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn test_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<OrgQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let admin = admin(&state, &principal, query).await?;
    let event_id = hooks::send_test(&state, &admin, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(TestEvent { event_id })))
}

/// The organization's latest 25 deliveries, newest first.
#[utoipa::path(
    get, path = "/api/v1/webhooks/deliveries", tag = "webhooks", params(OrgQuery),
    security(("session" = [])),
    responses(
        (status = 200, body = Vec<Delivery>),
        (status = 400, description = "No org_id", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn list_deliveries(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<OrgQuery>,
) -> Result<Json<Vec<Delivery>>, ApiError> {
    let admin = admin(&state, &principal, query).await?;
    let deliveries = hooks::list_deliveries(&state.db, &admin).await?;
    Ok(Json(deliveries.into_iter().map(Delivery::from).collect()))
}
