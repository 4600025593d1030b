//! The background webhook sender (SECURITY.md W3, W4). The instance holding the
//! `webhooks` lease keeps up to [`MAX_IN_FLIGHT`] attempts going and starts another as
//! soon as one ends, so a slow endpoint holds one slot, not a whole batch: at most one
//! attempt per endpoint, at most [`MAX_PER_ORG`] per organization, organizations taken in
//! turn, and an endpoint that keeps timing out rests behind a breaker. It also raises
//! the expiry events once a minute and prunes old events once an hour. A claim lapses if
//! the sender dies mid-attempt, and the retry carries the same event id.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use app::state::AppState;
use app::webhooks::outbox::{self as hooks, Due, Outcome, Retry};
use chrono::Utc;
use sea_orm::DbErr;
use tokio::task::JoinSet;
use tokio::time::{MissedTickBehavior, interval, timeout};

use crate::webhook_http::{Attempt, Sender};

/// How often the lease holder looks for due deliveries (and sooner when an attempt ends).
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How long the sender's lease lasts, and how often it is renewed.
const LEASE: Duration = Duration::from_secs(30);
const RENEW_EVERY: Duration = Duration::from_secs(10);
/// How often expiry events are raised, and old events pruned.
const EXPIRY_SCAN_EVERY: Duration = Duration::from_secs(60);
const PRUNE_EVERY: Duration = Duration::from_secs(3_600);
/// Events and their deliveries are kept this long for the deliveries log.
const KEEP_DAYS: i64 = 30;
/// Attempts under way at once, across every organization.
pub const MAX_IN_FLIGHT: usize = 16;
/// Attempts under way at once for one organization: its dead endpoints cannot take
/// every slot.
pub const MAX_PER_ORG: usize = 4;
/// Attempts in a row that got no answer (a timeout, a refused connection) after which
/// an endpoint rests for [`BREAKER_REST`]; its deliveries wait, they are not failed.
pub const BREAKER_TRIPS_AFTER: u32 = 3;
pub const BREAKER_REST: Duration = Duration::from_secs(60);
/// The longest a database step of the sender may take before it is abandoned.
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

/// The attempts under way, and which endpoints and organizations they are for.
#[derive(Default)]
struct InFlight {
    attempts: JoinSet<(Due, Attempt)>,
    endpoints: HashSet<String>,
    per_org: HashMap<String, usize>,
}

impl InFlight {
    fn started(&mut self, due: &Due) {
        self.endpoints.insert(due.endpoint_id.clone());
        *self.per_org.entry(due.org_id.clone()).or_default() += 1;
    }

    fn ended(&mut self, due: &Due) {
        self.endpoints.remove(&due.endpoint_id);
        if let Some(n) = self.per_org.get_mut(&due.org_id) {
            *n -= 1;
            if *n == 0 {
                self.per_org.remove(&due.org_id);
            }
        }
    }

    fn org_full(&self, org: &str) -> bool {
        self.per_org.get(org).is_some_and(|n| *n >= MAX_PER_ORG)
    }
}

/// Endpoints that got no answer several times in a row, resting until a time.
#[derive(Default)]
struct Breakers(HashMap<String, (u32, Option<Instant>)>);

impl Breakers {
    fn resting(&self, endpoint: &str, now: Instant) -> bool {
        self.0
            .get(endpoint)
            .and_then(|(_, until)| *until)
            .is_some_and(|until| until > now)
    }

    fn record(&mut self, endpoint: &str, answered: bool, now: Instant) {
        if answered {
            self.0.remove(endpoint);
            return;
        }
        let (misses, until) = self.0.entry(endpoint.to_owned()).or_default();
        *misses += 1;
        if *misses >= BREAKER_TRIPS_AFTER {
            *until = Some(now + BREAKER_REST);
            *misses = 0;
            tracing::warn!(endpoint, "webhook endpoint keeps not answering: resting it");
        }
    }
}

