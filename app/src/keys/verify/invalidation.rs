//! Invalidation across instances (R3): a change that must reach every instance's cache is
//! recorded in the change's own transaction ([`announce`]); every instance follows the
//! log ([`EventFollower`]), and on PostgreSQL it is also pushed by NOTIFY on commit.

use std::time::Duration;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};

use super::Verifier;
use crate::entities::cache_event;

/// How often every instance reads the event log; on SQLite the bound on how long another
/// instance can still accept a key revoked elsewhere (R3), plus one query.
pub const EVENT_POLL_INTERVAL: Duration = Duration::from_millis(200);
/// On PostgreSQL, where changes are pushed (LISTEN/NOTIFY), the poll is only the backstop
/// for a listener connection that dropped.
pub const EVENT_BACKSTOP_INTERVAL: Duration = Duration::from_millis(500);
/// A poll (or a start) that takes longer is abandoned and the cache cleared: a stalled
/// query must not leave revoked keys cached until their entries age out.
pub const EVENT_POLL_TIMEOUT: Duration = Duration::from_millis(500);
/// The PostgreSQL channel invalidations are pushed on.
pub const NOTIFY_CHANNEL: &str = "keygate_cache";
/// Events re-read behind the newest one seen, so a transaction that commits after a
/// later one (possible on PostgreSQL) is still picked up.
const EVENT_LOOKBACK: i64 = 256;
/// Most events read by one poll; a longer backlog is read over the next polls.
const EVENT_BATCH: u64 = 2_000;
/// Events kept in the table; older ones are deleted by [`prune_events`].
const EVENTS_KEPT: i64 = 10_000;

/// What another instance must drop from its cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// A key was revoked or rolled.
    Key(String),
    /// A member's role changed or they left: their keys' rights change (K9).
    Member { org_id: String, user_id: String },
    /// Keys were imported: re-read which imported keys exist.
    Imports,
    /// The organization's permission catalog or route rules changed: its keys' grants
    /// and its route rules are re-read.
    Permissions(String),
}

impl Invalidation {
    pub fn payload(&self) -> String {
        match self {
            Invalidation::Key(id) => format!("key {id}"),
            Invalidation::Member { org_id, user_id } => format!("member {org_id} {user_id}"),
            Invalidation::Imports => "imports".to_owned(),
            Invalidation::Permissions(org_id) => format!("permissions {org_id}"),
        }
    }

    pub fn parse(payload: &str) -> Option<Self> {
        let mut words = payload.split(' ');
        match (words.next(), words.next(), words.next(), words.next()) {
            (Some("key"), Some(id), None, None) => Some(Invalidation::Key(id.to_owned())),
            (Some("imports"), None, None, None) => Some(Invalidation::Imports),
            (Some("permissions"), Some(org), None, None) => {
                Some(Invalidation::Permissions(org.to_owned()))
            }
            (Some("member"), Some(org), Some(user), None) => Some(Invalidation::Member {
                org_id: org.to_owned(),
                user_id: user.to_owned(),
            }),
            _ => None,
        }
    }
}

/// Records `what` in the caller's transaction: every instance reads it once it commits.
/// On PostgreSQL it is also pushed to every listening instance, by a NOTIFY that the
/// database delivers only if and when the transaction commits.
pub async fn announce(txn: &impl ConnectionTrait, what: &Invalidation) -> Result<(), DbErr> {
    use sea_orm::ActiveValue::Set;
    let payload = what.payload();
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [NOTIFY_CHANNEL.into(), payload.clone().into()],
        ))
        .await?;
    }
    cache_event::Entity::insert(cache_event::ActiveModel {
        payload: Set(payload),
        ..Default::default()
    })
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// Deletes all but the newest [`EVENTS_KEPT`] events; run now and then by the server,
/// apart from the poll, so a slow delete never delays an invalidation.
pub async fn prune_events(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    let Some(newest) = cache_event::Entity::find()
        .order_by_desc(cache_event::Column::Id)
        .one(db)
        .await?
    else {
        return Ok(0);
    };
    let res = cache_event::Entity::delete_many()
        .filter(cache_event::Column::Id.lt(newest.id - EVENTS_KEPT))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

impl Verifier {
    pub fn apply(&self, what: &Invalidation) {
        match what {
            Invalidation::Key(id) => self.forget_key(id),
            Invalidation::Member { org_id, user_id } => self.forget_creator(org_id, user_id),
            Invalidation::Imports => self.imports.mark_stale(),
            Invalidation::Permissions(org_id) => self.forget_org_permissions(org_id),
        }
    }
}

/// Reads the event log from where this instance started and applies what is new.
#[derive(Debug)]
pub struct EventFollower {
    high_water: i64,
    seen: std::collections::BTreeSet<i64>,
}

impl EventFollower {
    /// Starts after the newest event. Whatever the cache holds from before is not
    /// covered: the caller clears it once this returns.
    pub async fn start(db: &impl ConnectionTrait) -> Result<Self, DbErr> {
        let recent = cache_event::Entity::find()
            .order_by_desc(cache_event::Column::Id)
            .limit(EVENT_LOOKBACK as u64)
            .all(db)
            .await?;
        Ok(Self {
            high_water: recent.first().map(|e| e.id).unwrap_or(0),
            seen: recent.into_iter().map(|e| e.id).collect(),
        })
    }

    /// Applies new events to `verifier`; returns how many. Reads at most [`EVENT_BATCH`]
    /// rows: a backlog is worked off over the next polls.
    pub async fn poll(
        &mut self,
        db: &impl ConnectionTrait,
        verifier: &Verifier,
    ) -> Result<usize, DbErr> {
        let rows = cache_event::Entity::find()
            .filter(cache_event::Column::Id.gt(self.high_water - EVENT_LOOKBACK))
            .order_by_asc(cache_event::Column::Id)
            .limit(EVENT_BATCH)
            .all(db)
            .await?;
        let mut applied = 0;
        for row in rows {
            if !self.seen.insert(row.id) {
                continue;
            }
            self.high_water = self.high_water.max(row.id);
            match Invalidation::parse(&row.payload) {
                Some(what) => verifier.apply(&what),
                None => tracing::warn!(id = row.id, "unreadable cache event ignored"),
            }
            applied += 1;
        }
        let floor = self.high_water - EVENT_LOOKBACK;
        self.seen.retain(|id| *id > floor);
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::Invalidation;

    #[test]
    fn invalidations_round_trip_and_garbage_is_refused() {
        for what in [
            Invalidation::Key("key_abc".into()),
            Invalidation::Member {
                org_id: "org_1".into(),
                user_id: "usr_2".into(),
            },
            Invalidation::Imports,
            Invalidation::Permissions("org_1".into()),
        ] {
            assert_eq!(Invalidation::parse(&what.payload()), Some(what));
        }
        for bad in [
            "",
            "key",
            "key a b",
            "member org",
            "imports all",
            "permissions",
            "permissions a b",
            "drop everything",
        ] {
            assert_eq!(Invalidation::parse(bad), None, "{bad}");
        }
    }
}
