//! Digests and the lookup every verification ends in, below both the key service (which
//! stores digests) and the verifier (which caches what the lookup finds): HMAC-SHA256 of
//! the presented key with the server secret, one indexed query on the two digest columns,
//! then status, pause, expiry and the creator's current role (K9).

use chrono::{DateTime, Utc};
use hmac::Mac;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use crate::entities::{api_key, membership as membership_row, permission_role};
use crate::keys::allowlist::IpRange;
use crate::keys::context::KeyContext;
use crate::keys::scopes::Scopes;
use crate::keys::{KeyStatus, RateLimit, format};
use crate::permissions::Grants;
use crate::ssr::Secret;

/// HMAC-SHA256(server secret, key).
pub fn digest_bytes(secret: &Secret, key: &str) -> [u8; 32] {
    let mut mac = secret.mac();
    mac.update(key.as_bytes());
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA256(server secret, key), hex: the lookup digest stored in place of the key.
pub fn digest(secret: &Secret, key: &str) -> String {
    hex(&digest_bytes(secret, key))
}

pub(crate) fn hex(bytes: &[u8; 32]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(64);
    for &byte in bytes {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    hex
}

/// Compares in constant time (`subtle`), so timing says nothing about where two digests
/// differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
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
    /// When the presented secret stops working before the key does: set for the old
    /// secret during a roll's overlap.
    pub secret_until: Option<DateTime<Utc>>,
    /// Paused: `Some(None)` until resumed, `Some(Some(t))` until `t`.
    pub paused: Option<Option<DateTime<Utc>>>,
    /// The key's own rate limit, if it has one.
    pub rate_limit: Option<RateLimit>,
    /// The addresses the key may be used from; `None`: anywhere.
    pub allowed_ips: Option<std::sync::Arc<[IpRange]>>,
    /// Tags, owner id and metadata; `None` when the key has none of them.
    pub context: Option<std::sync::Arc<KeyContext>>,
    /// The API's permissions the key holds (its own and its roles'); `None`: none.
    pub grants: Option<std::sync::Arc<Grants>>,
}

impl KeyPrincipal {
    /// Whether a request from `ip` may use this key (an unknown address may not, when the
    /// key has an allowlist).
    pub fn allows(&self, ip: Option<std::net::IpAddr>) -> bool {
        match &self.allowed_ips {
            None => true,
            Some(ranges) => ip.is_some_and(|ip| ranges.iter().any(|r| r.contains(ip))),
        }
    }
}

/// The key a refusal is about, when the digest matched one (revoked, expired): its
/// usage is counted against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRef {
    pub org_id: String,
    pub key_id: String,
}

/// What the lookup found: a key (perhaps refused for now, see [`KeyPrincipal::refusal`]),
/// or a refusal, with the key it is about when there is one.
pub type Lookup = Result<KeyPrincipal, (VerifyError, Option<KeyRef>)>;

impl KeyPrincipal {
    /// Why this key, as looked up (or cached) earlier, is refused at `now`: it expired,
    /// the presented secret's overlap ended, or it is paused. Time alone decides, so an
    /// instance that cached the key refuses it at the right moment with no event.
    pub fn refusal(&self, now: DateTime<Utc>) -> Option<VerifyError> {
        if self.expires_at.is_some_and(|at| at <= now) {
            Some(VerifyError::Expired)
        } else if self.secret_until.is_some_and(|at| at <= now) {
            Some(VerifyError::Revoked)
        } else if self
            .paused
            .is_some_and(|until| until.is_none_or(|at| at > now))
        {
            Some(VerifyError::Paused)
        } else {
            None
        }
    }

