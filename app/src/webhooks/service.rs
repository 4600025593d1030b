//! Webhook endpoints: adding, listing, testing and deleting them (owners and admins),
//! and disabling a leaving member's. The events and their delivery are `super::outbox`.

use std::collections::HashMap;

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde_json::json;

use super::outbox::{endpoint_events, signing_key, whsec, write_event};
use super::{
    CreatedEndpoint, DELIVERIES_SHOWN, DeliveryStatus, DeliveryView, EndpointView, MAX_ENDPOINTS,
    TEST_EVENT, TEST_EVENT_LIMIT,
};
use crate::audit::{self, Action};
use crate::entities::{webhook_delivery, webhook_endpoint};
use crate::error::AppError;
use crate::orgs::access::{OrgAdmin, names};
use crate::ssr::db_error;
use crate::state::AppState;

/// The start of every webhook server function: logged in (401), a member (404), an owner
/// or admin (403).
pub use crate::orgs::access::admin_of as authorize;

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Writes an audit event for a change to `endpoint` by `actor`. The activity names the
/// endpoint by its host only: its path or query may hold a token, and developers read the
/// activity too.
async fn audit_endpoint(
    db: &impl ConnectionTrait,
    endpoint: &webhook_endpoint::Model,
    actor: &str,
    action: Action,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let host = url::Url::parse(&endpoint.url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let row = audit::Row {
        org_id: endpoint.org_id.clone(),
        actor_id: actor.to_owned(),
        action,
        subject_id: endpoint.id.clone(),
        subject_name: host,
        at,
        detail: None,
    };
    audit::insert(db, vec![row]).await
}

/// Disables, in the caller's transaction, the endpoints `user_id` added to `org_id` that
/// still receive events, because they are leaving it (Z6): no event is written for them
/// from now on, and what is waiting for them is not sent. Returns how many.
pub async fn disable_member_endpoints(
    db: &impl ConnectionTrait,
    org_id: &str,
    user_id: &str,
    actor: &str,
) -> Result<usize, DbErr> {
    let endpoints = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::OrgId.eq(org_id))
        .filter(webhook_endpoint::Column::CreatedBy.eq(user_id))
        .filter(webhook_endpoint::Column::DisabledAt.is_null())
        .all(db)
        .await?;
    if endpoints.is_empty() {
        return Ok(0);
    }
    let now = now();
    let ids: Vec<String> = endpoints.iter().map(|e| e.id.clone()).collect();
    webhook_endpoint::Entity::update_many()
        .col_expr(webhook_endpoint::Column::DisabledAt, Expr::value(now))
        .col_expr(
            webhook_endpoint::Column::DisabledReason,
            Expr::value("Disabled when the member who added it left the organization."),
        )
        .filter(webhook_endpoint::Column::Id.is_in(ids.clone()))
        .exec(db)
        .await?;
    webhook_delivery::Entity::update_many()
        .col_expr(
            webhook_delivery::Column::Status,
            Expr::value(DeliveryStatus::Failed.as_str()),
        )
        .col_expr(
            webhook_delivery::Column::NextAttemptAt,
            Expr::value(None::<DateTime<Utc>>),
        )
        .col_expr(
            webhook_delivery::Column::Error,
            Expr::value("Given up: the endpoint was disabled."),
        )
        .filter(webhook_delivery::Column::EndpointId.is_in(ids))
        .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .exec(db)
        .await?;
    for endpoint in &endpoints {
        audit_endpoint(db, endpoint, actor, Action::WebhookDisabled, now).await?;
    }
    Ok(endpoints.len())
}

/// The endpoints `user_id` added that still receive events, oldest first.
pub async fn member_endpoints(
    db: &DatabaseConnection,
    admin: &OrgAdmin,
    user_id: &str,
) -> Result<Vec<EndpointView>, AppError> {
    let endpoints: Vec<_> = org_endpoints(db, &admin.member().org_id)
        .await
        .map_err(db_error)?
        .into_iter()
        .filter(|e| e.created_by == user_id && e.disabled_at.is_none())
        .collect();
    let people = names(db, [user_id.to_owned()]).await.map_err(db_error)?;
    Ok(endpoints
        .into_iter()
        .map(|e| endpoint_view(e, &people))
        .collect())
}

