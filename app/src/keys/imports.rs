//! Keys imported from a product that stores them as unsalted SHA-256 (Better Auth in
//! base64url, Unkey in base64), so an organization moves to Keygate without re-issuing
//! the keys its customers hold.
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

use base64::Engine;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QuerySelect, Set, TransactionTrait,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::KeyPolicy;
use super::digest::hex;
use super::format;
use super::scopes::{DEFAULT_SCOPES, Scopes};
use super::service::KeyManager;
use super::verifier::{Invalidation, announce};
use crate::entities::{api_key, audit_event};
use crate::validate;

/// Most keys one import may carry.
pub const MAX_KEYS: usize = 100_000;
/// The longest display hint kept (the `start` column's width).
pub const MAX_HINT_LEN: usize = 16;
/// The hint of an imported key that came without one: none (the list shows its badge).
pub const NO_HINT: &str = "";
/// How long a foreign string that matched nothing is refused without a query.
pub const MISS_TTL: Duration = Duration::from_secs(10);
const MISS_CAPACITY: usize = 10_000;
/// Errors listed before the rest are summed up.
const ERRORS_SHOWN: usize = 20;
/// Rows per insert statement (well under SQLite's bound on bound parameters).
const INSERT_CHUNK: usize = 200;

/// The audit action recorded for each imported key.
pub const IMPORTED: &str = "key.imported";

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

fn unhex(text: &str) -> Option<[u8; 32]> {
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

/// How a line's `sha256` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Better Auth: URL-safe alphabet, no padding.
    Base64url,
    /// Unkey: standard alphabet, padded.
    Base64,
    Hex,
}

/// Decodes a stored SHA-256 digest; padding is optional in both base64 forms.
pub fn decode_sha256(text: &str, encoding: Encoding) -> Result<[u8; 32], String> {
    let text = text.trim();
    let bytes = match encoding {
        Encoding::Hex => {
            return unhex(&text.to_ascii_lowercase())
                .ok_or_else(|| "sha256 is not 64 hexadecimal digits".to_owned());
        }
        Encoding::Base64url => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|_| "sha256 is not base64url".to_owned())?,
        Encoding::Base64 => base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|_| "sha256 is not base64".to_owned())?,
    };
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("sha256 decodes to {} bytes, not 32", bytes.len()))
}

/// One line of an import file, as exported from the other product.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    name: String,
    sha256: String,
    encoding: Encoding,
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
}

/// A checked line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedKey {
    /// Where it was: "line 3" in a file, "keys[2]" in a REST body.
    pub at: String,
    pub name: String,
    pub sha256: [u8; 32],
    pub hint: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: Scopes,
}

/// What a file holds: the keys to import, and those skipped because they already expired.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportPlan {
    pub keys: Vec<ImportedKey>,
    /// (where, name) of keys past their expiry: importing them would do nothing.
    pub expired: Vec<(String, String)>,
}

/// Why nothing was imported: every problem found, by line.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{}", summarize(.0))]
    Invalid(Vec<String>),
    /// Importing mints keys with secrets chosen outside Keygate: owners and admins only.
    #[error("Only owners and admins may import keys.")]
    Forbidden,
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

