//! API keys: the key format, expiry rules and the server functions behind the
//! organization's API keys page. The raw key leaves the server in exactly one response
//! (create or roll), after the row has committed (K4).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar;

pub mod action_page;
#[cfg(feature = "ssr")]
pub mod allowlist;
pub mod chart;
pub mod confirm;
pub mod context;
pub(crate) mod dialogs;
#[cfg(feature = "ssr")]
pub mod events;
pub mod expiry;
pub mod format;
#[cfg(feature = "ssr")]
mod idle;
#[cfg(feature = "ssr")]
pub mod imports;
pub mod key_page;
#[cfg(feature = "ssr")]
pub mod leaks;
#[cfg(feature = "ssr")]
pub mod lifecycle;
pub mod list_page;
#[cfg(feature = "ssr")]
mod listing;
#[cfg(feature = "ssr")]
pub mod manager;
pub mod new_page;
#[cfg(feature = "ssr")]
mod org_policy;
pub mod policy_page;
pub mod query;
pub mod rate_limit;
mod reveal;
mod rpc;
pub mod scopes;
#[cfg(feature = "ssr")]
pub mod service;
pub mod usage;
#[cfg(feature = "ssr")]
pub mod verify;
mod views;

pub use expiry::{
    DEFAULT_EXPIRY, EXPIRY_CHOICES, MAX_CUSTOM_YEARS, resolve_expiry, resolve_expiry_at,
};
pub use query::{KeyQuery, MAX_SEARCH_LEN, PAGE_SIZE, StatusFilter, url_encode};
pub use rate_limit::{RateLimit, RatePeriod};
pub use rpc::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    /// Refused until resumed, or until `paused_until`.
    Paused,
    Expired,
    Revoked,
}

/// Keys expiring within this many days are flagged on the keys page.
pub const EXPIRY_WARNING_DAYS: i64 = 7;
/// Longest overlap a roll may give the old secret: 7 days.
pub const MAX_OVERLAP_SECONDS: u32 = 7 * 86_400;

/// The roll dialog's choices for when the old secret stops, in seconds.
pub const OVERLAP_CHOICES: [(u32, &str); 4] = [
    (0, "Now"),
    (3_600, "In 1 hour"),
    (86_400, "In 24 hours"),
    (MAX_OVERLAP_SECONDS, "In 7 days"),
];

/// Whether a key paused at `paused_at` is still paused at `now` (`paused_until`: when it
/// resumes by itself; `None` while paused means until someone resumes it).
pub fn is_paused(
    paused_at: Option<DateTime<Utc>>,
    paused_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    paused_at.is_some() && paused_until.is_none_or(|until| until > now)
}

