//! What happened to a key, written once: a [`KeyEvent`] knows its audit action, its audit
//! detail and the webhook events it raises, and [`record`] writes the audit rows and the
//! outbox rows for a change in the change's own transaction (a change that rolls back
//! records and sends nothing, W3). Every key change goes through here: the key service,
//! leak reports, the bulk import, the idle sweep and a member's removal.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr};
use serde_json::{Value, json};

use crate::audit::{self, Action};
use crate::entities::api_key;
use crate::webhooks::outbox;

/// Who `revoked_by` and the activity name when Keygate itself acted (the idle sweep).
pub const SYSTEM_ACTOR: &str = "keygate";
/// Who `revoked_by` and the activity name for a revocation by leak report.
pub const LEAK_ACTOR: &str = "keygate-leak";

/// Why a key was revoked: `key.revoked`'s `reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// Someone with the right to revoked it.
    ByPerson,
    /// Unused for the organization's idle window.
    Idle { days: u32 },
    /// Revoked with the removal of the member who made it.
    MemberRemoved,
    /// Reported as leaked, found at `source` if the report said.
    Leaked { source: Option<String> },
}

/// A change to a key, as the activity log and the webhooks tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyEvent {
    Created,
    /// Imported from another product: a new key to the organization.
    Imported,
    Rolled {
        detail: String,
    },
    Revoked(Revocation),
    /// Handed to the remover with a member's removal.
    Transferred,
    Paused {
        detail: String,
    },
    Resumed,
    OverlapEnded {
        detail: Option<String>,
    },
    /// A leak report named the old secret of a roll in its overlap: it stopped.
    OldSecretLeaked {
        source: Option<String>,
    },
    Shortened {
        detail: Option<String>,
    },
    RateLimitChanged {
        detail: String,
    },
    AllowedIpsChanged {
        detail: String,
    },
    ContextChanged {
        detail: String,
    },
    /// Given other permissions or roles of the API behind the gateway.
    PermissionsChanged {
        detail: String,
    },
}

/// ", found at <source>" for a leak report that said where.
fn found_at(source: &Option<String>) -> String {
    source
        .as_ref()
        .map(|s| format!(", found at {s}"))
        .unwrap_or_default()
}

impl KeyEvent {
    pub fn action(&self) -> Action {
        match self {
            KeyEvent::Created => Action::KeyCreated,
            KeyEvent::Imported => Action::KeyImported,
            KeyEvent::Rolled { .. } => Action::KeyRolled,
            KeyEvent::Revoked(Revocation::Idle { .. }) => Action::KeyIdleRevoked,
            KeyEvent::Revoked(Revocation::MemberRemoved) => Action::KeyRevokedWithMember,
            KeyEvent::Revoked(_) => Action::KeyRevoked,
            KeyEvent::Transferred => Action::KeyTransferred,
            KeyEvent::Paused { .. } => Action::KeyPaused,
            KeyEvent::Resumed => Action::KeyResumed,
            KeyEvent::OverlapEnded { .. } | KeyEvent::OldSecretLeaked { .. } => {
                Action::KeyOverlapEnded
            }
            KeyEvent::Shortened { .. } => Action::KeyShortened,
            KeyEvent::RateLimitChanged { .. } => Action::KeyRateLimitChanged,
            KeyEvent::AllowedIpsChanged { .. } => Action::KeyAllowedIpsChanged,
            KeyEvent::ContextChanged { .. } => Action::KeyContextChanged,
            KeyEvent::PermissionsChanged { .. } => Action::KeyPermissionsChanged,
        }
    }

    /// The activity's detail for `key`.
    pub fn detail(&self, key: &api_key::Model) -> Option<String> {
        match self {
            KeyEvent::Created
            | KeyEvent::Transferred
            | KeyEvent::Resumed
            | KeyEvent::Revoked(Revocation::ByPerson | Revocation::MemberRemoved) => None,
            KeyEvent::Imported => (!key.start.is_empty()).then(|| format!("hint {}", key.start)),
            KeyEvent::Rolled { detail }
            | KeyEvent::Paused { detail }
            | KeyEvent::RateLimitChanged { detail }
            | KeyEvent::AllowedIpsChanged { detail }
            | KeyEvent::ContextChanged { detail }
            | KeyEvent::PermissionsChanged { detail } => Some(detail.clone()),
            KeyEvent::OverlapEnded { detail } | KeyEvent::Shortened { detail } => detail.clone(),
            KeyEvent::Revoked(Revocation::Idle { days }) => {
                Some(format!("unused for {}", super::days_text(*days)))
            }
            KeyEvent::Revoked(Revocation::Leaked { source }) => {
                Some(format!("revoked as leaked{}", found_at(source)))
            }
            KeyEvent::OldSecretLeaked { source } => {
                Some(format!("old secret stopped as leaked{}", found_at(source)))
            }
        }
    }

