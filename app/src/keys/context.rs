//! What a key carries to tell it apart among thousands: tags, the external owner it is
//! for (a customer or service id) and a JSON object of metadata. Checked here, for the
//! browser, the REST API and the CLI alike; stored on the key's row; returned by
//! `/verify` and whoami, and the owner forwarded by the gateway.

use serde::{Deserialize, Serialize};

/// At most this many tags per key.
pub const MAX_TAGS: usize = 20;
/// A tag's longest length, in characters.
pub const MAX_TAG_LEN: usize = 64;
/// An owner id's longest length, in characters.
pub const MAX_OWNER_LEN: usize = 128;
/// Metadata's largest size, as compact JSON.
pub const MAX_METADATA_BYTES: usize = 4096;

/// A key's context, checked and normalized: tags sorted and unique, the owner trimmed,
/// metadata a JSON object in compact form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyContext {
    pub tags: Vec<String>,
    pub owner: Option<String>,
    /// Compact JSON text of an object.
    pub metadata: Option<String>,
}

impl KeyContext {
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty() && self.owner.is_none() && self.metadata.is_none()
    }
}

/// Checks one tag: lower-case letters, digits, `-`, `:` and `.`, 1 to 64 characters.
fn check_tag(tag: &str) -> Result<(), String> {
    if tag.is_empty() {
        return Err("Tags cannot be empty.".into());
    }
    if tag.chars().count() > MAX_TAG_LEN {
        return Err(format!(
            "Tag \"{}…\" is longer than {MAX_TAG_LEN} characters.",
            tag.chars().take(16).collect::<String>()
        ));
    }
    if let Some(bad) = tag
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | ':' | '.')))
    {
        let hint = if bad.is_ascii_uppercase() {
            " (tags are lower-case)"
        } else {
            ""
        };
        return Err(format!(
            "Tag \"{}\" has \"{bad}\"{hint}: use lower-case letters, digits, \"-\", \":\" and \".\".",
            tag.chars().take(MAX_TAG_LEN).collect::<String>()
        ));
    }
    Ok(())
}

/// Tags from a list (the REST API: each entry one whole tag), each checked, then sorted
/// and made unique. An error names the first bad tag.
pub fn parse_tags<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>, String> {
    let mut tags = Vec::new();
    for tag in items {
        check_tag(tag)?;
        tags.push(tag.to_owned());
    }
    tags.sort();
    tags.dedup();
    if tags.len() > MAX_TAGS {
        return Err(format!(
            "A key can have at most {MAX_TAGS} tags ({} given).",
            tags.len()
        ));
    }
    Ok(tags)
}

/// Tags from text separated by commas or white space (a form, the CLI).
pub fn parse_tags_text(text: &str) -> Result<Vec<String>, String> {
    parse_tags(text.split([',', ' ', '\n', '\t']).filter(|t| !t.is_empty()))
}

/// One tag as a filter: the same rules as a key's tags.
pub fn parse_tag_filter(tag: &str) -> Result<String, String> {
    let tag = tag.trim();
    check_tag(tag)?;
    Ok(tag.to_owned())
}

/// An owner id: trimmed, 1 to 128 printable ASCII characters (it travels in an HTTP
/// header to the upstream). Empty: none.
pub fn parse_owner(owner: &str) -> Result<Option<String>, String> {
    let owner = owner.trim();
    if owner.is_empty() {
        return Ok(None);
    }
    if owner.chars().count() > MAX_OWNER_LEN {
        return Err(format!(
            "The owner id is longer than {MAX_OWNER_LEN} characters."
        ));
    }
    if let Some(bad) = owner.chars().find(|c| !(c.is_ascii_graphic() || *c == ' ')) {
        return Err(format!(
            "The owner id has {bad:?}: use printable ASCII (letters, digits, punctuation, spaces)."
        ));
    }
    Ok(Some(owner.to_owned()))
}

/// Metadata from JSON text (a form's text area): an object of at most 4 KB, returned in
/// compact form. Blank: none.
pub fn parse_metadata_text(text: &str) -> Result<Option<String>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("Metadata is not valid JSON: {e}."))?;
    check_metadata(&value)
}

