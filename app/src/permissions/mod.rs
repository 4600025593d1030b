//! The API's own permissions (issue 29): names (`invoices:read`), grants with wildcards
//! (`invoices:*`, `*`), the compiled set a key holds ([`Grants`]), boolean questions over
//! them ([`expr`]) and the gateway's route rules ([`routes`]). Keygate's own scopes
//! (`gateway`, `keys:read`, `keys:write`) are separate and stay as they are.
//!
//! A model: browser-safe, no database. The catalog service is [`catalog`] (server only).

pub mod access_fields;
#[cfg(feature = "ssr")]
pub mod catalog;
pub mod expr;
pub mod gateway_ui;
#[cfg(feature = "ssr")]
pub mod openapi;
pub mod routes;
pub mod rpc;
pub mod ui;
pub mod upstreams;
pub mod usage;
pub mod use_card;

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

/// Longest permission or role name, in bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Most permissions in one organization's catalog, and roles, and grants on one key.
pub const MAX_CATALOG: usize = 500;
pub const MAX_ROLES: usize = 100;
pub const MAX_GRANTS: usize = 100;
/// Longest description, in characters.
pub const MAX_DESCRIPTION: usize = 200;

fn word_ok(word: &str) -> bool {
    let mut bytes = word.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b))
}

/// Echoes a short value to help; a long one may be a key pasted into the wrong field.
pub fn shown(value: &str) -> String {
    if value.len() <= 40 {
        format!("“{value}”")
    } else {
        format!("(a {}-character value)", value.chars().count())
    }
}

/// A permission's name: `resource:action` (or one word, such as `admin`), in lower case
/// letters, digits, `_`, `-` and `.`.
pub fn check_permission_name(name: &str) -> Result<(), String> {
    let ok = name.len() <= MAX_NAME_LEN
        && match name.split_once(':') {
            Some((resource, action)) => word_ok(resource) && word_ok(action),
            None => word_ok(name),
        };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not a permission name: use resource:action (for example invoices:read), \
             up to {MAX_NAME_LEN} characters of lower-case letters, digits, _, - and .",
            shown(name)
        ))
    }
}

/// A role's name: one word of lower-case letters, digits, `_`, `-` and `.`.
pub fn check_role_name(name: &str) -> Result<(), String> {
    if name.len() <= MAX_NAME_LEN && word_ok(name) {
        Ok(())
    } else {
        Err(format!(
            "{} is not a role name: use up to {MAX_NAME_LEN} lower-case letters, digits, _, - \
             and . (for example billing-readonly)",
            shown(name)
        ))
    }
}

/// One thing a key or a role is given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Grant {
    /// `*`: every permission.
    All,
    /// `invoices:*`: every permission of one resource.
    Resource(String),
    /// `invoices:read`.
    Exact(String),
}

impl Grant {
    pub fn parse(text: &str) -> Result<Grant, String> {
        if text == "*" {
            return Ok(Grant::All);
        }
        if let Some(resource) = text.strip_suffix(":*") {
            return if word_ok(resource) && text.len() <= MAX_NAME_LEN {
                Ok(Grant::Resource(resource.to_owned()))
            } else {
                Err(format!(
                    "{} is not a wildcard: use resource:* (for example invoices:*) or *.",
                    shown(text)
                ))
            };
        }
        check_permission_name(text)?;
        Ok(Grant::Exact(text.to_owned()))
    }

    pub fn text(&self) -> String {
        match self {
            Grant::All => "*".to_owned(),
            Grant::Resource(r) => format!("{r}:*"),
            Grant::Exact(p) => p.clone(),
        }
    }

    /// Whether this grant gives `permission`.
    pub fn gives(&self, permission: &str) -> bool {
        match self {
            Grant::All => true,
            Grant::Resource(r) => permission
                .strip_prefix(r.as_str())
                .is_some_and(|rest| rest.starts_with(':')),
            Grant::Exact(p) => p == permission,
        }
    }
}

/// Sorts grants by their text, without repeats.
fn sort_grants(grants: &mut Vec<Grant>) {
    grants.sort_by_cached_key(Grant::text);
    grants.dedup();
}

/// Parses a list of grants (names separated by spaces or commas), sorted and without
/// repeats. An unreadable one is an error naming it.
pub fn parse_grants<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Vec<Grant>, String> {
    let mut grants: Vec<Grant> = Vec::new();
    for item in items
        .into_iter()
        .flat_map(|i| i.split([',', ' ', '\n', '\t']))
        .map(str::trim)
        .filter(|i| !i.is_empty())
    {
        grants.push(Grant::parse(item)?);
    }
    sort_grants(&mut grants);
    if grants.len() > MAX_GRANTS {
        return Err(format!(
            "At most {MAX_GRANTS} permissions can be given at once."
        ));
    }
    Ok(grants)
}

