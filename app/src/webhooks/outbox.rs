//! The webhook outbox: events written in the transaction of the change they report,
//! with one delivery row per endpoint subscribed at that moment (a change that rolls back
//! sends nothing, a committed one is never lost, W3), and the database side of delivery:
//! the server's sender claims due deliveries ([`claim_next`]), sends them and records the
//! outcome ([`finish`]); a claim lapses if its sender dies, and the retry carries the same
//! event id. An endpoint's `whsec_` secret is derived from the server secret and a stored
//! salt, so the database alone does not hold it. Endpoints themselves are managed in
//! `super::service`.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use hmac::Mac;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::{Value, json};

use super::DeliveryStatus;
use crate::entities::{api_key, webhook_delivery, webhook_endpoint, webhook_event};
use crate::ssr::Secret;

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// The HMAC key an endpoint's deliveries are signed with: derived from the server secret,
/// the endpoint's id and its random salt (so neither the database nor the server secret
/// alone gives it away).
pub fn signing_key(secret: &Secret, endpoint: &webhook_endpoint::Model) -> [u8; 32] {
    let mut mac = secret.mac();
    mac.update(b"keygate webhook secret\0");
    mac.update(endpoint.id.as_bytes());
    mac.update(b"\0");
    mac.update(endpoint.secret_salt.as_bytes());
    mac.finalize().into_bytes().into()
}

/// The secret as Standard Webhooks spells it: `whsec_` and the key in base64.
pub fn whsec(key: &[u8; 32]) -> String {
    format!("whsec_{}", STANDARD.encode(key))
}

pub(super) fn endpoint_events(endpoint: &webhook_endpoint::Model) -> impl Iterator<Item = &str> {
    endpoint.events.split(',').filter(|e| !e.is_empty())
}

pub(super) fn subscribed(endpoint: &webhook_endpoint::Model, kind: &str) -> bool {
    endpoint.disabled_at.is_none() && endpoint_events(endpoint).any(|e| e == kind)
}

/// Writes an event of type `kind` for `org_id` to the outbox, with a delivery for every
/// endpoint of the organization subscribed to it; call it in the transaction of the
/// change. Nothing is written when no endpoint wants the event, or when `dedupe` names an
/// event already written. Returns the event's id when one was written.
pub async fn emit(
    db: &impl ConnectionTrait,
    org_id: &str,
    kind: &str,
    data: Value,
    dedupe: Option<String>,
) -> Result<Option<String>, DbErr> {
    let endpoints = subscribed_endpoints(db, org_id, kind).await?;
    write_event(db, org_id, kind, data, dedupe, &endpoints).await
}

/// The organization's endpoints that receive events of type `kind` now.
async fn subscribed_endpoints(
    db: &impl ConnectionTrait,
    org_id: &str,
    kind: &str,
) -> Result<Vec<webhook_endpoint::Model>, DbErr> {
    Ok(webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::OrgId.eq(org_id))
        .all(db)
        .await?
        .into_iter()
        .filter(|e| subscribed(e, kind))
        .collect())
}

/// [`emit`] for many events of one kind at once (an import's `key.created` per key):
/// the organization's endpoints are read once.
pub async fn emit_each(
    db: &impl ConnectionTrait,
    org_id: &str,
    kind: &str,
    data: Vec<Value>,
) -> Result<(), DbErr> {
    let endpoints = subscribed_endpoints(db, org_id, kind).await?;
    if endpoints.is_empty() {
        return Ok(());
    }
    for data in data {
        write_event(db, org_id, kind, data, None, &endpoints).await?;
    }
    Ok(())
}

