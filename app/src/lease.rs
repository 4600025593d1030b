//! Leases: work one instance at a time (the idle sweep, webhook maintenance), taken over
//! by another instance when the holder dies.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use crate::entities::lease;

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Takes (or renews) the lease `name` for `holder` until `ttl` from now: `true` when
/// `holder` has it. Work guarded by a lease runs on one instance at a time; if the holder
/// dies, another takes over once the lease runs out. Works the same on PostgreSQL and on a
/// shared SQLite file.
pub async fn take_lease(
    db: &impl ConnectionTrait,
    name: &str,
    holder: &str,
    ttl: chrono::Duration,
) -> Result<bool, DbErr> {
    use sea_orm::sea_query::OnConflict;
    let now = now();
    lease::Entity::insert(lease::ActiveModel {
        name: Set(name.to_owned()),
        holder: Set(holder.to_owned()),
        until: Set(now + ttl),
    })
    .on_conflict(
        OnConflict::column(lease::Column::Name)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    let res = lease::Entity::update_many()
        .col_expr(lease::Column::Holder, Expr::value(holder))
        .col_expr(lease::Column::Until, Expr::value(now + ttl))
        .filter(lease::Column::Name.eq(name))
        .filter(
            sea_orm::Condition::any()
                .add(lease::Column::Holder.eq(holder))
                .add(lease::Column::Until.lt(now)),
        )
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}
