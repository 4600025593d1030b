//! API keys: the key format, expiry rules and the server functions behind the
//! organization's API keys page. The raw key leaves the server in exactly one response
//! (create or roll), after the row has committed (K4).

use chrono::{DateTime, Duration, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::calendar::{self, Date};
use crate::error::AppError;

#[cfg(feature = "ssr")]
pub mod allowlist;
pub mod chart;
pub mod context;
mod dialogs;
#[cfg(feature = "ssr")]
pub mod digest;
pub mod format;
#[cfg(feature = "ssr")]
pub mod imports;
#[cfg(feature = "ssr")]
pub mod leaks;
#[cfg(feature = "ssr")]
pub mod meter;
pub mod page;
pub mod policy;
pub mod scopes;
#[cfg(feature = "ssr")]
pub mod service;
pub mod ui;
pub mod usage;
#[cfg(feature = "ssr")]
pub mod verifier;

/// The unit of a key's rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RatePeriod {
    Second,
    Minute,
    Hour,
}

impl RatePeriod {
    pub const ALL: [RatePeriod; 3] = [RatePeriod::Second, RatePeriod::Minute, RatePeriod::Hour];

    pub fn seconds(self) -> u32 {
        match self {
            RatePeriod::Second => 1,
            RatePeriod::Minute => 60,
            RatePeriod::Hour => 3_600,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RatePeriod::Second => "second",
            RatePeriod::Minute => "minute",
            RatePeriod::Hour => "hour",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }

    fn of_seconds(seconds: i32) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| i64::from(p.seconds()) == i64::from(seconds))
    }
}

/// A key's own rate limit: at most `requests` per `per`, enforced as a smooth window
/// (GCRA), so no boundary lets 2x through. Off unless set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    pub requests: u32,
    pub per: RatePeriod,
}

impl RateLimit {
    pub const MAX_REQUESTS: u32 = 1_000_000;

    /// Whether this limit admits no more than `other`, over any stretch of time: its rate
    /// is no higher and its burst (the requests admitted at once) no larger.
    pub fn no_looser_than(self, other: RateLimit) -> bool {
        let rate = u64::from(self.requests) * u64::from(other.per.seconds());
        let other_rate = u64::from(other.requests) * u64::from(self.per.seconds());
        rate <= other_rate && self.requests <= other.requests
    }

    /// A limit from a form or request; the error names what is wrong.
    pub fn new(requests: u32, per: RatePeriod) -> Result<Self, String> {
        if requests == 0 || requests > Self::MAX_REQUESTS {
            return Err(format!(
                "The rate limit must be between 1 and {} requests.",
                Self::MAX_REQUESTS
            ));
        }
        Ok(Self { requests, per })
    }

    pub fn from_stored(requests: Option<i32>, window: Option<i32>) -> Option<Self> {
        let requests = u32::try_from(requests?).ok().filter(|r| *r > 0)?;
        Some(Self {
            requests,
            per: RatePeriod::of_seconds(window?)?,
        })
    }

    /// `(rate_limit, rate_limit_window)` as stored.
    pub fn to_stored(limit: Option<Self>) -> (Option<i32>, Option<i32>) {
        match limit {
            Some(l) => (
                Some(i32::try_from(l.requests).unwrap_or(i32::MAX)),
                Some(l.per.seconds() as i32),
            ),
            None => (None, None),
        }
    }

    /// "100 per minute".
    pub fn text(self) -> String {
        format!("{} per {}", self.requests, self.per.as_str())
    }

    /// A limit from the page's fields: no requests given means no limit. Errors are on
    /// the field `rate_limit`.
    pub fn from_form(requests: &str, per: &str) -> Result<Option<Self>, AppError> {
        let requests = requests.trim();
        if requests.is_empty() {
            return Ok(None);
        }
        let invalid = |m: String| AppError::invalid("rate_limit", m);
        let count: u32 = requests.parse().map_err(|_| {
            invalid(format!(
                "Enter a whole number of requests, 1 to {}, or leave it empty for no limit.",
                Self::MAX_REQUESTS
            ))
        })?;
        let per = RatePeriod::parse(per)
            .ok_or_else(|| invalid("Choose per second, minute or hour.".to_owned()))?;
        Self::new(count, per).map(Some).map_err(invalid)
    }
}

/// Keys shown per page of the list.
pub const PAGE_SIZE: u64 = 25;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    /// Refused until resumed, or until `paused_until`.
    Paused,
    Expired,
    Revoked,
}