impl KeyStatus {
    pub fn of(
        revoked_at: Option<DateTime<Utc>>,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Self {
        match (revoked_at, expires_at) {
            (Some(_), _) => KeyStatus::Revoked,
            (None, Some(expiry)) if expiry <= now => KeyStatus::Expired,
            _ => KeyStatus::Active,
        }
    }

    /// An active key that is paused at `now` is [`KeyStatus::Paused`].
    pub fn with_pause(
        self,
        paused_at: Option<DateTime<Utc>>,
        paused_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Self {
        if self == KeyStatus::Active && is_paused(paused_at, paused_until, now) {
            KeyStatus::Paused
        } else {
            self
        }
    }

    /// Whether the key can still be used, now or after a pause.
    pub fn is_live(self) -> bool {
        matches!(self, KeyStatus::Active | KeyStatus::Paused)
    }

    /// The REST API's and the webhooks' name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Paused => "paused",
            KeyStatus::Expired => "expired",
            KeyStatus::Revoked => "revoked",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            KeyStatus::Active => "Active",
            KeyStatus::Paused => "Paused",
            KeyStatus::Expired => "Expired",
            KeyStatus::Revoked => "Revoked",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    /// The display hint, e.g. `kg_AbCd`.
    pub hint: String,
    /// Scope names in canonical order, e.g. `["gateway", "keys:read"]`.
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub status: KeyStatus,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
    /// Set when an active key does less than its status says: its creator left or lost
    /// the role that lets keys act (K9).
    pub notice: Option<String>,
    /// For a paused key: when it resumes by itself (`None`: when someone resumes it).
    pub paused_until: Option<DateTime<Utc>>,
    /// During a roll's overlap: the old secret, still working until `until`.
    pub rolling: Option<Overlap>,
    /// The key lives longer than the organization's key policy now allows.
    pub exceeds_policy: bool,
    pub rate_limit: Option<RateLimit>,
    /// The addresses and CIDR ranges the key may be used from; empty: anywhere.
    pub allowed_ips: Vec<String>,
    /// Sorted, unique tags.
    pub tags: Vec<String>,
    /// The external owner the key is for (a customer or service id).
    pub owner: Option<String>,
    /// A JSON object of metadata, compact.
    pub metadata: Option<String>,
    /// When the key was imported from another product; `None`: made here.
    pub imported_at: Option<DateTime<Utc>>,
    /// Permissions and wildcards of the API behind the gateway, sorted.
    pub permissions: Vec<String>,
    /// Roles of the organization's catalog, sorted.
    pub roles: Vec<String>,
}

impl ApiKeyView {
    /// A live key expiring within [`EXPIRY_WARNING_DAYS`].
    pub fn expires_soon(&self, now: DateTime<Utc>) -> bool {
        self.status.is_live()
            && self
                .expires_at
                .is_some_and(|at| at > now && at <= now + Duration::days(EXPIRY_WARNING_DAYS))
    }
}

/// The policy page's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyView {
    pub policy: KeyPolicy,
    /// Owners and admins may change it.
    pub can_edit: bool,
}

/// The secret a roll replaced, while it still works.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overlap {
    /// The old secret's display hint.
    pub hint: String,
    /// When the old secret stops working.
    pub until: DateTime<Utc>,
}

/// An organization's rules for new keys (GitHub's maximum lifetime, idle revocation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPolicy {
    /// Longest lifetime of a new key, in days (1 to 366).
    pub max_days: Option<u32>,
    /// Every new key must expire.
    pub require_expiry: bool,
    /// Keys unused for this many days (30 to 365) are revoked automatically.
    pub idle_days: Option<u32>,
}

pub const POLICY_MAX_DAYS: u32 = 366;
pub const IDLE_DAYS_RANGE: std::ops::RangeInclusive<u32> = 30..=365;

impl KeyPolicy {
    /// Whether a new key may expire at `expires_at` (`None`: never) when made at `now`;
    /// `Err` is a sentence for the expiry field.
    pub fn check(
        self,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        self.check_at(expires_at.map(|at| at.timestamp()), now.timestamp())
    }

    /// [`KeyPolicy::check`] on Unix seconds, as the create dialog runs it.
    pub fn check_at(self, expires_at: Option<i64>, now: i64) -> Result<(), String> {
        match (expires_at, self.max_days) {
            (None, Some(days)) => Err(format!(
                "Your organization's key policy requires keys to expire within {}.",
                days_text(days)
            )),
            (None, None) if self.require_expiry => {
                Err("Your organization's key policy requires every key to expire.".into())
            }
            // A minute of grace: the dialog computes "N days" a moment before the server.
            (Some(at), Some(days)) if at > now + i64::from(days) * calendar::DAY + 60 => {
                Err(format!(
                    "Your organization's key policy allows keys to live at most {}.",
                    days_text(days)
                ))
            }
            _ => Ok(()),
        }
    }

    /// Whether an existing key expiring at `expires_at` lives longer than this policy
    /// allows a key made now.
    pub fn exceeded_by(self, expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        match (expires_at, self.max_days) {
            (None, Some(_)) => true,
            (None, None) => self.require_expiry,
            (Some(at), Some(days)) => at > now + Duration::days(i64::from(days)),
            (Some(_), None) => false,
        }
    }

