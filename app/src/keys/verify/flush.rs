//! Writing what the meters counted: outcomes per key and hour, and last-used times, in
//! the background, never on a request (the hot path does no database write).

use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, TransactionTrait};

use super::Verifier;
use super::meter::{Batch, Meters, RouteOutcome};
use super::routes::RuleLabel;
use crate::entities::{api_key, key_permission_usage, key_usage, route_rule};
use crate::keys::usage::Outcome;

impl Verifier {
    /// Writes what the meters counted since the last flush (outcomes per key and hour,
    /// added to what other instances wrote, and last-used times) in one transaction, and
    /// returns how many keys' last use was written. On failure, and if this future is
    /// dropped before the write commits (a shutdown, a timeout), the counts go back to
    /// the meters: a batch taken is never lost.
    pub async fn flush_usage(&self, db: &impl TransactionTrait) -> Result<usize, DbErr> {
        self.flush_route_counts(db).await?;
        let started = Utc::now();
        let batch = self.meters.drain(started.timestamp());
        if batch.is_empty() {
            self.meters.sweep();
            self.last_flush
                .store(started.timestamp_millis(), Ordering::Relaxed);
            return Ok(0);
        }
        let mut pending = Requeue {
            meters: &self.meters,
            batch: Some(batch),
        };
        write(db, pending.batch.as_ref().expect("set above"), &|rule| {
            self.rule_label(rule)
        })
        .await?;
        let batch = pending.batch.take().expect("set above");
        self.meters.written(&batch);
        let written = batch.last_used.len();
        drop(batch);
        self.meters.sweep();
        self.last_flush
            .store(started.timestamp_millis(), Ordering::Relaxed);
        Ok(written)
    }

    /// Adds the report-only denials counted since the last flush to their rules, in one
    /// transaction; on failure they go back to be written next time.
    async fn flush_route_counts(&self, db: &impl TransactionTrait) -> Result<(), DbErr> {
        let counts = self.take_route_counts();
        if counts.is_empty() {
            return Ok(());
        }
        let written = async {
            let txn = crate::ssr::begin_write(db).await?;
            for (id, n) in &counts {
                route_rule::Entity::update_many()
                    .col_expr(
                        route_rule::Column::WouldDeny,
                        Expr::col(route_rule::Column::WouldDeny)
                            .add(i64::try_from(*n).unwrap_or(i64::MAX)),
                    )
                    .filter(route_rule::Column::Id.eq(id.as_str()))
                    .exec(&txn)
                    .await?;
            }
            txn.commit().await
        }
        .await;
        if written.is_err() {
            self.return_route_counts(counts);
        }
        written
    }

    /// How long ago the counts of the last successful flush were taken: what a usage
    /// chart may lag behind by (one flush interval when all is well).
    pub fn flush_lag(&self) -> Duration {
        let ms = Utc::now().timestamp_millis() - self.last_flush.load(Ordering::Relaxed);
        Duration::from_millis(u64::try_from(ms).unwrap_or(0))
    }

    /// How many keys have a last-used time waiting to be written.
    pub fn pending_usage(&self) -> usize {
        self.meters.pending_last_used()
    }
}

/// Rows per INSERT: five values each, well under SQLite's limit on bound values.
const ROWS_PER_INSERT: usize = 500;

const DAY: i64 = 86_400;

/// Writes a flush's batch in one transaction: last-used times only ever move
/// forward, and counts are added to what other instances wrote for the same key,
/// hour (day, for route rules) and outcome. `label` gives what a rule's counts are
/// written beside.
pub async fn write(
    db: &impl TransactionTrait,
    batch: &Batch,
    label: &(impl Fn(&str) -> Option<std::sync::Arc<RuleLabel>> + Sync),
) -> Result<(), DbErr> {
    let txn = crate::ssr::begin_write(db).await?;
    for (meter, used) in &batch.last_used {
        let Some(at) = DateTime::from_timestamp(*used, 0) else {
            continue;
        };
        let at = at.trunc_subsecs(6);
        api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Expr::value(at))
            .filter(api_key::Column::Id.eq(&*meter.key_id))
            .filter(
                api_key::Column::LastUsedAt
                    .is_null()
                    .or(api_key::Column::LastUsedAt.lt(at)),
            )
            .exec(&txn)
            .await?;
    }
    // Built a chunk at a time: a flush of many keys never holds every row at once.
    for chunk in batch.rows.chunks(ROWS_PER_INSERT / Outcome::COUNT) {
        let rows: Vec<key_usage::ActiveModel> = chunk
            .iter()
            .flat_map(|(meter, hour, counts)| {
                Outcome::ALL
                    .into_iter()
                    .zip(counts)
                    .filter(|(_, n)| **n > 0)
                    .map(|(outcome, n)| key_usage::ActiveModel {
                        key_id: Set(meter.key_id.to_string()),
                        org_id: Set(meter.org_id.to_string()),
                        hour: Set(*hour),
                        outcome: Set(outcome.as_str().to_owned()),
                        count: Set(i64::from(*n)),
                    })
            })
            .collect();
        key_usage::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    key_usage::Column::KeyId,
                    key_usage::Column::Hour,
                    key_usage::Column::Outcome,
                ])
                .value(
                    key_usage::Column::Count,
                    Expr::col((key_usage::Entity, key_usage::Column::Count))
                        .add(Expr::cust(r#"excluded."count""#)),
                )
                .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
    }
    // Counted since the last flush, seconds ago: written under today.
    let day = Utc::now().timestamp().div_euclid(DAY) * DAY;
    for chunk in batch.rules.chunks(ROWS_PER_INSERT / RouteOutcome::COUNT) {
        let rows: Vec<key_permission_usage::ActiveModel> = chunk
            .iter()
            .filter_map(|(meter, rule, counts)| Some((meter, rule, counts, label(rule)?)))
            .flat_map(|(meter, rule, counts, label)| {
                RouteOutcome::ALL
                    .into_iter()
                    .zip(counts)
                    .filter(|(_, n)| **n > 0)
                    .map(move |(outcome, n)| key_permission_usage::ActiveModel {
                        key_id: Set(meter.key_id.to_string()),
                        org_id: Set(meter.org_id.to_string()),
                        day: Set(day),
                        rule: Set(rule.to_string()),
                        outcome: Set(outcome.as_str().to_owned()),
                        route: Set(label.route.clone()),
                        permissions: Set(label.permissions.clone()),
                        count: Set(i64::from(*n)),
                    })
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        key_permission_usage::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    key_permission_usage::Column::KeyId,
                    key_permission_usage::Column::Day,
                    key_permission_usage::Column::Rule,
                    key_permission_usage::Column::Outcome,
                ])
                .value(
                    key_permission_usage::Column::Count,
                    Expr::col((
                        key_permission_usage::Entity,
                        key_permission_usage::Column::Count,
                    ))
                    .add(Expr::cust(r#"excluded."count""#)),
                )
                .update_columns([
                    key_permission_usage::Column::Route,
                    key_permission_usage::Column::Permissions,
                ])
                .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await
}

/// A batch of counts being written: put back in the meters unless the write committed.
struct Requeue<'a> {
    meters: &'a Meters,
    batch: Option<Batch>,
}

impl Drop for Requeue<'_> {
    fn drop(&mut self) {
        if let Some(batch) = self.batch.take() {
            self.meters.restore(batch);
        }
    }
}
