//! A key's own rate limit: so many requests per second, minute, hour or day.

use serde::{Deserialize, Serialize};

use crate::error::AppError;

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
