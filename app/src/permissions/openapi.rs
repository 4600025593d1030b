//! Starting from the API's own description: an OpenAPI document (3.x, or Swagger 2.0, as
//! JSON) turned into a proposal of permissions and route rules, to be reviewed before
//! anything is saved. One permission per tag and verb class (`pets:read` for GET and
//! HEAD, `pets:write` for every other method) and one rule per operation, requiring its
//! permission. An operation without a tag takes its path's first literal segment.

use serde_json::Value;

use super::routes::{MAX_RULES, Methods, Pattern, RouteRule};
use super::{MAX_CATALOG, MAX_NAME_LEN, PermissionView};

/// Largest document read, in bytes.
pub const MAX_DOCUMENT: usize = 2 * 1024 * 1024;
/// Fetches an OpenAPI document by its URL, from a host the operator allows (as for
/// upstreams): the body as text, or what went wrong, worded for the person who gave the
/// URL. Set by the server; by default nothing is fetched.
#[derive(Clone)]
pub struct DocumentFetch(pub std::sync::Arc<FetchDocument>);

/// See [`DocumentFetch`].
pub type FetchDocument = dyn Fn(
        String,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>> + Send>>
    + Send
    + Sync;

impl Default for DocumentFetch {
    fn default() -> Self {
        Self(std::sync::Arc::new(|_| {
            Box::pin(async { Err("This server fetches no documents: paste it instead.".into()) })
        }))
    }
}

impl std::fmt::Debug for DocumentFetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DocumentFetch")
    }
}

impl DocumentFetch {
    pub async fn fetch(&self, url: &str) -> Result<String, String> {
        (self.0)(url.trim().to_owned()).await
    }
}

/// Largest body of the page's review form: the document, URL-encoded (at most three
/// times its size), with the form's other fields.
pub const MAX_FORM_BODY: usize = 3 * MAX_DOCUMENT + 4096;

const METHODS: [&str; 8] = [
    "get", "head", "post", "put", "patch", "delete", "options", "trace",
];

pub use super::Proposal;

/// `Pet Store` -> `pet-store`: a tag as a permission's resource.
fn resource(tag: &str) -> String {
    let mut out = String::new();
    for c in tag.trim().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches(|c| c == '-' || c == '.' || c == '_');
    let out: String = out.chars().take(MAX_NAME_LEN - ":write".len()).collect();
    if out.is_empty() { "api".into() } else { out }
}

/// An OpenAPI path template as a rule's pattern: a segment that is one `{param}` stays
/// so; a segment mixing text and a parameter (`{id}.json`) becomes a whole parameter.
fn pattern_of(path: &str) -> String {
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|segment| {
            let whole = segment.starts_with('{')
                && segment.ends_with('}')
                && segment[1..segment.len() - 1]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if whole {
                segment.to_owned()
            } else if segment.contains('{') {
                "{param}".to_owned()
            } else {
                segment.to_owned()
            }
        })
        .collect();
    format!("/{}", segments.join("/"))
}

/// Reads a document (JSON) into a proposal. A document that is not OpenAPI, or has no
/// paths, is an error saying so.
pub fn propose(text: &str) -> Result<Proposal, String> {
    if text.len() > MAX_DOCUMENT {
        return Err(format!(
            "The document is larger than {} MB.",
            MAX_DOCUMENT / 1024 / 1024
        ));
    }
    let doc: Value = serde_json::from_str(text).map_err(|e| {
        format!("The document is not JSON ({e}); export it as JSON (YAML is not read yet).")
    })?;
    propose_value(&doc)
}

