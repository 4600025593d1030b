//! Leak reports: whoever holds a key may kill it. A reported key that is live is revoked
//! at once on every instance (a reported old secret still in a roll's overlap has its
//! overlap ended instead, so the key's new secret keeps working), with an audit event
//! naming the reported source and `key.leaked` and `key.revoked` webhook events. Nothing
//! in the answer says whether a key matched.

use chrono::{SubsecRound, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    Set,
};

use super::events::{self, KeyEvent, LEAK_ACTOR, Revocation};
use super::format;
use super::verify;
use super::verify::digest::digest;
use super::verify::{Invalidation, Verifier, announce};
use crate::entities::api_key;
use crate::ssr::Secret;

/// Keys one report may carry.
pub const MAX_REPORTED: usize = 100;
/// The longest source URL kept.
pub const MAX_SOURCE_LEN: usize = 2048;

/// Checks a report's `source`: empty for none, else an `http(s)` URL of at most
/// [`MAX_SOURCE_LEN`] characters. The sentence is for the field error.
pub fn check_source(source: Option<&str>) -> Result<Option<String>, String> {
    let Some(source) = source.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if source.chars().count() > MAX_SOURCE_LEN {
        return Err(format!(
            "The source can be at most {MAX_SOURCE_LEN} characters."
        ));
    }
    match url::Url::parse(source) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Ok(Some(url.to_string()))
        }
        _ => Err(
            "The source must be the http:// or https:// address where the keys were found.".into(),
        ),
    }
}

/// What a report did (for the operator's CLI; the public answer says none of it).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LeakOutcome {
    /// Keys revoked.
    pub revoked: Vec<String>,
    /// Keys whose reported old secret was stopped by ending its roll's overlap.
    pub overlaps_ended: Vec<String>,
}

/// How many of `reported` would be looked up (well-formed and distinct): what a report
/// costs against the reporter's per-address failure budget, one unit per key, as if each
/// had been tried.
pub fn lookups(verifier: &Verifier, reported: &[String]) -> u32 {
    let mut seen = std::collections::HashSet::new();
    let n = reported
        .iter()
        .take(MAX_REPORTED)
        .map(|raw| raw.trim())
        .filter(|raw| worth_lookup(verifier, raw) && seen.insert(*raw))
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Ours by format, or maybe an imported key waiting for its first use.
fn worth_lookup(verifier: &Verifier, raw: &str) -> bool {
    format::check(raw).is_ok() || (verify::imported::foreign_shape(raw) && verifier.imports().any())
}

/// Revokes every live key among `reported` (raw keys; anything not in our format is
/// skipped without a database query, unless keys imported from another product exist:
/// then it may be one of those). Each key is one transaction with its audit event,
/// webhook events and the invalidation every instance follows.
pub async fn revoke_leaked(
    db: &DatabaseConnection,
    secret: &Secret,
    verifier: &Verifier,
    reported: &[String],
    source: Option<&str>,
) -> Result<LeakOutcome, DbErr> {
    let mut outcome = LeakOutcome::default();
    let mut seen = std::collections::HashSet::new();
    for raw in reported.iter().take(MAX_REPORTED) {
        let raw = raw.trim();
        if !worth_lookup(verifier, raw) || !seen.insert(raw.to_owned()) {
            continue;
        }
        let imported = format::check(raw).is_err();
        let mut digests = vec![digest(secret, raw)];
        if let Some(previous) = verifier.previous_secret() {
            digests.push(digest(previous, raw));
        }
        // An imported key not used yet is known by the other product's SHA-256 only.
        let sha = imported.then(|| verify::imported::sha256_hex(raw));
        let mut matches = Condition::any()
            .add(api_key::Column::LookupDigest.is_in(digests.clone()))
            .add(api_key::Column::PreviousDigest.is_in(digests.clone()));
        if let Some(sha) = &sha {
            matches = matches.add(api_key::Column::ImportDigest.eq(sha.as_str()));
        }
        let now = Utc::now().trunc_subsecs(6);
        let txn = crate::ssr::begin_write(db).await?;
        let Some(key) = api_key::Entity::find().filter(matches).one(&txn).await? else {
            txn.rollback().await?;
            continue;
        };
        let live = key.revoked_at.is_none() && key.expires_at.is_none_or(|at| at > now);
        let current =
            digests.contains(&key.lookup_digest) || (sha.is_some() && key.import_digest == sha);
        let in_overlap = key.previous_until.is_some_and(|until| until > now);
        let ended = if !live {
            None
        } else if current {
            Some(Ended::Key)
        } else if in_overlap {
            Some(Ended::OldSecret)
        } else {
            None
        };
        let Some(ended) = ended else {
            txn.rollback().await?;
            continue;
        };
        let mut row: api_key::ActiveModel = key.clone().into();
        match ended {
            Ended::Key => {
                row.revoked_at = Set(Some(now));
                row.revoked_by = Set(Some(LEAK_ACTOR.to_owned()));
                row.import_digest = Set(None);
            }
            Ended::OldSecret => row.previous_until = Set(Some(now)),
        }
        let changed = row.update(&txn).await?;
        let source = source.map(str::to_owned);
        let event = match ended {
            Ended::Key => KeyEvent::Revoked(Revocation::Leaked { source }),
            Ended::OldSecret => KeyEvent::OldSecretLeaked { source },
        };
        events::record(&txn, LEAK_ACTOR, now, &changed, event).await?;
        announce(&txn, &Invalidation::Key(key.id.clone())).await?;
        txn.commit().await?;
        verifier.forget_key(&key.id);
        match ended {
            Ended::Key => outcome.revoked.push(key.id),
            Ended::OldSecret => outcome.overlaps_ended.push(key.id),
        }
    }
    Ok(outcome)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The key's current secret leaked: the key is revoked.
    Key,
    /// The old secret of a roll in its overlap leaked: the overlap ends now.
    OldSecret,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_http_urls_or_nothing() {
        assert_eq!(check_source(None), Ok(None));
        assert_eq!(check_source(Some("  ")), Ok(None));
        assert_eq!(
            check_source(Some("https://github.com/acme/app/blob/main/.env")),
            Ok(Some("https://github.com/acme/app/blob/main/.env".into()))
        );
        assert!(check_source(Some("javascript:alert(1)")).is_err());
        assert!(check_source(Some("not a url")).is_err());
        let long = format!("https://example.com/{}", "a".repeat(MAX_SOURCE_LEN));
        assert!(check_source(Some(&long)).unwrap_err().contains("2048"));
    }
}