/// The status filter of the keys list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusFilter {
    Active,
    Paused,
    /// Live keys expiring within [`EXPIRY_WARNING_DAYS`].
    Expiring,
    Expired,
    Revoked,
}

impl StatusFilter {
    pub const ALL: [StatusFilter; 5] = [
        StatusFilter::Active,
        StatusFilter::Paused,
        StatusFilter::Expiring,
        StatusFilter::Expired,
        StatusFilter::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StatusFilter::Active => "active",
            StatusFilter::Paused => "paused",
            StatusFilter::Expiring => "expiring",
            StatusFilter::Expired => "expired",
            StatusFilter::Revoked => "revoked",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            StatusFilter::Active => "Active",
            StatusFilter::Paused => "Paused",
            StatusFilter::Expiring => "Expiring this week",
            StatusFilter::Expired => "Expired",
            StatusFilter::Revoked => "Revoked",
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| {
                format!(
                    "Unknown status \"{}\": use active, paused, expiring, expired or revoked.",
                    text.chars().take(32).collect::<String>()
                )
            })
    }
}

/// The longest search text, in characters.
pub const MAX_SEARCH_LEN: usize = 100;

/// What the keys list is filtered by; every filter given must match. Empty: every key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyQuery {
    /// Part of the name or the hint (any case), or a key id.
    pub text: Option<String>,
    pub tag: Option<String>,
    pub owner: Option<String>,
    pub status: Option<StatusFilter>,
}