fn endpoint_view(row: webhook_endpoint::Model, names: &HashMap<String, String>) -> EndpointView {
    EndpointView {
        events: endpoint_events(&row).map(str::to_owned).collect(),
        created_by: names
            .get(&row.created_by)
            .cloned()
            .unwrap_or_else(|| "A former member".into()),
        disabled: row.disabled_reason.clone().or_else(|| {
            row.disabled_at
                .is_some()
                .then(|| "Disabled: it receives no events.".to_owned())
        }),
        id: row.id,
        url: row.url,
        created_at: row.created_at,
    }
}

async fn org_endpoints(
    db: &impl ConnectionTrait,
    org_id: &str,
) -> Result<Vec<webhook_endpoint::Model>, DbErr> {
    webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::OrgId.eq(org_id))
        .order_by_asc(webhook_endpoint::Column::CreatedAt)
        .order_by_asc(webhook_endpoint::Column::Id)
        .all(db)
        .await
}

/// The organization's endpoints, oldest first.
pub async fn list_endpoints(
    db: &DatabaseConnection,
    admin: &OrgAdmin,
) -> Result<Vec<EndpointView>, AppError> {
    let endpoints = org_endpoints(db, &admin.member().org_id)
        .await
        .map_err(db_error)?;
    let people = names(db, endpoints.iter().map(|e| e.created_by.clone()))
        .await
        .map_err(db_error)?;
    Ok(endpoints
        .into_iter()
        .map(|e| endpoint_view(e, &people))
        .collect())
}

/// The organization's latest [`DELIVERIES_SHOWN`] deliveries, newest first.
pub async fn list_deliveries(
    db: &DatabaseConnection,
    admin: &OrgAdmin,
) -> Result<Vec<DeliveryView>, AppError> {
    let org_id = admin.member().org_id.as_str();
    let endpoints = org_endpoints(db, org_id).await.map_err(db_error)?;
    let deliveries = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::OrgId.eq(org_id))
        .order_by_desc(webhook_delivery::Column::CreatedAt)
        .order_by_desc(webhook_delivery::Column::EventId)
        .limit(DELIVERIES_SHOWN)
        .all(db)
        .await
        .map_err(db_error)?;
    let urls: HashMap<&str, &str> = endpoints
        .iter()
        .map(|e| (e.id.as_str(), e.url.as_str()))
        .collect();
    Ok(deliveries
        .into_iter()
        .map(|d| DeliveryView {
            endpoint_url: urls
                .get(d.endpoint_id.as_str())
                .map_or_else(String::new, |u| (*u).to_owned()),
            status: DeliveryStatus::parse(&d.status).unwrap_or(DeliveryStatus::Pending),
            attempts: u32::try_from(d.attempts).unwrap_or(0),
            next_attempt_at: (d.status == DeliveryStatus::Pending.as_str())
                .then_some(d.next_attempt_at)
                .flatten(),
            response_status: d.response_status.and_then(|s| u16::try_from(s).ok()),
            event_id: d.event_id,
            event_type: d.event_type,
            endpoint_id: d.endpoint_id,
            created_at: d.created_at,
            last_attempt_at: d.last_attempt_at,
            response_excerpt: d.response_excerpt,
            error: d.error,
        })
        .collect())
}

/// Adds an endpoint for `events` (already parsed) at `url`, checked against W2; the
/// answer carries its secret, which is never shown again.
pub async fn create_endpoint(
    state: &AppState,
    admin: &OrgAdmin,
    url: &str,
    events: &[String],
) -> Result<CreatedEndpoint, AppError> {
    let url = super::address::check_url(url, &state.webhook_allowed_hosts)
        .map_err(|m| AppError::invalid("url", m))?;
    if events.is_empty() || !events.iter().all(|e| super::is_event_type(e)) {
        return Err(AppError::invalid("events", "Choose at least one event."));
    }
    let org_id = admin.member().org_id.as_str();
    let row = webhook_endpoint::Model {
        id: crate::ssr::random_id("whe"),
        org_id: org_id.to_owned(),
        url,
        events: events.join(","),
        secret_salt: crate::ssr::random_id("salt"),
        created_by: admin.member().user_id.clone(),
        created_at: now(),
        disabled_at: None,
        disabled_reason: None,
    };
    let db = &state.db;
    let txn = crate::ssr::begin_write(db).await.map_err(db_error)?;
    let existing = org_endpoints(&txn, org_id).await.map_err(db_error)?;
    if existing.len() >= MAX_ENDPOINTS {
        return Err(AppError::conflict(
            "url",
            format!(
                "An organization can have at most {MAX_ENDPOINTS} webhook endpoints. Delete one first."
            ),
        ));
    }
    if existing.iter().any(|e| e.url == row.url) {
        return Err(AppError::conflict(
            "url",
            "This URL is already an endpoint. Delete it first to start again with a new secret.",
        ));
    }
    webhook_endpoint::Entity::insert(webhook_endpoint::ActiveModel::from(row.clone()))
        .exec_without_returning(&txn)
        .await
        .map_err(db_error)?;
    audit_endpoint(
        &txn,
        &row,
        &row.created_by,
        Action::WebhookCreated,
        row.created_at,
    )
    .await
    .map_err(db_error)?;
    let people = names(&txn, [row.created_by.clone()])
        .await
        .map_err(db_error)?;
    txn.commit().await.map_err(db_error)?;
    let secret = whsec(&signing_key(&state.secret, &row));
    Ok(CreatedEndpoint {
        endpoint: endpoint_view(row, &people),
        secret,
    })
}