pub(super) async fn write_event(
    db: &impl ConnectionTrait,
    org_id: &str,
    kind: &str,
    data: Value,
    dedupe: Option<String>,
    endpoints: &[webhook_endpoint::Model],
) -> Result<Option<String>, DbErr> {
    if endpoints.is_empty() {
        return Ok(None);
    }
    let now = now();
    let id = crate::ssr::random_id("msg");
    let payload = json!({
        "type": kind,
        "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "data": data,
    });
    let written = webhook_event::Entity::insert(webhook_event::ActiveModel {
        id: Set(id.clone()),
        org_id: Set(org_id.to_owned()),
        event_type: Set(kind.to_owned()),
        payload: Set(payload.to_string()),
        created_at: Set(now),
        dedupe: Set(dedupe),
    })
    .on_conflict(
        OnConflict::column(webhook_event::Column::Dedupe)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    if written == 0 {
        return Ok(None);
    }
    webhook_delivery::Entity::insert_many(endpoints.iter().map(|endpoint| {
        webhook_delivery::ActiveModel {
            event_id: Set(id.clone()),
            endpoint_id: Set(endpoint.id.clone()),
            org_id: Set(org_id.to_owned()),
            event_type: Set(kind.to_owned()),
            status: Set(DeliveryStatus::Pending.as_str().to_owned()),
            attempts: Set(0),
            next_attempt_at: Set(Some(now)),
            last_attempt_at: Set(None),
            response_status: Set(None),
            response_excerpt: Set(None),
            error: Set(None),
            created_at: Set(now),
        }
    }))
    .exec_without_returning(db)
    .await?;
    Ok(Some(id))
}

/// What an event says about a key: never its secret or digest (W1).
pub fn key_data(key: &api_key::Model) -> Value {
    let now = Utc::now();
    let mut data = json!({
        "id": key.id,
        "organization_id": key.org_id,
        "name": key.name,
        "hint": key.start,
        "created_by": key.created_by,
        "created_at": key.created_at,
        "expires_at": key.expires_at,
    });
    // Which customer or service the key is for, so a receiver can act on it.
    let tags = crate::keys::context::load_tags(key.tags.as_deref());
    if !tags.is_empty() {
        data["tags"] = json!(tags);
    }
    if let Some(owner) = &key.owner_id {
        data["owner_id"] = json!(owner);
    }
    // What the key may do in the API behind the gateway.
    for (field, stored) in [("permissions", &key.permissions), ("roles", &key.roles)] {
        if let Some(stored) = stored {
            data[field] = json!(stored.split_whitespace().collect::<Vec<_>>());
        }
    }
    if crate::keys::is_paused(key.paused_at, key.paused_until, now) {
        data["paused_until"] = json!(key.paused_until);
    }
    if let (Some(hint), Some(until)) = (&key.previous_start, key.previous_until)
        && until > now
    {
        data["previous_hint"] = json!(hint);
        data["previous_secret_stops_at"] = json!(until);
    }
    data
}

/// When a failed delivery is tried again, and when the sender gives up.
#[derive(Debug, Clone)]
pub struct Retry {
    /// The wait after the first, second, ... failed attempt; the last repeats.
    pub delays: Vec<Duration>,
    /// No attempt is scheduled later than this after the event.
    pub give_up_after: Duration,
    /// How long a sender's claim on a delivery lasts: if it dies mid-attempt, the delivery
    /// is due again after this, with the same event id.
    pub claim: Duration,
}

impl Default for Retry {
    /// 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, then every 8 h, for 24 hours.
    fn default() -> Self {
        Retry {
            delays: [5, 30, 120, 600, 1_800, 3_600, 7_200, 14_400, 28_800]
                .into_iter()
                .map(Duration::seconds)
                .collect(),
            give_up_after: Duration::hours(24),
            claim: Duration::seconds(30),
        }
    }
}

impl Retry {
    /// After `attempts` failed attempts at `now` of an event from `created_at`: when to
    /// try again, or `None` to give up.
    pub fn next(
        &self,
        created_at: DateTime<Utc>,
        attempts: u32,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let index = usize::try_from(attempts.max(1) - 1).unwrap_or(usize::MAX);
        let delay = self
            .delays
            .get(index)
            .or(self.delays.last())
            .copied()
            .unwrap_or(Duration::zero());
        let at = now + delay;
        (at <= created_at + self.give_up_after).then_some(at)
    }
}

/// A delivery this sender has claimed: everything needed to send it.
#[derive(Clone)]
pub struct Due {
    pub event_id: String,
    pub endpoint_id: String,
    pub org_id: String,
    pub url: String,
    /// The JSON body, identical on every attempt.
    pub payload: String,
    /// The HMAC key, see [`signing_key`].
    pub key: [u8; 32],
    /// The key under the previous server secret while it is being rotated out
    /// (`KEYGATE_PREVIOUS_SECRET`): deliveries carry both signatures, so a receiver that
    /// holds the endpoint's secret from before the rotation still accepts them (W5).
    pub previous_key: Option<[u8; 32]>,
    /// Attempts so far, this one included.
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for Due {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Due")
            .field("event_id", &self.event_id)
            .field("endpoint_id", &self.endpoint_id)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// The endpoints with a delivery due at `now`, each once, as `(endpoint id, org id)`,
/// the one waiting longest first. One row per endpoint, however many deliveries it has
/// waiting, so a flood of events to one endpoint cannot hide another's (W4).
pub async fn due_endpoints(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<Vec<(String, String)>, DbErr> {
    webhook_delivery::Entity::find()
        .select_only()
        .column(webhook_delivery::Column::EndpointId)
        .column(webhook_delivery::Column::OrgId)
        .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .filter(webhook_delivery::Column::NextAttemptAt.lte(now))
        .group_by(webhook_delivery::Column::EndpointId)
        .group_by(webhook_delivery::Column::OrgId)
        .order_by(
            Expr::col(webhook_delivery::Column::NextAttemptAt).min(),
            sea_orm::Order::Asc,
        )
        .into_tuple()
        .all(db)
        .await
}

/// Claims the oldest delivery due at `now` for one endpoint: taken by a conditional
/// update on its attempt count, so two senders never both claim one, and due again after
/// `retry.claim` unless [`finish`] records an outcome first. `None` when there is none
/// (another sender took it, or the endpoint went). Signed with `secret`, and during a
/// rotation with `previous` too (W5).
pub async fn claim_next(
    db: &DatabaseConnection,
    secret: &Secret,
    previous: Option<&Secret>,
    retry: &Retry,
    endpoint_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Due>, DbErr> {
    let Some(delivery) = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::EndpointId.eq(endpoint_id))
        .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .filter(webhook_delivery::Column::NextAttemptAt.lte(now))
        .order_by_asc(webhook_delivery::Column::NextAttemptAt)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let res = webhook_delivery::Entity::update_many()
        .col_expr(
            webhook_delivery::Column::NextAttemptAt,
            Expr::value(now + retry.claim),
        )
        .col_expr(
            webhook_delivery::Column::Attempts,
            Expr::value(delivery.attempts + 1),
        )
        .filter(webhook_delivery::Column::EventId.eq(&delivery.event_id))
        .filter(webhook_delivery::Column::EndpointId.eq(&delivery.endpoint_id))
        .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .filter(webhook_delivery::Column::Attempts.eq(delivery.attempts))
        .exec(db)
        .await?;
    if res.rows_affected != 1 {
        return Ok(None);
    }
    let event = webhook_event::Entity::find_by_id(delivery.event_id.clone())
        .one(db)
        .await?;
    let endpoint = webhook_endpoint::Entity::find_by_id(delivery.endpoint_id.clone())
        .one(db)
        .await?;
    let (Some(event), Some(endpoint)) = (event, endpoint) else {
        // Deleted meanwhile: the cascade (or the endpoint's deletion) removes the row.
        return Ok(None);
    };
    Ok(Some(Due {
        key: signing_key(secret, &endpoint),
        previous_key: previous.map(|previous| signing_key(previous, &endpoint)),
        event_id: delivery.event_id,
        endpoint_id: delivery.endpoint_id,
        org_id: delivery.org_id,
        url: endpoint.url,
        payload: event.payload,
        attempts: delivery.attempts + 1,
        created_at: delivery.created_at,
    }))
}

/// How one attempt went, as the sender saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: Option<u16>,
    pub excerpt: String,
    pub error: Option<String>,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        matches!(self.status, Some(200..=299))
    }
}

/// Records an attempt of a claimed delivery: delivered on a 2xx answer, else retried per
/// `retry` or failed for good. Ignored if another sender has claimed it since (its claim
/// had lapsed). Returns the new status.
pub async fn finish(
    db: &DatabaseConnection,
    due: &Due,
    outcome: &Outcome,
    retry: &Retry,
    now: DateTime<Utc>,
) -> Result<DeliveryStatus, DbErr> {
    let (status, next) = if outcome.succeeded() {
        (DeliveryStatus::Delivered, None)
    } else {
        let attempts = u32::try_from(due.attempts).unwrap_or(u32::MAX);
        match retry.next(due.created_at, attempts, now) {
            Some(at) => (DeliveryStatus::Pending, Some(at)),
            None => (DeliveryStatus::Failed, None),
        }
    };
    let excerpt = (!outcome.excerpt.is_empty()).then(|| outcome.excerpt.clone());
    let error = outcome
        .error
        .as_ref()
        .map(|e| e.chars().take(200).collect::<String>());
    webhook_delivery::Entity::update_many()
        .col_expr(
            webhook_delivery::Column::Status,
            Expr::value(status.as_str()),
        )
        .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(next))
        .col_expr(webhook_delivery::Column::LastAttemptAt, Expr::value(now))
        .col_expr(
            webhook_delivery::Column::ResponseStatus,
            Expr::value(outcome.status.map(i32::from)),
        )
        .col_expr(
            webhook_delivery::Column::ResponseExcerpt,
            Expr::value(excerpt),
        )
        .col_expr(webhook_delivery::Column::Error, Expr::value(error))
        .filter(webhook_delivery::Column::EventId.eq(&due.event_id))
        .filter(webhook_delivery::Column::EndpointId.eq(&due.endpoint_id))
        .filter(webhook_delivery::Column::Attempts.eq(due.attempts))
        .exec(db)
        .await?;
    Ok(status)
}

/// Days before expiry at which `key.expiring` is sent.
pub const EXPIRY_NOTICES: [i64; 2] = [7, 1];

/// Raises `key.expiring` (7 days and 1 day before) and `key.expired` events for the keys
/// of organizations with an endpoint that wants them. Each is raised once per key and
/// expiry (a unique dedupe key), whichever instance or pass gets there first; a key that
/// expired more than a day ago raises nothing, so adding an endpoint does not replay
/// history. Returns how many events were written.
pub async fn queue_expiry_events(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<usize, DbErr> {
    let orgs: BTreeSet<String> = webhook_endpoint::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .filter(|e| subscribed(e, "key.expiring") || subscribed(e, "key.expired"))
        .map(|e| e.org_id)
        .collect();
    if orgs.is_empty() {
        return Ok(0);
    }
    let keys = api_key::Entity::find()
        .filter(api_key::Column::OrgId.is_in(orgs))
        .filter(api_key::Column::RevokedAt.is_null())
        .filter(api_key::Column::ExpiresAt.gt(now - Duration::days(1)))
        .filter(api_key::Column::ExpiresAt.lte(now + Duration::days(EXPIRY_NOTICES[0])))
        .all(db)
        .await?;
    let mut written = 0;
    for key in keys {
        let Some(expires_at) = key.expires_at else {
            continue;
        };
        let (kind, dedupe, notice) = if expires_at <= now {
            (
                "key.expired",
                format!("key.expired:{}:{}", key.id, expires_at.timestamp()),
                None,
            )
        } else {
            let days = if expires_at <= now + Duration::days(EXPIRY_NOTICES[1]) {
                EXPIRY_NOTICES[1]
            } else {
                EXPIRY_NOTICES[0]
            };
            (
                "key.expiring",
                format!("key.expiring:{days}:{}:{}", key.id, expires_at.timestamp()),
                Some(days),
            )
        };
        let mut data = json!({ "key": key_data(&key) });
        if let Some(days) = notice {
            data["notice_days"] = json!(days);
        }
        let txn = crate::ssr::begin_write(db).await?;
        let id = emit(&txn, &key.org_id, kind, data, Some(dedupe)).await?;
        txn.commit().await?;
        written += usize::from(id.is_some());
    }
    Ok(written)
}

/// Deletes events (and their deliveries) older than `keep`.
pub async fn prune(db: &DatabaseConnection, keep: Duration) -> Result<u64, DbErr> {
    let cutoff = Utc::now() - keep;
    webhook_delivery::Entity::delete_many()
        .filter(webhook_delivery::Column::CreatedAt.lt(cutoff))
        .exec(db)
        .await?;
    Ok(webhook_event::Entity::delete_many()
        .filter(webhook_event::Column::CreatedAt.lt(cutoff))
        .exec(db)
        .await?
        .rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_and_stop_after_a_day() {
        let retry = Retry::default();
        let t0 = Utc::now();
        assert_eq!(retry.next(t0, 1, t0), Some(t0 + Duration::seconds(5)));
        assert_eq!(retry.next(t0, 2, t0), Some(t0 + Duration::seconds(30)));
        assert_eq!(retry.next(t0, 20, t0), Some(t0 + Duration::hours(8)));
        let late = t0 + Duration::hours(20);
        assert_eq!(retry.next(t0, 9, late), None);
        let mut at = t0;
        let mut attempts = 0;
        while let Some(next) = retry.next(t0, attempts + 1, at) {
            attempts += 1;
            at = next;
        }
        assert!(at <= t0 + Duration::hours(24) && at > t0 + Duration::hours(15));
        assert_eq!(attempts, 10);
    }

    #[test]
    fn whsec_is_standard_base64_of_the_key() {
        let endpoint = webhook_endpoint::Model {
            id: "whe_1".into(),
            org_id: "org_1".into(),
            url: "https://example.com/".into(),
            events: "key.created".into(),
            secret_salt: "salt_1".into(),
            created_by: "usr_1".into(),
            created_at: Utc::now(),
            disabled_at: None,
            disabled_reason: None,
        };
        let key = signing_key(&Secret::new("s"), &endpoint);
        let text = whsec(&key);
        let decoded = STANDARD
            .decode(text.strip_prefix("whsec_").unwrap())
            .unwrap();
        assert_eq!(decoded, key);
        let other = webhook_endpoint::Model {
            secret_salt: "salt_2".into(),
            ..endpoint.clone()
        };
        assert_ne!(signing_key(&Secret::new("s"), &other), key);
        assert_ne!(signing_key(&Secret::new("t"), &endpoint), key);
    }
}
