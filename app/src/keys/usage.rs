//! Usage of keys over time: the outcomes counted per key and hour (see `meter` for how
//! they are counted without a lock, and `verifier` for the flush that writes them), and
//! the queries behind a key's chart and the organization's totals. Below the key service
//! and the verifier: it imports neither.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What one verification of a known key came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok = 0,
    Revoked = 1,
    Expired = 2,
    Paused = 3,
    InsufficientScope = 4,
    RateLimited = 5,
    /// Refused by a gateway route rule, or by a `/verify` permission question.
    InsufficientPermission = 6,
}

impl Outcome {
    pub const COUNT: usize = 7;
    pub const ALL: [Outcome; Self::COUNT] = [
        Outcome::Ok,
        Outcome::Revoked,
        Outcome::Expired,
        Outcome::Paused,
        Outcome::InsufficientScope,
        Outcome::RateLimited,
        Outcome::InsufficientPermission,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Revoked => "revoked",
            Outcome::Expired => "expired",
            Outcome::Paused => "paused",
            Outcome::InsufficientScope => "insufficient_scope",
            Outcome::RateLimited => "rate_limited",
            Outcome::InsufficientPermission => "insufficient_permission",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "Succeeded",
            Outcome::Revoked => "Revoked",
            Outcome::Expired => "Expired",
            Outcome::Paused => "Paused",
            Outcome::InsufficientScope => "Missing scope",
            Outcome::RateLimited => "Rate limited",
            Outcome::InsufficientPermission => "Missing permission",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

/// The span a chart covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Period {
    /// The last 24 hours, per hour.
    #[serde(rename = "24h")]
    Day,
    /// The last 30 days, per day.
    #[serde(rename = "30d")]
    Month,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "24h",
            Period::Month => "30d",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "24h" => Some(Period::Day),
            "30d" => Some(Period::Month),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Period::Day => "Last 24 hours",
            Period::Month => "Last 30 days",
        }
    }

    /// Seconds per bucket and the number of buckets.
    pub fn buckets(self) -> (i64, i64) {
        match self {
            Period::Day => (3_600, 24),
            Period::Month => (86_400, 30),
        }
    }
}

/// One bar of a chart: the counts of each outcome in one hour or day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageBucket {
    pub start: DateTime<Utc>,
    /// Indexed by [`Outcome`].
    pub counts: [u64; Outcome::COUNT],
}

impl UsageBucket {
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// Requests over a period, oldest bucket first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageView {
    pub period: Period,
    pub buckets: Vec<UsageBucket>,
}

impl UsageView {
    pub fn total(&self) -> u64 {
        self.buckets.iter().map(UsageBucket::total).sum()
    }

    /// Requests that did not succeed.
    pub fn errors(&self) -> u64 {
        self.total() - self.of(Outcome::Ok)
    }

    pub fn of(&self, outcome: Outcome) -> u64 {
        self.buckets
            .iter()
            .map(|b| b.counts[outcome as usize])
            .sum()
    }

    /// "2.5%"; "–" with no requests.
    pub fn error_rate_text(&self) -> String {
        match self.total() {
            0 => "–".into(),
            total => format!("{:.1}%", self.errors() as f64 * 100.0 / total as f64),
        }
    }
}

/// One of the busiest keys of an organization over a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusyKey {
    pub key_id: String,
    pub name: String,
    pub hint: String,
    pub total: u64,
}

/// The keys page's usage panel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgUsageView {
    pub usage: UsageView,
    /// At most five, busiest first.
    pub busiest: Vec<BusyKey>,
}

/// Verifications counted per hour are kept this long.
pub const RETENTION_DAYS: i64 = 90;

#[cfg(feature = "ssr")]
pub mod store {
    //! The `key_usage` table: the charts' queries and the prune (the flush's upsert is
    //! `crate::keys::verify::flush`).

    use std::collections::HashMap;

    use chrono::{DateTime, Utc};
    use sea_orm::sea_query::Expr;
    use sea_orm::{
        ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    };

    use super::{BusyKey, OrgUsageView, Outcome, Period, UsageBucket, UsageView};
    use crate::entities::{api_key, key_permission_usage, key_usage};

    const SUM: &str = r#"CAST(SUM("count") AS BIGINT)"#;

