//! What the keys list is filtered by (search, tag, owner, status) and paged by, and how
//! that is written in the page's URL.

use serde::{Deserialize, Serialize};

use super::context;

/// Keys shown per page of the list.
pub const PAGE_SIZE: u64 = 25;

/// The status filter of the keys list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusFilter {
    Active,
    Paused,
    /// Live keys expiring within [`EXPIRY_WARNING_DAYS`](super::EXPIRY_WARNING_DAYS).
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
