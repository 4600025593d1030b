//! Organization and membership rules. Every function that changes something takes a
//! proof of the caller's role (`OrgAdmin`), obtained from `membership` on each request,
//! so a role change or removal takes effect on the very next request (S5).

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, SqlErr,
};

use super::access::{OrgAdmin, OrgError, OrgMember, parse_stored_role};
use super::{MemberKeyView, MemberView, OrgSummary, Role};
use crate::entities::{membership, organization, user};
use crate::ids::{OrgId, UserId};
use crate::keys::lifecycle::{KeyHandover, hand_over_keys, live_keys_of};
use crate::validate;

fn org_name(raw: &str) -> Result<String, OrgError> {
    validate::name(raw, "Organization name").map_err(|message| OrgError::Invalid {
        field: "name",
        message,
    })
}

pub async fn create_org(
    db: &DatabaseConnection,
    user_id: UserId<'_>,
    name: &str,
) -> Result<OrgSummary, OrgError> {
    let user_id = user_id.0;
    let name = org_name(name)?;
    let id = crate::ssr::random_id("org");
    let now = chrono::Utc::now();
    let txn = crate::ssr::begin_write(db).await?;
    organization::ActiveModel {
        id: Set(id.clone()),
        name: Set(name.clone()),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    membership::ActiveModel {
        org_id: Set(id.clone()),
        user_id: Set(user_id.to_owned()),
        role: Set(Role::Owner.as_str().to_owned()),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(OrgSummary {
        id,
        name,
        role: Role::Owner,
    })
}

pub async fn list_orgs(
    db: &impl ConnectionTrait,
    user_id: UserId<'_>,
) -> Result<Vec<OrgSummary>, OrgError> {
    let user_id = user_id.0;
    let rows = membership::Entity::find()
        .filter(membership::Column::UserId.eq(user_id))
        .find_also_related(organization::Entity)
        .all(db)
        .await?;
    let mut orgs = rows
        .into_iter()
        .filter_map(|(m, org)| org.map(|org| (m, org)))
        .map(|(m, org)| {
            Ok(OrgSummary {
                id: org.id,
                name: org.name,
                role: parse_stored_role(&m.role)?,
            })
        })
        .collect::<Result<Vec<_>, OrgError>>()?;
    orgs.sort_by(|a, b| {
        a.name
            .to_lowercase()
            .cmp(&b.name.to_lowercase())
            .then_with(|| a.id.cmp(&b.id))
    });
    Ok(orgs)
}

pub async fn get_org(
    db: &impl ConnectionTrait,
    member: &OrgMember,
) -> Result<OrgSummary, OrgError> {
    let org = organization::Entity::find_by_id(member.org_id.clone())
        .one(db)
        .await?
        .ok_or(OrgError::NotFound)?;
    Ok(OrgSummary {
        id: org.id,
        name: org.name,
        role: member.role,
    })
}

pub async fn rename_org(
    db: &impl ConnectionTrait,
    admin: &OrgAdmin,
    name: &str,
) -> Result<OrgSummary, OrgError> {
    let name = org_name(name)?;
    let member = admin.member();
    organization::Entity::update_many()
        .col_expr(organization::Column::Name, Expr::value(name.clone()))
        .filter(organization::Column::Id.eq(&member.org_id))
        .exec(db)
        .await?;
    get_org(db, member).await
}

fn member_view(
    m: membership::Model,
    u: user::Model,
    caller: &OrgAdmin,
) -> Result<MemberView, OrgError> {
    Ok(MemberView {
        is_you: u.id == caller.member().user_id,
        role: parse_stored_role(&m.role)?,
        user_id: u.id,
        email: u.email,
        display_name: u.display_name,
        joined_at: m.created_at,
    })
}

pub async fn list_members(
    db: &impl ConnectionTrait,
    admin: &OrgAdmin,
) -> Result<Vec<MemberView>, OrgError> {
    let rows = membership::Entity::find()
        .filter(membership::Column::OrgId.eq(&admin.member().org_id))
        .find_also_related(user::Entity)
        .all(db)
        .await?;
    let mut members = rows
        .into_iter()
        .filter_map(|(m, u)| u.map(|u| member_view(m, u, admin)))
        .collect::<Result<Vec<_>, _>>()?;
    members.sort_by(|a, b| a.role.cmp(&b.role).then_with(|| a.email.cmp(&b.email)));
    Ok(members)
}

/// Adds an existing account to the organization. Keys the person created in an earlier
/// membership and that nobody revoked (left from before removals handled their keys) are
/// revoked in the same transaction: coming back never revives a key.
pub async fn add_member(
    db: &DatabaseConnection,
    admin: &OrgAdmin,
    email: &str,
    role: Role,
) -> Result<MemberView, OrgError> {
    let org_id = &admin.member().org_id;
    if !admin.member().role.can_administer(role) {
        return Err(OrgError::Forbidden);
    }
    let email = validate::email(email).map_err(|message| OrgError::Invalid {
        field: "email",
        message,
    })?;
    let Some(user) = user::Entity::find()
        .filter(user::Column::Email.eq(&email))
        .one(db)
        .await?
    else {
        return Err(OrgError::Invalid {
            field: "email",
            message: format!(
                "No Keygate account uses {email}. Ask them to sign up first, then add them here."
            ),
        });
    };
    let now = chrono::Utc::now();
    let row = membership::ActiveModel {
        org_id: Set(org_id.clone()),
        user_id: Set(user.id.clone()),
        role: Set(role.as_str().to_owned()),
        created_at: Set(now),
    };
    let txn = crate::ssr::begin_write(db).await?;
    lock_org(&txn, org_id).await?;
    match membership::Entity::insert(row.clone())
        .exec_without_returning(&txn)
        .await
    {
        Ok(_) => {}
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            return Err(OrgError::Conflict {
                field: "email",
                message: format!("{email} is already a member of this organization."),
            });
        }
        Err(e) => return Err(e.into()),
    }
    let orphans = hand_over_keys(
        &txn,
        OrgId(org_id),
        UserId(&user.id),
        UserId(&admin.member().user_id),
        KeyHandover::Revoke,
    )
    .await?;
    if orphans > 0 {
        announce_member(&txn, org_id, &user.id).await?;
    }
    txn.commit().await?;
    let membership = membership::Model {
        org_id: org_id.clone(),
        user_id: user.id.clone(),
        role: role.as_str().to_owned(),
        created_at: now,
    };
    member_view(membership, user, admin)
}

/// Takes the organization's write lock for the rest of the transaction with a no-op
/// update: on PostgreSQL it locks the org row, on SQLite it makes the transaction the
/// writer up front. Concurrent role changes then serialise, so two owners demoting each
/// other at once cannot leave the organization with none.
async fn lock_org(txn: &impl ConnectionTrait, org_id: &str) -> Result<(), OrgError> {
    let res = organization::Entity::update_many()
        .col_expr(
            organization::Column::Id,
            Expr::col(organization::Column::Id).into(),
        )
        .filter(organization::Column::Id.eq(org_id))
        .exec(txn)
        .await?;
    if res.rows_affected == 0 {
        Err(OrgError::NotFound)
    } else {
        Ok(())
    }
}

/// Takes the organization's lock, then reads the member a change is about, with their
/// role: `NotFound` when they are not a member.
async fn locked_target(
    txn: &impl ConnectionTrait,
    org_id: &str,
    user_id: &str,
) -> Result<(membership::Model, Role), OrgError> {
    lock_org(txn, org_id).await?;
    let target = target_member(txn, org_id, user_id).await?;
    let role = parse_stored_role(&target.role)?;
    Ok((target, role))
}

async fn target_member(
    txn: &impl ConnectionTrait,
    org_id: &str,
    user_id: &str,
) -> Result<membership::Model, OrgError> {
    membership::Entity::find_by_id((org_id.to_owned(), user_id.to_owned()))
        .one(txn)
        .await?
        .ok_or(OrgError::NotFound)
}

/// The caller's role as it is now, read under the org lock: a request that started before
/// the caller was demoted or removed must not act on the old role.
async fn caller_role_now(txn: &impl ConnectionTrait, admin: &OrgAdmin) -> Result<Role, OrgError> {
    let member = admin.member();
    let row = membership::Entity::find_by_id((member.org_id.clone(), member.user_id.clone()))
        .one(txn)
        .await?
        .ok_or(OrgError::NotFound)?;
    let role = parse_stored_role(&row.role)?;
    if role.can_manage_members() {
        Ok(role)
    } else {
        Err(OrgError::Forbidden)
    }
}

async fn ensure_an_owner_remains(txn: &impl ConnectionTrait, org_id: &str) -> Result<(), OrgError> {
    let owners = membership::Entity::find()
        .filter(membership::Column::OrgId.eq(org_id))
        .filter(membership::Column::Role.eq(Role::Owner.as_str()))
        .count(txn)
        .await?;
    if owners == 0 {
        Err(OrgError::LastOwner)
    } else {
        Ok(())
    }
}

pub async fn change_role(
    db: &DatabaseConnection,
    admin: &OrgAdmin,
    user_id: UserId<'_>,
    role: Role,
) -> Result<MemberView, OrgError> {
    let user_id = user_id.0;
    let org_id = admin.member().org_id.as_str();
    let txn = crate::ssr::begin_write(db).await?;
    let (target, current) = locked_target(&txn, org_id, user_id).await?;
    let caller = caller_role_now(&txn, admin).await?;
    if !caller.can_administer(current) || !caller.can_administer(role) {
        return Err(OrgError::Forbidden);
    }
    let mut row: membership::ActiveModel = target.into();
    row.role = Set(role.as_str().to_owned());
    let updated = row.update(&txn).await?;
    if current == Role::Owner {
        ensure_an_owner_remains(&txn, org_id).await?;
    }
    let user = user::Entity::find_by_id(user_id.to_owned())
        .one(&txn)
        .await?
        .ok_or(OrgError::NotFound)?;
    // Every instance re-reads this member's keys' rights once this commits (K9).
    announce_member(&txn, org_id, user_id).await?;
    txn.commit().await?;
    member_view(updated, user, admin)
}

/// The member's keys that are not revoked: what removing them revokes or hands over.
pub async fn member_keys(
    db: &impl ConnectionTrait,
    admin: &OrgAdmin,
    user_id: UserId<'_>,
) -> Result<Vec<MemberKeyView>, OrgError> {
    let user_id = user_id.0;
    let org_id = admin.member().org_id.as_str();
    target_member(db, org_id, user_id).await?;
    let mut rows = live_keys_of(db, OrgId(org_id), UserId(user_id)).await?;
    rows.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    Ok(rows
        .into_iter()
        .map(|k| MemberKeyView {
            id: k.id,
            name: k.name,
            hint: k.start,
            expires_at: k.expires_at,
        })
        .collect())
}

/// Removes a member, and in the same transaction revokes or hands over every key they
/// created that is not revoked, with an audit event per key: nothing they made keeps
/// working in their name, and adding them back later brings nothing back.
pub async fn remove_member(
    db: &DatabaseConnection,
    admin: &OrgAdmin,
    user_id: UserId<'_>,
    keys: KeyHandover,
) -> Result<(), OrgError> {
    let user_id = user_id.0;
    let org_id = admin.member().org_id.as_str();
    let txn = crate::ssr::begin_write(db).await?;
    let (_, current) = locked_target(&txn, org_id, user_id).await?;
    if !caller_role_now(&txn, admin).await?.can_administer(current) {
        return Err(OrgError::Forbidden);
    }
    membership::Entity::delete_by_id((org_id.to_owned(), user_id.to_owned()))
        .exec(&txn)
        .await?;
    if current == Role::Owner {
        ensure_an_owner_remains(&txn, org_id).await?;
    }
    let handed_over = hand_over_keys(
        &txn,
        OrgId(org_id),
        UserId(user_id),
        UserId(&admin.member().user_id),
        keys,
    )
    .await?;
    // Their webhook endpoints stop with their membership (Z6), before the event below:
    // a removed admin's endpoint does not even hear of the removal.
    let endpoints = crate::webhooks::service::disable_member_endpoints(
        &txn,
        org_id,
        user_id,
        &admin.member().user_id,
    )
    .await?;
    let email = user::Entity::find_by_id(user_id.to_owned())
        .one(&txn)
        .await?
        .map(|u| u.email);
    let data = serde_json::json!({
        "organization_id": org_id,
        "member": { "id": user_id, "email": email, "role": current.as_str() },
        "actor": { "id": admin.member().user_id },
        "left": user_id == admin.member().user_id,
        "keys": {
            "handover": match keys {
                KeyHandover::Revoke => "revoked",
                KeyHandover::Transfer => "transferred",
            },
            "count": handed_over,
        },
        "webhook_endpoints_disabled": endpoints,
    });
    crate::webhooks::outbox::emit(&txn, org_id, "member.removed", data, None).await?;
    // Every instance re-reads this member's keys once this commits (K9).
    announce_member(&txn, org_id, user_id).await?;
    txn.commit().await?;
    Ok(())
}

async fn announce_member(
    txn: &impl ConnectionTrait,
    org_id: &str,
    user_id: &str,
) -> Result<(), DbErr> {
    crate::keys::verify::announce(
        txn,
        &crate::keys::verify::Invalidation::Member {
            org_id: org_id.to_owned(),
            user_id: user_id.to_owned(),
        },
    )
    .await
}
