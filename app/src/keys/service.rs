//! Key management. Create, roll and revoke each run in one transaction
//! that also writes the audit event, so a failure before commit leaves no row and
//! returns no key (R1). At rest there is only HMAC-SHA256(server secret, key) and the
//! display hint (K2).

use std::collections::HashMap;

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use super::context::KeyContext;
use super::digest::digest;
use super::format;
use super::scopes::Scopes;
use super::verifier::{Invalidation, Verifier, announce};
use super::{
    ApiKeyView, AuditEventView, CreatedKey, KeyPage, KeyPolicy, KeyQuery, KeyStatus,
    MAX_OVERLAP_SECONDS, Overlap, PAGE_SIZE, StatusFilter,
};
use crate::entities::{
    api_key, audit_event, lease, membership as membership_row, organization, user,
};
use crate::error::AppError;
use crate::orgs::service::{OrgMember, membership};
use crate::ssr::{AppState, Secret};
use crate::validate;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Unknown key, or another organization's (Z2).
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{message}")]
    Conflict { message: String },
    /// A key tried to create or roll a key with scopes it does not have itself (K9).
    #[error("a key cannot grant scopes it does not have")]
    BroaderScopes,
    /// A key tried to roll a key that expires later than itself: the new secret would
    /// outlive the credential that made it.
    #[error("a key cannot roll a key that outlives it")]
    OutlivesCaller,
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<KeyError> for AppError {
    fn from(err: KeyError) -> Self {
        match err {
            KeyError::NotFound => AppError::NotFound,
            KeyError::Forbidden => AppError::Forbidden,
            KeyError::Invalid { field, message } => AppError::invalid(field, message),
            KeyError::Conflict { message } => AppError::conflict("key", message),
            KeyError::BroaderScopes | KeyError::OutlivesCaller => AppError::Forbidden,
            KeyError::Db(e) => crate::ssr::db_error(e),
        }
    }
}

/// Proof that the caller may list, create, revoke and roll the org's keys
/// (owner, admin or developer), read from the database on this request.
#[derive(Debug, Clone)]
pub struct KeyManager {
    member: OrgMember,
    /// The broadest scopes this manager may give a key: everything for a person with a
    /// key-managing role, no more than its own scopes for a key (K9).
    limit: Scopes,
    /// For a key: its own expiry (`Some(None)` when it never expires). The keys it creates
    /// or rolls may not expire later, so a short-lived key cannot mint a lasting one.
    caller_expiry: Option<Option<DateTime<Utc>>>,
    /// For a key: its own rate limit and allowed addresses, which the keys it creates
    /// inherit, no looser (Z6).
    caller_rate_limit: Option<super::RateLimit>,
    caller_allowed_ips: Option<std::sync::Arc<[super::allowlist::IpRange]>>,
}

impl KeyManager {
    pub fn new(member: OrgMember) -> Result<Self, KeyError> {
        if member.role.can_manage_keys() {
            Ok(Self {
                limit: Scopes::allowed_for(member.role),
                member,
                caller_expiry: None,
                caller_rate_limit: None,
                caller_allowed_ips: None,
            })
        } else {
            Err(KeyError::Forbidden)
        }
    }

    /// A key acting for its creator (`member`, read from the database on this request):
    /// limited to the key's own scopes and to what the creator's role allows now, and to
    /// keys that expire no later than it does (`key_expires_at`).
    pub fn for_key(
        member: OrgMember,
        key_scopes: Scopes,
        key_expires_at: Option<DateTime<Utc>>,
    ) -> Result<Self, KeyError> {
        let mut manager = Self::new(member)?;
        manager.limit = manager.limit.intersect(key_scopes);
        manager.caller_expiry = Some(key_expires_at);
        Ok(manager)
    }

    /// A key's own rate limit and allowed addresses, which the keys it creates inherit
    /// (Z6): a key limited to one network, or to a rate, cannot mint one that is not.
    pub fn with_caller_limits(
        mut self,
        rate_limit: Option<super::RateLimit>,
        allowed_ips: Option<std::sync::Arc<[super::allowlist::IpRange]>>,
    ) -> Self {
        self.caller_rate_limit = rate_limit;
        self.caller_allowed_ips = allowed_ips;
        self
    }

