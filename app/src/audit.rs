//! The organization's activity log: what each recorded action is called, how the
//! activity list says it, and (on the server) the one function that writes audit rows.
//! A leaf: key changes reach it through `crate::keys::events`, which also writes their
//! webhook events; the key policy and webhook endpoints write plain rows.

/// Every action the activity log records. The stored name ([`Action::as_str`]) is what
/// the activity list reads back, so an action keeps its name for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    KeyCreated,
    KeyImported,
    KeyRolled,
    KeyRevoked,
    KeyRevokedWithMember,
    KeyIdleRevoked,
    KeyTransferred,
    KeyPaused,
    KeyResumed,
    KeyOverlapEnded,
    KeyShortened,
    KeyRateLimitChanged,
    KeyAllowedIpsChanged,
    KeyContextChanged,
    KeyPermissionsChanged,
    PolicyChanged,
    CatalogChanged,
    RouteRulesChanged,
    UpstreamsChanged,
    WebhookCreated,
    WebhookDeleted,
    WebhookTested,
    WebhookDisabled,
}

impl Action {
    pub const ALL: [Action; 23] = [
        Action::KeyCreated,
        Action::KeyImported,
        Action::KeyRolled,
        Action::KeyRevoked,
        Action::KeyRevokedWithMember,
        Action::KeyIdleRevoked,
        Action::KeyTransferred,
        Action::KeyPaused,
        Action::KeyResumed,
        Action::KeyOverlapEnded,
        Action::KeyShortened,
        Action::KeyRateLimitChanged,
        Action::KeyAllowedIpsChanged,
        Action::KeyContextChanged,
        Action::KeyPermissionsChanged,
        Action::PolicyChanged,
        Action::CatalogChanged,
        Action::RouteRulesChanged,
        Action::UpstreamsChanged,
        Action::WebhookCreated,
        Action::WebhookDeleted,
        Action::WebhookTested,
        Action::WebhookDisabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::KeyCreated => "key.created",
            Action::KeyImported => "key.imported",
            Action::KeyRolled => "key.rolled",
            Action::KeyRevoked => "key.revoked",
            Action::KeyRevokedWithMember => "key.revoked_with_member",
            Action::KeyIdleRevoked => "key.idle_revoked",
            Action::KeyTransferred => "key.transferred",
            Action::KeyPaused => "key.paused",
            Action::KeyResumed => "key.resumed",
            Action::KeyOverlapEnded => "key.overlap_ended",
            Action::KeyShortened => "key.shortened",
            Action::KeyRateLimitChanged => "key.rate_limit_changed",
            Action::KeyAllowedIpsChanged => "key.allowed_ips_changed",
            Action::KeyContextChanged => "key.context_changed",
            Action::KeyPermissionsChanged => "key.permissions_changed",
            Action::PolicyChanged => "policy.changed",
            Action::CatalogChanged => "permissions.changed",
            Action::RouteRulesChanged => "route_rules.changed",
            Action::UpstreamsChanged => "upstreams.changed",
            Action::WebhookCreated => "webhook.created",
            Action::WebhookDeleted => "webhook.deleted",
            Action::WebhookTested => "webhook.tested",
            Action::WebhookDisabled => "webhook.disabled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }

    /// What the activity list says after the actor's name; `subject` is the key's name
    /// (or, for a webhook endpoint, its host).
    pub fn sentence(self, subject: &str) -> String {
        match self {
            Action::KeyCreated => format!(" created key “{subject}”"),
            Action::KeyImported => format!(" imported key “{subject}”"),
            Action::KeyRolled => format!(" rolled key “{subject}”"),
            Action::KeyRevoked => format!(" revoked key “{subject}”"),
            Action::KeyRevokedWithMember => {
                format!(" revoked key “{subject}” on removing its creator")
            }
            Action::KeyIdleRevoked => format!(" revoked idle key “{subject}”"),
            Action::KeyTransferred => {
                format!(" took over key “{subject}” from a removed member")
            }
            Action::KeyPaused => format!(" paused key “{subject}”"),
            Action::KeyResumed => format!(" resumed key “{subject}”"),
            Action::KeyOverlapEnded => format!(" ended the roll overlap of key “{subject}”"),
            Action::KeyShortened => format!(" shortened key “{subject}” to the policy"),
            Action::KeyRateLimitChanged => {
                format!(" changed the rate limit of key “{subject}”")
            }
            Action::KeyAllowedIpsChanged => {
                format!(" changed the allowed addresses of key “{subject}”")
            }
            Action::KeyContextChanged => format!(" relabelled key “{subject}”"),
            Action::KeyPermissionsChanged => {
                format!(" changed the permissions of key “{subject}”")
            }
            Action::PolicyChanged => " changed the key policy".to_owned(),
            Action::CatalogChanged => " changed the permission catalog".to_owned(),
            Action::RouteRulesChanged => " changed the gateway's route rules".to_owned(),
            Action::UpstreamsChanged => " changed the gateway's upstreams".to_owned(),
            Action::WebhookCreated => format!(" added a webhook endpoint at {subject}"),
            Action::WebhookDeleted => format!(" deleted the webhook endpoint at {subject}"),
            Action::WebhookTested => format!(" sent a test event to {subject}"),
            Action::WebhookDisabled => {
                format!(" disabled the webhook endpoint at {subject} on removing who added it")
            }
        }
    }
}

/// The longest detail an audit row keeps, in characters.
pub const MAX_DETAIL: usize = 200;

#[cfg(feature = "ssr")]
pub use store::{Row, insert};

#[cfg(feature = "ssr")]
mod store {
    use chrono::{DateTime, Utc};
    use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};

