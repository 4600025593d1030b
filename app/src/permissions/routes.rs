//! The gateway's route rules: an ordered list of method(s) + path pattern -> required
//! permissions (all of), per organization. The first rule that matches a request decides;
//! a request no rule matches gets the organization's default (any key with the `gateway`
//! scope, or refused).
//!
//! Patterns: literal segments, `{name}` for exactly one segment, and a final `*` for
//! whatever follows, nothing included (`/invoices/*` matches `/invoices`, `/invoices/7`
//! and `/invoices/7/pdf`). Literals match without regard to ASCII case, and paths are
//! compared after decoding percent-encoded unreserved characters and dropping empty
//! segments, so `/%49nvoices//7` cannot slip past a rule for `/invoices/{id}` to an
//! upstream that reads it as `/invoices/7`.
//!
//! Rules are compiled into a tree of segments ([`RuleSet`]): matching walks the request's
//! segments once, whatever the number of rules.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{Grant, check_permission_name, shown};

/// Most rules per organization, and segments per pattern.
pub const MAX_RULES: usize = 1_000;
pub const MAX_SEGMENTS: usize = 32;
pub const MAX_PATTERN_LEN: usize = 256;

/// The methods a rule names, as bits; [`Methods::ANY`] for `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Methods(u16);

const METHOD_NAMES: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
];
/// Every other method (an extension such as `PROPFIND`).
const OTHER: u16 = 1 << METHOD_NAMES.len();

impl Methods {
    pub const ANY: Methods = Methods(u16::MAX);

    /// The bit of a request's method.
    pub fn of(method: &str) -> Methods {
        Methods(
            METHOD_NAMES
                .iter()
                .position(|m| *m == method)
                .map_or(OTHER, |i| 1 << i),
        )
    }

    /// Reads `GET HEAD`, `get,post` or `*`.
    pub fn parse(text: &str) -> Result<Methods, String> {
        let mut bits = 0u16;
        for word in text
            .split([',', ' '])
            .map(str::trim)
            .filter(|w| !w.is_empty())
        {
            if word == "*" {
                return Ok(Methods::ANY);
            }
            let upper = word.to_ascii_uppercase();
            let Some(i) = METHOD_NAMES.iter().position(|m| *m == upper) else {
                return Err(format!(
                    "{} is not an HTTP method: use GET, HEAD, POST, PUT, PATCH, DELETE, \
                     OPTIONS, TRACE, CONNECT or * for any.",
                    shown(word)
                ));
            };
            bits |= 1 << i;
        }
        if bits == 0 {
            return Err("Name at least one method, or * for any.".into());
        }
        Ok(Methods(bits))
    }

    pub fn contains(self, request: Methods) -> bool {
        self.0 & request.0 != 0
    }

    /// `*`, or the names in the canonical order (`GET HEAD`).
    pub fn text(self) -> String {
        if self == Methods::ANY {
            return "*".into();
        }
        METHOD_NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, m)| *m)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param,
}

