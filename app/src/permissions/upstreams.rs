//! Upstreams by path prefix, per organization: the requests whose path (after `/gw`)
//! starts with a prefix's segments go to its URL, the prefix replaced by the URL's own
//! path (`/billing/invoices/7` with `/billing -> https://billing.internal/api` goes to
//! `https://billing.internal/api/invoices/7`). The longest matching prefix wins; a
//! request no prefix matches goes to `KEYGATE_UPSTREAM_URL`. Prefixes compare without
//! regard to ASCII case, as route rules do. Which hosts an organization may name is the
//! operator's choice (`KEYGATE_UPSTREAM_HOSTS`), checked by the server.

use serde::{Deserialize, Serialize};

use super::shown;

/// Most upstreams per organization.
pub const MAX_UPSTREAMS: usize = 50;
/// Longest prefix and URL, in bytes.
pub const MAX_PREFIX_LEN: usize = 256;
pub const MAX_URL_LEN: usize = 2048;

/// An upstream as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamView {
    /// `/billing`.
    pub prefix: String,
    /// `https://billing.internal:8443/api`.
    pub url: String,
}

/// A prefix in its stored form: `/` and literal segments, lower case, no trailing slash
/// (`/Billing/` -> `/billing`).
pub fn check_prefix(text: &str) -> Result<String, String> {
    let text = text.trim();
    let Some(body) = text.strip_prefix('/') else {
        return Err(format!(
            "{} does not start with /: write a path prefix such as /billing.",
            shown(text)
        ));
    };
    if text.len() > MAX_PREFIX_LEN {
        return Err(format!(
            "A prefix can be at most {MAX_PREFIX_LEN} characters."
        ));
    }
    let segments: Vec<&str> = body.split('/').filter(|s| !s.is_empty()).collect();
    if segments.is_empty() {
        return Err(
            "A prefix names at least one segment (/billing); every other request goes to the default upstream."
                .into(),
        );
    }
    for segment in &segments {
        let ok = segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
            && *segment != "."
            && *segment != "..";
        if !ok {
            return Err(format!(
                "In {}, the segment {} may only have letters, digits, -, ., _ and ~.",
                shown(text),
                shown(segment)
            ));
        }
    }
    Ok(format!("/{}", segments.join("/").to_ascii_lowercase()))
}

/// The server's check of an upstream URL an organization names: its scheme, and a host
/// the operator allows (`KEYGATE_UPSTREAM_HOSTS`). Gives the URL as stored, or what is
/// wrong. Set by the server; by default no URL passes.
#[cfg(feature = "ssr")]
#[derive(Clone)]
pub struct UpstreamCheck(pub std::sync::Arc<CheckUrl>);

/// See [`UpstreamCheck`].
#[cfg(feature = "ssr")]
pub type CheckUrl = dyn Fn(&str) -> Result<String, String> + Send + Sync;

#[cfg(feature = "ssr")]
impl Default for UpstreamCheck {
    fn default() -> Self {
        Self(std::sync::Arc::new(|_| {
            Err("This server sends requests to no organization's upstream.".into())
        }))
    }
}

#[cfg(feature = "ssr")]
impl std::fmt::Debug for UpstreamCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UpstreamCheck")
    }
}

/// The upstreams as the CLI and the page edit them: `PREFIX URL` per line.
pub fn upstreams_text(upstreams: &[UpstreamView]) -> String {
    upstreams
        .iter()
        .map(|u| format!("{} {}", u.prefix, u.url))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads [`upstreams_text`]'s form (blank lines and `#` comments skipped); the URLs are
/// checked by the server. An error names the line.
pub fn parse_upstreams_text(text: &str) -> Result<Vec<UpstreamView>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(prefix), Some(url), None) = (words.next(), words.next(), words.next()) else {
            return Err(format!(
                "Line {}: write a prefix and a URL, as in /billing https://billing.internal/api.",
                i + 1
            ));
        };
        out.push(UpstreamView {
            prefix: check_prefix(prefix).map_err(|m| format!("Line {}: {m}", i + 1))?,
            url: url.to_owned(),
        });
    }
    Ok(out)
}

