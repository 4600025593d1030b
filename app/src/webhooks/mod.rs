//! Organization webhooks: the endpoints owners and admins register, the events Keygate
//! sends them (Standard Webhooks, signed with a per-endpoint `whsec_` secret shown once),
//! and the server functions behind the Webhooks settings page. Events are written to an
//! outbox in the transaction of the change ([`outbox::emit`]) and sent by the server's
//! background sender.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[cfg(feature = "ssr")]
pub mod address;
#[cfg(feature = "ssr")]
pub mod outbox;
#[cfg(feature = "ssr")]
pub mod service;
pub mod ui;

/// The events an endpoint can subscribe to, with the sentence the settings page shows.
pub const EVENT_TYPES: [(&str, &str); 9] = [
    ("key.created", "A key is created"),
    ("key.rolled", "A key is rolled"),
    (
        "key.revoked",
        "A key is revoked: by a person, for being idle, or with its creator's removal",
    ),
    ("key.paused", "A key is paused"),
    (
        "key.permissions_changed",
        "A key is given other permissions or roles of the API",
    ),
    (
        "key.leaked",
        "A key (or a rolled-away secret) is reported leaked and stopped",
    ),
    (
        "key.expiring",
        "A key expires in 7 days, and again 1 day before",
    ),
    ("key.expired", "A key has expired"),
    ("member.removed", "A member is removed or leaves"),
];

/// The type of the event "Send test event" sends (to that endpoint only).
pub const TEST_EVENT: &str = "webhook.test";
/// Test events allowed per endpoint per [`TEST_EVENT_WINDOW`].
pub const TEST_EVENT_LIMIT: u32 = 5;
pub const TEST_EVENT_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);
/// Endpoints whose test events are counted at once, in this instance's memory.
pub const TEST_EVENT_ENDPOINTS: usize = 10_000;
/// Endpoints an organization may have.
pub const MAX_ENDPOINTS: usize = 10;
/// Deliveries the settings page lists, newest first.
pub const DELIVERIES_SHOWN: u64 = 25;

/// Whether `event` is one an endpoint can subscribe to.
pub fn is_event_type(event: &str) -> bool {
    EVENT_TYPES.iter().any(|(name, _)| *name == event)
}

/// Parses the event types a form or request chose: known names, each once, in the order
/// of [`EVENT_TYPES`]. Refuses an unknown name and an empty choice.
pub fn parse_events<'a>(chosen: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>, String> {
    let mut picked = Vec::new();
    for event in chosen {
        let event = event.trim();
        if event.is_empty() {
            continue;
        }
        if !is_event_type(event) {
            return Err(format!(
                "Unknown event \"{}\". Choose from: {}.",
                event.chars().take(64).collect::<String>(),
                EVENT_TYPES.map(|(name, _)| name).join(", ")
            ));
        }
        picked.push(event);
    }
    if picked.is_empty() {
        return Err("Choose at least one event.".into());
    }
    Ok(EVENT_TYPES
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| picked.contains(name))
        .map(str::to_owned)
        .collect())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointView {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// The name (or email) of whoever added it.
    pub created_by: String,
    /// Why it receives nothing any more (its creator left the organization), if so.
    #[serde(default)]
    pub disabled: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Not delivered yet: waiting for its first attempt or a retry.
    Pending,
    Delivered,
    /// Gave up after 24 hours of retries.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == value)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryView {
    /// The event's id: the `webhook-id` header of every attempt.
    pub event_id: String,
    pub event_type: String,
    pub endpoint_id: String,
    pub endpoint_url: String,
    pub status: DeliveryStatus,
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

impl DeliveryView {
    /// A retry is scheduled: pending after at least one attempt.
    pub fn retrying(&self) -> bool {
        self.status == DeliveryStatus::Pending && self.attempts > 0
    }
}

/// A new endpoint and its signing secret, which leaves the server only in this answer.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedEndpoint {
    pub endpoint: EndpointView,
    /// `whsec_...`.
    pub secret: String,
}

impl std::fmt::Debug for CreatedEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedEndpoint")
            .field("endpoint", &self.endpoint)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// The organization's endpoints, oldest first (owners and admins).
#[server(prefix = "/rpc", endpoint = "list_webhooks")]
pub async fn list_webhooks(org_id: String) -> Result<Vec<EndpointView>, AppError> {
    let (state, admin) = service::authorize(&org_id).await?;
    service::list_endpoints(&state.db, &admin).await
}

/// The organization's latest deliveries, newest first (owners and admins).
#[server(prefix = "/rpc", endpoint = "list_webhook_deliveries")]
pub async fn list_webhook_deliveries(org_id: String) -> Result<Vec<DeliveryView>, AppError> {
    let (state, admin) = service::authorize(&org_id).await?;
    service::list_deliveries(&state.db, &admin).await
}

/// Adds an endpoint.
#[server(prefix = "/rpc", endpoint = "create_webhook")]
pub async fn create_webhook(
    org_id: String,
    url: String,
    /// Event types, in one field (comma-separated) or one checkbox each.
    events: crate::choices::Choices,
) -> Result<CreatedEndpoint, AppError> {
    let (state, admin) = service::authorize(&org_id).await?;
    let events = parse_events(events.names()).map_err(|m| AppError::invalid("events", m))?;
    let created = service::create_endpoint(&state, &admin, &url, &events).await?;
    // Posted without script: the webhooks page, showing the secret once.
    crate::flash::show_in_answer(created.clone());
    leptos_axum::redirect(&ui::page_path(&org_id));
    Ok(created)
}

#[server(prefix = "/rpc", endpoint = "delete_webhook")]
pub async fn delete_webhook(org_id: String, endpoint_id: String) -> Result<(), AppError> {
    let (state, admin) = service::authorize(&org_id).await?;
    service::delete_endpoint(&state.db, &admin, &endpoint_id).await
}

/// Queues a `webhook.test` event for one endpoint; returns the event's id.
/// The endpoints a member added that still receive events: what removing them disables.
#[server(prefix = "/rpc", endpoint = "list_member_webhooks")]
pub async fn list_member_webhooks(
    org_id: String,
    user_id: String,
) -> Result<Vec<EndpointView>, AppError> {
    let (state, admin) = service::authorize(&org_id).await?;
    service::member_endpoints(&state.db, &admin, &user_id).await
}

#[server(prefix = "/rpc", endpoint = "send_test_webhook")]
pub async fn send_test_webhook(org_id: String, endpoint_id: String) -> Result<String, AppError> {
    let (state, admin) = service::authorize(&org_id).await?;
    service::send_test(&state, &admin, &endpoint_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_parsed_in_a_fixed_order_once() {
        assert_eq!(
            parse_events(["member.removed", " key.created", "key.created", ""]),
            Ok(vec!["key.created".to_owned(), "member.removed".to_owned()])
        );
        assert_eq!(
            parse_events(["", " "]),
            Err("Choose at least one event.".to_owned())
        );
        assert!(
            parse_events(["key.created", "key.deleted"])
                .unwrap_err()
                .contains("key.deleted")
        );
    }
}
