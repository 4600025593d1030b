//! The background webhook sender (SECURITY.md W3). The instance holding the `webhooks`
//! lease claims due deliveries every second, sends them (several endpoints at once, so one
//! slow endpoint does not hold up the rest) and records each outcome; it also raises the
//! expiry events once a minute and prunes old events once an hour. A claim lapses if the
//! sender dies mid-attempt, and the retry carries the same event id.

use std::time::Duration;

use app::ssr::AppState;
use app::webhooks::service::{self as hooks, Outcome, Retry};
use chrono::Utc;
use sea_orm::DbErr;
use tokio::task::JoinSet;
use tokio::time::{MissedTickBehavior, interval, timeout};

use crate::webhook_http::Sender;

/// How often the lease holder looks for due deliveries.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How long the sender's lease lasts, and how often it is renewed.
const LEASE: Duration = Duration::from_secs(30);
const RENEW_EVERY: Duration = Duration::from_secs(10);
/// How often expiry events are raised, and old events pruned.
const EXPIRY_SCAN_EVERY: Duration = Duration::from_secs(60);
const PRUNE_EVERY: Duration = Duration::from_secs(3_600);
/// Events and their deliveries are kept this long for the deliveries log.
const KEEP_DAYS: i64 = 30;
/// Deliveries claimed per pass.
const BATCH: u64 = 16;
/// The longest a database step of the sender may take before the pass is abandoned.
const DB_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends webhook deliveries from the outbox.
#[derive(Debug, Clone)]
pub struct Worker {
    state: AppState,
    sender: Sender,
    retry: Retry,
    /// This instance's name in the lease table.
    me: String,
}

impl Worker {
    pub fn new(state: AppState, sender: Sender, retry: Retry) -> Self {
        Worker {
            state,
            sender,
            retry,
            me: app::ssr::random_id("inst"),
        }
    }

    /// One pass: claims the deliveries due now, sends them concurrently and records each
    /// outcome. Returns how many were attempted.
    pub async fn deliver_due(&self) -> Result<usize, DbErr> {
        let due = hooks::claim_due(
            &self.state.db,
            &self.state.secret,
            &self.retry,
            Utc::now(),
            BATCH,
        )
        .await?;
        let count = due.len();
        let mut attempts = JoinSet::new();
        for delivery in due {
            let sender = self.sender.clone();
            attempts.spawn(async move {
                let timestamp = Utc::now().timestamp();
                let attempt = sender
                    .send(
                        &delivery.url,
                        &delivery.event_id,
                        timestamp,
                        delivery.payload.as_bytes(),
                        &[&delivery.key],
                    )
                    .await;
                (delivery, attempt)
            });
        }
        while let Some(joined) = attempts.join_next().await {
            let Ok((delivery, attempt)) = joined else {
                continue;
            };
            let outcome = Outcome {
                status: attempt.status,
                excerpt: attempt.excerpt,
                error: attempt.error,
            };
            let status =
                hooks::finish(&self.state.db, &delivery, &outcome, &self.retry, Utc::now()).await?;
            if let Some(metrics) = crate::metrics::get() {
                metrics.webhook(
                    outcome.succeeded(),
                    status == app::webhooks::DeliveryStatus::Failed,
                );
            }
            // The URL stays out of the log: its path or query may hold a token.
            tracing::info!(
                event = %delivery.event_id,
                endpoint = %delivery.endpoint_id,
                attempt = delivery.attempts,
                http_status = outcome.status,
                outcome = status.as_str(),
                "webhook delivery"
            );
        }
        Ok(count)
    }

    async fn holds_lease(&self) -> bool {
        let ttl = chrono::Duration::from_std(LEASE).unwrap_or(chrono::Duration::seconds(30));
        match timeout(
            DB_TIMEOUT,
            app::keys::service::take_lease(&self.state.db, "webhooks", &self.me, ttl),
        )
        .await
        {
            Ok(Ok(held)) => held,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot take the webhook sender's lease");
                false
            }
            Err(_) => false,
        }
    }

    /// Runs until aborted: renews the lease, and while holding it sends, raises expiry
    /// events and prunes.
    pub async fn run(self) {
        let mut tick = interval(POLL_INTERVAL);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let renew_every = ticks(RENEW_EVERY);
        let scan_every = ticks(EXPIRY_SCAN_EVERY);
        let prune_every = ticks(PRUNE_EVERY);
        let mut held = false;
        let mut round: u64 = 0;
        loop {
            tick.tick().await;
            let this = round;
            round += 1;
            if this.is_multiple_of(renew_every) {
                held = self.holds_lease().await;
            }
            if !held {
                continue;
            }
            if this.is_multiple_of(scan_every) {
                match timeout(
                    DB_TIMEOUT,
                    hooks::queue_expiry_events(&self.state.db, Utc::now()),
                )
                .await
                {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => tracing::info!(count = n, "raised key expiry webhook events"),
                    Ok(Err(e)) => tracing::warn!(error = %e, "could not raise key expiry events"),
                    Err(_) => tracing::warn!("raising key expiry events timed out"),
                }
            }
            if this.is_multiple_of(prune_every) {
                let keep = chrono::Duration::days(KEEP_DAYS);
                if let Ok(Err(e)) = timeout(DB_TIMEOUT, hooks::prune(&self.state.db, keep)).await {
                    tracing::warn!(error = %e, "could not prune old webhook events");
                }
            }
            // Sending is bounded by the sender's own timeout; only the database steps
            // could hang, and a hung pass must not stop the loop for good.
            let limit = DB_TIMEOUT * 3 + crate::webhook_http::TIMEOUT;
            match timeout(limit, self.deliver_due()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "the webhook sender's pass failed"),
                Err(_) => tracing::warn!("the webhook sender's pass timed out"),
            }
        }
    }
}

/// How many poll ticks make `every`.
fn ticks(every: Duration) -> u64 {
    (every.as_millis() / POLL_INTERVAL.as_millis()).max(1) as u64
}