/// A checked path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    segments: Vec<Segment>,
    rest: bool,
    text: String,
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let text = text.trim();
        if text.len() > MAX_PATTERN_LEN {
            return Err(format!(
                "A path pattern can be at most {MAX_PATTERN_LEN} characters."
            ));
        }
        let Some(body) = text.strip_prefix('/') else {
            return Err(format!(
                "{} does not start with /: write a path such as /invoices/{{id}}.",
                shown(text)
            ));
        };
        let parts: Vec<&str> = body.split('/').filter(|p| !p.is_empty()).collect();
        if parts.len() > MAX_SEGMENTS {
            return Err(format!(
                "A path pattern can have at most {MAX_SEGMENTS} segments."
            ));
        }
        let mut segments = Vec::new();
        let mut rest = false;
        for (i, part) in parts.iter().enumerate() {
            if *part == "*" {
                if i + 1 != parts.len() {
                    return Err(format!(
                        "In {}, * can only be the last segment (it matches everything after it).",
                        shown(text)
                    ));
                }
                rest = true;
            } else if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                if name.is_empty()
                    || !name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    return Err(format!(
                        "In {}, {} is not a parameter: write {{name}} with letters, digits, _ or -.",
                        shown(text),
                        shown(part)
                    ));
                }
                segments.push(Segment::Param);
            } else if part.contains(['{', '}', '*', '?', '#', '%', '\\'])
                || part.bytes().any(|b| !b.is_ascii_graphic())
                || *part == "."
                || *part == ".."
            {
                return Err(format!(
                    "In {}, the segment {} has a character a pattern cannot take \
                     ({{, }}, *, ?, #, %, \\, a space or a dot segment).",
                    shown(text),
                    shown(part)
                ));
            } else {
                segments.push(Segment::Literal(part.to_ascii_lowercase()));
            }
        }
        Ok(Pattern {
            segments,
            rest,
            text: text.to_owned(),
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

/// A rule as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteRule {
    /// `GET HEAD`, or `*` for any method.
    pub methods: String,
    pub path: String,
    /// Required permissions, all of.
    pub permissions: Vec<String>,
    /// Counted and logged, not enforced.
    #[serde(default)]
    pub report_only: bool,
}

impl RouteRule {
    /// Checks and normalizes the rule: methods in canonical order, the pattern as
    /// written, permissions sorted (each must be a permission name, not a wildcard).
    pub fn checked(self) -> Result<(RouteRule, Methods, Pattern), String> {
        let methods = Methods::parse(&self.methods)?;
        let pattern = Pattern::parse(&self.path)?;
        let mut permissions = Vec::new();
        for p in self
            .permissions
            .iter()
            .flat_map(|p| p.split([',', ' ']))
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            if Grant::parse(p).is_ok_and(|g| !matches!(g, Grant::Exact(_))) {
                return Err(format!(
                    "A route rule requires permissions, not wildcards: {} is a wildcard.",
                    shown(p)
                ));
            }
            check_permission_name(p)?;
            permissions.push(p.to_owned());
        }
        permissions.sort();
        permissions.dedup();
        Ok((
            RouteRule {
                methods: methods.text(),
                path: pattern.text().to_owned(),
                permissions,
                report_only: self.report_only,
            },
            methods,
            pattern,
        ))
    }
}

/// A saved route rule, with what it has counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedRule {
    pub id: String,
    #[serde(flatten)]
    pub rule: RouteRule,
    /// Requests it would have refused while report-only, over every instance (written
    /// by each instance's usage flush, so up to one flush interval behind).
    pub would_deny: i64,
}

/// The organization's route rules in order, and its default for unmatched routes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteRules {
    pub rules: Vec<SavedRule>,
    pub unmatched: Unmatched,
}

