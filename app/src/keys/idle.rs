//! The idle sweep: revokes keys unused for their organization's idle window.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};

use super::events::{self, KeyEvent, Revocation, SYSTEM_ACTOR};
use super::lifecycle::now;
use super::org_policy::policy_of;
use super::verify::{Invalidation, Verifier, announce};
use crate::entities::{api_key, organization};

/// Revokes the keys of every organization whose policy revokes idle keys and that were
/// not used (nor created, nor imported) within its window. Last-used times are coalesced in memory, so
/// before deciding, this instance writes its own, waits `settle` (longer than every
/// instance's flush interval) and writes again; the revoking update then re-checks each
/// key's last use, so a key used on any instance within the window is never revoked.
/// Each revocation is one transaction with its audit event and cache invalidation.
/// Returns the ids revoked.
pub async fn revoke_idle_keys(
    db: &DatabaseConnection,
    verifier: &Verifier,
    settle: std::time::Duration,
) -> Result<Vec<String>, DbErr> {
    let orgs = organization::Entity::find()
        .filter(organization::Column::IdleRevokeDays.is_not_null())
        .all(db)
        .await?;
    if orgs.is_empty() {
        return Ok(Vec::new());
    }
    verifier.flush_usage(db).await?;
    let idle = |cutoff: DateTime<Utc>| {
        sea_orm::Condition::all()
            .add(api_key::Column::RevokedAt.is_null())
            .add(api_key::Column::CreatedAt.lt(cutoff))
            // An imported key is idle from when Keygate got it, not from its birth in
            // the other product.
            .add(
                sea_orm::Condition::any()
                    .add(api_key::Column::ImportedAt.is_null())
                    .add(api_key::Column::ImportedAt.lt(cutoff)),
            )
            .add(
                sea_orm::Condition::any()
                    .add(api_key::Column::LastUsedAt.is_null())
                    .add(api_key::Column::LastUsedAt.lt(cutoff)),
            )
            .add(
                sea_orm::Condition::any()
                    .add(api_key::Column::ExpiresAt.is_null())
                    .add(api_key::Column::ExpiresAt.gt(now())),
            )
    };
    let mut candidates = Vec::new();
    for org in &orgs {
        let Some(days) = policy_of(org).idle_days else {
            continue;
        };
        let cutoff = now() - chrono::Duration::days(i64::from(days));
        let keys = api_key::Entity::find()
            .filter(api_key::Column::OrgId.eq(&org.id))
            .filter(idle(cutoff))
            .all(db)
            .await?;
        candidates.extend(keys.into_iter().map(|k| (k, days)));
    }
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    tokio::time::sleep(settle).await;
    verifier.flush_usage(db).await?;
    let mut revoked = Vec::new();
    for (key, days) in candidates {
        let now = now();
        let cutoff = now - chrono::Duration::days(i64::from(days));
        let txn = crate::ssr::begin_write(db).await?;
        let res = api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, Expr::value(now))
            .col_expr(api_key::Column::RevokedBy, Expr::value(SYSTEM_ACTOR))
            .filter(api_key::Column::Id.eq(&key.id))
            .filter(idle(cutoff))
            .exec(&txn)
            .await?;
        if res.rows_affected == 1 {
            let event = KeyEvent::Revoked(Revocation::Idle { days });
            events::record(&txn, SYSTEM_ACTOR, now, &key, event).await?;
            announce(&txn, &Invalidation::Key(key.id.clone())).await?;
            txn.commit().await?;
            verifier.forget_key(&key.id);
            revoked.push(key.id);
        } else {
            txn.rollback().await?;
        }
    }
    Ok(revoked)
}