async fn find_endpoint(
    db: &impl ConnectionTrait,
    admin: &OrgAdmin,
    endpoint_id: &str,
) -> Result<webhook_endpoint::Model, AppError> {
    webhook_endpoint::Entity::find_by_id(endpoint_id.to_owned())
        .filter(webhook_endpoint::Column::OrgId.eq(&admin.member().org_id))
        .one(db)
        .await
        .map_err(db_error)?
        .ok_or(AppError::NotFound)
}

/// Deletes an endpoint and its deliveries, sent or not: nothing more goes to it.
pub async fn delete_endpoint(
    db: &DatabaseConnection,
    admin: &OrgAdmin,
    endpoint_id: &str,
) -> Result<(), AppError> {
    let txn = crate::ssr::begin_write(db).await.map_err(db_error)?;
    // A write first: on SQLite a transaction that reads and then writes cannot wait for
    // the webhook sender's write in between (its snapshot is stale, SQLITE_BUSY), while
    // one that starts by writing waits its turn. Only this organization's rows go.
    webhook_delivery::Entity::delete_many()
        .filter(webhook_delivery::Column::EndpointId.eq(endpoint_id))
        .filter(webhook_delivery::Column::OrgId.eq(&admin.member().org_id))
        .exec(&txn)
        .await
        .map_err(db_error)?;
    let endpoint = find_endpoint(&txn, admin, endpoint_id).await?;
    audit_endpoint(
        &txn,
        &endpoint,
        &admin.member().user_id,
        Action::WebhookDeleted,
        now(),
    )
    .await
    .map_err(db_error)?;
    webhook_endpoint::Entity::delete_by_id(endpoint.id)
        .exec(&txn)
        .await
        .map_err(db_error)?;
    txn.commit().await.map_err(db_error)
}

/// Queues a [`TEST_EVENT`] for one endpoint; returns its event id. At most
/// [`TEST_EVENT_LIMIT`] per endpoint per [`TEST_EVENT_WINDOW`] (W4).
pub async fn send_test(
    state: &AppState,
    admin: &OrgAdmin,
    endpoint_id: &str,
) -> Result<String, AppError> {
    let txn = crate::ssr::begin_write(&state.db).await.map_err(db_error)?;
    let endpoint = find_endpoint(&txn, admin, endpoint_id).await?;
    if let Some(reason) = &endpoint.disabled_reason {
        return Err(AppError::conflict(
            "endpoint_id",
            format!("{reason} Delete it and add it again to send to it."),
        ));
    }
    {
        let mut sent = state
            .webhook_tests
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        if let Some((count, left)) = sent.get(&endpoint.id, now)
            && count >= TEST_EVENT_LIMIT
        {
            return Err(AppError::RateLimited {
                retry_after: left.as_secs().max(1),
            });
        }
        sent.add(endpoint.id.clone(), 1, now, |_, count| {
            count >= TEST_EVENT_LIMIT
        });
    }
    let data = json!({
        "organization_id": endpoint.org_id,
        "endpoint_id": endpoint.id,
        "sent_by": admin.member().user_id,
        "message": "A test event from Keygate. Check its signature with your endpoint's secret.",
    });
    let org_id = endpoint.org_id.clone();
    audit_endpoint(
        &txn,
        &endpoint,
        &admin.member().user_id,
        Action::WebhookTested,
        now(),
    )
    .await
    .map_err(db_error)?;
    let id = write_event(&txn, &org_id, TEST_EVENT, data, None, &[endpoint])
        .await
        .map_err(db_error)?
        .ok_or(AppError::Internal)?;
    txn.commit().await.map_err(db_error)?;
    Ok(id)
}