    /// The rate limit and allowlist a new key gets when `requested`: what was asked, if
    /// no looser than the calling key's own; the calling key's when nothing was asked.
    fn inherit(
        &self,
        rate_limit: Option<super::RateLimit>,
        allowed_ips: Option<Vec<super::allowlist::IpRange>>,
    ) -> Result<
        (
            Option<super::RateLimit>,
            Option<Vec<super::allowlist::IpRange>>,
        ),
        KeyError,
    > {
        let rate_limit = match (self.caller_rate_limit, rate_limit) {
            (None, requested) => requested,
            (Some(own), None) => Some(own),
            (Some(own), Some(requested)) if requested.no_looser_than(own) => Some(requested),
            (Some(own), Some(_)) => {
                return Err(KeyError::Invalid {
                    field: "rate_limit",
                    message: format!(
                        "A key cannot give a key a looser rate limit than its own ({}).",
                        own.text()
                    ),
                });
            }
        };
        let allowed_ips = match (&self.caller_allowed_ips, allowed_ips) {
            (None, requested) => requested,
            (Some(own), None) => Some(own.to_vec()),
            (Some(own), Some(requested)) => {
                if let Some(outside) = requested
                    .iter()
                    .find(|range| !own.iter().any(|mine| range.within(mine)))
                {
                    return Err(KeyError::Invalid {
                        field: "allowed_ips",
                        message: format!(
                            "{outside} is outside the addresses the creating key may be used from."
                        ),
                    });
                }
                Some(requested)
            }
        };
        Ok((rate_limit, allowed_ips))
    }

    /// Whether a key expiring at `expires_at` (`None`: never) may be rolled by this manager.
    pub(crate) fn may_issue_until(&self, expires_at: Option<DateTime<Utc>>) -> bool {
        match (self.caller_expiry, expires_at) {
            (None | Some(None), _) => true,
            (Some(Some(_)), None) => false,
            (Some(Some(limit)), Some(at)) => at <= limit,
        }
    }

    /// The expiry a new key gets when `requested`: capped at the calling key's own, so a
    /// key made by a key never outlives it (the response shows the expiry it got).
    fn cap_expiry(&self, requested: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        match self.caller_expiry {
            Some(Some(limit)) => Some(requested.map_or(limit, |at| at.min(limit))),
            _ => requested,
        }
    }

    /// The broadest scopes this manager may give a key.
    pub(crate) fn scope_limit(&self) -> Scopes {
        self.limit
    }

    pub fn org_id(&self) -> &str {
        &self.member.org_id
    }

    pub fn user_id(&self) -> &str {
        &self.member.user_id
    }

    /// The role of the person acting (a key's creator, for a key).
    pub fn role(&self) -> crate::orgs::Role {
        self.member.role
    }
}

/// The start of every key server function: logged in (401), a member (404), allowed to
/// manage keys (403).
pub async fn authorize(org_id: &str) -> Result<(AppState, KeyManager), AppError> {
    let (state, user_id) = crate::ssr::authenticated().await?;
    let member = membership(&state.db, &user_id, org_id).await?;
    Ok((state, KeyManager::new(member)?))
}

/// Now, to the microsecond: what both databases store, so a returned view equals the row.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    format::key_from_bytes(&bytes)
}

/// Display names of the users with these ids.
pub(crate) async fn names(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = String>,
) -> Result<HashMap<String, String>, DbErr> {
    let mut ids: Vec<String> = ids.into_iter().collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let users = user::Entity::find()
        .filter(user::Column::Id.is_in(ids))
        .all(db)
        .await?;
    Ok(users.into_iter().map(|u| (u.id, u.display_name)).collect())
}

/// A person's display name, "Keygate (key policy)" for the sweep, "Keygate (leak report)"
/// for a leak report, or "a former member".
fn person(names: &HashMap<String, String>, id: &str) -> String {
    if id == SYSTEM_ACTOR {
        return "Keygate (key policy)".to_owned();
    }
    if id == super::leaks::LEAK_ACTOR {
        return "Keygate (leak report)".to_owned();
    }
    names
        .get(id)
        .cloned()
        .unwrap_or_else(|| "a former member".to_owned())
}

fn view(row: api_key::Model, names: &HashMap<String, String>, now: DateTime<Utc>) -> ApiKeyView {
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
    }
}