/// Compiled prefixes, longest first: which one a path falls under, and the path that is
/// left once its segments are taken off.
#[derive(Debug)]
pub struct Prefixes<T> {
    /// Lower-case segments, and what the caller attaches (the server: the URL).
    by_length: Vec<(Vec<String>, T)>,
}

impl<T> Default for Prefixes<T> {
    fn default() -> Self {
        Self {
            by_length: Vec::new(),
        }
    }
}

impl<T> Prefixes<T> {
    pub fn new(items: impl IntoIterator<Item = (String, T)>) -> Self {
        let mut by_length: Vec<(Vec<String>, T)> = items
            .into_iter()
            .map(|(prefix, value)| {
                (
                    prefix
                        .split('/')
                        .filter(|s| !s.is_empty())
                        .map(str::to_ascii_lowercase)
                        .collect(),
                    value,
                )
            })
            .collect();
        by_length.sort_by_key(|(segments, _)| std::cmp::Reverse(segments.len()));
        Self { by_length }
    }

    pub fn is_empty(&self) -> bool {
        self.by_length.is_empty()
    }

    /// The longest prefix `path` falls under, and the rest of `path` (empty, or starting
    /// with `/`). Segments are compared after decoding percent-encoded unreserved
    /// characters and without regard to ASCII case; empty segments do not count.
    pub fn matching<'p>(&self, path: &'p str) -> Option<(&T, &'p str)> {
        if self.by_length.is_empty() {
            return None;
        }
        let decoded = super::routes::normalized(path);
        let segments: Vec<&str> = decoded.split('/').filter(|s| !s.is_empty()).collect();
        let (prefix, value) = self.by_length.iter().find(|(prefix, _)| {
            prefix.len() <= segments.len()
                && prefix
                    .iter()
                    .zip(&segments)
                    .all(|(p, s)| p.eq_ignore_ascii_case(s))
        })?;
        Some((value, after_segments(path, prefix.len())))
    }
}

/// `path` after its first `n` non-empty segments.
fn after_segments(path: &str, n: usize) -> &str {
    let mut seen = 0;
    let mut at = 0;
    let bytes = path.as_bytes();
    while seen < n && at < bytes.len() {
        // Skip slashes, then one segment.
        while at < bytes.len() && bytes[at] == b'/' {
            at += 1;
        }
        while at < bytes.len() && bytes[at] != b'/' {
            at += 1;
        }
        seen += 1;
    }
    &path[at..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_prefix_wins_and_is_taken_off() {
        let p = Prefixes::new([
            ("/billing".to_owned(), "billing"),
            ("/billing/v2".to_owned(), "billing-v2"),
            ("/search".to_owned(), "search"),
        ]);
        assert_eq!(
            p.matching("/billing/invoices/7"),
            Some((&"billing", "/invoices/7"))
        );
        assert_eq!(
            p.matching("/billing/v2/invoices"),
            Some((&"billing-v2", "/invoices"))
        );
        assert_eq!(p.matching("/Billing"), Some((&"billing", "")));
        assert_eq!(p.matching("//%62illing//x"), Some((&"billing", "//x")));
        assert_eq!(p.matching("/billingx/1"), None);
        assert_eq!(p.matching("/other"), None);
    }

    #[test]
    fn prefixes_and_lines_are_checked() {
        assert_eq!(check_prefix("/Billing/V2/").unwrap(), "/billing/v2");
        for bad in ["billing", "/", "/a/{id}", "/a/*", "/a/..", "/a b"] {
            assert!(check_prefix(bad).is_err(), "{bad}");
        }
        let list = parse_upstreams_text(
            "# ours\n/billing https://b.internal/api\n\n/search http://s:9200",
        )
        .unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(parse_upstreams_text(&upstreams_text(&list)).unwrap(), list);
        assert!(
            parse_upstreams_text("/a")
                .unwrap_err()
                .starts_with("Line 1:")
        );
        assert!(
            parse_upstreams_text("/ok http://x\nbad http://y")
                .unwrap_err()
                .starts_with("Line 2:")
        );
    }
}