    use super::{Action, MAX_DETAIL};
    use crate::entities::audit_event;

    /// One row of the activity log.
    #[derive(Debug, Clone)]
    pub struct Row {
        pub org_id: String,
        /// A user id, or one of Keygate's own actors (the idle sweep, a leak report).
        pub actor_id: String,
        pub action: Action,
        /// The key (or webhook endpoint) acted on; empty for the organization itself.
        pub subject_id: String,
        /// Its name when it happened (a webhook endpoint's host).
        pub subject_name: String,
        pub at: DateTime<Utc>,
        /// Cut to [`MAX_DETAIL`] characters.
        pub detail: Option<String>,
    }

    /// Rows per statement: seven values each, well under SQLite's bound on parameters.
    const ROWS_PER_INSERT: usize = 1_000;

    /// Writes `rows` in the caller's transaction, [`ROWS_PER_INSERT`] per statement.
    pub async fn insert(db: &impl ConnectionTrait, rows: Vec<Row>) -> Result<(), DbErr> {
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            audit_event::Entity::insert_many(chunk.iter().map(|row| audit_event::ActiveModel {
                org_id: Set(row.org_id.clone()),
                actor_id: Set(row.actor_id.clone()),
                action: Set(row.action.as_str().to_owned()),
                key_id: Set(row.subject_id.clone()),
                key_name: Set(row.subject_name.clone()),
                created_at: Set(row.at),
                detail: Set(row.detail.as_deref().map(cut)),
                ..Default::default()
            }))
            .exec_without_returning(db)
            .await?;
        }
        Ok(())
    }

    /// `text` in at most [`MAX_DETAIL`] characters, an ellipsis marking a cut.
    fn cut(text: &str) -> String {
        if text.chars().count() <= MAX_DETAIL {
            return text.to_owned();
        }
        text.chars().take(MAX_DETAIL - 1).collect::<String>() + "…"
    }
}

#[cfg(test)]
mod tests {
    use super::Action;

    #[test]
    fn every_action_round_trips_through_its_stored_name() {
        for action in Action::ALL {
            assert_eq!(Action::parse(action.as_str()), Some(action));
        }
        assert_eq!(Action::parse("key.exploded"), None);
        let mut names: Vec<_> = Action::ALL.iter().map(|a| a.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Action::ALL.len(), "names are unique");
    }
}