/// The rules as the settings page edits them, one per line in order:
/// `[report] METHODS PATH [PERMISSION ...]`, methods comma-separated (`GET,HEAD`) or `*`.
pub fn rules_text(rules: &[RouteRule]) -> String {
    rules
        .iter()
        .map(|r| {
            let mut line = String::new();
            if r.report_only {
                line.push_str("report ");
            }
            line.push_str(&r.methods.replace(' ', ","));
            line.push(' ');
            line.push_str(&r.path);
            for p in &r.permissions {
                line.push(' ');
                line.push_str(p);
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads [`rules_text`]'s form back; blank lines and lines starting with `#` are skipped.
/// An error names the line.
pub fn parse_rules_text(text: &str) -> Result<Vec<RouteRule>, String> {
    let mut rules = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace().peekable();
        let report_only = words
            .next_if(|w| w.eq_ignore_ascii_case("report"))
            .is_some();
        let (Some(methods), Some(path)) = (words.next(), words.next()) else {
            return Err(format!(
                "Line {}: write the methods and the path, then the permissions \
                 (for example GET /invoices/* invoices:read).",
                i + 1
            ));
        };
        let rule = RouteRule {
            methods: methods.to_owned(),
            path: path.to_owned(),
            permissions: words.map(str::to_owned).collect(),
            report_only,
        };
        let (rule, _, _) = rule.checked().map_err(|m| format!("Line {}: {m}", i + 1))?;
        rules.push(rule);
    }
    Ok(rules)
}

/// What the gateway does with a request no rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unmatched {
    /// Any key with the `gateway` scope may make it.
    #[default]
    Allow,
    /// Refused with 403.
    Deny,
}

#[derive(Debug, Default)]
struct Node {
    literal: HashMap<String, Node>,
    param: Option<Box<Node>>,
    /// Rules whose pattern ends here: (rule index, methods).
    end: Vec<(usize, Methods)>,
    /// Rules whose pattern ends here with `*`.
    rest: Vec<(usize, Methods)>,
}

/// An organization's rules, compiled, each with a value the caller attaches (the
/// gateway attaches the required permissions and a report-only counter).
#[derive(Debug)]
pub struct RuleSet<T> {
    root: Node,
    rules: Vec<T>,
    pub unmatched: Unmatched,
}

impl<T> Default for RuleSet<T> {
    fn default() -> Self {
        Self {
            root: Node::default(),
            rules: Vec::new(),
            unmatched: Unmatched::Allow,
        }
    }
}

/// The request path as rules see it: percent-encoded unreserved characters decoded,
/// empty segments dropped.
pub(crate) fn normalized(path: &str) -> Cow<'_, str> {
    if !path.contains('%') {
        return Cow::Borrowed(path);
    }
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            let c = h * 16 + l;
            if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
                out.push(c);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    Cow::Owned(String::from_utf8(out).unwrap_or_else(|_| path.to_owned()))
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

impl<T> RuleSet<T> {
    /// Compiles rules in order: the first that matches a request decides.
    pub fn new(
        rules: impl IntoIterator<Item = (Methods, Pattern, T)>,
        unmatched: Unmatched,
    ) -> Self {
        let mut set = RuleSet {
            root: Node::default(),
            rules: Vec::new(),
            unmatched,
        };
        for (methods, pattern, value) in rules {
            let index = set.rules.len();
            set.rules.push(value);
            let mut node = &mut set.root;
            for segment in pattern.segments {
                node = match segment {
                    Segment::Literal(text) => node.literal.entry(text).or_default(),
                    Segment::Param => node.param.get_or_insert_with(Box::default),
                };
            }
            if pattern.rest {
                node.rest.push((index, methods));
            } else {
                node.end.push((index, methods));
            }
        }
        set
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The first rule (in the list's order) matching `method` and `path`, if any.
    pub fn matching(&self, method: &str, path: &str) -> Option<&T> {
        if self.rules.is_empty() {
            return None;
        }
        let method = Methods::of(method);
        let path = normalized(path);
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut best = None;
        walk(&self.root, &segments, method, &mut best);
        best.map(|i| &self.rules[i])
    }
}

fn consider(found: &[(usize, Methods)], method: Methods, best: &mut Option<usize>) {
    for (index, methods) in found {
        if methods.contains(method) && best.is_none_or(|b| *index < b) {
            *best = Some(*index);
        }
    }
}

fn walk(node: &Node, segments: &[&str], method: Methods, best: &mut Option<usize>) {
    consider(&node.rest, method, best);
    let Some((first, rest)) = segments.split_first() else {
        consider(&node.end, method, best);
        return;
    };
    if !node.literal.is_empty() {
        let key: Cow<'_, str> = if first.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(first.to_ascii_lowercase())
        } else {
            Cow::Borrowed(first)
        };
        if let Some(next) = node.literal.get(key.as_ref()) {
            walk(next, rest, method, best);
        }
    }
    if let Some(next) = &node.param {
        walk(next, rest, method, best);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(rules: &[(&str, &str)]) -> RuleSet<usize> {
        RuleSet::new(
            rules
                .iter()
                .enumerate()
                .map(|(i, (m, p))| (Methods::parse(m).unwrap(), Pattern::parse(p).unwrap(), i)),
            Unmatched::Allow,
        )
    }

    #[test]
    fn the_first_matching_rule_in_order_decides() {
        let rules = set(&[
            ("GET HEAD", "/invoices/{id}"),
            ("*", "/invoices/*"),
            ("POST", "/invoices/{id}/refund"),
            ("GET", "/invoices/export"),
        ]);
        let at = |m: &str, p: &str| rules.matching(m, p).copied();
        assert_eq!(at("GET", "/invoices/7"), Some(0));
        assert_eq!(at("HEAD", "/invoices/7"), Some(0));
        assert_eq!(at("DELETE", "/invoices/7"), Some(1));
        // Rule 1 comes before rule 2 and matches too.
        assert_eq!(at("POST", "/invoices/7/refund"), Some(1));
        // `/invoices/export` is matched by {id} first.
        assert_eq!(at("GET", "/invoices/export"), Some(0));
        assert_eq!(at("GET", "/invoices"), Some(1));
        assert_eq!(at("GET", "/orders/1"), None);
        assert_eq!(at("PROPFIND", "/invoices/7"), Some(1));
    }

    #[test]
    fn encodings_case_and_empty_segments_do_not_slip_past() {
        let rules = set(&[("GET", "/invoices/{id}")]);
        for path in [
            "/invoices/7",
            "/Invoices/7",
            "//invoices//7/",
            "/%69nvoices/7",
            "/%49NVOICES/7",
        ] {
            assert_eq!(rules.matching("GET", path), Some(&0), "{path}");
        }
        assert_eq!(rules.matching("GET", "/invoices/7/x"), None);
        assert_eq!(rules.matching("GET", "/invoices"), None);
        assert_eq!(
            rules.matching("get", "/invoices/7"),
            None,
            "methods are case-sensitive"
        );
    }

    #[test]
    fn patterns_and_methods_are_checked() {
        for bad in [
            "invoices", "/a/*/b", "/a/{}", "/a/{x y}", "/a/b c", "/a/%2e", "/a/../b", "/a?x=1",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
        assert!(Pattern::parse(&"/a".repeat(40)).is_err());
        assert_eq!(Methods::parse("get, head").unwrap().text(), "GET HEAD");
        assert_eq!(Methods::parse("*").unwrap().text(), "*");
        assert!(Methods::parse("FETCH").unwrap_err().contains("“FETCH”"));
        assert!(Methods::parse(" ").is_err());
        let rule = RouteRule {
            methods: "post".into(),
            path: "/x".into(),
            permissions: vec!["b:w a:r".into(), "a:r".into()],
            report_only: false,
        };
        assert_eq!(rule.checked().unwrap().0.permissions, ["a:r", "b:w"]);
        let wildcard = RouteRule {
            methods: "GET".into(),
            path: "/x".into(),
            permissions: vec!["a:*".into()],
            report_only: false,
        };
        assert!(wildcard.checked().unwrap_err().contains("wildcard"));
    }

    #[test]
    fn the_page_text_round_trips_and_names_a_bad_line() {
        let text = "GET,HEAD /invoices/* invoices:read\n\n# refunds, tried first\nreport * /refunds/{id} refunds:write refunds:read\nDELETE /x";
        let rules = parse_rules_text(text).unwrap();
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[0].methods, "GET HEAD");
        assert!(rules[1].report_only);
        assert_eq!(rules[1].permissions, ["refunds:read", "refunds:write"]);
        assert!(rules[2].permissions.is_empty());
        assert_eq!(parse_rules_text(&rules_text(&rules)).unwrap(), rules);
        assert!(
            parse_rules_text("GET /a\nGET")
                .unwrap_err()
                .starts_with("Line 2:")
        );
        assert!(
            parse_rules_text("FETCH /a")
                .unwrap_err()
                .contains("Line 1: “FETCH”")
        );
        assert!(parse_rules_text("").unwrap().is_empty());
    }
}
