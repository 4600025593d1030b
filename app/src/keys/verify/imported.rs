//! The first-use half of keys imported from a product that stores them as unsalted
//! SHA-256 (see `crate::keys::imports` for the bulk import itself), on the hot path.
//!
//! An imported key keeps that SHA-256 in `import_digest` until it is first presented.
//! Then the verifier, holding the raw key for that one request, stores our HMAC digest in
//! its place and clears the SHA-256 ([`claim`]), as a secret rotation re-digests a key:
//! after one use nothing unsalted is left. Imported keys do not have our prefix or
//! checksum, so a presented string in another format may be one: every instance keeps in
//! memory whether any imported key waits for its first use and the HMAC digests of those
//! already moved ([`Imports`]). With none waiting, a foreign string whose digest is not
//! among the moved ones is refused without a query, exactly like a malformed `kg_` key;
//! while some wait, it is looked up by its SHA-256 under the per-address failure limit,
//! and a miss is remembered for [`MISS_TTL`] so a repeated guess costs nothing.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
};
use sha2::{Digest, Sha256};

use super::digest::hex;
use crate::entities::api_key;
use crate::keys::format;

/// How long a foreign string that matched nothing is refused without a query.
pub const MISS_TTL: Duration = Duration::from_secs(10);
const MISS_CAPACITY: usize = 10_000;

/// Whether `presented` could be an imported key: not our prefix (a malformed `kg_` key
/// never reaches the database) and printable ASCII without spaces, as header values are.
pub fn foreign_shape(presented: &str) -> bool {
    !presented.starts_with(format::PREFIX)
        && (1..=format::MAX_INPUT_LEN).contains(&presented.len())
        && presented.bytes().all(|b| b.is_ascii_graphic())
}

/// SHA-256 of the raw key, hex: what another product stored, as we store it.
pub fn sha256_hex(raw: &str) -> String {
    hex(&Sha256::digest(raw.as_bytes()).into())
}

/// What this instance knows of imported keys, read from the database before the server
/// serves, when an import is announced, and every [`RELOAD_INTERVAL`] as a backstop.
/// Until it has been read, it knows of none: foreign strings are refused unhashed.
#[derive(Debug, Default)]
pub struct Imports {
    /// Imported keys never used yet: foreign strings are looked up by SHA-256 while > 0.
    waiting: AtomicUsize,
    /// HMAC digests of imported keys already moved to ours.
    moved: papaya::HashSet<[u8; 32]>,
    /// HMAC digests of foreign strings that matched nothing, and when.
    misses: papaya::HashMap<[u8; 32], Instant>,
    /// An import was announced: re-read soon.
    stale: AtomicBool,
}

/// How often every instance re-reads the imported keys, in case an announcement was
/// missed.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(60);

impl Imports {
    /// Whether foreign strings need looking at at all: some imported key exists.
    pub fn any(&self) -> bool {
        self.waiting() || !self.moved.is_empty()
    }

    /// Whether a foreign string with this HMAC digest is worth a query: it is a moved
    /// imported key's, or some imported key still waits and this string did not just miss.
    pub fn worth_lookup(&self, digest: &[u8; 32]) -> bool {
        if self.moved.pin().contains(digest) {
            return true;
        }
        if !self.waiting() {
            return false;
        }
        self.misses
            .pin()
            .get(digest)
            .is_none_or(|at| at.elapsed() >= MISS_TTL)
    }

    /// Whether a lookup by SHA-256 can find anything: some imported key waits.
    pub fn waiting(&self) -> bool {
        self.waiting.load(Ordering::Relaxed) > 0
    }

    /// A foreign string matched nothing: refuse it without a query for a while.
    pub fn missed(&self, digest: [u8; 32]) {
        let misses = self.misses.pin();
        if misses.len() >= MISS_CAPACITY {
            misses.retain(|_, at| at.elapsed() < MISS_TTL);
            if misses.len() >= MISS_CAPACITY {
                misses.clear();
            }
        }
        misses.insert(digest, Instant::now());
    }

    /// An import was announced (by any instance or the CLI): [`Imports::reload`] soon.
    pub fn mark_stale(&self) {
        self.stale.store(true, Ordering::Relaxed);
    }

    /// Whether a reload was asked for since the last call.
    pub fn take_stale(&self) -> bool {
        self.stale.swap(false, Ordering::Relaxed)
    }