/// Which endpoints to start now: organizations in turn (each in the order of its
/// longest-waiting endpoint), one endpoint each per turn, skipping endpoints under way or
/// resting and organizations at [`MAX_PER_ORG`], until `free` are chosen.
fn choose(
    due: Vec<(String, String)>,
    free: usize,
    in_flight: &InFlight,
    skip: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut orgs: Vec<(String, VecDeque<String>)> = Vec::new();
    for (endpoint, org) in due {
        if in_flight.endpoints.contains(&endpoint) || skip(&endpoint) {
            continue;
        }
        match orgs.iter_mut().find(|(o, _)| *o == org) {
            Some((_, endpoints)) => endpoints.push_back(endpoint),
            None => orgs.push((org, VecDeque::from([endpoint]))),
        }
    }
    let mut started: HashMap<String, usize> = HashMap::new();
    let mut chosen = Vec::new();
    while chosen.len() < free {
        let mut any = false;
        for (org, endpoints) in &mut orgs {
            if chosen.len() >= free {
                break;
            }
            let under_way = in_flight.per_org.get(org).copied().unwrap_or(0)
                + started.get(org).copied().unwrap_or(0);
            if under_way >= MAX_PER_ORG {
                continue;
            }
            if let Some(endpoint) = endpoints.pop_front() {
                *started.entry(org.clone()).or_default() += 1;
                chosen.push(endpoint);
                any = true;
            }
        }
        if !any {
            break;
        }
    }
    chosen
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

    /// Starts attempts for what is due now, up to the free slots (see [`choose`]).
    async fn start_due(&self, in_flight: &mut InFlight, breakers: &Breakers) -> Result<(), DbErr> {
        let free = MAX_IN_FLIGHT.saturating_sub(in_flight.attempts.len());
        if free == 0 {
            return Ok(());
        }
        let db = &self.state.db;
        let due = hooks::due_endpoints(db, Utc::now()).await?;
        let now = Instant::now();
        let chosen = choose(due, free, in_flight, |e| breakers.resting(e, now));
        for endpoint in chosen {
            let Some(due) = hooks::claim_next(
                db,
                &self.state.secret,
                self.state.verifier.previous_secret(),
                &self.retry,
                &endpoint,
                Utc::now(),
            )
            .await?
            else {
                continue;
            };
            if in_flight.org_full(&due.org_id) {
                // Its claim lapses and it is tried again later.
                continue;
            }
            in_flight.started(&due);
            let sender = self.sender.clone();
            in_flight.attempts.spawn(async move {
                let timestamp = Utc::now().timestamp();
                let keys: Vec<&[u8]> = std::iter::once(&due.key[..])
                    .chain(due.previous_key.as_ref().map(|k| &k[..]))
                    .collect();
                let attempt = sender
                    .send(
                        &due.url,
                        &due.event_id,
                        timestamp,
                        due.payload.as_bytes(),
                        &keys,
                    )
                    .await;
                (due, attempt)
            });
        }
        Ok(())
    }

    /// Records how an attempt went.
    async fn record(&self, due: &Due, attempt: Attempt) -> Result<(), DbErr> {
        let outcome = Outcome {
            status: attempt.status,
            excerpt: attempt.excerpt,
            error: attempt.error,
        };
        let status = hooks::finish(&self.state.db, due, &outcome, &self.retry, Utc::now()).await?;
        if let Some(metrics) = crate::metrics::get() {
            metrics.webhook(
                outcome.succeeded(),
                status == app::webhooks::DeliveryStatus::Failed,
            );
        }
        // The URL stays out of the log: its path or query may hold a token.
        tracing::info!(
            event = %due.event_id,
            endpoint = %due.endpoint_id,
            attempt = due.attempts,
            http_status = outcome.status,
            outcome = status.as_str(),
            "webhook delivery"
        );
        Ok(())
    }

    async fn holds_lease(&self) -> bool {
        let ttl = chrono::Duration::from_std(LEASE).unwrap_or(chrono::Duration::seconds(30));
        match timeout(
            DB_TIMEOUT,
            app::lease::take_lease(&self.state.db, "webhooks", &self.me, ttl),
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

    /// Runs until aborted: renews the lease, and while holding it sends (starting a new
    /// attempt whenever one ends), raises expiry events and prunes.
    pub async fn run(self) {
        let mut tick = interval(POLL_INTERVAL);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let renew_every = ticks(RENEW_EVERY);
        let scan_every = ticks(EXPIRY_SCAN_EVERY);
        let prune_every = ticks(PRUNE_EVERY);
        let mut held = false;
        let mut round: u64 = 0;
        let mut in_flight = InFlight::default();
        let mut breakers = Breakers::default();
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let this = round;
                    round += 1;
                    if this.is_multiple_of(renew_every) {
                        held = self.holds_lease().await;
                    }
                    if !held {
                        continue;
                    }
                    if this.is_multiple_of(scan_every) {
                        self.raise_expiry_events().await;
                    }
                    if this.is_multiple_of(prune_every) {
                        let keep = chrono::Duration::days(KEEP_DAYS);
                        if let Ok(Err(e)) = timeout(DB_TIMEOUT, hooks::prune(&self.state.db, keep)).await {
                            tracing::warn!(error = %e, "could not prune old webhook events");
                        }
                    }
                }
                Some(joined) = in_flight.attempts.join_next(), if !in_flight.attempts.is_empty() => {
                    let Ok((due, attempt)) = joined else { continue };
                    in_flight.ended(&due);
                    breakers.record(&due.endpoint_id, attempt.status.is_some(), Instant::now());
                    match timeout(DB_TIMEOUT, self.record(&due, attempt)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::warn!(error = %e, "could not record a webhook attempt"),
                        Err(_) => tracing::warn!("recording a webhook attempt timed out"),
                    }
                    if !held {
                        continue;
                    }
                }
            }
            // A hung database must not stop the loop for good.
            match timeout(DB_TIMEOUT * 2, self.start_due(&mut in_flight, &breakers)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "the webhook sender's pass failed"),
                Err(_) => tracing::warn!("the webhook sender's pass timed out"),
            }
        }
    }

    async fn raise_expiry_events(&self) {
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
}

