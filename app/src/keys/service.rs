//! Key management and verification. Create, roll and revoke each run in one transaction
//! that also writes the audit event, so a failure before commit leaves no row and
//! returns no key (R1). At rest there is only HMAC-SHA256(server secret, key) and the
//! display hint (K2).

use std::collections::HashMap;

use chrono::{DateTime, SubsecRound, Utc};
use hmac::{Hmac, Mac};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use sha2::Sha256;

use super::format;
use super::scopes::Scopes;
use super::verifier::{Invalidation, Verifier, announce};
use super::{ApiKeyView, AuditEventView, CreatedKey, KeyPage, KeyStatus, PAGE_SIZE};
use crate::entities::{api_key, audit_event, membership as membership_row, user};
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
}

impl KeyManager {
    pub fn new(member: OrgMember) -> Result<Self, KeyError> {
        if member.role.can_manage_keys() {
            Ok(Self {
                limit: Scopes::allowed_for(member.role),
                member,
                caller_expiry: None,
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

    /// Whether a key expiring at `expires_at` (`None`: never) may be rolled by this manager.
    fn may_issue_until(&self, expires_at: Option<DateTime<Utc>>) -> bool {
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

    pub fn org_id(&self) -> &str {
        &self.member.org_id
    }

    pub fn user_id(&self) -> &str {
        &self.member.user_id
    }
}

/// The start of every key server function: logged in (401), a member (404), allowed to
/// manage keys (403).
pub async fn authorize(org_id: &str) -> Result<(AppState, KeyManager), AppError> {
    let (state, user_id) = crate::ssr::authenticated().await?;
    let member = membership(&state.db, &user_id, org_id).await?;
    Ok((state, KeyManager::new(member)?))
}

/// HMAC-SHA256(server secret, key).
pub fn digest_bytes(secret: &Secret, key: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC takes any key length");
    mac.update(key.as_bytes());
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA256(server secret, key), hex: the lookup digest stored in place of the key.
pub fn digest(secret: &Secret, key: &str) -> String {
    hex(&digest_bytes(secret, key))
}

fn hex(bytes: &[u8; 32]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(64);
    for &byte in bytes {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    hex
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

/// Compares without an early exit, so timing says nothing about where two digests differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn names(
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

fn view(row: api_key::Model, names: &HashMap<String, String>, now: DateTime<Utc>) -> ApiKeyView {
    let name_of = |id: &str| {
        names
            .get(id)
            .cloned()
            .unwrap_or_else(|| "a former member".to_owned())
    };
    ApiKeyView {
        status: KeyStatus::of(row.revoked_at, row.expires_at, now),
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
        if key.status != KeyStatus::Active {
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
) -> Result<(), DbErr> {
    audit_event::Entity::insert(audit_event::ActiveModel {
        org_id: Set(manager.org_id().to_owned()),
        actor_id: Set(manager.user_id().to_owned()),
        action: Set(action.to_owned()),
        key_id: Set(key.id.clone()),
        key_name: Set(key.name.clone()),
        created_at: Set(at),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
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
    let raw = generate_key();
    let row = api_key::Model {
        id: crate::ssr::random_id("key"),
        org_id: manager.org_id().to_owned(),
        created_by: manager.user_id().to_owned(),
        name,
        start: format::hint(&raw),
        lookup_digest: digest(secret, &raw),
        scopes: scopes.to_stored(),
        created_at: now,
        expires_at,
        last_used_at: None,
        revoked_at: None,
        revoked_by: None,
    };
    let creator = names(db, [row.created_by.clone()]).await?;
    let txn = db.begin().await?;
    api_key::Entity::insert(api_key::ActiveModel::from(row.clone()))
        .exec_without_returning(&txn)
        .await?;
    record(&txn, manager, "key.created", &row, now).await?;
    txn.commit().await?;
    // Only now, after commit, does the key leave this function (K4).
    Ok(CreatedKey {
        key: view(row, &creator, now),
        secret: raw,
    })
}

pub async fn list_keys(
    db: &impl ConnectionTrait,
    manager: &KeyManager,
    page: u64,
) -> Result<KeyPage, KeyError> {
    let query = api_key::Entity::find().filter(api_key::Column::OrgId.eq(manager.org_id()));
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
    let now = Utc::now();
    let mut keys: Vec<ApiKeyView> = rows.iter().map(|r| view(r.clone(), &people, now)).collect();
    creator_notices(db, manager.org_id(), &mut keys, &rows).await?;
    Ok(KeyPage {
        org_id: manager.org_id().to_owned(),
        keys,
        page,
        pages,
        total,
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
    let mut keys = vec![view(row.clone(), &people, Utc::now())];
    creator_notices(db, manager.org_id(), &mut keys, std::slice::from_ref(&row)).await?;
    keys.pop().ok_or(KeyError::NotFound)
}

/// Revokes a key. Revoking a revoked key changes nothing and records nothing.
pub async fn revoke_key(
    db: &DatabaseConnection,
    verifier: &Verifier,
    manager: &KeyManager,
    key_id: &str,
) -> Result<ApiKeyView, KeyError> {
    let now = now();
    let txn = db.begin().await?;
    lock_key(&txn, manager, key_id).await?;
    let key = find_in_org(&txn, manager, key_id).await?;
    let key = if key.revoked_at.is_none() {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, Expr::value(now))
            .col_expr(api_key::Column::RevokedBy, Expr::value(manager.user_id()))
            .filter(api_key::Column::Id.eq(&key.id))
            .filter(api_key::Column::OrgId.eq(manager.org_id()))
            .exec(&txn)
            .await?;
        record(&txn, manager, "key.revoked", &key, now).await?;
        // Other instances drop the key from their caches once this commits (R3).
        announce(&txn, &Invalidation::Key(key.id.clone())).await?;
        api_key::Model {
            revoked_at: Some(now),
            revoked_by: Some(manager.user_id().to_owned()),
            ..key
        }
    } else {
        key
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
    // Refused from the next request on (R3), on this instance.
    verifier.forget_key(&key.id);
    Ok(view(key, &people, now))
}

/// Issues a new secret for the same key record (name, scopes, expiry): the old secret
/// stops working when this commits. The secret belongs to whoever rolled it: they become
/// the key's creator, so its rights follow their role from now on (K9), and removing them
/// from the organization ends it, whoever made the key first.
pub async fn roll_key(
    db: &DatabaseConnection,
    secret: &Secret,
    verifier: &Verifier,
    manager: &KeyManager,
    key_id: &str,
) -> Result<CreatedKey, KeyError> {
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
    match KeyStatus::of(key.revoked_at, key.expires_at, now) {
        KeyStatus::Active => {}
        KeyStatus::Revoked => {
            return Err(KeyError::Conflict {
                message: "A revoked key cannot be rolled. Create a new key.".into(),
            });
        }
        KeyStatus::Expired => {
            return Err(KeyError::Conflict {
                message: "An expired key cannot be rolled. Create a new key.".into(),
            });
        }
    }
    let raw = generate_key();
    let (start, lookup_digest) = (format::hint(&raw), digest(secret, &raw));
    api_key::Entity::update_many()
        .col_expr(api_key::Column::Start, Expr::value(start.clone()))
        .col_expr(
            api_key::Column::LookupDigest,
            Expr::value(lookup_digest.clone()),
        )
        .col_expr(api_key::Column::CreatedBy, Expr::value(manager.user_id()))
        .filter(api_key::Column::Id.eq(&key.id))
        .filter(api_key::Column::OrgId.eq(manager.org_id()))
        .exec(&txn)
        .await?;
    record(&txn, manager, "key.rolled", &key, now).await?;
    announce(&txn, &Invalidation::Key(key.id.clone())).await?;
    let people = names(&txn, [manager.user_id().to_owned()]).await?;
    txn.commit().await?;
    verifier.forget_key(&key.id);
    // Only now, after commit, does the new key leave this function (K4).
    let rolled = api_key::Model {
        start,
        lookup_digest,
        created_by: manager.user_id().to_owned(),
        ..key
    };
    Ok(CreatedKey {
        key: view(rolled, &people, now),
        secret: raw,
    })
}

/// The most recent key events of the organization, newest first.
pub async fn list_activity(
    db: &impl ConnectionTrait,
    manager: &KeyManager,
) -> Result<Vec<AuditEventView>, KeyError> {
    let events = audit_event::Entity::find()
        .filter(audit_event::Column::OrgId.eq(manager.org_id()))
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
            actor: people
                .get(&e.actor_id)
                .cloned()
                .unwrap_or_else(|| "a former member".into()),
            id: e.id,
            action: e.action,
            key_id: e.key_id,
            key_name: e.key_name,
            at: e.created_at,
        })
        .collect())
}

/// Who is calling with a valid key: its org, id and effective scopes (the key's own,
/// capped by its creator's current role, K9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPrincipal {
    pub org_id: String,
    pub key_id: String,
    /// The person who created the key; the key acts with no more than their rights.
    pub creator_id: String,
    pub scopes: Scopes,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("malformed key")]
    Malformed,
    #[error("unknown key")]
    Unknown,
    #[error("revoked key")]
    Revoked,
    #[error("expired key")]
    Expired,
    /// The key's creator has left the organization: their keys stop working (K9).
    #[error("key creator is no longer a member")]
    CreatorGone,
}

/// Verifies a presented key without the cache: shape and checksum first (no hashing or
/// database work for a typo or a foreign string, K3), then one HMAC and the lookup.
pub async fn verify_key(
    db: &impl ConnectionTrait,
    secret: &Secret,
    presented: &str,
) -> Result<Result<KeyPrincipal, VerifyError>, DbErr> {
    if format::check(presented).is_err() {
        return Ok(Err(VerifyError::Malformed));
    }
    verify_digest(db, &digest_bytes(secret, presented)).await
}

/// During a secret rotation: replaces the digest made with the previous secret by the one
/// made with the current secret. `true` when a key was moved.
pub async fn move_digest(
    db: &impl ConnectionTrait,
    old: &[u8; 32],
    new: &[u8; 32],
) -> Result<bool, DbErr> {
    let res = api_key::Entity::update_many()
        .col_expr(api_key::Column::LookupDigest, Expr::value(hex(new)))
        .filter(api_key::Column::LookupDigest.eq(hex(old)))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// One lookup on the unique digest index, a constant-time comparison, status and
/// expiry, then the creator's current role, which caps the key's scopes (K9).
pub async fn verify_digest(
    db: &impl ConnectionTrait,
    digest: &[u8; 32],
) -> Result<Result<KeyPrincipal, VerifyError>, DbErr> {
    let computed = hex(digest);
    let Some(row) = api_key::Entity::find()
        .filter(api_key::Column::LookupDigest.eq(&computed))
        .one(db)
        .await?
    else {
        return Ok(Err(VerifyError::Unknown));
    };
    if !constant_time_eq(row.lookup_digest.as_bytes(), computed.as_bytes()) {
        return Ok(Err(VerifyError::Unknown));
    }
    match KeyStatus::of(row.revoked_at, row.expires_at, Utc::now()) {
        KeyStatus::Revoked => return Ok(Err(VerifyError::Revoked)),
        KeyStatus::Expired => return Ok(Err(VerifyError::Expired)),
        KeyStatus::Active => {}
    }
    let Some(creator) =
        membership_row::Entity::find_by_id((row.org_id.clone(), row.created_by.clone()))
            .one(db)
            .await?
    else {
        return Ok(Err(VerifyError::CreatorGone));
    };
    let allowed = crate::orgs::Role::parse(&creator.role)
        .map(Scopes::allowed_for)
        .unwrap_or(Scopes::NONE);
    Ok(Ok(KeyPrincipal {
        scopes: Scopes::from_stored(&row.scopes).intersect(allowed),
        org_id: row.org_id,
        key_id: row.id,
        creator_id: row.created_by,
        expires_at: row.expires_at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_hmac_sha256_in_lower_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            digest(&Secret::new("Jefe"), "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"abcd", b"abcd"));
        assert!(!constant_time_eq(b"abcd", b"abce"));
        assert!(!constant_time_eq(b"abcd", b"abc"));
    }
}
