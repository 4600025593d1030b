//! The organization's rules for new keys (GitHub's maximum lifetime, idle revocation):
//! read by every key change, set by owners and admins.

use chrono::SubsecRound;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};

use super::KeyPolicy;
use super::manager::KeyError;
use crate::audit::{self, Action};
use crate::entities::organization;
use crate::ids::OrgId;
use crate::orgs::access::OrgAdmin;

/// The organization's key policy.
pub async fn org_policy(db: &impl ConnectionTrait, org_id: OrgId<'_>) -> Result<KeyPolicy, DbErr> {
    let org_id = org_id.0;
    let org = organization::Entity::find_by_id(org_id.to_owned())
        .one(db)
        .await?;
    Ok(org.map(|o| policy_of(&o)).unwrap_or_default())
}

pub fn policy_of(org: &organization::Model) -> KeyPolicy {
    let days = |d: Option<i32>| d.and_then(|d| u32::try_from(d).ok()).filter(|d| *d > 0);
    KeyPolicy {
        max_days: days(org.max_key_days),
        require_expiry: org.require_expiry,
        idle_days: days(org.idle_revoke_days),
    }
}

/// Sets the organization's key policy: owners and admins only. Keys already outliving
/// it are flagged, not changed. Recorded in the audit log.
pub async fn set_policy(
    db: &DatabaseConnection,
    admin: &OrgAdmin,
    policy: KeyPolicy,
) -> Result<KeyPolicy, KeyError> {
    let member = admin.member();
    if policy
        .max_days
        .is_some_and(|d| !(1..=super::POLICY_MAX_DAYS).contains(&d))
    {
        return Err(KeyError::Invalid {
            field: "max_days",
            message: format!(
                "The maximum lifetime must be between 1 and {} days.",
                super::POLICY_MAX_DAYS
            ),
        });
    }
    if policy
        .idle_days
        .is_some_and(|d| !super::IDLE_DAYS_RANGE.contains(&d))
    {
        return Err(KeyError::Invalid {
            field: "idle_days",
            message: format!(
                "Idle keys can be revoked after {} to {} days.",
                super::IDLE_DAYS_RANGE.start(),
                super::IDLE_DAYS_RANGE.end()
            ),
        });
    }
    let to_column = |d: Option<u32>| d.and_then(|d| i32::try_from(d).ok());
    let now = chrono::Utc::now().trunc_subsecs(6);
    let txn = crate::ssr::begin_write(db).await?;
    let res = organization::Entity::update_many()
        .col_expr(
            organization::Column::MaxKeyDays,
            Expr::value(to_column(policy.max_days)),
        )
        .col_expr(
            organization::Column::RequireExpiry,
            Expr::value(policy.require_expiry),
        )
        .col_expr(
            organization::Column::IdleRevokeDays,
            Expr::value(to_column(policy.idle_days)),
        )
        .filter(organization::Column::Id.eq(&member.org_id))
        .exec(&txn)
        .await?;
    if res.rows_affected == 0 {
        return Err(KeyError::NotFound);
    }
    let row = audit::Row {
        org_id: member.org_id.clone(),
        actor_id: member.user_id.clone(),
        action: Action::PolicyChanged,
        subject_id: String::new(),
        subject_name: String::new(),
        at: now,
        detail: Some(policy_text(policy)),
    };
    audit::insert(&txn, vec![row]).await?;
    txn.commit().await?;
    Ok(policy)
}

/// `keys expire within 90 days; idle keys revoked after 365 days`.
fn policy_text(policy: KeyPolicy) -> String {
    let mut parts = Vec::new();
    match (policy.max_days, policy.require_expiry) {
        (Some(days), _) => parts.push(format!("keys expire within {}", super::days_text(days))),
        (None, true) => parts.push("every key must expire".to_owned()),
        (None, false) => parts.push("no lifetime limit".to_owned()),
    }
    if let Some(days) = policy.idle_days {
        parts.push(format!(
            "idle keys revoked after {}",
            super::days_text(days)
        ));
    }
    parts.join("; ")
}