    /// Deletes counts (per hour, and per route rule and day) older than
    /// [`super::RETENTION_DAYS`].
    pub async fn prune(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, DbErr> {
        let before = now.timestamp() - super::RETENTION_DAYS * 86_400;
        let by_rule = key_permission_usage::Entity::delete_many()
            .filter(key_permission_usage::Column::Day.lt(before))
            .exec(db)
            .await?
            .rows_affected;
        Ok(by_rule
            + key_usage::Entity::delete_many()
                .filter(key_usage::Column::Hour.lt(before))
                .exec(db)
                .await?
                .rows_affected)
    }

    /// The first bucket's start and the bucket width of `period` ending with `now`'s.
    fn span(period: Period, now: DateTime<Utc>) -> (i64, i64, i64) {
        let (width, count) = period.buckets();
        let last = now.timestamp().div_euclid(width) * width;
        (last - (count - 1) * width, width, count)
    }

    fn fold(period: Period, now: DateTime<Utc>, rows: Vec<(i64, String, i64)>) -> UsageView {
        let (first, width, count) = span(period, now);
        let mut buckets: Vec<UsageBucket> = (0..count)
            .map(|i| UsageBucket {
                start: DateTime::from_timestamp(first + i * width, 0).unwrap_or_default(),
                counts: [0; Outcome::COUNT],
            })
            .collect();
        for (hour, outcome, n) in rows {
            let (Some(outcome), Ok(index)) = (
                Outcome::parse(&outcome),
                usize::try_from((hour - first).div_euclid(width)),
            ) else {
                continue;
            };
            if let Some(bucket) = buckets.get_mut(index) {
                bucket.counts[outcome as usize] += u64::try_from(n).unwrap_or(0);
            }
        }
        UsageView { period, buckets }
    }

    /// One key's requests over `period`, by outcome.
    pub async fn of_key(
        db: &impl ConnectionTrait,
        org_id: &str,
        key_id: &str,
        period: Period,
        now: DateTime<Utc>,
    ) -> Result<UsageView, DbErr> {
        let (first, _, _) = span(period, now);
        let rows = key_usage::Entity::find()
            .select_only()
            .column(key_usage::Column::Hour)
            .column(key_usage::Column::Outcome)
            .column(key_usage::Column::Count)
            .filter(key_usage::Column::OrgId.eq(org_id))
            .filter(key_usage::Column::KeyId.eq(key_id))
            .filter(key_usage::Column::Hour.gte(first))
            .into_tuple::<(i64, String, i64)>()
            .all(db)
            .await?;
        Ok(fold(period, now, rows))
    }

    /// The organization's requests over `period` and its five busiest keys.
    pub async fn of_org(
        db: &impl ConnectionTrait,
        org_id: &str,
        period: Period,
        now: DateTime<Utc>,
    ) -> Result<OrgUsageView, DbErr> {
        let (first, _, _) = span(period, now);
        let rows = key_usage::Entity::find()
            .select_only()
            .column(key_usage::Column::Hour)
            .column(key_usage::Column::Outcome)
            .column_as(Expr::cust(SUM), "total")
            .filter(key_usage::Column::OrgId.eq(org_id))
            .filter(key_usage::Column::Hour.gte(first))
            .group_by(key_usage::Column::Hour)
            .group_by(key_usage::Column::Outcome)
            .into_tuple::<(i64, String, i64)>()
            .all(db)
            .await?;
        let top = key_usage::Entity::find()
            .select_only()
            .column(key_usage::Column::KeyId)
            .column_as(Expr::cust(SUM), "total")
            .filter(key_usage::Column::OrgId.eq(org_id))
            .filter(key_usage::Column::Hour.gte(first))
            .group_by(key_usage::Column::KeyId)
            .order_by_desc(Expr::cust(SUM))
            .order_by_asc(key_usage::Column::KeyId)
            .limit(5)
            .into_tuple::<(String, i64)>()
            .all(db)
            .await?;
        let keys: HashMap<String, api_key::Model> = api_key::Entity::find()
            .filter(api_key::Column::OrgId.eq(org_id))
            .filter(api_key::Column::Id.is_in(top.iter().map(|(id, _)| id.clone())))
            .all(db)
            .await?
            .into_iter()
            .map(|k| (k.id.clone(), k))
            .collect();
        let busiest = top
            .into_iter()
            .filter_map(|(key_id, total)| {
                let key = keys.get(&key_id)?;
                Some(BusyKey {
                    name: key.name.clone(),
                    hint: key.start.clone(),
                    key_id,
                    total: u64::try_from(total).unwrap_or(0),
                })
            })
            .collect();
        Ok(OrgUsageView {
            usage: fold(period, now, rows),
            busiest,
        })
    }
}