/// The organization's key policy.
pub async fn org_policy(db: &impl ConnectionTrait, org_id: &str) -> Result<KeyPolicy, DbErr> {
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
    member: &OrgMember,
    policy: KeyPolicy,
) -> Result<KeyPolicy, KeyError> {
    if !member.role.can_manage_members() {
        return Err(KeyError::Forbidden);
    }
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
    let now = now();
    let txn = db.begin().await?;
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
    audit_event::Entity::insert(audit_event::ActiveModel {
        org_id: Set(member.org_id.clone()),
        actor_id: Set(member.user_id.clone()),
        action: Set("policy.changed".into()),
        key_id: Set(String::new()),
        key_name: Set(String::new()),
        created_at: Set(now),
        detail: Set(Some(policy_text(policy))),
        ..Default::default()
    })
    .exec_without_returning(&txn)
    .await?;
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

/// Flags the live keys that outlive `policy`.
fn flag_policy(keys: &mut [ApiKeyView], policy: KeyPolicy, now: DateTime<Utc>) {
    for key in keys {
        key.exceeds_policy = key.status.is_live() && policy.exceeded_by(key.expires_at, now);
    }
}

/// Why an active key does less than its status says (K9), for the list: its creator left
/// the organization, or their role can no longer manage keys.
async fn creator_notices(
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

async fn record(
    db: &impl ConnectionTrait,
    manager: &KeyManager,
    action: &str,
    key: &api_key::Model,
    at: DateTime<Utc>,
    detail: Option<String>,
) -> Result<(), DbErr> {
    let detail_text = detail.clone();
    audit_event::Entity::insert(audit_event::ActiveModel {
        org_id: Set(manager.org_id().to_owned()),
        actor_id: Set(manager.user_id().to_owned()),
        action: Set(action.to_owned()),
        key_id: Set(key.id.clone()),
        key_name: Set(key.name.clone()),
        created_at: Set(at),
        detail: Set(detail),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await?;
    if let Some(kind) = webhook_event(action) {
        let mut data = serde_json::json!({
            "key": crate::webhooks::service::key_data(key),
            "actor": { "id": manager.user_id() },
            "detail": detail_text,
        });
        if kind == "key.revoked" {
            data["reason"] = "revoked".into();
        }
        crate::webhooks::service::emit(db, &key.org_id, kind, data, None).await?;
    }
    Ok(())
}

/// The webhook event an audit action raises, if any.
fn webhook_event(action: &str) -> Option<&'static str> {
    match action {
        "key.created" => Some("key.created"),
        "key.rolled" => Some("key.rolled"),
        "key.revoked" => Some("key.revoked"),
        "key.paused" => Some("key.paused"),
        _ => None,
    }
}

/// Takes the key's write lock for the rest of the transaction with a no-op update
/// (a row lock on PostgreSQL; on SQLite it makes this transaction the writer before it
/// reads, so a concurrent commit cannot invalidate its snapshot). `NotFound` when the
/// key does not exist in the manager's organization.
async fn lock_key(
    txn: &impl ConnectionTrait,
    manager: &KeyManager,
    key_id: &str,
) -> Result<(), KeyError> {
    let res = api_key::Entity::update_many()
        .col_expr(api_key::Column::Id, Expr::col(api_key::Column::Id).into())
        .filter(api_key::Column::Id.eq(key_id))
        .filter(api_key::Column::OrgId.eq(manager.org_id()))
        .exec(txn)
        .await?;
    if res.rows_affected == 0 {
        Err(KeyError::NotFound)
    } else {
        Ok(())
    }
}

async fn find_in_org(
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

pub async fn create_key(
    db: &DatabaseConnection,
    secret: &Secret,
    manager: &KeyManager,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
    scopes: Scopes,
) -> Result<CreatedKey, KeyError> {
    create_key_with(
        db,
        secret,
        manager,
        name,
        expires_at,
        scopes,
        KeyExtras::default(),
    )
    .await
}

/// What a new key may carry besides its name, expiry and scopes.
#[derive(Debug, Clone, Default)]
pub struct KeyExtras {
    pub rate_limit: Option<super::RateLimit>,
    /// `None`: usable from anywhere.
    pub allowed_ips: Option<Vec<super::allowlist::IpRange>>,
    /// Tags, owner and metadata, already checked.
    pub context: KeyContext,
}

/// [`create_key`] with a rate limit, an IP allowlist, tags, an owner or metadata.
pub async fn create_key_with(
    db: &DatabaseConnection,
    secret: &Secret,
    manager: &KeyManager,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
    scopes: Scopes,
    extras: KeyExtras,
) -> Result<CreatedKey, KeyError> {
    let (rate_limit, allowed_ips) = manager.inherit(extras.rate_limit, extras.allowed_ips)?;
    let (rate_limit, rate_limit_window) = super::RateLimit::to_stored(rate_limit);
    let name = validate::name(name, "Name").map_err(|message| KeyError::Invalid {
        field: "name",
        message,
    })?;
    if scopes.is_empty() {
        return Err(KeyError::Invalid {
            field: "scopes",
            message: "Choose at least one scope.".into(),
        });
    }
    if !scopes.is_subset_of(manager.limit) {
        return Err(KeyError::BroaderScopes);
    }
    let now = now();
    let expires_at = manager.cap_expiry(expires_at.map(|at| at.trunc_subsecs(6)));
    if expires_at.is_some_and(|at| at <= now) {
        return Err(KeyError::Invalid {
            field: "expiry",
            message: "The expiry must be in the future.".into(),
        });
    }
    org_policy(db, manager.org_id())
        .await?
        .check(expires_at, now)
        .map_err(|message| KeyError::Invalid {
            field: "expiry",
            message,
        })?;
    let raw = generate_key();
    let row = api_key::Model {
        name,
        start: format::hint(&raw),
        lookup_digest: digest(secret, &raw),
        scopes: scopes.to_stored(),
        expires_at,
        rate_limit,
        rate_limit_window,
        allowed_ips: allowed_ips.map(|ranges| super::allowlist::to_stored(&ranges)),
        tags: super::context::store_tags(&extras.context.tags),
        owner_id: extras.context.owner,
        metadata: extras.context.metadata,
        ..api_key::Model::new_in(manager.org_id(), manager.user_id(), now)
    };
    let creator = names(db, [row.created_by.clone()]).await?;
    let txn = db.begin().await?;
    api_key::Entity::insert(api_key::ActiveModel::from(row.clone()))
        .exec_without_returning(&txn)
        .await?;
    record(&txn, manager, "key.created", &row, now, None).await?;
    txn.commit().await?;
    // Only now, after commit, does the key leave this function (K4).
    Ok(CreatedKey {
        key: view(row, &creator, now),
        secret: raw,
    })
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
    let policy = org_policy(db, manager.org_id()).await?;
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
    })
}

/// One key of the organization, as the list shows it.
pub async fn get_key(
    db: &impl ConnectionTrait,
    manager: &KeyManager,
    key_id: &str,
) -> Result<ApiKeyView, KeyError> {
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
    flag_policy(&mut keys, org_policy(db, manager.org_id()).await?, now);
    keys.pop().ok_or(KeyError::NotFound)
}

/// Revokes a key (both secrets during a roll's overlap). Revoking a revoked key changes
/// nothing and records nothing.
pub async fn revoke_key(
    db: &DatabaseConnection,
    verifier: &Verifier,
    manager: &KeyManager,
    key_id: &str,
) -> Result<ApiKeyView, KeyError> {
    change_key(db, verifier, manager, key_id, KeyChange::Revoke).await
}

/// `1 hour`, `24 hours`, `7 days`, `90 minutes`: an overlap for the audit log.
pub fn overlap_text(seconds: u32) -> String {
    let plural = |n: u32, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    match seconds {
        0 => "none".into(),
        s if s % 86_400 == 0 && s >= 2 * 86_400 => plural(s / 86_400, "day"),
        s if s % 3_600 == 0 => plural(s / 3_600, "hour"),
        s if s % 60 == 0 => plural(s / 60, "minute"),
        s => plural(s, "second"),
    }
}

/// Issues a new secret for the same key record (id, name, scopes, expiry, usage). The old
/// secret keeps working for `overlap_seconds` (0 to 7 days), then is refused on every
/// instance by time alone; with no overlap it stops when this commits. A key already in
/// an overlap loses its older secret now: only one overlap at a time. The secret belongs
/// to whoever rolled it: they become the key's creator, so its rights follow their role
/// from now on (K9), and removing them from the organization ends it.
pub async fn roll_key(
    db: &DatabaseConnection,
    secret: &Secret,
    verifier: &Verifier,
    manager: &KeyManager,
    key_id: &str,
    overlap_seconds: u32,
) -> Result<CreatedKey, KeyError> {
    if overlap_seconds > MAX_OVERLAP_SECONDS {
        return Err(KeyError::Invalid {
            field: "overlap_seconds",
            message: "The overlap can be at most 7 days (604800 seconds).".into(),
        });
    }
    let now = now();
    let txn = db.begin().await?;
    lock_key(&txn, manager, key_id).await?;
    let key = find_in_org(&txn, manager, key_id).await?;
    if !Scopes::from_stored(&key.scopes).is_subset_of(manager.limit) {
        return Err(KeyError::BroaderScopes);
    }
    if !manager.may_issue_until(key.expires_at) {
        return Err(KeyError::OutlivesCaller);
    }
    refuse_unless_live(&key, now, "rolled")?;
    if key.import_digest.is_some() && overlap_seconds > 0 {
        return Err(KeyError::Invalid {
            field: "overlap_seconds",
            message: "This imported key has not been used since it was imported, so its old \
                      secret cannot keep working: roll it with no overlap."
                .into(),
        });
    }
    let ended_early = key.previous_until.is_some_and(|until| until > now);
    let raw = generate_key();
    let rolled = api_key::Model {
        start: format::hint(&raw),
        lookup_digest: digest(secret, &raw),
        created_by: manager.user_id().to_owned(),
        // The replaced secret is kept by digest only, so that after its overlap it is
        // refused as revoked rather than unknown.
        previous_digest: Some(key.lookup_digest.clone()),
        previous_start: Some(key.start.clone()),
        previous_until: Some(now + chrono::Duration::seconds(i64::from(overlap_seconds))),
        // An imported key's other-product digest goes with its old secret.
        import_digest: None,
        ..key.clone()
    };
    api_key::ActiveModel::from(rolled.clone())
        .reset_all()
        .update(&txn)
        .await?;
    let mut detail = format!(
        "old secret {} works for {}",
        key.start,
        overlap_text(overlap_seconds)
    );
    if overlap_seconds == 0 {
        detail = format!("old secret {} stopped at once", key.start);
    }
    if ended_early {
        detail.push_str("; the previous overlap was ended");
    }
    record(&txn, manager, "key.rolled", &rolled, now, Some(detail)).await?;
    announce(&txn, &Invalidation::Key(key.id.clone())).await?;
    let people = names(&txn, [manager.user_id().to_owned()]).await?;
    txn.commit().await?;
    verifier.forget_key(&key.id);
    // Only now, after commit, does the new key leave this function (K4).
    Ok(CreatedKey {
        key: view(rolled, &people, now),
        secret: raw,
    })
}

/// Refuses to change a revoked or expired key: `what` is the change, e.g. "rolled".
fn refuse_unless_live(
    key: &api_key::Model,
    now: DateTime<Utc>,
    what: &str,
) -> Result<(), KeyError> {
    match KeyStatus::of(key.revoked_at, key.expires_at, now) {
        KeyStatus::Revoked => Err(KeyError::Conflict {
            message: format!("A revoked key cannot be {what}. Create a new key."),
        }),
        KeyStatus::Expired => Err(KeyError::Conflict {
            message: format!("An expired key cannot be {what}. Create a new key."),
        }),
        KeyStatus::Active | KeyStatus::Paused => Ok(()),
    }
}

/// A change to one key that keeps its secret (a roll, which issues one, is [`roll_key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyChange {
    Revoke,
    /// Ends a roll's overlap now: the old secret is refused from the next request on.
    EndOverlap,
    /// Until a time (`None`: until resumed). A paused key is refused with `key_paused` and
    /// comes back by itself at that time; pausing a paused key moves its end.
    Pause {
        until: Option<DateTime<Utc>>,
    },
    Resume,
    /// Gives a key that outlives the organization's policy the longest expiry the policy
    /// allows from now.
    ShortenToPolicy,
    /// Sets (or, with `None`, removes) the key's own rate limit.
    SetRateLimit(Option<super::RateLimit>),
    /// Sets the addresses the key may be used from (`None`: anywhere).
    SetAllowedIps(Option<Vec<super::allowlist::IpRange>>),
    /// Replaces the key's tags, owner and metadata (any key, even a revoked one: labels
    /// change nothing it can do).
    SetContext(KeyContext),
}

impl KeyChange {
    fn action(&self) -> &'static str {
        match self {
            KeyChange::Revoke => "key.revoked",
            KeyChange::EndOverlap => "key.overlap_ended",
            KeyChange::Pause { .. } => "key.paused",
            KeyChange::Resume => "key.resumed",
            KeyChange::ShortenToPolicy => "key.shortened",
            KeyChange::SetRateLimit(_) => "key.rate_limit_changed",
            KeyChange::SetAllowedIps(_) => "key.allowed_ips_changed",
            KeyChange::SetContext(_) => "key.context_changed",
        }
    }

    /// The changed row and the audit detail, or `None` when there is nothing to change.
    fn apply(
        self,
        key: &api_key::Model,
        manager: &KeyManager,
        policy: KeyPolicy,
        now: DateTime<Utc>,
    ) -> Result<Option<(api_key::Model, Option<String>)>, KeyError> {
        let key = key.clone();
        let paused = crate::keys::is_paused(key.paused_at, key.paused_until, now);
        Ok(match self {
            KeyChange::Revoke => (key.revoked_at.is_none()).then(|| {
                let changed = api_key::Model {
                    revoked_at: Some(now),
                    revoked_by: Some(manager.user_id().to_owned()),
                    // Nothing unsalted is kept for a key that can no longer be used.
                    import_digest: None,
                    ..key
                };
                (changed, None)
            }),
            KeyChange::EndOverlap => {
                key.previous_until
                    .is_some_and(|until| until > now)
                    .then(|| {
                        let detail = key
                            .previous_start
                            .as_ref()
                            .map(|hint| format!("old secret {hint} stopped"));
                        let changed = api_key::Model {
                            previous_until: Some(now),
                            ..key
                        };
                        (changed, detail)
                    })
            }
            KeyChange::Pause { until } => {
                refuse_unless_live(&key, now, "paused")?;
                let until = until.map(|at| at.trunc_subsecs(6));
                if until.is_some_and(|at| at <= now) {
                    return Err(KeyError::Invalid {
                        field: "until",
                        message: "Pick a time in the future, or pause until resumed.".into(),
                    });
                }
                if let (Some(at), Some(expiry)) = (until, key.expires_at)
                    && at >= expiry
                {
                    return Err(KeyError::Invalid {
                        field: "until",
                        message: format!(
                            "The key expires on {} before that: pick an earlier time, or revoke it.",
                            super::format_date(expiry)
                        ),
                    });
                }
                let detail = match until {
                    Some(at) => format!("until {}", at.format("%Y-%m-%d %H:%M UTC")),
                    None => "until resumed".into(),
                };
                let changed = api_key::Model {
                    paused_at: Some(if paused {
                        key.paused_at.unwrap_or(now)
                    } else {
                        now
                    }),
                    paused_until: until,
                    ..key
                };
                Some((changed, Some(detail)))
            }
            KeyChange::Resume => paused.then(|| {
                let changed = api_key::Model {
                    paused_at: None,
                    paused_until: None,
                    ..key
                };
                (changed, None)
            }),
            KeyChange::ShortenToPolicy => {
                refuse_unless_live(&key, now, "shortened")?;
                policy.exceeded_by(key.expires_at, now).then(|| {
                    let expires_at = policy.shortened(key.expires_at, now);
                    let detail = expires_at
                        .map(|at| format!("now expires {}", at.format("%Y-%m-%d %H:%M UTC")));
                    (api_key::Model { expires_at, ..key }, detail)
                })
            }
            KeyChange::SetRateLimit(limit) => {
                refuse_unless_live(&key, now, "limited")?;
                let (rate_limit, rate_limit_window) = super::RateLimit::to_stored(limit);
                (rate_limit != key.rate_limit || rate_limit_window != key.rate_limit_window).then(
                    || {
                        let detail = match limit {
                            Some(limit) => format!("rate limit {}", limit.text()),
                            None => "rate limit removed".to_owned(),
                        };
                        let changed = api_key::Model {
                            rate_limit,
                            rate_limit_window,
                            ..key
                        };
                        (changed, Some(detail))
                    },
                )
            }
            KeyChange::SetAllowedIps(ranges) => {
                refuse_unless_live(&key, now, "limited")?;
                let stored = ranges.as_deref().map(super::allowlist::to_stored);
                (stored != key.allowed_ips).then(|| {
                    let detail = match &stored {
                        Some(list) => format!("allowed from {}", list.replace(',', ", ")),
                        None => "allowed from anywhere".to_owned(),
                    };
                    // The audit detail holds 200 characters.
                    let detail: String = detail.chars().take(200).collect();
                    let changed = api_key::Model {
                        allowed_ips: stored,
                        ..key
                    };
                    (changed, Some(detail))
                })
            }
            KeyChange::SetContext(context) => {
                let tags = super::context::store_tags(&context.tags);
                let mut changes = Vec::new();
                if tags != key.tags {
                    changes.push(if context.tags.is_empty() {
                        "tags removed".to_owned()
                    } else {
                        format!("tags {}", context.tags.join(", "))
                    });
                }
                if context.owner != key.owner_id {
                    changes.push(match &context.owner {
                        Some(owner) => format!("owner {owner}"),
                        None => "owner removed".to_owned(),
                    });
                }
                if context.metadata != key.metadata {
                    changes.push("metadata changed".to_owned());
                }
                (!changes.is_empty()).then(|| {
                    // The audit detail holds 200 characters.
                    let detail: String = changes.join("; ").chars().take(200).collect();
                    let changed = api_key::Model {
                        tags,
                        owner_id: context.owner,
                        metadata: context.metadata,
                        ..key
                    };
                    (changed, Some(detail))
                })
            }
        })
    }
}

