//! Scopes: what an API key may do. Chosen when the key is created, stored as a
//! space-separated list (`gateway keys:read`), and capped at verification by what the
//! key's creator's *current* role allows (K9).

use serde::{Deserialize, Serialize};

use crate::orgs::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    /// Call upstream services through `/gw/*`.
    #[serde(rename = "gateway")]
    Gateway,
    /// List the organization's keys (`GET /api/v1/keys`).
    #[serde(rename = "keys:read")]
    KeysRead,
    /// Create, roll and revoke the organization's keys.
    #[serde(rename = "keys:write")]
    KeysWrite,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Gateway, Scope::KeysRead, Scope::KeysWrite];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Gateway => "gateway",
            Scope::KeysRead => "keys:read",
            Scope::KeysWrite => "keys:write",
        }
    }

    pub fn parse(value: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == value)
    }

    pub fn description(self) -> &'static str {
        match self {
            Scope::Gateway => "Call your upstream API through the gateway",
            Scope::KeysRead => "List this organization's keys",
            Scope::KeysWrite => "Create, roll and revoke this organization's keys",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Scope::Gateway => 1,
            Scope::KeysRead => 2,
            Scope::KeysWrite => 4,
        }
    }
}

/// A set of scopes, always listed in the canonical order of [`Scope::ALL`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Scopes(u8);

/// The scope given to a key when none is chosen: least privilege.
pub const DEFAULT_SCOPES: Scopes = Scopes(1);

impl Scopes {
    pub const NONE: Scopes = Scopes(0);
    pub const ALL: Scopes = Scopes(7);

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn is_subset_of(self, other: Scopes) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn intersect(self, other: Scopes) -> Scopes {
        Scopes(self.0 & other.0)
    }

    pub fn with(self, scope: Scope) -> Scopes {
        Scopes(self.0 | scope.bit())
    }

    pub fn without(self, scope: Scope) -> Scopes {
        Scopes(self.0 & !scope.bit())
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    pub fn names(self) -> Vec<String> {
        self.iter().map(|s| s.as_str().to_owned()).collect()
    }

    /// Canonical storage form: `gateway keys:read keys:write`.
    pub fn to_stored(self) -> String {
        self.iter().map(Scope::as_str).collect::<Vec<_>>().join(" ")
    }

    /// Reads the stored form; unknown words (from a newer version) are ignored, never
    /// widened into something else.
    pub fn from_stored(value: &str) -> Scopes {
        value
            .split_whitespace()
            .filter_map(Scope::parse)
            .fold(Scopes::NONE, Scopes::with)
    }

    /// Parses what a person or client sent: names separated by spaces or commas. Unknown
    /// names and an empty list are errors with a message that lists the valid scopes.
    pub fn parse_list<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Scopes, String> {
        let mut scopes = Scopes::NONE;
        for name in names
            .into_iter()
            .flat_map(|n| n.split([',', ' ']))
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            let Some(scope) = Scope::parse(name) else {
                // A short name is echoed to help; a long value is not, since it may be a
                // key pasted into the wrong field.
                let shown = if name.len() <= 24 {
                    format!("{name:?}")
                } else {
                    format!("(a {}-character value)", name.chars().count())
                };
                return Err(format!(
                    "Unknown scope {shown}. Valid scopes: {}.",
                    Scopes::ALL.to_stored().replace(' ', ", ")
                ));
            };
            scopes = scopes.with(scope);
        }
        if scopes.is_empty() {
            return Err("Choose at least one scope.".into());
        }
        Ok(scopes)
    }

    /// The most a key created by someone with `role` may do right now (K9): members
    /// cannot manage keys, so their keys can do nothing.
    pub fn allowed_for(role: Role) -> Scopes {
        if role.can_manage_keys() {
            Scopes::ALL
        } else {
            Scopes::NONE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_store_round_trip_in_canonical_order() {
        let s = Scopes::parse_list(["keys:write, gateway", "gateway"]).unwrap();
        assert_eq!(s.to_stored(), "gateway keys:write");
        assert_eq!(Scopes::from_stored(&s.to_stored()), s);
        assert_eq!(s.names(), vec!["gateway", "keys:write"]);
    }

    #[test]
    fn unknown_and_empty_lists_are_errors() {
        assert!(
            Scopes::parse_list(["admin"])
                .unwrap_err()
                .contains("Unknown scope \"admin\"")
        );
        let pasted = "kg_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM";
        let message = Scopes::parse_list([pasted]).unwrap_err();
        assert!(!message.contains("kg_0123"), "{message}");
        assert!(
            Scopes::parse_list([" , "])
                .unwrap_err()
                .contains("at least")
        );
        assert_eq!(Scopes::from_stored("gateway future:thing"), DEFAULT_SCOPES);
    }

    #[test]
    fn subsets_and_roles() {
        let read = Scopes::NONE.with(Scope::KeysRead);
        assert!(read.is_subset_of(Scopes::ALL));
        assert!(!Scopes::ALL.is_subset_of(read));
        assert_eq!(Scopes::allowed_for(Role::Member), Scopes::NONE);
        assert_eq!(Scopes::allowed_for(Role::Developer), Scopes::ALL);
        assert_eq!(Scopes::ALL.intersect(read), read);
    }
}
