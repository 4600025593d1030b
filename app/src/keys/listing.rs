//! The organization's keys as the pages and the REST API show them: one key, a filtered
//! page of them, and the activity log.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::events::{LEAK_ACTOR, SYSTEM_ACTOR};
use super::manager::{KeyError, KeyManager};
use super::org_policy::org_policy;
use super::scopes::Scopes;
use super::{
    ApiKeyView, AuditEventView, KeyPage, KeyPolicy, KeyQuery, KeyStatus, Overlap, PAGE_SIZE,
    StatusFilter,
};
use crate::entities::{api_key, audit_event, membership as membership_row};
use crate::ids::{KeyId, OrgId};
use crate::orgs::access::names;

/// A person's display name, "Keygate (key policy)" for the sweep, "Keygate (leak report)"
/// for a leak report, or "a former member".
pub(crate) fn person(names: &HashMap<String, String>, id: &str) -> String {
    if id == SYSTEM_ACTOR {
        return "Keygate (key policy)".to_owned();
    }
    if id == LEAK_ACTOR {
        return "Keygate (leak report)".to_owned();
    }
    names
        .get(id)
        .cloned()
        .unwrap_or_else(|| "a former member".to_owned())
}

pub(crate) fn view(
    row: api_key::Model,
    names: &HashMap<String, String>,
    now: DateTime<Utc>,
) -> ApiKeyView {
    let name_of = |id: &str| person(names, id);
    let status = KeyStatus::of(row.revoked_at, row.expires_at, now).with_pause(
        row.paused_at,
        row.paused_until,
        now,
    );
    let rolling = match (row.previous_start, row.previous_until) {
        (Some(hint), Some(until)) if until > now && status.is_live() => {
            Some(Overlap { hint, until })
        }
        _ => None,
    };
    ApiKeyView {
        status,
        scopes: Scopes::from_stored(&row.scopes).names(),
        created_by: name_of(&row.created_by),
        revoked_by: row.revoked_by.as_deref().map(name_of),
        id: row.id,
        name: row.name,
        hint: row.start,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
        notice: None,
        paused_until: (status == KeyStatus::Paused)
            .then_some(row.paused_until)
            .flatten(),
        rolling,
        exceeds_policy: false,
        rate_limit: super::RateLimit::from_stored(row.rate_limit, row.rate_limit_window),
        allowed_ips: super::allowlist::from_stored(row.allowed_ips.as_deref())
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect(),
        tags: super::context::load_tags(row.tags.as_deref()),
        owner: row.owner_id,
        metadata: row.metadata,
        imported_at: row.imported_at,
        permissions: words(row.permissions.as_deref()),
        roles: words(row.roles.as_deref()),
    }
}

fn words(stored: Option<&str>) -> Vec<String> {
    stored
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Flags the live keys that outlive `policy`.
pub(crate) fn flag_policy(keys: &mut [ApiKeyView], policy: KeyPolicy, now: DateTime<Utc>) {
    for key in keys {
        key.exceeds_policy = key.status.is_live() && policy.exceeded_by(key.expires_at, now);
    }
}

/// Why an active key does less than its status says (K9), for the list: its creator left
/// the organization, or their role can no longer manage keys.
pub(crate) async fn creator_notices(
    db: &impl ConnectionTrait,
    org_id: &str,
    keys: &mut [ApiKeyView],
    rows: &[api_key::Model],
) -> Result<(), DbErr> {
    let creators: Vec<String> = rows.iter().map(|r| r.created_by.clone()).collect();
    if creators.is_empty() {
        return Ok(());
    }
    let roles: HashMap<String, String> = membership_row::Entity::find()
        .filter(membership_row::Column::OrgId.eq(org_id))
        .filter(membership_row::Column::UserId.is_in(creators))
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.user_id, m.role))
        .collect();
    for (key, row) in keys.iter_mut().zip(rows) {
        if !key.status.is_live() {
            continue;
        }
        key.notice = match roles
            .get(&row.created_by)
            .map(|r| crate::orgs::Role::parse(r))
        {
            None => Some("Refused: its creator is no longer a member.".into()),
            Some(Some(role)) if role.can_manage_keys() => None,
            Some(_) => Some("No rights: its creator's role can no longer use API keys.".into()),
        };
    }
    Ok(())
}

pub(crate) async fn find_in_org(
    db: &impl ConnectionTrait,
    manager: &KeyManager,
    key_id: &str,
) -> Result<api_key::Model, KeyError> {
    api_key::Entity::find_by_id(key_id.to_owned())
        .filter(api_key::Column::OrgId.eq(manager.org_id()))
        .one(db)
        .await?
        .ok_or(KeyError::NotFound)
}

fn expiring_soon(now: DateTime<Utc>) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(api_key::Column::RevokedAt.is_null())
        .add(api_key::Column::ExpiresAt.gt(now))
        .add(
            api_key::Column::ExpiresAt
                .lte(now + chrono::Duration::days(super::EXPIRY_WARNING_DAYS)),
        )
}

/// Neither revoked nor expired at `now`.
fn live(now: DateTime<Utc>) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(api_key::Column::RevokedAt.is_null())
        .add(
            sea_orm::Condition::any()
                .add(api_key::Column::ExpiresAt.is_null())
                .add(api_key::Column::ExpiresAt.gt(now)),
        )
}

/// Paused at `now`, as [`super::is_paused`] decides it.
fn paused(now: DateTime<Utc>) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(api_key::Column::PausedAt.is_not_null())
        .add(
            sea_orm::Condition::any()
                .add(api_key::Column::PausedUntil.is_null())
                .add(api_key::Column::PausedUntil.gt(now)),
        )
}