/// Changes one key in a transaction with its audit event and the invalidation that makes
/// every instance re-read it (R3); a change with nothing to do writes and records nothing.
pub async fn change_key(
    db: &DatabaseConnection,
    verifier: &Verifier,
    manager: &KeyManager,
    key_id: &str,
    change: KeyChange,
) -> Result<ApiKeyView, KeyError> {
    let now = now();
    let txn = db.begin().await?;
    lock_key(&txn, manager, key_id).await?;
    let key = find_in_org(&txn, manager, key_id).await?;
    let policy = org_policy(&txn, manager.org_id()).await?;
    let action = change.action();
    let key = match change.apply(&key, manager, policy, now)? {
        Some((changed, detail)) => {
            api_key::ActiveModel::from(changed.clone())
                .reset_all()
                .update(&txn)
                .await?;
            record(&txn, manager, action, &changed, now, detail).await?;
            announce(&txn, &Invalidation::Key(key.id.clone())).await?;
            changed
        }
        None => key,
    };
    // Everything the answer needs is read before commit: after it, nothing may fail.
    let people = names(
        &txn,
        [Some(key.created_by.clone()), key.revoked_by.clone()]
            .into_iter()
            .flatten(),
    )
    .await?;
    txn.commit().await?;
    // Refused (or re-read) from the next request on, on this instance.
    verifier.forget_key(&key.id);
    let mut keys = [view(key, &people, now)];
    flag_policy(&mut keys, policy, now);
    let [key] = keys;
    Ok(key)
}