impl KeyQuery {
    /// The query from its text parts (a URL's query string, a server function's or the
    /// REST API's arguments): blanks ignored, each part checked; an error names its field.
    pub fn parse(
        text: Option<&str>,
        tag: Option<&str>,
        owner: Option<&str>,
        status: Option<&str>,
    ) -> Result<KeyQuery, (&'static str, String)> {
        fn given(part: Option<&str>) -> Option<&str> {
            part.map(str::trim).filter(|p| !p.is_empty())
        }
        let text = given(text).map(str::to_owned);
        if text
            .as_ref()
            .is_some_and(|t| t.chars().count() > MAX_SEARCH_LEN)
        {
            return Err((
                "q",
                format!("Search for at most {MAX_SEARCH_LEN} characters."),
            ));
        }
        Ok(KeyQuery {
            text,
            tag: given(tag)
                .map(context::parse_tag_filter)
                .transpose()
                .map_err(|m| ("tag", m))?,
            owner: given(owner)
                .map(context::parse_owner)
                .transpose()
                .map_err(|m| ("owner", m))?
                .flatten(),
            status: given(status)
                .map(StatusFilter::parse)
                .transpose()
                .map_err(|m| ("status", m))?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self == &KeyQuery::default()
    }

    /// The query as URL parameters (`&q=…&tag=…`), each with a leading `&`, for links
    /// that keep the filters (paging).
    pub fn to_params(&self) -> String {
        let status = self.status.map(|s| format!("&status={}", s.as_str()));
        format!("{}{}", self.to_params_given(), status.unwrap_or_default())
    }

    /// The text parts as URL parameters, blanks left out (a form's raw values, unchecked).
    pub fn to_params_given(&self) -> String {
        let mut params = String::new();
        for (name, value) in [
            ("q", self.text.as_deref()),
            ("tag", self.tag.as_deref()),
            ("owner", self.owner.as_deref()),
        ] {
            if let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) {
                params.push('&');
                params.push_str(name);
                params.push('=');
                params.push_str(&url_encode(value));
            }
        }
        params
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
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

/// The expiry choices of the create dialog, as sent by its form.
pub const EXPIRY_CHOICES: [(&str, &str); 7] = [
    ("7", "7 days"),
    ("30", "30 days"),
    ("60", "60 days"),
    ("90", "90 days"),
    ("365", "1 year"),
    ("custom", "Custom date"),
    ("never", "No expiry"),
];
pub const DEFAULT_EXPIRY: &str = "30";
/// Furthest custom expiry accepted.
pub const MAX_CUSTOM_YEARS: u32 = 5;

/// Turns the dialog's choice into an expiry time (`None` = never). Used by the dialog to
/// show the resulting date before submit and by the server to decide it. A custom date
/// must be after today (UTC); the key then works until the end of that day (UTC).
pub fn resolve_expiry(
    choice: &str,
    custom_date: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, AppError> {
    let at = resolve_expiry_at(choice, custom_date, now.timestamp())?;
    // A number of days or a year keeps the time of day to the nanosecond; a custom date
    // ends on a whole second.
    let nanos = if choice == "custom" {
        0
    } else {
        now.timestamp_subsec_nanos()
    };
    Ok(at.and_then(|at| DateTime::from_timestamp(at, nanos)))
}

/// [`resolve_expiry`] on Unix seconds, as the create dialog runs it.
pub fn resolve_expiry_at(
    choice: &str,
    custom_date: &str,
    now: i64,
) -> Result<Option<i64>, AppError> {
    let days = |n: i64| Ok(Some(now + n * calendar::DAY));
    match choice {
        "7" => days(7),
        "30" => days(30),
        "60" => days(60),
        "90" => days(90),
        "365" => Ok(Some(calendar::add_months(now, 12))),
        "never" => Ok(None),
        "custom" => {
            let date = Date::parse(custom_date.trim())
                .ok_or_else(|| AppError::invalid("custom_date", "Pick a date, like 2027-01-31."))?;
            let today = Date::of(now);
            if date <= today {
                return Err(AppError::invalid(
                    "custom_date",
                    "Pick a date in the future.",
                ));
            }
            if date > today.add_months(12 * MAX_CUSTOM_YEARS) {
                return Err(AppError::invalid(
                    "custom_date",
                    format!("Pick a date within {MAX_CUSTOM_YEARS} years, or choose no expiry."),
                ));
            }
            Ok(Some((date.days() + 1) * calendar::DAY - 1))
        }
        _ => Err(AppError::invalid("expiry", "Choose when the key expires.")),
    }
}

/// `Dec 23, 2026`.
pub fn format_date(at: DateTime<Utc>) -> String {
    calendar::format_date(at.timestamp())
}

/// `in 29 days`, `3 hours ago`, `just now`.
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    calendar::relative((at - now).num_seconds())
}

#[server(prefix = "/rpc", endpoint = "list_api_keys")]
pub async fn list_api_keys(
    org_id: String,
    page: u64,
    /// Part of the name or hint, or a key id.
    #[server(default)]
    q: Option<String>,
    #[server(default)] tag: Option<String>,
    #[server(default)] owner: Option<String>,
    /// `active`, `paused`, `expiring`, `expired` or `revoked`.
    #[server(default)]
    status: Option<String>,
    /// The same as `status=expiring`, as pages loaded before the status filter send it.
    #[server(default)]
    expiring_soon: bool,
) -> Result<KeyPage, AppError> {
    let status = match status {
        None if expiring_soon => Some(StatusFilter::Expiring.as_str().to_owned()),
        status => status,
    };
    let query = KeyQuery::parse(
        q.as_deref(),
        tag.as_deref(),
        owner.as_deref(),
        status.as_deref(),
    )
    .map_err(|(field, message)| AppError::invalid(field, message))?;
    let (state, manager) = service::authorize(&org_id).await?;
    Ok(service::list_keys(&state.db, &manager, page, &query).await?)
}

pub use create::{CreateApiKey, create_api_key};

/// In a module of its own: a server function's arguments are its form's fields, one each,
/// and the lint's allowance must reach the code the macro generates for the browser too.
#[allow(clippy::too_many_arguments)]
mod create {
    use super::*;

    #[server(prefix = "/rpc", endpoint = "create_api_key")]
    pub async fn create_api_key(
        org_id: String,
        name: String,
        expiry: String,
        custom_date: Option<String>,
        /// Space- or comma-separated scope names; none given means the default (`gateway`).
        scopes: Option<String>,
        /// The key's own rate limit: requests (empty: none) per `rate_limit_per`.
        #[server(default)]
        rate_limit: Option<String>,
        #[server(default)] rate_limit_per: Option<String>,
        /// Tags separated by commas or spaces.
        #[server(default)]
        tags: Option<String>,
        /// The external owner id.
        #[server(default)]
        owner: Option<String>,
    ) -> Result<CreatedKey, AppError> {
        let limit = RateLimit::from_form(
            rate_limit.as_deref().unwrap_or_default(),
            rate_limit_per.as_deref().unwrap_or("minute"),
        )?;
        let context = context_from_form(
            tags.as_deref().unwrap_or_default(),
            owner.as_deref().unwrap_or_default(),
            "",
        )?;
        let (state, manager) = service::authorize(&org_id).await?;
        let expires_at = resolve_expiry(
            &expiry,
            custom_date.as_deref().unwrap_or_default(),
            Utc::now(),
        )?;
        let scopes = match scopes.as_deref() {
            None => scopes::DEFAULT_SCOPES,
            Some(list) => {
                scopes::Scopes::parse_list([list]).map_err(|m| AppError::invalid("scopes", m))?
            }
        };
        Ok(service::create_key_with(
            &state.db,
            &state.secret,
            &manager,
            &name,
            expires_at,
            scopes,
            service::KeyExtras {
                rate_limit: limit,
                allowed_ips: None,
                context,
            },
        )
        .await?)
    }
}

/// Applies `change` to one key of the organization, as the caller (the body of every
/// server function that changes a key without a new secret).
#[cfg(feature = "ssr")]
async fn change(
    org_id: &str,
    key_id: &str,
    change: service::KeyChange,
) -> Result<ApiKeyView, AppError> {
    let (state, manager) = service::authorize(org_id).await?;
    Ok(service::change_key(&state.db, &state.verifier, &manager, key_id, change).await?)
}

/// Sets a key's own rate limit; empty `requests` removes it.
#[server(prefix = "/rpc", endpoint = "set_key_rate_limit")]
pub async fn set_key_rate_limit(
    org_id: String,
    key_id: String,
    requests: String,
    per: String,
) -> Result<ApiKeyView, AppError> {
    let limit = RateLimit::from_form(&requests, &per)?;
    change(&org_id, &key_id, service::KeyChange::SetRateLimit(limit)).await
}

#[server(prefix = "/rpc", endpoint = "revoke_api_key")]
pub async fn revoke_api_key(org_id: String, key_id: String) -> Result<ApiKeyView, AppError> {
    let (state, manager) = service::authorize(&org_id).await?;
    Ok(service::revoke_key(&state.db, &state.verifier, &manager, &key_id).await?)
}

#[server(prefix = "/rpc", endpoint = "roll_api_key")]
pub async fn roll_api_key(
    org_id: String,
    key_id: String,
    // How long the old secret keeps working, 0 to 604800 seconds.
    #[server(default)] overlap_seconds: u32,
) -> Result<CreatedKey, AppError> {
    let (state, manager) = service::authorize(&org_id).await?;
    Ok(service::roll_key(
        &state.db,
        &state.secret,
        &state.verifier,
        &manager,
        &key_id,
        overlap_seconds,
    )
    .await?)
}

#[server(prefix = "/rpc", endpoint = "end_key_overlap")]
pub async fn end_key_overlap(org_id: String, key_id: String) -> Result<ApiKeyView, AppError> {
    change(&org_id, &key_id, service::KeyChange::EndOverlap).await
}

#[server(prefix = "/rpc", endpoint = "pause_api_key")]
pub async fn pause_api_key(
    org_id: String,
    key_id: String,
    // RFC 3339; none: until resumed.
    until: Option<String>,
) -> Result<ApiKeyView, AppError> {
    let until = match until.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        None => None,
        Some(text) => Some(
            DateTime::parse_from_rfc3339(text)
                .map_err(|_| AppError::invalid("until", "Pick a date and time."))?
                .with_timezone(&Utc),
        ),
    };
    change(&org_id, &key_id, service::KeyChange::Pause { until }).await
}

#[server(prefix = "/rpc", endpoint = "resume_api_key")]
pub async fn resume_api_key(org_id: String, key_id: String) -> Result<ApiKeyView, AppError> {
    change(&org_id, &key_id, service::KeyChange::Resume).await
}

#[server(prefix = "/rpc", endpoint = "shorten_api_key")]
pub async fn shorten_api_key(org_id: String, key_id: String) -> Result<ApiKeyView, AppError> {
    change(&org_id, &key_id, service::KeyChange::ShortenToPolicy).await
}

/// The organization's key policy, for any member.
#[server(prefix = "/rpc", endpoint = "get_key_policy")]
pub async fn get_key_policy(org_id: String) -> Result<PolicyView, AppError> {
    let (state, user_id) = crate::ssr::authenticated().await?;
    let member = crate::orgs::service::membership(&state.db, &user_id, &org_id).await?;
    // The same rule as `GET /api/v1/policy`: the policy is about keys, which a member
    // has no say over.
    if !member.role.can_manage_keys() {
        return Err(AppError::Forbidden);
    }
    Ok(PolicyView {
        policy: service::org_policy(&state.db, &org_id)
            .await
            .map_err(crate::ssr::db_error)?,
        can_edit: member.role.can_manage_members(),
    })
}

/// Sets the key policy (owners and admins). `max_days` and `idle_days`: empty for none.
#[server(prefix = "/rpc", endpoint = "set_key_policy")]
pub async fn set_key_policy(
    org_id: String,
    max_days: String,
    #[server(default)] require_expiry: bool,
    idle_days: String,
) -> Result<KeyPolicy, AppError> {
    let (state, user_id) = crate::ssr::authenticated().await?;
    let member = crate::orgs::service::membership(&state.db, &user_id, &org_id).await?;
    let days = |text: &str, field: &'static str| -> Result<Option<u32>, AppError> {
        match text.trim() {
            "" => Ok(None),
            t => t
                .parse::<u32>()
                .map(Some)
                .map_err(|_| AppError::invalid(field, "Enter a whole number of days.")),
        }
    };
    let policy = KeyPolicy {
        max_days: days(&max_days, "max_days")?,
        require_expiry,
        idle_days: days(&idle_days, "idle_days")?,
    };
    Ok(service::set_policy(&state.db, &member, policy).await?)
}

/// The most recent key events of the organization, or of one key.
#[server(prefix = "/rpc", endpoint = "list_key_activity")]
pub async fn list_key_activity(
    org_id: String,
    #[server(default)] key_id: Option<String>,
) -> Result<Vec<AuditEventView>, AppError> {
    let (state, manager) = service::authorize(&org_id).await?;
    Ok(service::list_activity(&state.db, &manager, key_id.as_deref()).await?)
}

#[server(prefix = "/rpc", endpoint = "key_usage")]
pub async fn key_usage(
    org_id: String,
    key_id: String,
    period: String,
) -> Result<usage::UsageView, AppError> {
    let period = usage::Period::parse(&period)
        .ok_or_else(|| AppError::invalid("period", "The period must be 24h or 30d.".to_owned()))?;
    let (state, manager) = service::authorize(&org_id).await?;
    service::get_key(&state.db, &manager, &key_id).await?;
    usage::store::of_key(&state.db, &org_id, &key_id, period, Utc::now())
        .await
        .map_err(crate::ssr::db_error)
}

#[server(prefix = "/rpc", endpoint = "org_usage")]
pub async fn org_usage(org_id: String, period: String) -> Result<usage::OrgUsageView, AppError> {
    let period = usage::Period::parse(&period)
        .ok_or_else(|| AppError::invalid("period", "The period must be 24h or 30d.".to_owned()))?;
    let (state, _) = service::authorize(&org_id).await?;
    usage::store::of_org(&state.db, &org_id, period, Utc::now())
        .await
        .map_err(crate::ssr::db_error)
}

/// Sets the addresses a key may be used from: entries separated by commas, spaces or new
/// lines; empty for anywhere.
#[server(prefix = "/rpc", endpoint = "set_key_allowed_ips")]
pub async fn set_key_allowed_ips(
    org_id: String,
    key_id: String,
    allowed_ips: String,
) -> Result<ApiKeyView, AppError> {
    let ranges = allowlist::parse_list([allowed_ips.as_str()])
        .map_err(|m| AppError::invalid("allowed_ips", m))?;
    change(&org_id, &key_id, service::KeyChange::SetAllowedIps(ranges)).await
}

/// The context a form gives: tags separated by commas or spaces, an owner id and
/// metadata as JSON text; blanks are none. An error names its field.
pub fn context_from_form(
    tags: &str,
    owner: &str,
    metadata: &str,
) -> Result<context::KeyContext, AppError> {
    Ok(context::KeyContext {
        tags: context::parse_tags_text(tags).map_err(|m| AppError::invalid("tags", m))?,
        owner: context::parse_owner(owner).map_err(|m| AppError::invalid("owner", m))?,
        metadata: context::parse_metadata_text(metadata)
            .map_err(|m| AppError::invalid("metadata", m))?,
    })
}

/// Replaces a key's tags, owner id and metadata.
#[server(prefix = "/rpc", endpoint = "set_key_context")]
pub async fn set_key_context(
    org_id: String,
    key_id: String,
    tags: String,
    owner: String,
    metadata: String,
) -> Result<ApiKeyView, AppError> {
    let context = context_from_form(&tags, &owner, &metadata)?;
    change(&org_id, &key_id, service::KeyChange::SetContext(context)).await
}

/// One key of the organization, for its page.
#[server(prefix = "/rpc", endpoint = "get_api_key")]
pub async fn get_api_key(org_id: String, key_id: String) -> Result<ApiKeyView, AppError> {
    let (state, manager) = service::authorize(&org_id).await?;
    Ok(service::get_key(&state.db, &manager, &key_id).await?)
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
        };
        let created = CreatedKey {
            key,
            secret: "kg_supersecret".into(),
        };
        assert!(!format!("{created:?}").contains("supersecret"));
    }
}