fn summarize(problems: &[String]) -> String {
    let mut text = problems
        .iter()
        .take(ERRORS_SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    if problems.len() > ERRORS_SHOWN {
        text.push_str(&format!(
            "\n... and {} more problems",
            problems.len() - ERRORS_SHOWN
        ));
    }
    text.push_str("\nNothing was imported.");
    text
}

/// Checks a JSON-lines file (blank lines allowed) for the keys `manager` may import:
/// every line is checked and every problem reported, or the plan is returned.
pub fn parse(
    text: &str,
    manager: &KeyManager,
    policy: KeyPolicy,
    now: DateTime<Utc>,
) -> Result<ImportPlan, ImportError> {
    let lines = text
        .lines()
        .enumerate()
        .filter(|(_, raw)| !raw.trim().is_empty())
        .map(|(index, raw)| (format!("line {}", index + 1), raw));
    parse_entries(
        lines,
        "the file holds no keys (one JSON object per line)",
        manager,
        policy,
        now,
    )
}

/// As [`parse`], for entries each named by where they are ("keys[2]" in a REST body);
/// `empty` is the problem reported when there are none. Every key must also meet the
/// organization's key `policy`, as a key made now would (an imported key is a new key
/// to Keygate, whatever its age).
pub fn parse_entries<'a>(
    entries: impl IntoIterator<Item = (String, &'a str)>,
    empty: &str,
    manager: &KeyManager,
    policy: KeyPolicy,
    now: DateTime<Utc>,
) -> Result<ImportPlan, ImportError> {
    if !manager.role().can_manage_members() {
        return Err(ImportError::Forbidden);
    }
    let mut plan = ImportPlan::default();
    let mut problems = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for (at, raw) in entries {
        match check_line(raw, manager, now) {
            Err(problem) => problems.push(format!("{at}: {problem}")),
            Ok(key) => {
                if let Some(first) = seen.get(&key.sha256) {
                    problems.push(format!("{at}: the same key as {first}"));
                } else if key.expires_at.is_some_and(|end| end <= now) {
                    seen.insert(key.sha256, at.clone());
                    plan.expired.push((at, key.name));
                } else if let Err(problem) = policy.check(key.expires_at, now) {
                    problems.push(format!("{at}: {problem}"));
                } else {
                    seen.insert(key.sha256, at.clone());
                    plan.keys.push(ImportedKey { at, ..key });
                }
            }
        }
        if plan.keys.len() > MAX_KEYS {
            problems.push(format!(
                "more than {MAX_KEYS} keys: split the file and import each part"
            ));
            break;
        }
    }
    if plan.keys.is_empty() && plan.expired.is_empty() && problems.is_empty() {
        problems.push(empty.to_owned());
    }
    if problems.is_empty() {
        Ok(plan)
    } else {
        Err(ImportError::Invalid(problems))
    }
}

fn check_line(raw: &str, manager: &KeyManager, now: DateTime<Utc>) -> Result<ImportedKey, String> {
    // serde's messages quote unexpected values; a line holds no raw key, only a digest,
    // so they are safe to show.
    let line: Line = serde_json::from_str(raw).map_err(|e| e.to_string())?;
    let name = validate::name(&line.name, "name")?;
    let sha256 = decode_sha256(&line.sha256, line.encoding)?;
    let hint = match line.start.as_deref().map(str::trim) {
        None | Some("") => NO_HINT.to_owned(),
        Some(start)
            if start.len() > MAX_HINT_LEN || !start.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            return Err(format!(
                "start must be at most {MAX_HINT_LEN} printable characters (the key's first few)"
            ));
        }
        Some(start) => start.to_owned(),
    };
    let expires_at = line.expires_at.map(|at| at.trunc_subsecs(6));
    let created_at = match line.created_at.map(|at| at.trunc_subsecs(6)) {
        Some(at) if at > now + chrono::Duration::minutes(5) => {
            return Err("created_at is in the future".into());
        }
        Some(at) if expires_at.is_some_and(|end| end <= at) => {
            return Err("expires_at is not after created_at".into());
        }
        Some(at) => at,
        // Unknown: the import is when Keygate learnt of it (an expired key is skipped).
        None => now.trunc_subsecs(6),
    };
    let scopes = match &line.scopes {
        None => DEFAULT_SCOPES,
        Some(names) => Scopes::parse_list(names.iter().map(String::as_str))?,
    };
    if scopes.is_empty() {
        return Err("scopes is empty: give at least one, or leave it out for gateway".into());
    }
    if !scopes.is_subset_of(manager.scope_limit()) {
        return Err("scopes are broader than the importing member may give".into());
    }
    if !manager.may_issue_until(expires_at) {
        return Err("it would outlive the key that imports it".into());
    }
    Ok(ImportedKey {
        at: String::new(),
        name,
        sha256,
        hint,
        created_at,
        expires_at,
        scopes,
    })
}