/// Parses a list of role names, sorted and without repeats.
pub fn parse_roles<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>, String> {
    let mut roles: Vec<String> = Vec::new();
    for item in items
        .into_iter()
        .flat_map(|i| i.split([',', ' ', '\n', '\t']))
        .map(str::trim)
        .filter(|i| !i.is_empty())
    {
        check_role_name(item)?;
        roles.push(item.to_owned());
    }
    roles.sort();
    roles.dedup();
    if roles.len() > MAX_GRANTS {
        return Err(format!("At most {MAX_GRANTS} roles can be given at once."));
    }
    Ok(roles)
}

/// The stored form of a list: space-separated; `None` when empty.
pub fn to_stored<T: AsRef<str>>(items: &[T]) -> Option<String> {
    (!items.is_empty()).then(|| {
        items
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// Reads a stored list back; what no longer parses (a newer version's) is dropped,
/// never widened.
pub fn grants_from_stored(stored: Option<&str>) -> Vec<Grant> {
    stored
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|g| Grant::parse(g).ok())
        .collect()
}

pub fn grant_texts(grants: &[Grant]) -> Vec<String> {
    grants.iter().map(Grant::text).collect()
}

/// What a key may do in the API behind the gateway: its own grants and its roles'
/// permissions, compiled for the question "does it have `p`?" (two hash lookups at
/// most, whatever the number of grants).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    all: bool,
    resources: HashSet<Box<str>>,
    exact: HashSet<Box<str>>,
    /// Every grant, sorted and space-separated: `X-Keygate-Permissions`.
    listed: String,
}

impl Grants {
    pub fn new(grants: impl IntoIterator<Item = Grant>) -> Self {
        let mut all: Vec<Grant> = grants.into_iter().collect();
        sort_grants(&mut all);
        let mut compiled = Grants {
            listed: all.iter().map(Grant::text).collect::<Vec<_>>().join(" "),
            ..Default::default()
        };
        for grant in all {
            match grant {
                Grant::All => compiled.all = true,
                Grant::Resource(r) => {
                    compiled.resources.insert(r.into());
                }
                Grant::Exact(p) => {
                    compiled.exact.insert(p.into());
                }
            }
        }
        compiled
    }

    pub fn is_empty(&self) -> bool {
        self.listed.is_empty()
    }

    /// Whether these grants give `permission`.
    pub fn allows(&self, permission: &str) -> bool {
        self.all
            || self.exact.contains(permission)
            || permission
                .split_once(':')
                .is_some_and(|(resource, _)| self.resources.contains(resource))
    }

    /// The ones of `required` these grants do not give, in order.
    pub fn missing<'a>(&self, required: &'a [String]) -> Vec<&'a str> {
        required
            .iter()
            .map(String::as_str)
            .filter(|p| !self.allows(p))
            .collect()
    }

    /// Whether these grants give everything `grant` does: a key may hand on only what it
    /// holds.
    pub fn covers(&self, grant: &Grant) -> bool {
        match grant {
            Grant::All => self.all,
            Grant::Resource(r) => self.all || self.resources.contains(r.as_str()),
            Grant::Exact(p) => self.allows(p),
        }
    }

    /// Every grant, sorted, space-separated (`invoices:* refunds:read`).
    pub fn listed(&self) -> &str {
        &self.listed
    }

    pub fn names(&self) -> Vec<String> {
        self.listed.split_whitespace().map(str::to_owned).collect()
    }
}

/// One resource as the create dialog and a key's page offer it: a choice of None, Read
/// or Write, each a value the form sends as granted permissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceAccess {
    pub resource: String,
    /// What Read gives: `resource:read`, if the catalog has it.
    pub read: Option<String>,
    /// What Write gives: `resource:write`, with `resource:read` if the catalog has it.
    pub write: Option<String>,
}