fn status_is(status: StatusFilter, now: DateTime<Utc>) -> sea_orm::Condition {
    match status {
        StatusFilter::Active => live(now).add(paused(now).not()),
        StatusFilter::Paused => live(now).add(paused(now)),
        StatusFilter::Expiring => expiring_soon(now),
        StatusFilter::Expired => sea_orm::Condition::all()
            .add(api_key::Column::RevokedAt.is_null())
            .add(api_key::Column::ExpiresAt.lte(now)),
        StatusFilter::Revoked => {
            sea_orm::Condition::all().add(api_key::Column::RevokedAt.is_not_null())
        }
    }
}

/// `%text%` for LIKE, with LIKE's own characters in `text` escaped by `\`.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The rows a checked [`KeyQuery`] selects: every filter given must match. The name and
/// hint match in any case; the tag and owner exactly.
fn matching(query: &KeyQuery, now: DateTime<Utc>) -> sea_orm::Condition {
    use sea_orm::sea_query::{Func, LikeExpr};
    let mut condition = sea_orm::Condition::all();
    if let Some(text) = &query.text {
        let pattern = contains_pattern(&text.to_lowercase());
        let like = |column: api_key::Column| {
            Expr::expr(Func::lower(Expr::col(column)))
                .like(LikeExpr::new(pattern.clone()).escape('\\'))
        };
        condition = condition.add(
            sea_orm::Condition::any()
                .add(like(api_key::Column::Name))
                .add(like(api_key::Column::Start))
                .add(api_key::Column::Id.eq(text.as_str())),
        );
    }
    if let Some(tag) = &query.tag {
        condition = condition.add(api_key::Column::Tags.like(super::context::tag_pattern(tag)));
    }
    if let Some(owner) = &query.owner {
        condition = condition.add(api_key::Column::OwnerId.eq(owner.as_str()));
    }
    if let Some(status) = query.status {
        condition = condition.add(status_is(status, now));
    }
    condition
}

/// A page of the organization's keys that match `query` (checked with
/// [`KeyQuery::checked`]), newest first.
pub async fn list_keys(
    db: &impl ConnectionTrait,
    manager: &KeyManager,
    page: u64,
    query: &KeyQuery,
) -> Result<KeyPage, KeyError> {
    let now = Utc::now();
    let all = api_key::Entity::find().filter(api_key::Column::OrgId.eq(manager.org_id()));
    let expiring = all.clone().filter(expiring_soon(now)).count(db).await?;
    let applied = query.clone();
    let query = all.filter(matching(query, now));
    let total = query.clone().count(db).await?;
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = page.clamp(1, pages);
    let rows = query
        .order_by_desc(api_key::Column::CreatedAt)
        .order_by_desc(api_key::Column::Id)
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
        .all(db)
        .await?;
    let ids: Vec<String> = rows
        .iter()
        .flat_map(|r| std::iter::once(r.created_by.clone()).chain(r.revoked_by.clone()))
        .collect();
    let people = names(db, ids).await?;
    let policy = org_policy(db, OrgId(manager.org_id())).await?;
    let mut keys: Vec<ApiKeyView> = rows.iter().map(|r| view(r.clone(), &people, now)).collect();
    creator_notices(db, manager.org_id(), &mut keys, &rows).await?;
    flag_policy(&mut keys, policy, now);
    Ok(KeyPage {
        org_id: manager.org_id().to_owned(),
        keys,
        page,
        pages,
        total,
        expiring_soon: expiring,
        policy,
        query: applied,
        access: Vec::new(),
    })
}

/// One key of the organization, as the list shows it.
pub async fn get_key(
    db: &impl ConnectionTrait,
    manager: &KeyManager,
    key_id: KeyId<'_>,
) -> Result<ApiKeyView, KeyError> {
    let key_id = key_id.0;
    let row = find_in_org(db, manager, key_id).await?;
    let people = names(
        db,
        [Some(row.created_by.clone()), row.revoked_by.clone()]
            .into_iter()
            .flatten(),
    )
    .await?;
    let now = Utc::now();
    let mut keys = vec![view(row.clone(), &people, now)];
    creator_notices(db, manager.org_id(), &mut keys, std::slice::from_ref(&row)).await?;
    flag_policy(
        &mut keys,
        org_policy(db, OrgId(manager.org_id())).await?,
        now,
    );
    keys.pop().ok_or(KeyError::NotFound)
}

/// The most recent key events of the organization, newest first.
pub async fn list_activity(
    db: &impl ConnectionTrait,
    manager: &KeyManager,
    key_id: Option<KeyId<'_>>,
) -> Result<Vec<AuditEventView>, KeyError> {
    let key_id = key_id.map(|id| id.0);
    let mut events =
        audit_event::Entity::find().filter(audit_event::Column::OrgId.eq(manager.org_id()));
    if let Some(key_id) = key_id {
        events = events.filter(audit_event::Column::KeyId.eq(key_id));
    }
    let events = events
        .order_by_desc(audit_event::Column::CreatedAt)
        .order_by_desc(audit_event::Column::Id)
        .limit(50)
        .all(db)
        .await?;
    let ids: Vec<String> = events.iter().map(|e| e.actor_id.clone()).collect();
    let people = names(db, ids).await?;
    Ok(events
        .into_iter()
        .map(|e| AuditEventView {
            actor: person(&people, &e.actor_id),
            id: e.id,
            action: e.action,
            key_id: e.key_id,
            key_name: e.key_name,
            at: e.created_at,
            detail: e.detail,
        })
        .collect())
}
