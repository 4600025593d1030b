//! API keys: the key format, expiry rules and the server functions behind the
//! organization's API keys page. The raw key leaves the server in exactly one response
//! (create or roll), after the row has committed (K4).

use chrono::{DateTime, Duration, Months, NaiveDate, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

pub mod format;
pub mod scopes;
#[cfg(feature = "ssr")]
pub mod service;
pub mod ui;
#[cfg(feature = "ssr")]
pub mod verifier;

/// Keys shown per page of the list.
pub const PAGE_SIZE: u64 = 25;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Expired,
    Revoked,
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

    pub fn label(self) -> &'static str {
        match self {
            KeyStatus::Active => "Active",
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
    let days = |n: i64| Ok(Some(now + Duration::days(n)));
    match choice {
        "7" => days(7),
        "30" => days(30),
        "60" => days(60),
        "90" => days(90),
        "365" => Ok(now.checked_add_months(Months::new(12))),
        "never" => Ok(None),
        "custom" => {
            let date = NaiveDate::parse_from_str(custom_date.trim(), "%Y-%m-%d")
                .map_err(|_| AppError::invalid("custom_date", "Pick a date, like 2027-01-31."))?;
            if date <= now.date_naive() {
                return Err(AppError::invalid(
                    "custom_date",
                    "Pick a date in the future.",
                ));
            }
            let limit = now
                .date_naive()
                .checked_add_months(Months::new(12 * MAX_CUSTOM_YEARS));
            if limit.is_some_and(|limit| date > limit) {
                return Err(AppError::invalid(
                    "custom_date",
                    format!("Pick a date within {MAX_CUSTOM_YEARS} years, or choose no expiry."),
                ));
            }
            Ok(date.and_hms_opt(23, 59, 59).map(|end| end.and_utc()))
        }
        _ => Err(AppError::invalid("expiry", "Choose when the key expires.")),
    }
}

/// `Dec 23, 2026`.
pub fn format_date(at: DateTime<Utc>) -> String {
    at.format("%b %-d, %Y").to_string()
}

/// `in 29 days`, `3 hours ago`, `just now`.
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (at - now).num_seconds();
    let (amount, unit) = match seconds.unsigned_abs() {
        s if s < 60 => return "just now".into(),
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3600, "hour"),
        s if s < 86_400 * 365 => (s / 86_400, "day"),
        s => (s / (86_400 * 365), "year"),
    };
    let plural = if amount == 1 { "" } else { "s" };
    if seconds > 0 {
        format!("in {amount} {unit}{plural}")
    } else {
        format!("{amount} {unit}{plural} ago")
    }
}

#[server(prefix = "/rpc", endpoint = "list_api_keys")]
pub async fn list_api_keys(org_id: String, page: u64) -> Result<KeyPage, AppError> {
    let (state, manager) = service::authorize(&org_id).await?;
    Ok(service::list_keys(&state.db, &manager, page).await?)
}

#[server(prefix = "/rpc", endpoint = "create_api_key")]
pub async fn create_api_key(
    org_id: String,
    name: String,
    expiry: String,
    custom_date: Option<String>,
    /// Space- or comma-separated scope names; none given means the default (`gateway`).
    scopes: Option<String>,
) -> Result<CreatedKey, AppError> {
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
    Ok(service::create_key(
        &state.db,
        &state.secret,
        &manager,
        &name,
        expires_at,
        scopes,
    )
    .await?)
}

#[server(prefix = "/rpc", endpoint = "revoke_api_key")]
pub async fn revoke_api_key(org_id: String, key_id: String) -> Result<ApiKeyView, AppError> {
    let (state, manager) = service::authorize(&org_id).await?;
    Ok(service::revoke_key(&state.db, &state.verifier, &manager, &key_id).await?)
}

#[server(prefix = "/rpc", endpoint = "roll_api_key")]
pub async fn roll_api_key(org_id: String, key_id: String) -> Result<CreatedKey, AppError> {
    let (state, manager) = service::authorize(&org_id).await?;
    Ok(service::roll_key(&state.db, &state.secret, &state.verifier, &manager, &key_id).await?)
}

#[server(prefix = "/rpc", endpoint = "list_key_activity")]
pub async fn list_key_activity(org_id: String) -> Result<Vec<AuditEventView>, AppError> {
    let (state, manager) = service::authorize(&org_id).await?;
    Ok(service::list_activity(&state.db, &manager).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        };
        let created = CreatedKey {
            key,
            secret: "kg_supersecret".into(),
        };
        assert!(!format!("{created:?}").contains("supersecret"));
    }
}
