//! Least privilege from real use (issue 29 §7). The gateway counts every request a route
//! rule decides, and `/verify` every permission a question names, per key and outcome
//! (on the key's meter, written per day by the usage flush). From the last
//! [`USE_DAYS`] days of that, a key's page shows which permissions the key used, and
//! [`restrict`] takes away every other one after a confirmation.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How far back the key's page looks.
pub const USE_DAYS: i64 = 30;

/// Requests of one key that one route rule (or one permission of `/verify` questions)
/// decided over the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleUse {
    /// `GET /invoices/{id}`, or `POST /api/v1/verify` for a question's permission.
    pub route: String,
    /// What the rule required when last counted (for `/verify`: the one permission).
    pub permissions: Vec<String>,
    pub allowed: u64,
    /// Refused by a report-only rule, which let them through.
    pub would_deny: u64,
    pub denied: u64,
    /// The start (UTC) of the last day with a request.
    pub last_day: DateTime<Utc>,
}

/// What a key did with its permissions over the last [`USE_DAYS`] days, and what
/// restricting it to that would change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionUse {
    pub days: i64,
    /// Busiest first.
    pub routes: Vec<RuleUse>,
    /// The permissions its allowed requests needed, sorted: what it keeps when restricted
    /// (those it still holds).
    pub used: Vec<String>,
    /// Of its own permissions (and wildcards), those restricting takes away.
    pub removes: Vec<String>,
    /// Of its roles, those restricting takes away (all: the used permissions are given
    /// by name).
    pub removes_roles: Vec<String>,
}

impl PermissionUse {
    /// Whether restricting would change anything.
    pub fn can_restrict(&self) -> bool {
        !self.removes.is_empty() || !self.removes_roles.is_empty()
    }
}

/// Space- or comma-separated names, as a confirmation form sends back what it showed.
pub fn listed(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(feature = "ssr")]
pub use self::store::{permission_use, restrict};

#[cfg(feature = "ssr")]
mod store {
    use std::collections::{BTreeSet, HashMap};

    use chrono::{DateTime, Utc};
    use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder};

    use super::{PermissionUse, RuleUse, USE_DAYS};
    use crate::entities::key_permission_usage;
    use crate::ids::{KeyId, OrgId};
    use crate::keys::ApiKeyView;
    use crate::keys::service::{KeyError, KeyManager, get_key, set_permissions};
    use crate::keys::verify::Verifier;
    use crate::keys::verify::meter::RouteOutcome;
    use crate::permissions::{Grant, catalog::catalog};

    const DAY: i64 = 86_400;

    /// The key's use of its permissions over the last [`USE_DAYS`] days (today included),
    /// summed over every instance as of the last usage flush.
    pub async fn permission_use(
        db: &DatabaseConnection,
        org_id: OrgId<'_>,
        key: &ApiKeyView,
        now: DateTime<Utc>,
    ) -> Result<PermissionUse, DbErr> {
        let since = (now.timestamp().div_euclid(DAY) - (USE_DAYS - 1)) * DAY;
        let rows = key_permission_usage::Entity::find()
            .filter(key_permission_usage::Column::KeyId.eq(&key.id))
            .filter(key_permission_usage::Column::OrgId.eq(org_id.0))
            .filter(key_permission_usage::Column::Day.gte(since))
            .order_by_asc(key_permission_usage::Column::Day)
            .all(db)
            .await?;
        let mut by_rule: HashMap<String, RuleUse> = HashMap::new();
        for row in rows {
            let entry = by_rule.entry(row.rule).or_insert_with(|| RuleUse {
                route: String::new(),
                permissions: Vec::new(),
                allowed: 0,
                would_deny: 0,
                denied: 0,
                last_day: DateTime::UNIX_EPOCH,
            });
            // Rows come oldest first: the rule as it read on its last day wins.
            entry.route = row.route;
            entry.permissions = row
                .permissions
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            entry.last_day = DateTime::from_timestamp(row.day, 0).unwrap_or_default();
            let n = u64::try_from(row.count).unwrap_or(0);
            match RouteOutcome::parse(&row.outcome) {
                Some(RouteOutcome::Allowed) => entry.allowed += n,
                Some(RouteOutcome::WouldDeny) => entry.would_deny += n,
                Some(RouteOutcome::Denied) => entry.denied += n,
                None => {}
            }
        }
        let mut routes: Vec<RuleUse> = by_rule.into_values().collect();
        routes.sort_by(|a, b| {
            let total = |r: &RuleUse| r.allowed + r.would_deny + r.denied;
            total(b).cmp(&total(a)).then_with(|| a.route.cmp(&b.route))
        });
        // What the allowed requests needed and the key still holds: a permission it has
        // since lost is not given back by restricting it.
        let catalog = catalog(db, org_id).await?;
        let own: Vec<Grant> = key
            .permissions
            .iter()
            .filter_map(|g| Grant::parse(g).ok())
            .collect();
        let holds = catalog.effective(&own, &key.roles);
        let used: BTreeSet<String> = routes
            .iter()
            .filter(|r| r.allowed > 0)
            .flat_map(|r| r.permissions.iter().cloned())
            .filter(|p| holds.allows(p))
            .collect();
        let removes = key
            .permissions
            .iter()
            .filter(|g| !used.contains(*g))
            .cloned()
            .collect();
        Ok(PermissionUse {
            days: USE_DAYS,
            routes,
            used: used.into_iter().collect(),
            removes,
            removes_roles: key.roles.clone(),
        })
    }

    /// Restricts a key to the permissions it used in the last [`USE_DAYS`] days: they are
    /// given by name and every other permission, wildcard and role is taken away (audited
    /// and re-read everywhere as any permission change). `confirmed` is what the person
    /// was shown would be removed (permissions, then roles): if the key's use has since
    /// changed what would go, nothing changes and the 409 says to look again.
    pub async fn restrict(
        db: &DatabaseConnection,
        verifier: &Verifier,
        manager: &KeyManager,
        key_id: KeyId<'_>,
        confirmed: Option<(Vec<String>, Vec<String>)>,
    ) -> Result<(ApiKeyView, PermissionUse), KeyError> {
        let key = get_key(db, manager, key_id).await?;
        if !key.status.is_live() {
            return Err(KeyError::Conflict {
                message: "This key no longer works: there is nothing to restrict.".into(),
            });
        }
        let found = permission_use(db, OrgId(manager.org_id()), &key, Utc::now()).await?;
        if !found.can_restrict() {
            return Err(KeyError::Conflict {
                message: "The key already holds only what it used: nothing to remove.".into(),
            });
        }
        if let Some((permissions, roles)) = confirmed {
            let mut removes = found.removes.clone();
            removes.sort();
            let mut removes_roles = found.removes_roles.clone();
            removes_roles.sort();
            if super::listed(&permissions.join(" ")) != removes
                || super::listed(&roles.join(" ")) != removes_roles
            {
                return Err(KeyError::Conflict {
                    message: "What the key used has changed since you looked: review what \
                              restricting removes again."
                        .into(),
                });
            }
        }
        let keep: Vec<Grant> = found
            .used
            .iter()
            .filter_map(|p| Grant::parse(p).ok())
            .collect();
        let changed = set_permissions(db, verifier, manager, key_id, keep, Vec::new()).await?;
        Ok((changed, found))
    }
}
