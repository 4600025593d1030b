//! When a new key expires: one rule for every way a key is made (the create dialog, its
//! server function, the REST API and the CLI). A key expires at most
//! [`MAX_CUSTOM_YEARS`] calendar years from now, or never.

use chrono::{DateTime, Utc};

use crate::calendar::{self, Date};
use crate::error::AppError;

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
            // A date counts as within the limit when it starts within it.
            if date.days() * calendar::DAY > latest_at(now) {
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

/// The latest expiry a key made at `now` (Unix seconds) may have: [`MAX_CUSTOM_YEARS`]
/// calendar years on.
pub fn latest_at(now: i64) -> i64 {
    calendar::add_months(now, 12 * MAX_CUSTOM_YEARS)
}

/// The most whole days from `now` an expiry may be (1826 or 1827, by leap days).
pub fn max_days(now: DateTime<Utc>) -> u32 {
    let days = (latest_at(now.timestamp()) - now.timestamp()) / calendar::DAY;
    u32::try_from(days).unwrap_or(u32::MAX)
}

/// An expiry `days` days from `now` (the REST API's `expires_in_days`, the CLI's
/// `--expires-in`); the error is a sentence naming the allowed range.
pub fn in_days(days: u32, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let most = max_days(now);
    if !(1..=most).contains(&days) {
        return Err(format!(
            "The expiry must be 1 to {most} days away ({MAX_CUSTOM_YEARS} years); omit it for a key that never expires."
        ));
    }
    Ok(now + chrono::Duration::days(i64::from(days)))
}

/// Checks an exact expiry (the REST API's `expires_at`): in the future and within
/// [`MAX_CUSTOM_YEARS`] years of `now`.
pub fn check_at(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if at <= now {
        return Err("The expiry must be in the future.".into());
    }
    if at.timestamp() > latest_at(now.timestamp()) {
        return Err(format!(
            "The expiry must be within {MAX_CUSTOM_YEARS} years; omit it for a key that never expires."
        ));
    }
    Ok(at)
}
