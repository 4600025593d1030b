//! Keys imported from a product that stores them as unsalted SHA-256 (Better Auth in
//! base64url, Unkey in base64), so an organization moves to Keygate without re-issuing
//! the keys its customers hold.
//!
//! This is the bulk half: checking a file (or a REST body) and writing the keys. An
//! imported key keeps that SHA-256 in `import_digest` until its first use, which the hot
//! path handles (`crate::keys::verify::imported`).

use base64::Engine;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};
use serde::Deserialize;

use super::KeyPolicy;
use super::events::{self, KeyEvent};
use super::manager::KeyManager;
use super::scopes::{DEFAULT_SCOPES, Scopes};
use super::verify::digest::hex;
use super::verify::imported::unhex;
use super::verify::{Invalidation, announce};
use crate::entities::api_key;
use crate::validate;

/// Most keys one import may carry.
pub const MAX_KEYS: usize = 100_000;
/// The longest display hint kept (the `start` column's width).
pub const MAX_HINT_LEN: usize = 16;
/// The hint of an imported key that came without one: none (the list shows its badge).
pub const NO_HINT: &str = "";
/// Errors listed before the rest are summed up.
const ERRORS_SHOWN: usize = 20;
/// Rows per insert statement (well under SQLite's bound on bound parameters).
const INSERT_CHUNK: usize = 200;

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
    let txn = crate::ssr::begin_write(db).await?;
    for chunk in rows.chunks(INSERT_CHUNK) {
        api_key::Entity::insert_many(chunk.iter().cloned().map(api_key::ActiveModel::from))
            .exec_without_returning(&txn)
            .await?;
    }
    // Each imported key is a new key to the organization's webhooks, as a created one is.
    events::record_each(&txn, manager.user_id(), now, &rows, &KeyEvent::Imported).await?;
    announce(&txn, &Invalidation::Imports).await?;
    txn.commit().await?;
    Ok(rows.into_iter().map(|row| row.id).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::keys::verify::imported::sha256_hex;

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
}
