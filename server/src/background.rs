//! The work Keygate does besides answering requests: following the cache invalidations
//! other instances record (pushed by PostgreSQL's LISTEN/NOTIFY, with the event-log poll
//! as the backstop), writing the coalesced usage counts and last-used times, revoking keys idle past
//! their organization's policy (one instance at a time, under a lease), sending webhooks
//! (likewise), re-reading which imported keys exist when an import is announced, and
//! pruning the event log, expired sessions and usage counts past 90 days. Each runs as its own task
//! with a timeout on its database work, so one slow query cannot hold up another, and all
//! stop cleanly on shutdown.

use std::time::Duration;

use app::auth::session_store::DbSessionStore;
use app::keys::verify::{
    EVENT_BACKSTOP_INTERVAL, EVENT_POLL_INTERVAL, EVENT_POLL_TIMEOUT, EventFollower, Invalidation,
    NOTIFY_CHANNEL, prune_events,
};
use app::state::AppState;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{MissedTickBehavior, interval, sleep, timeout};

/// How often the event log and the sessions table are pruned.
const PRUNE_INTERVAL: Duration = Duration::from_secs(60);
const SESSION_CLEANUP_INTERVAL: Duration = Duration::from_secs(600);
/// The longest a prune may take before it is abandoned until the next round.
const PRUNE_TIMEOUT: Duration = Duration::from_secs(10);
/// Wait before a listener that failed tries to reconnect.
const LISTENER_RETRY: Duration = Duration::from_secs(1);

/// The running background tasks.
pub struct Background {
    state: AppState,
    stop: watch::Sender<bool>,
    flush: JoinHandle<()>,
    others: Vec<JoinHandle<()>>,
}

impl Background {
    /// Starts every task. Returns once the event follower knows where the log stands and
    /// the key cache has been cleared, so call it before serving: no key cached before
    /// then can escape an invalidation recorded before then.
    pub async fn start(state: &AppState, usage_flush_interval: Duration) -> Background {
        let (stop, stopped) = watch::channel(false);
        let follower = match timeout(EVENT_POLL_TIMEOUT, EventFollower::start(&state.db)).await {
            Ok(Ok(follower)) => Some(follower),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot read the cache event log yet");
                None
            }
            Err(_) => {
                tracing::warn!("reading the cache event log timed out");
                None
            }
        };
        state.verifier.clear();
        // Before serving: which imported keys exist, so imported keys work from the first
        // request. Until it is read, foreign strings are refused as before.
        let imports = state.verifier.imports();
        match timeout(PRUNE_TIMEOUT, imports.reload(&state.db)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot read the imported keys yet");
                imports.mark_stale();
            }
            Err(_) => {
                tracing::warn!("reading the imported keys timed out");
                imports.mark_stale();
            }
        }
        let postgres = state.db.get_database_backend() == DbBackend::Postgres;
        let mut others = vec![
            tokio::spawn(follow_events(state.clone(), follower, postgres)),
            tokio::spawn(prune(state.db.clone())),
            tokio::spawn(reload_imports(state.clone())),
        ];
        if postgres {
            others.push(tokio::spawn(listen(state.clone())));
        }
        others.push(tokio::spawn(sweep_idle_keys(
            state.clone(),
            // Longer than any instance's flush interval (all run the same configuration),
            // so every last use before the sweep looked has been written when it decides.
            usage_flush_interval * 2 + Duration::from_secs(1),
        )));
        others.push(tokio::spawn(
            crate::webhook_worker::Worker::new(
                state.clone(),
                crate::webhook_http::Sender::new(state.webhook_allowed_hosts.clone()),
                app::webhooks::outbox::Retry::default(),
            )
            .run(),
        ));
        let flush = tokio::spawn(flush_usage(state.clone(), usage_flush_interval, stopped));
        Background {
            state: state.clone(),
            stop,
            flush,
            others,
        }
    }

    /// Stops every task: a last-used flush in progress finishes first, then what is
    /// still queued is written.
    pub async fn stop(self) {
        for task in &self.others {
            task.abort();
        }
        let _ = self.stop.send(true);
        if let Err(e) = self.flush.await {
            tracing::warn!(error = %e, "the last-used flush task ended badly");
        }
        if let Err(e) = self.state.verifier.flush_usage(&self.state.db).await {
            tracing::warn!(error = %e, "could not write last-used times at shutdown");
        }
    }
}

/// How often an instance tries to sweep idle keys, and how long its lease lasts.
const IDLE_SWEEP_INTERVAL: Duration = Duration::from_secs(600);
const IDLE_SWEEP_LEASE: Duration = Duration::from_secs(900);

/// Revokes keys idle past their organization's policy, on one instance at a time: the
/// holder of the `idle-sweep` lease.
async fn sweep_idle_keys(state: AppState, settle: Duration) {
    let me = app::ssr::random_id("inst");
    let lease =
        chrono::Duration::from_std(IDLE_SWEEP_LEASE).unwrap_or(chrono::Duration::minutes(15));
    let mut tick = interval(IDLE_SWEEP_INTERVAL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match app::lease::take_lease(&state.db, "idle-sweep", &me, lease).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "cannot take the idle-sweep lease");
                continue;
            }
        }
        match app::keys::service::revoke_idle_keys(&state.db, &state.verifier, settle).await {
            Ok(revoked) if !revoked.is_empty() => {
                tracing::info!(
                    count = revoked.len(),
                    "revoked keys idle past their organization's policy"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "the idle-key sweep failed"),
        }
    }
}