/// Imports a checked plan in one transaction: a key already imported refuses the whole
/// file. Each key gets an audit event; every instance is told to re-read the imported
/// keys. Returns the new keys' ids, in file order.
pub async fn import(
    db: &DatabaseConnection,
    manager: &KeyManager,
    plan: &ImportPlan,
) -> Result<Vec<String>, ImportError> {
    if !manager.role().can_manage_members() {
        return Err(ImportError::Forbidden);
    }
    let digests: Vec<String> = plan.keys.iter().map(|k| hex(&k.sha256)).collect();
    // digest -> (key id, its organization)
    let mut taken = std::collections::HashMap::new();
    for chunk in digests.chunks(INSERT_CHUNK) {
        let rows: Vec<(String, String, String)> = api_key::Entity::find()
            .select_only()
            .column(api_key::Column::ImportDigest)
            .column(api_key::Column::Id)
            .column(api_key::Column::OrgId)
            .filter(api_key::Column::ImportDigest.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(db)
            .await?;
        taken.extend(
            rows.into_iter()
                .map(|(digest, id, org)| (digest, (id, org))),
        );
    }
    if !taken.is_empty() {
        // In the order of the file. Another organization's key is not named (Z5).
        let problems = plan
            .keys
            .iter()
            .zip(&digests)
            .filter_map(|(key, digest)| {
                let (id, org) = taken.get(digest)?;
                Some(if org == manager.org_id() {
                    format!("{}: this key was already imported, as {id}", key.at)
                } else {
                    format!("{}: this key is already in Keygate", key.at)
                })
            })
            .collect();
        return Err(ImportError::Invalid(problems));
    }
    let now = Utc::now().trunc_subsecs(6);
    let rows: Vec<api_key::Model> = plan
        .keys
        .iter()
        .map(|key| {
            let fresh = api_key::Model::new_in(manager.org_id(), manager.user_id(), key.created_at);
            api_key::Model {
                // Never a hex digest, so no presented key can match it before the first
                // use stores the real one.
                lookup_digest: format!("imported:{}", fresh.id),
                name: key.name.clone(),
                start: key.hint.clone(),
                scopes: key.scopes.to_stored(),
                expires_at: key.expires_at,
                import_digest: Some(hex(&key.sha256)),
                imported_at: Some(now),
                ..fresh
            }
        })
        .collect();
    let txn = db.begin().await?;
    for chunk in rows.chunks(INSERT_CHUNK) {
        api_key::Entity::insert_many(chunk.iter().cloned().map(api_key::ActiveModel::from))
            .exec_without_returning(&txn)
            .await?;
        audit_event::Entity::insert_many(chunk.iter().map(|row| audit_event::ActiveModel {
            org_id: Set(row.org_id.clone()),
            actor_id: Set(manager.user_id().to_owned()),
            action: Set(IMPORTED.to_owned()),
            key_id: Set(row.id.clone()),
            key_name: Set(row.name.clone()),
            created_at: Set(now),
            detail: Set((!row.start.is_empty()).then(|| format!("hint {}", row.start))),
            ..Default::default()
        }))
        .exec_without_returning(&txn)
        .await?;
    }
    // Each imported key is a new key to the organization's webhooks, as a created one is.
    let created: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            serde_json::json!({
                "key": crate::webhooks::service::key_data(row),
                "actor": { "id": manager.user_id() },
                "detail": "imported",
            })
        })
        .collect();
    crate::webhooks::service::emit_each(&txn, manager.org_id(), "key.created", created).await?;
    announce(&txn, &Invalidation::Imports).await?;
    txn.commit().await?;
    Ok(rows.into_iter().map(|row| row.id).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_decode_as_each_product_writes_them() {
        // SHA-256("abc"), FIPS 180-2.
        let expected =
            unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad").unwrap();
        assert_eq!(sha256_hex("abc"), hex(&expected));
        for (text, encoding) in [
            (
                "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0",
                Encoding::Base64url,
            ),
            (
                "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
                Encoding::Base64,
            ),
            (
                "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0",
                Encoding::Base64,
            ),
            (
                "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
                Encoding::Hex,
            ),
        ] {
            assert_eq!(decode_sha256(text, encoding), Ok(expected), "{text}");
        }
        // The wrong alphabet, a short digest, stray characters.
        for (text, encoding) in [
            (
                "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0",
                Encoding::Base64url,
            ),
            ("ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD", Encoding::Base64url),
            ("ba7816bf", Encoding::Hex),
            (
                "zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                Encoding::Hex,
            ),
        ] {
            assert!(decode_sha256(text, encoding).is_err(), "{text}");
        }
    }

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