impl ResourceAccess {
    /// The choice a key's own permissions make (`None`, `Read` or `Write`), with the
    /// permissions it accounts for: the rest stay in the list typed beside it.
    pub fn held<'a>(&'a self, permissions: &[String]) -> (&'static str, Vec<&'a str>) {
        let all_held = |value: &'a Option<String>| {
            value.as_deref().filter(|v| {
                v.split_whitespace()
                    .all(|p| permissions.iter().any(|h| h == p))
            })
        };
        if let Some(write) = all_held(&self.write) {
            ("Write", write.split_whitespace().collect())
        } else if let Some(read) = all_held(&self.read) {
            ("Read", vec![read])
        } else {
            ("None", Vec::new())
        }
    }

    /// The id of its `<select>`, in the view and in the script that reads it.
    pub fn select_id(&self, form: &str) -> String {
        format!("{form}-access-{}", self.resource)
    }
}

/// What an OpenAPI document proposes (see `openapi`): shown for review, saved only when
/// applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub permissions: Vec<PermissionView>,
    /// In the order they should be saved: for paths of the same length, fewer
    /// parameters first, so `/pets/mine` is tried before `/pets/{id}`.
    pub rules: Vec<routes::RouteRule>,
    /// Operations left out, each with why.
    pub skipped: Vec<String>,
}

/// A permission of the catalog, as the API and the pages show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionView {
    pub name: String,
    pub description: String,
}

/// A role of the catalog: a named bundle of permissions and wildcards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleView {
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
}

/// The organization's whole catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    pub permissions: Vec<PermissionView>,
    pub roles: Vec<RoleView>,
}

impl Catalog {
    /// Checks that every grant names a permission of the catalog (a wildcard: a resource
    /// with at least one), so a typo is an error rather than a grant that never matches.
    pub fn check_grants(&self, grants: &[Grant]) -> Result<(), String> {
        for grant in grants {
            let known = match grant {
                Grant::All => true,
                _ => self.permissions.iter().any(|p| grant.gives(&p.name)),
            };
            if !known {
                return Err(match grant {
                    Grant::Resource(r) => format!(
                        "No permission of resource {} is in the catalog: add one under \
                         Settings → Permissions first.",
                        shown(r)
                    ),
                    _ => format!(
                        "{} is not in the organization's permission catalog.",
                        shown(&grant.text())
                    ),
                });
            }
        }
        Ok(())
    }

    /// Checks that every role exists.
    pub fn check_roles(&self, roles: &[String]) -> Result<(), String> {
        match roles
            .iter()
            .find(|r| !self.roles.iter().any(|known| &known.name == *r))
        {
            Some(unknown) => Err(format!(
                "{} is not a role of the organization's permission catalog.",
                shown(unknown)
            )),
            None => Ok(()),
        }
    }

    /// The resources offered as None / Read / Write (as Stripe's restricted keys are):
    /// those whose catalog has `resource:read` or `resource:write`, by name.
    pub fn access(&self) -> Vec<ResourceAccess> {
        let has = |name: String| {
            self.permissions
                .iter()
                .any(|p| p.name == name)
                .then_some(name)
        };
        let mut resources: Vec<&str> = self
            .permissions
            .iter()
            .filter_map(|p| p.name.split_once(':').map(|(r, _)| r))
            .collect();
        resources.sort_unstable();
        resources.dedup();
        resources
            .into_iter()
            .filter_map(|resource| {
                let read = has(format!("{resource}:read"));
                let write = has(format!("{resource}:write"));
                (read.is_some() || write.is_some()).then(|| ResourceAccess {
                    resource: resource.to_owned(),
                    write: write.map(|w| match &read {
                        Some(r) => format!("{r} {w}"),
                        None => w,
                    }),
                    read,
                })
            })
            .collect()
    }