    /// The expiry "Shorten to policy" gives a key: the policy's maximum from now, or a
    /// year when the policy only requires an expiry.
    pub fn shortened(
        self,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let limit = now + Duration::days(i64::from(self.max_days.unwrap_or(365)));
        Some(expires_at.map_or(limit, |at| at.min(limit)))
    }

    /// Whether the create dialog offers an expiry choice (see [`EXPIRY_CHOICES`]); a
    /// custom date is offered whenever some date is allowed, and checked on its own.
    pub fn offers(self, choice: &str) -> bool {
        match choice {
            "never" => self.max_days.is_none() && !self.require_expiry,
            "custom" => true,
            days => match (days.parse::<u32>(), self.max_days) {
                (Ok(days), Some(max)) => days <= max,
                _ => true,
            },
        }
    }

    /// A sentence for the create dialog, when the policy limits it.
    pub fn summary(self) -> Option<String> {
        match (self.max_days, self.require_expiry) {
            (Some(days), _) => Some(format!(
                "Your organization's key policy: keys expire within {}.",
                days_text(days)
            )),
            (None, true) => Some("Your organization's key policy: every key must expire.".into()),
            (None, false) => None,
        }
    }
}

/// `1 day`, `90 days`.
pub fn days_text(days: u32) -> String {
    if days == 1 {
        "1 day".into()
    } else {
        format!("{days} days")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPage {
    /// The organization listed, so the page can refuse to show it under another org's URL.
    pub org_id: String,
    pub keys: Vec<ApiKeyView>,
    /// 1-based.
    pub page: u64,
    pub pages: u64,
    pub total: u64,
    /// Live keys of the organization expiring within [`EXPIRY_WARNING_DAYS`] (all pages).
    pub expiring_soon: u64,
    /// The organization's key policy, which limits the create dialog.
    pub policy: KeyPolicy,
    /// The filters applied, as checked.
    pub query: KeyQuery,
    /// The catalog's resources the create dialog offers as None / Read / Write (filled
    /// by the page's server function; empty over REST).
    #[serde(default)]
    pub access: Vec<crate::permissions::ResourceAccess>,
}

/// A key together with its secret: the one response that carries the raw key.
/// `Debug` is redacted so the secret cannot reach a log line by accident (K8).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedKey {
    pub key: ApiKeyView,
    pub secret: String,
}

impl std::fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedKey")
            .field("key", &self.key)
            .field("secret", &"[redacted]")
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEventView {
    pub id: i64,
    /// `key.created`, `key.rolled` or `key.revoked`.
    pub action: String,
    pub actor: String,
    pub key_id: String,
    pub key_name: String,
    pub at: DateTime<Utc>,
    pub detail: Option<String>,
}

/// `Dec 23, 2026`.
pub fn format_date(at: DateTime<Utc>) -> String {
    calendar::format_date(at.timestamp())
}

/// `in 29 days`, `3 hours ago`, `just now`.
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    calendar::relative((at - now).num_seconds())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_is_no_looser_when_neither_its_rate_nor_its_burst_is_larger() {
        let limit = |requests, per| RateLimit { requests, per };
        let own = limit(100, RatePeriod::Minute);
        assert!(own.no_looser_than(own));
        assert!(limit(10, RatePeriod::Minute).no_looser_than(own));
        assert!(
            limit(1, RatePeriod::Second).no_looser_than(own),
            "60/min, burst 1"
        );
        assert!(!limit(101, RatePeriod::Minute).no_looser_than(own));
        assert!(!limit(2, RatePeriod::Second).no_looser_than(own), "120/min");
        assert!(
            !limit(1000, RatePeriod::Hour).no_looser_than(own),
            "a burst of 1000"
        );
    }

    fn now() -> DateTime<Utc> {
        "2026-11-23T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn preset_expiries() {
        assert_eq!(
            resolve_expiry("7", "", now()).unwrap(),
            Some("2026-11-30T10:00:00Z".parse().unwrap())
        );
        assert_eq!(
            resolve_expiry("30", "", now()).unwrap(),
            Some("2026-12-23T10:00:00Z".parse().unwrap())
        );
        assert_eq!(
            resolve_expiry("365", "", now()).unwrap(),
            Some("2027-11-23T10:00:00Z".parse().unwrap())
        );
        assert_eq!(resolve_expiry("never", "ignored", now()).unwrap(), None);
        assert!(
            resolve_expiry("8", "", now())
                .unwrap_err()
                .field_message("expiry")
                .is_some()
        );
    }

    #[test]
    fn custom_dates_must_be_in_the_future() {
        let end_of_day = resolve_expiry("custom", "2026-11-24", now())
            .unwrap()
            .unwrap();
        assert_eq!(
            end_of_day,
            "2026-11-24T23:59:59Z".parse::<DateTime<Utc>>().unwrap()
        );
        for bad in [
            "2026-11-23",
            "2025-01-01",
            "",
            "tomorrow",
            "2026-13-01",
            "2032-01-01",
        ] {
            let err = resolve_expiry("custom", bad, now()).unwrap_err();
            assert!(
                err.field_message("custom_date").is_some(),
                "{bad:?}: {err:?}"
            );
        }
    }

    #[test]
    fn status_and_relative_times() {
        let n = now();
        assert_eq!(KeyStatus::of(None, None, n), KeyStatus::Active);
        assert_eq!(KeyStatus::of(None, Some(n), n), KeyStatus::Expired);
        assert_eq!(
            KeyStatus::of(Some(n), Some(n + Duration::days(1)), n),
            KeyStatus::Revoked
        );
        assert_eq!(
            relative(n + Duration::days(29) + Duration::hours(1), n),
            "in 29 days"
        );
        assert_eq!(relative(n - Duration::hours(3), n), "3 hours ago");
        assert_eq!(relative(n - Duration::seconds(5), n), "just now");
        assert_eq!(relative(n + Duration::days(1), n), "in 1 day");
        assert_eq!(format_date(n), "Nov 23, 2026");
    }

    #[test]
    fn key_queries_are_checked_and_round_trip_through_the_url() {
        let query = KeyQuery::parse(
            Some("  Billing 100% "),
            Some("prod"),
            Some(" cus_1 "),
            Some("expiring"),
        )
        .unwrap();
        assert_eq!(query.text.as_deref(), Some("Billing 100%"));
        assert_eq!(query.owner.as_deref(), Some("cus_1"));
        assert_eq!(query.status, Some(StatusFilter::Expiring));
        assert_eq!(
            query.to_params(),
            "&q=Billing%20100%25&tag=prod&owner=cus_1&status=expiring"
        );
        assert!(
            KeyQuery::parse(Some(" "), Some(""), None, None)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            KeyQuery::parse(None, Some("Prod"), None, None)
                .unwrap_err()
                .0,
            "tag"
        );
        assert_eq!(
            KeyQuery::parse(None, None, None, Some("old"))
                .unwrap_err()
                .0,
            "status"
        );
        let long = "x".repeat(MAX_SEARCH_LEN + 1);
        assert_eq!(
            KeyQuery::parse(Some(&long), None, None, None)
                .unwrap_err()
                .0,
            "q"
        );
        for status in StatusFilter::ALL {
            assert_eq!(StatusFilter::parse(status.as_str()), Ok(status));
        }
    }

    #[test]
    fn created_key_debug_hides_the_secret() {
        let key = ApiKeyView {
            id: "key_1".into(),
            name: "n".into(),
            hint: "kg_AbCd".into(),
            scopes: vec!["gateway".into()],
            created_at: now(),
            created_by: "Ada".into(),
            last_used_at: None,
            expires_at: None,
            status: KeyStatus::Active,
            revoked_at: None,
            revoked_by: None,
            notice: None,
            paused_until: None,
            rolling: None,
            exceeds_policy: false,
            rate_limit: None,
            allowed_ips: Vec::new(),
            tags: Vec::new(),
            owner: None,
            metadata: None,
            imported_at: None,
            permissions: Vec::new(),
            roles: Vec::new(),
        };
        let created = CreatedKey {
            key,
            secret: "kg_supersecret".into(),
        };
        assert!(!format!("{created:?}").contains("supersecret"));
    }
}