pub fn propose_value(doc: &Value) -> Result<Proposal, String> {
    if doc.get("openapi").and_then(Value::as_str).is_none()
        && doc.get("swagger").and_then(Value::as_str).is_none()
    {
        return Err(
            "This is not an OpenAPI document: it has no \"openapi\" (or \"swagger\") version."
                .into(),
        );
    }
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return Err("The document has no \"paths\".".into());
    };
    let tag_text = |tag: &str| -> Option<String> {
        doc.get("tags")?
            .as_array()?
            .iter()
            .find(|t| t.get("name").and_then(Value::as_str) == Some(tag))?
            .get("description")?
            .as_str()
            .map(|d| {
                d.lines()
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .take(120)
                    .collect()
            })
    };
    let mut proposal = Proposal::default();
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        let pattern = pattern_of(path);
        if let Err(why) = Pattern::parse(&pattern) {
            proposal.skipped.push(format!("{path}: {why}"));
            continue;
        }
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let tag = operation
                .get("tags")
                .and_then(Value::as_array)
                .and_then(|t| t.first())
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| {
                    path.split('/')
                        .find(|s| !s.is_empty() && !s.contains('{'))
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| "api".into());
            let read = matches!(method, "get" | "head");
            let name = format!("{}:{}", resource(&tag), if read { "read" } else { "write" });
            if !proposal.permissions.iter().any(|p| p.name == name) {
                let what = tag_text(&tag).unwrap_or_else(|| tag.clone());
                proposal.permissions.push(PermissionView {
                    description: format!("{} {what}", if read { "Read" } else { "Change" })
                        .chars()
                        .take(super::MAX_DESCRIPTION)
                        .collect(),
                    name: name.clone(),
                });
            }
            let upper = method.to_ascii_uppercase();
            debug_assert!(Methods::parse(&upper).is_ok());
            proposal.rules.push(RouteRule {
                methods: upper,
                path: pattern.clone(),
                permissions: vec![name],
                report_only: false,
            });
        }
    }
    if proposal.rules.is_empty() {
        return Err("The document describes no operations.".into());
    }
    if proposal.rules.len() > MAX_RULES {
        return Err(format!(
            "The document has {} operations; at most {MAX_RULES} route rules can be kept.",
            proposal.rules.len()
        ));
    }
    if proposal.permissions.len() > MAX_CATALOG {
        return Err(format!(
            "The document needs {} permissions; a catalog holds at most {MAX_CATALOG}.",
            proposal.permissions.len()
        ));
    }
    // Two templates of one length that both match a path: the one with fewer parameters
    // is the more specific, and goes first (a stable sort keeps the document's order).
    let shape = |r: &RouteRule| {
        let segments = r.path.split('/').filter(|s| !s.is_empty());
        let params = segments.clone().filter(|s| s.starts_with('{')).count();
        (params, segments.count())
    };
    proposal.rules.sort_by_key(|r| shape(r).0);
    proposal.permissions.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(proposal)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PETSTORE: &str = r#"{
        "openapi": "3.0.3",
        "tags": [{"name": "Pet Store", "description": "Everything about your pets"}],
        "paths": {
            "/pets/{petId}": {
                "get": {"tags": ["Pet Store"]},
                "delete": {"tags": ["Pet Store"]}
            },
            "/pets/mine": {"get": {"tags": ["Pet Store"]}},
            "/orders": {"post": {}, "parameters": []},
            "/files/{name}.json": {"head": {"tags": ["files"]}}
        }
    }"#;

    #[test]
    fn one_permission_per_tag_and_verb_class_and_one_rule_per_operation() {
        let p = propose(PETSTORE).unwrap();
        let names: Vec<&str> = p.permissions.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "files:read",
                "orders:write",
                "pet-store:read",
                "pet-store:write"
            ]
        );
        assert_eq!(
            p.permissions[2].description,
            "Read Everything about your pets"
        );
        let rules: Vec<(String, String, String)> = p
            .rules
            .iter()
            .map(|r| (r.methods.clone(), r.path.clone(), r.permissions.join(" ")))
            .collect();
        // Literal paths before templated ones; otherwise the document's order.
        let mine = rules.iter().position(|r| r.1 == "/pets/mine").unwrap();
        let by_id = rules.iter().position(|r| r.1 == "/pets/{petId}").unwrap();
        assert!(mine < by_id, "{rules:?}");
        assert!(rules.contains(&(
            "DELETE".into(),
            "/pets/{petId}".into(),
            "pet-store:write".into()
        )));
        assert!(rules.contains(&("HEAD".into(), "/files/{param}".into(), "files:read".into())));
        assert_eq!(rules.len(), 5);
        for rule in p.rules {
            rule.checked().unwrap();
        }
    }

    #[test]
    fn what_is_not_an_openapi_document_says_so() {
        assert!(propose("openapi: 3.0.0").unwrap_err().contains("not JSON"));
        assert!(
            propose("{}")
                .unwrap_err()
                .contains("not an OpenAPI document")
        );
        assert!(
            propose(r#"{"openapi": "3.1.0"}"#)
                .unwrap_err()
                .contains("no \"paths\"")
        );
        assert!(
            propose(r#"{"openapi": "3.1.0", "paths": {}}"#)
                .unwrap_err()
                .contains("no operations")
        );
    }
}