/// How many poll ticks make `every`.
fn ticks(every: Duration) -> u64 {
    (every.as_millis() / POLL_INTERVAL.as_millis()).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(e, o)| ((*e).to_owned(), (*o).to_owned()))
            .collect()
    }

    #[test]
    fn organizations_take_turns_and_none_takes_more_than_its_share() {
        // Org a has ten endpoints waiting longest; b and c one each.
        let mut waiting: Vec<(&str, &str)> = (0..10)
            .map(|i| {
                (
                    ["a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"][i],
                    "a",
                )
            })
            .collect();
        waiting.push(("b0", "b"));
        waiting.push(("c0", "c"));
        let chosen = choose(due(&waiting), 16, &InFlight::default(), |_| false);
        assert_eq!(
            &chosen[..3],
            ["a0", "b0", "c0"],
            "one per organization per turn"
        );
        assert_eq!(
            chosen.iter().filter(|e| e.starts_with('a')).count(),
            MAX_PER_ORG
        );
        assert_eq!(chosen.len(), MAX_PER_ORG + 2);
    }

    #[test]
    fn endpoints_under_way_or_resting_wait() {
        let mut in_flight = InFlight::default();
        in_flight.endpoints.insert("a0".into());
        in_flight.per_org.insert("a".into(), 1);
        let chosen = choose(
            due(&[("a0", "a"), ("a1", "a"), ("b0", "b")]),
            16,
            &in_flight,
            |e| e == "b0",
        );
        assert_eq!(chosen, ["a1"]);
        assert!(choose(due(&[("a1", "a")]), 0, &in_flight, |_| false).is_empty());
    }

    #[test]
    fn an_endpoint_that_keeps_not_answering_rests() {
        let now = Instant::now();
        let mut breakers = Breakers::default();
        for _ in 0..BREAKER_TRIPS_AFTER - 1 {
            breakers.record("e", false, now);
        }
        assert!(!breakers.resting("e", now));
        breakers.record("e", false, now);
        assert!(breakers.resting("e", now + Duration::from_secs(1)));
        assert!(!breakers.resting("e", now + BREAKER_REST));
        breakers.record("e", true, now);
        assert!(
            !breakers.resting("e", now + Duration::from_secs(1)),
            "an answer closes it"
        );
    }
}