/// Applies the revocations, rolls and membership changes other instances record (R3).
/// When the log cannot be read, or a read stalls past its timeout, the whole cache is
/// dropped: what was missed cannot be known.
async fn follow_events(state: AppState, follower: Option<EventFollower>, postgres: bool) {
    let mut follower = match follower {
        Some(follower) => follower,
        None => loop {
            sleep(Duration::from_secs(1)).await;
            match timeout(EVENT_POLL_TIMEOUT, EventFollower::start(&state.db)).await {
                Ok(Ok(follower)) => {
                    state.verifier.clear();
                    break follower;
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot read the cache event log yet"),
                Err(_) => tracing::warn!("reading the cache event log timed out"),
            }
            state.verifier.clear();
        },
    };
    let mut tick = interval(if postgres {
        EVENT_BACKSTOP_INTERVAL
    } else {
        EVENT_POLL_INTERVAL
    });
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        let problem = match timeout(
            EVENT_POLL_TIMEOUT,
            follower.poll(&state.db, &state.verifier),
        )
        .await
        {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some(format!(
                "no answer within {} ms",
                EVENT_POLL_TIMEOUT.as_millis()
            )),
        };
        match problem {
            None if failing => {
                failing = false;
                state.verifier.clear();
                tracing::info!("cache event log readable again; key cache cleared");
            }
            None => {}
            Some(error) => {
                if !failing {
                    tracing::warn!(%error, "cannot read the cache event log; key cache cleared");
                }
                failing = true;
                state.verifier.clear();
            }
        }
    }
}

/// On PostgreSQL: applies invalidations as they are pushed, within milliseconds of the
/// commit. The listener has a connection of its own; when it drops, the poll covers the
/// gap (the events are in the log) until it is back.
async fn listen(state: AppState) {
    use sqlx::postgres::{PgListener, PgPoolOptions};
    let options = state
        .db
        .get_postgres_connection_pool()
        .connect_options()
        .as_ref()
        .clone();
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .connect_lazy_with(options);
    let mut listener = loop {
        let connected = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(NOTIFY_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match connected.await {
            Ok(listener) => break listener,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for cache events yet; polling");
                sleep(LISTENER_RETRY).await;
            }
        }
    };
    let mut healthy = true;
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                if !healthy {
                    healthy = true;
                    tracing::info!("listening for cache events again");
                }
                match Invalidation::parse(notification.payload()) {
                    Some(what) => state.verifier.apply(&what),
                    None => tracing::warn!("unreadable cache event notification ignored"),
                }
            }
            // The connection was lost and made again: what was sent meanwhile is in the
            // log, which the poll reads.
            Ok(None) => tracing::warn!("cache event listener reconnected"),
            Err(e) => {
                if healthy {
                    tracing::warn!(error = %e, "cache event listener lost; polling until it is back");
                }
                healthy = false;
                sleep(LISTENER_RETRY).await;
            }
        }
    }
}

/// Re-reads the imported keys when an import is announced (checked every
/// [`EVENT_POLL_INTERVAL`], at no cost when nothing was), and every
/// [`RELOAD_INTERVAL`] in case an announcement was missed; a failed read is retried.
async fn reload_imports(state: AppState) {
    use app::keys::verify::imported::RELOAD_INTERVAL;
    let mut tick = interval(EVENT_POLL_INTERVAL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last = std::time::Instant::now();
    let mut failing = false;
    loop {
        tick.tick().await;
        let imports = state.verifier.imports();
        if !(imports.take_stale() || failing || last.elapsed() >= RELOAD_INTERVAL) {
            continue;
        }
        let problem = match timeout(PRUNE_TIMEOUT, imports.reload(&state.db)).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some("timed out".to_owned()),
        };
        last = std::time::Instant::now();
        match problem {
            None if failing => {
                failing = false;
                tracing::info!("imported keys readable again");
            }
            None => {}
            Some(error) => {
                if !failing {
                    tracing::warn!(%error, "cannot read the imported keys; retrying");
                }
                failing = true;
                sleep(LISTENER_RETRY).await;
            }
        }
    }
}

/// Writes the coalesced last-used times every `every`: no request writes to the
/// database on the hot path. A stop waits for a write in progress.
async fn flush_usage(state: AppState, every: Duration, mut stopped: watch::Receiver<bool>) {
    let mut tick = interval(every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.changed() => return,
        }
        let started = std::time::Instant::now();
        let result = state.verifier.flush_usage(&state.db).await;
        if let Some(metrics) = crate::metrics::get() {
            metrics.flushed(result.is_ok(), started.elapsed());
        }
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not write usage counts and last-used times; will retry");
        }
        if *stopped.borrow() {
            return;
        }
    }
}

/// Keeps the event log and the sessions table small. Expired sessions are already
/// refused on load; old events were applied long ago.
async fn prune(db: DatabaseConnection) {
    let sessions = DbSessionStore::new(db.clone());
    let mut tick = interval(PRUNE_INTERVAL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut rounds: u64 = 0;
    loop {
        tick.tick().await;
        match timeout(PRUNE_TIMEOUT, prune_events(&db)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "could not prune the cache event log"),
            Err(_) => tracing::warn!("pruning the cache event log timed out"),
        }
        if rounds.is_multiple_of(SESSION_CLEANUP_INTERVAL.as_secs() / PRUNE_INTERVAL.as_secs()) {
            match timeout(PRUNE_TIMEOUT, sessions.delete_expired()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "could not delete expired sessions"),
                Err(_) => tracing::warn!("deleting expired sessions timed out"),
            }
            let now = chrono::Utc::now();
            match timeout(PRUNE_TIMEOUT, app::keys::usage::store::prune(&db, now)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "could not prune old usage counts"),
                Err(_) => tracing::warn!("pruning old usage counts timed out"),
            }
        }
        rounds += 1;
    }
}