    /// When the presented secret stops working, by expiry or by the end of an overlap:
    /// what `Keygate-Key-Expires` tells callers.
    pub fn stops_at(&self) -> Option<DateTime<Utc>> {
        match (self.expires_at, self.secret_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
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
    #[error("paused key")]
    Paused,
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
/// made with the current secret, in whichever column holds it (a roll's old secret too).
/// `true` when a key was moved.
pub async fn move_digest(
    db: &impl ConnectionTrait,
    old: &[u8; 32],
    new: &[u8; 32],
) -> Result<bool, DbErr> {
    for column in [
        api_key::Column::LookupDigest,
        api_key::Column::PreviousDigest,
    ] {
        let res = api_key::Entity::update_many()
            .col_expr(column, Expr::value(hex(new)))
            .filter(column.eq(hex(old)))
            .exec(db)
            .await?;
        if res.rows_affected == 1 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// One lookup on the two unique digest indexes (the current secret, and the old one of
/// a roll), a constant-time comparison, status, pause and expiry, then the creator's
/// current role, which caps the key's scopes (K9).
pub async fn verify_digest(
    db: &impl ConnectionTrait,
    digest: &[u8; 32],
) -> Result<Result<KeyPrincipal, VerifyError>, DbErr> {
    Ok(match lookup_digest(db, digest).await? {
        Ok(principal) => match principal.refusal(Utc::now()) {
            Some(reason) => Err(reason),
            None => Ok(principal),
        },
        Err((reason, _)) => Err(reason),
    })
}

/// Like [`verify_digest`], but a key refused only for a reason time can end or reach
/// (a pause, an expiry, an overlap's end) is returned as a principal: the verifier caches
/// it and applies [`KeyPrincipal::refusal`] on every use. Revoked keys, unknown digests
/// and keys whose creator left are refused.
pub async fn lookup_digest(db: &impl ConnectionTrait, digest: &[u8; 32]) -> Result<Lookup, DbErr> {
    let computed = hex(digest);
    let Some(row) = api_key::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(api_key::Column::LookupDigest.eq(&computed))
                .add(api_key::Column::PreviousDigest.eq(&computed)),
        )
        .one(db)
        .await?
    else {
        return Ok(Err((VerifyError::Unknown, None)));
    };
    let current = constant_time_eq(row.lookup_digest.as_bytes(), computed.as_bytes());
    let previous = row
        .previous_digest
        .as_ref()
        .is_some_and(|d| constant_time_eq(d.as_bytes(), computed.as_bytes()));
    if !current && !previous {
        return Ok(Err((VerifyError::Unknown, None)));
    }
    let key = || {
        Some(KeyRef {
            org_id: row.org_id.clone(),
            key_id: row.id.clone(),
        })
    };
    let now = Utc::now();
    match KeyStatus::of(row.revoked_at, row.expires_at, now) {
        KeyStatus::Revoked => return Ok(Err((VerifyError::Revoked, key()))),
        KeyStatus::Expired => return Ok(Err((VerifyError::Expired, key()))),
        KeyStatus::Active | KeyStatus::Paused => {}
    }
    let secret_until = if current { None } else { row.previous_until };
    // A rolled-away secret after its overlap: refused as revoked.
    if !current && secret_until.is_none_or(|until| until <= now) {
        return Ok(Err((VerifyError::Revoked, key())));
    }
    let paused =
        crate::keys::is_paused(row.paused_at, row.paused_until, now).then_some(row.paused_until);
    let Some(creator) =
        membership_row::Entity::find_by_id((row.org_id.clone(), row.created_by.clone()))
            .one(db)
            .await?
    else {
        return Ok(Err((VerifyError::CreatorGone, key())));
    };
    let allowed = crate::orgs::Role::parse(&creator.role)
        .map(Scopes::allowed_for)
        .unwrap_or(Scopes::NONE);
    let rate_limit = RateLimit::from_stored(row.rate_limit, row.rate_limit_window);
    let allowed_ips =
        crate::keys::allowlist::from_stored(row.allowed_ips.as_deref()).map(Into::into);
    let grants = load_grants(
        db,
        &row.org_id,
        row.permissions.as_deref(),
        row.roles.as_deref(),
    )
    .await?
    .map(Into::into);
    let context = KeyContext {
        tags: crate::keys::context::load_tags(row.tags.as_deref()),
        owner: row.owner_id,
        metadata: row.metadata,
    };
    Ok(Ok(KeyPrincipal {
        context: (!context.is_empty()).then(|| context.into()),
        grants,
        rate_limit,
        allowed_ips,
        scopes: Scopes::from_stored(&row.scopes).intersect(allowed),
        org_id: row.org_id,
        key_id: row.id,
        creator_id: row.created_by,
        expires_at: row.expires_at,
        secret_until,
        paused,
    }))
}

/// A key's grants: its own (`permissions`, stored) and its roles' (`roles`, stored),
/// read from the catalog. `None` when the key holds none. One query, and only for a key
/// with roles.
pub async fn load_grants(
    db: &impl ConnectionTrait,
    org_id: &str,
    permissions: Option<&str>,
    roles: Option<&str>,
) -> Result<Option<Grants>, DbErr> {
    let own = crate::permissions::grants_from_stored(permissions);
    let roles: Vec<&str> = roles.unwrap_or_default().split_whitespace().collect();
    let from_roles = if roles.is_empty() {
        Vec::new()
    } else {
        permission_role::Entity::find()
            .filter(permission_role::Column::OrgId.eq(org_id))
            .filter(permission_role::Column::Name.is_in(roles))
            .all(db)
            .await?
    };
    let grants = Grants::new(
        own.into_iter().chain(
            from_roles
                .iter()
                .flat_map(|role| crate::permissions::grants_from_stored(Some(&role.permissions))),
        ),
    );
    Ok((!grants.is_empty()).then_some(grants))
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