/// Metadata as given to the REST API: a JSON object of at most 4 KB in compact form, or
/// `null` for none. An empty object is none.
pub fn check_metadata(value: &serde_json::Value) -> Result<Option<String>, String> {
    let object = match value {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::Object(object) => object,
        _ => return Err("Metadata must be a JSON object, like {\"plan\": \"pro\"}.".into()),
    };
    if object.is_empty() {
        return Ok(None);
    }
    let text = value.to_string();
    if text.len() > MAX_METADATA_BYTES {
        return Err(format!(
            "Metadata is {} bytes as JSON; the most is {MAX_METADATA_BYTES}.",
            text.len()
        ));
    }
    Ok(Some(text))
}

/// Tags as stored: `,a,b,`, so `%,a,%` finds exactly the keys tagged `a`; `None`: none.
pub fn store_tags(tags: &[String]) -> Option<String> {
    (!tags.is_empty()).then(|| format!(",{},", tags.join(",")))
}

/// Tags from the stored form.
pub fn load_tags(stored: Option<&str>) -> Vec<String> {
    stored
        .unwrap_or_default()
        .split(',')
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The stored pattern that finds keys with `tag`.
pub fn tag_pattern(tag: &str) -> String {
    format!("%,{tag},%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_checked_sorted_and_unique() {
        assert_eq!(
            parse_tags_text("prod, billing  eu-west:1,billing").unwrap(),
            ["billing", "eu-west:1", "prod"]
        );
        assert_eq!(parse_tags_text(" ").unwrap(), Vec::<String>::new());
        assert!(parse_tags(["a b"]).unwrap_err().contains("\"a b\""));
        assert!(parse_tags([""]).unwrap_err().contains("empty"));
        let err = parse_tags(["ok", "Prod"]).unwrap_err();
        assert!(
            err.contains("\"Prod\"") && err.contains("lower-case"),
            "{err}"
        );
        let err = parse_tags(["a_b"]).unwrap_err();
        assert!(err.contains("\"a_b\"") && err.contains("\"_\""), "{err}");
        let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        let err = parse_tags(many.iter().map(String::as_str)).unwrap_err();
        assert!(err.contains("at most 20"), "{err}");
        assert!(parse_tags([&*"a".repeat(65)]).is_err());
        assert!(parse_tags([&*"a".repeat(64)]).is_ok());
    }

    #[test]
    fn stored_tags_round_trip_and_match_whole_tags_only() {
        let tags = parse_tags_text("prod eu").unwrap();
        let stored = store_tags(&tags).unwrap();
        assert_eq!(stored, ",eu,prod,");
        assert_eq!(load_tags(Some(&stored)), tags);
        assert_eq!(store_tags(&[]), None);
        assert!(load_tags(None).is_empty());
        // "pro" is not "prod": the delimiters make the pattern match whole tags.
        let like = |pattern: &str, text: &str| {
            let inner = pattern.trim_matches('%');
            text.contains(inner)
        };
        assert!(like(&tag_pattern("prod"), &stored));
        assert!(!like(&tag_pattern("pro"), &stored));
    }

    #[test]
    fn owners_and_metadata_are_checked() {
        assert_eq!(
            parse_owner("  cus_123 ").unwrap().as_deref(),
            Some("cus_123")
        );
        assert_eq!(parse_owner("   ").unwrap(), None);
        assert!(parse_owner(&"x".repeat(129)).is_err());
        assert!(parse_owner("a\u{0}b").is_err());
        assert!(parse_owner("café").unwrap_err().contains("'é'"));
        assert_eq!(
            parse_metadata_text("{ \"plan\" : \"pro\" }")
                .unwrap()
                .as_deref(),
            Some("{\"plan\":\"pro\"}")
        );
        assert_eq!(parse_metadata_text("").unwrap(), None);
        assert_eq!(parse_metadata_text("{}").unwrap(), None);
        assert!(parse_metadata_text("[1]").unwrap_err().contains("object"));
        assert!(
            parse_metadata_text("{")
                .unwrap_err()
                .contains("not valid JSON")
        );
        let big = serde_json::json!({ "a": "x".repeat(4100) });
        assert!(check_metadata(&big).unwrap_err().contains("4096"));
    }
}