    /// A key's grants and its roles' permissions together.
    pub fn effective(&self, grants: &[Grant], roles: &[String]) -> Grants {
        let from_roles = self
            .roles
            .iter()
            .filter(|r| roles.contains(&r.name))
            .flat_map(|r| r.permissions.iter().filter_map(|g| Grant::parse(g).ok()));
        Grants::new(grants.iter().cloned().chain(from_roles))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_offered_as_none_read_or_write() {
        let catalog = Catalog {
            permissions: [
                "invoices:read",
                "invoices:write",
                "invoices:refund",
                "refunds:write",
                "admin",
                "orders:list",
            ]
            .into_iter()
            .map(|name| PermissionView {
                name: name.to_owned(),
                description: String::new(),
            })
            .collect(),
            roles: Vec::new(),
        };
        let access = catalog.access();
        assert_eq!(
            access,
            vec![
                ResourceAccess {
                    resource: "invoices".into(),
                    read: Some("invoices:read".into()),
                    write: Some("invoices:read invoices:write".into()),
                },
                ResourceAccess {
                    resource: "refunds".into(),
                    read: None,
                    write: Some("refunds:write".into()),
                },
            ]
        );
        let held = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let invoices = &access[0];
        assert_eq!(
            invoices.held(&held(&["invoices:write", "invoices:read", "admin"])),
            ("Write", vec!["invoices:read", "invoices:write"])
        );
        assert_eq!(
            invoices.held(&held(&["invoices:read"])),
            ("Read", vec!["invoices:read"])
        );
        assert_eq!(invoices.held(&held(&["invoices:write"])), ("None", vec![]));
        assert_eq!(invoices.held(&held(&["invoices:*"])), ("None", vec![]));
    }

    #[test]
    fn names_are_checked_with_errors_that_say_what_to_write() {
        for good in ["invoices:read", "admin", "v2.invoices:write", "a-b_c:x"] {
            assert!(check_permission_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Invoices:read",
            "invoices:",
            ":read",
            "a:b:c",
            "in voices:read",
            "invoices:*",
            "</textarea><h1>",
        ] {
            let message = check_permission_name(bad).unwrap_err();
            assert!(message.contains("resource:action"), "{bad}: {message}");
        }
        let long = "kg_".to_owned() + &"a".repeat(70);
        assert!(!check_permission_name(&long).unwrap_err().contains("kg_"));
        assert!(check_role_name("billing-readonly").is_ok());
        assert!(check_role_name("billing:readonly").is_err());
    }

    #[test]
    fn wildcards_give_what_they_say_and_no_more() {
        let g = Grants::new(parse_grants(["invoices:*, refunds:read"]).unwrap());
        assert!(g.allows("invoices:read"));
        assert!(g.allows("invoices:write"));
        assert!(g.allows("refunds:read"));
        assert!(!g.allows("refunds:write"));
        // A resource whose name starts with another's is another resource.
        assert!(!g.allows("invoicesx:read"));
        assert!(!g.allows("invoices"));
        assert_eq!(g.listed(), "invoices:* refunds:read");
        assert_eq!(
            g.missing(&["invoices:read".into(), "refunds:write".into()]),
            ["refunds:write"]
        );
        let everything = Grants::new([Grant::All]);
        assert!(everything.allows("anything:at-all") && everything.allows("admin"));
        assert!(Grants::default().is_empty() && !Grants::default().allows("a:b"));
    }

    #[test]
    fn a_holder_covers_only_what_it_holds() {
        let holder = Grants::new(parse_grants(["invoices:*", "refunds:read"]).unwrap());
        for (grant, covered) in [
            ("invoices:read", true),
            ("invoices:*", true),
            ("refunds:read", true),
            ("refunds:*", false),
            ("refunds:write", false),
            ("*", false),
        ] {
            assert_eq!(
                holder.covers(&Grant::parse(grant).unwrap()),
                covered,
                "{grant}"
            );
        }
        assert!(Grants::new([Grant::All]).covers(&Grant::All));
    }

    #[test]
    fn grants_must_name_the_catalog_and_roles_expand() {
        let catalog = Catalog {
            permissions: vec![
                PermissionView {
                    name: "invoices:read".into(),
                    description: String::new(),
                },
                PermissionView {
                    name: "refunds:write".into(),
                    description: String::new(),
                },
            ],
            roles: vec![RoleView {
                name: "billing".into(),
                description: String::new(),
                permissions: vec!["refunds:*".into()],
            }],
        };
        assert!(
            catalog
                .check_grants(&parse_grants(["invoices:read", "refunds:*", "*"]).unwrap())
                .is_ok()
        );
        assert!(
            catalog
                .check_grants(&parse_grants(["invoices:write"]).unwrap())
                .unwrap_err()
                .contains("“invoices:write”")
        );
        assert!(
            catalog
                .check_grants(&parse_grants(["orders:*"]).unwrap())
                .is_err()
        );
        assert!(catalog.check_roles(&["billing".into()]).is_ok());
        assert!(catalog.check_roles(&["nope".into()]).is_err());
        let g = catalog.effective(
            &parse_grants(["invoices:read"]).unwrap(),
            &["billing".into()],
        );
        assert_eq!(g.listed(), "invoices:read refunds:*");
        assert!(parse_grants(["bad name!"]).is_err());
        assert_eq!(
            grants_from_stored(Some("invoices:read future!thing *")),
            vec![Grant::Exact("invoices:read".into()), Grant::All]
        );
    }
}