    /// The webhook events this raises for `key`, each `(type, data)`: never its secret
    /// or digest (W1).
    fn webhooks(&self, key: &api_key::Model, actor: &str) -> Vec<(&'static str, Value)> {
        let data = |detail: Option<String>| {
            json!({
                "key": outbox::key_data(key),
                "actor": { "id": actor },
                "detail": detail,
            })
        };
        let leaked = |secret: &str, action: &str, source: &Option<String>| {
            json!({
                "key": outbox::key_data(key),
                "secret": secret,
                "source": source,
                "action": action,
            })
        };
        match self {
            KeyEvent::Created => vec![("key.created", data(None))],
            KeyEvent::Imported => vec![("key.created", data(Some("imported".into())))],
            KeyEvent::Rolled { .. } => vec![("key.rolled", data(self.detail(key)))],
            KeyEvent::Paused { .. } => vec![("key.paused", data(self.detail(key)))],
            KeyEvent::PermissionsChanged { .. } => {
                vec![("key.permissions_changed", data(self.detail(key)))]
            }
            KeyEvent::Revoked(reason) => {
                let mut revoked = data(self.detail(key));
                revoked["reason"] = json!(match reason {
                    Revocation::ByPerson => "revoked",
                    Revocation::Idle { .. } => "idle",
                    Revocation::MemberRemoved => "member_removed",
                    Revocation::Leaked { .. } => "leaked",
                });
                match reason {
                    Revocation::Leaked { source } => {
                        revoked["source"] = json!(source);
                        vec![
                            ("key.leaked", leaked("current", "revoked", source)),
                            ("key.revoked", revoked),
                        ]
                    }
                    _ => vec![("key.revoked", revoked)],
                }
            }
            KeyEvent::OldSecretLeaked { source } => vec![(
                "key.leaked",
                leaked("previous", "old_secret_stopped", source),
            )],
            KeyEvent::Transferred
            | KeyEvent::Resumed
            | KeyEvent::OverlapEnded { .. }
            | KeyEvent::Shortened { .. }
            | KeyEvent::RateLimitChanged { .. }
            | KeyEvent::AllowedIpsChanged { .. }
            | KeyEvent::ContextChanged { .. } => Vec::new(),
        }
    }
}

/// Records `event` for `key` by `actor` at `at`, in the caller's transaction: its audit
/// row and its webhook events.
pub async fn record(
    db: &impl ConnectionTrait,
    actor: &str,
    at: DateTime<Utc>,
    key: &api_key::Model,
    event: KeyEvent,
) -> Result<(), DbErr> {
    record_each(db, actor, at, std::slice::from_ref(key), &event).await
}

/// [`record`] for one event that happened to many keys of one organization at once (an
/// import, a member's removal): the audit rows in one statement, and the organization's
/// webhook endpoints read once per event type.
pub async fn record_each(
    db: &impl ConnectionTrait,
    actor: &str,
    at: DateTime<Utc>,
    keys: &[api_key::Model],
    event: &KeyEvent,
) -> Result<(), DbErr> {
    let Some(first) = keys.first() else {
        return Ok(());
    };
    debug_assert!(keys.iter().all(|k| k.org_id == first.org_id));
    let rows = keys
        .iter()
        .map(|key| audit::Row {
            org_id: key.org_id.clone(),
            actor_id: actor.to_owned(),
            action: event.action(),
            subject_id: key.id.clone(),
            subject_name: key.name.clone(),
            at,
            detail: event.detail(key),
        })
        .collect();
    audit::insert(db, rows).await?;
    let mut by_type: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for key in keys {
        for (kind, data) in event.webhooks(key, actor) {
            match by_type.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, all)) => all.push(data),
                None => by_type.push((kind, vec![data])),
            }
        }
    }
    for (kind, data) in by_type {
        outbox::emit_each(db, &first.org_id, kind, data).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> api_key::Model {
        api_key::Model {
            start: "kg_AbCd".into(),
            lookup_digest: "d1g3st-never-sent".into(),
            ..api_key::Model::new_in("org_1", "usr_1", Utc::now())
        }
    }

    #[test]
    fn each_revocation_names_its_reason_and_a_leak_raises_key_leaked_first() {
        let key = key();
        let kinds =
            |event: KeyEvent| -> Vec<(&'static str, Value)> { event.webhooks(&key, "usr_2") };
        for (reason, text) in [
            (Revocation::ByPerson, "revoked"),
            (Revocation::Idle { days: 30 }, "idle"),
            (Revocation::MemberRemoved, "member_removed"),
            (Revocation::Leaked { source: None }, "leaked"),
        ] {
            let events = kinds(KeyEvent::Revoked(reason));
            let (kind, data) = events.last().unwrap();
            assert_eq!(*kind, "key.revoked");
            assert_eq!(data["reason"], text);
            assert_eq!(data["key"]["id"], key.id);
            assert!(
                !data.to_string().contains(&key.lookup_digest),
                "no digest (W1)"
            );
        }
        let leaked = kinds(KeyEvent::Revoked(Revocation::Leaked {
            source: Some("https://example.com/dump".into()),
        }));
        assert_eq!(leaked[0].0, "key.leaked");
        assert_eq!(leaked[0].1["secret"], "current");
        assert_eq!(leaked[1].1["source"], "https://example.com/dump");
        assert!(kinds(KeyEvent::Resumed).is_empty());
    }

    #[test]
    fn actions_and_details_follow_the_event() {
        let key = key();
        assert_eq!(
            KeyEvent::Revoked(Revocation::Idle { days: 90 })
                .detail(&key)
                .as_deref(),
            Some("unused for 90 days")
        );
        assert_eq!(
            KeyEvent::Revoked(Revocation::MemberRemoved).action(),
            Action::KeyRevokedWithMember
        );
        assert_eq!(
            KeyEvent::OldSecretLeaked { source: None }.action(),
            Action::KeyOverlapEnded
        );
        assert_eq!(
            KeyEvent::Imported.detail(&key).as_deref(),
            Some("hint kg_AbCd")
        );
    }
}