/// Who `revoked_by` and `actor_id` name when Keygate itself acted (the idle sweep).
pub const SYSTEM_ACTOR: &str = "keygate";

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
        let txn = db.begin().await?;
        let res = api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, Expr::value(now))
            .col_expr(api_key::Column::RevokedBy, Expr::value(SYSTEM_ACTOR))
            .filter(api_key::Column::Id.eq(&key.id))
            .filter(idle(cutoff))
            .exec(&txn)
            .await?;
        if res.rows_affected == 1 {
            audit_event::Entity::insert(audit_event::ActiveModel {
                org_id: Set(key.org_id.clone()),
                actor_id: Set(SYSTEM_ACTOR.to_owned()),
                action: Set("key.idle_revoked".into()),
                key_id: Set(key.id.clone()),
                key_name: Set(key.name.clone()),
                created_at: Set(now),
                detail: Set(Some(format!("unused for {}", super::days_text(days)))),
                ..Default::default()
            })
            .exec_without_returning(&txn)
            .await?;
            let data = serde_json::json!({
                "key": crate::webhooks::service::key_data(&key),
                "actor": { "id": SYSTEM_ACTOR },
                "reason": "idle",
                "detail": format!("unused for {}", super::days_text(days)),
            });
            crate::webhooks::service::emit(&txn, &key.org_id, "key.revoked", data, None).await?;
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

/// The most recent key events of the organization, newest first.
pub async fn list_activity(
    db: &impl ConnectionTrait,
    manager: &KeyManager,
    key_id: Option<&str>,
) -> Result<Vec<AuditEventView>, KeyError> {
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