    /// This instance moved a waiting key to our digest.
    pub fn claimed(&self, digest: [u8; 32]) {
        self.moved.pin().insert(digest);
        let _ = self
            .waiting
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// A foreign string turned out to be an imported key moved by another instance.
    pub fn seen_moved(&self, digest: [u8; 32]) {
        self.moved.pin().insert(digest);
    }

    /// Re-reads the imported keys that are neither revoked nor expired: how many wait for
    /// their first use and the digests of the others, in one query. Forgets remembered
    /// misses, so a key imported a moment ago works at once.
    pub async fn reload(&self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        let now = Utc::now();
        let rows: Vec<(String, Option<String>, Option<DateTime<Utc>>)> = api_key::Entity::find()
            .select_only()
            .column(api_key::Column::LookupDigest)
            .column(api_key::Column::ImportDigest)
            .column(api_key::Column::ExpiresAt)
            .filter(api_key::Column::ImportedAt.is_not_null())
            .filter(api_key::Column::RevokedAt.is_null())
            .into_tuple()
            .all(db)
            .await?;
        let mut waiting = 0;
        let mut moved = HashSet::new();
        for (lookup, import, expires_at) in rows {
            if expires_at.is_some_and(|at| at <= now) {
                continue;
            }
            if import.is_some() {
                waiting += 1;
            } else if let Some(digest) = unhex(&lookup) {
                moved.insert(digest);
            }
        }
        let set = self.moved.pin();
        for digest in &moved {
            set.insert(*digest);
        }
        set.retain(|digest| moved.contains(digest));
        self.waiting.store(waiting, Ordering::Relaxed);
        self.misses.pin().clear();
        Ok(())
    }
}

pub(crate) fn unhex(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        out[i] = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(out)
}

/// What [`claim`] found for a foreign string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// An imported key waiting for its first use: this call moved it to our digest.
    Moved,
    /// An imported key that another request or instance has just moved (between this
    /// request's lookup by our digest and its claim): it carries our digest now.
    MovedElsewhere,
    /// Nothing imported matches.
    Nothing,
}

/// On a foreign string's first use: if it is an imported key waiting for it, stores
/// `digest` (our HMAC of it) in place of the SHA-256, which is cleared. One select, by
/// the SHA-256 or by our digest, so a key moved a moment ago by a concurrent request is
/// found too, and nothing is written for a string that matches nothing; then a
/// conditional update, which moves the key once however many requests race for it (the
/// losers find it moved).
pub async fn claim(
    db: &impl ConnectionTrait,
    presented: &str,
    digest: &[u8; 32],
) -> Result<Claim, DbErr> {
    let sha = sha256_hex(presented);
    let ours = hex(digest);
    let Some((id, waiting_for)) = api_key::Entity::find()
        .select_only()
        .column(api_key::Column::Id)
        .column(api_key::Column::ImportDigest)
        .filter(
            Condition::any()
                .add(api_key::Column::ImportDigest.eq(&sha))
                .add(api_key::Column::LookupDigest.eq(&ours)),
        )
        .into_tuple::<(String, Option<String>)>()
        .one(db)
        .await?
    else {
        return Ok(Claim::Nothing);
    };
    if waiting_for.as_deref() != Some(sha.as_str()) {
        return Ok(Claim::MovedElsewhere);
    }
    let res = api_key::Entity::update_many()
        .col_expr(api_key::Column::LookupDigest, Expr::value(ours.clone()))
        .col_expr(
            api_key::Column::ImportDigest,
            Expr::value(Option::<String>::None),
        )
        .filter(api_key::Column::Id.eq(&id))
        .filter(api_key::Column::ImportDigest.eq(sha))
        .exec(db)
        .await?;
    if res.rows_affected == 1 {
        return Ok(Claim::Moved);
    }
    // Someone else moved (or revoked) it between the two statements.
    let moved = api_key::Entity::find_by_id(id)
        .filter(api_key::Column::LookupDigest.eq(ours))
        .select_only()
        .column(api_key::Column::Id)
        .into_tuple::<String>()
        .one(db)
        .await?;
    Ok(if moved.is_some() {
        Claim::MovedElsewhere
    } else {
        Claim::Nothing
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_foreign_printable_strings_can_be_imported_keys() {
        assert!(foreign_shape("ba_abcdefghijklmnop"));
        assert!(foreign_shape("uk_3ZRk8k9s2K"));
        assert!(!foreign_shape("kg_anything"), "our prefix keeps its guard");
        assert!(!foreign_shape(""));
        assert!(!foreign_shape("with space"));
        assert!(!foreign_shape("tab\there"));
        assert!(!foreign_shape("caf\u{e9}"));
        assert!(!foreign_shape(&"x".repeat(format::MAX_INPUT_LEN + 1)));
        assert!(foreign_shape(&"x".repeat(format::MAX_INPUT_LEN)));
    }

    #[test]
    fn the_import_state_says_when_a_lookup_is_worth_it() {
        let imports = Imports::default();
        assert!(
            !imports.any(),
            "none known: foreign strings are refused unhashed"
        );
        let digest = [7u8; 32];
        assert!(!imports.worth_lookup(&digest));
        imports.waiting.store(1, Ordering::Relaxed);
        assert!(imports.any());
        assert!(imports.worth_lookup(&digest));
        imports.missed(digest);
        assert!(
            !imports.worth_lookup(&digest),
            "a recent miss is not looked up"
        );
        imports.claimed([8u8; 32]);
        assert_eq!(imports.waiting.load(Ordering::Relaxed), 0);
        assert!(imports.worth_lookup(&[8u8; 32]), "a moved key is looked up");
        assert!(!imports.worth_lookup(&[9u8; 32]));
        imports.claimed([10u8; 32]);
        assert_eq!(
            imports.waiting.load(Ordering::Relaxed),
            0,
            "never below zero"
        );
    }
}
