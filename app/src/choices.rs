//! A list a form sends in either of two shapes: one field of names separated by spaces or
//! commas (`scopes=gateway keys:read`, as the pages' script and API clients send it), or
//! one checkbox each (`scopes[]=gateway&scopes[]=keys:read`, as a browser posts a form of
//! checkboxes without script). Such a form starts with an empty `name[]` field, so that
//! ticking no box is a choice the server refuses rather than no choice at all (which
//! may mean a default).

use serde::{Deserialize, Serialize};

/// The most checkboxes read: no form of ours has more.
const MAX_ITEMS: usize = 64;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Choices(Vec<String>);

impl Choices {
    /// The field a form's checkboxes for `name` are named (`scopes[]`).
    pub fn checkbox_field(name: &str) -> String {
        format!("{name}[]")
    }

    /// Each name given, split at spaces and commas, without empty ones.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .flat_map(|v| v.split([',', ' ']))
            .map(str::trim)
            .filter(|n| !n.is_empty())
    }
}

impl Serialize for Choices {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.join(" "))
    }
}

impl<'de> Deserialize<'de> for Choices {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Names;
        impl<'de> serde::de::Visitor<'de> for Names {
            type Value = Choices;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("names, in one string or one each")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Choices, E> {
                Ok(Choices(vec![v.to_owned()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Choices, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    if names.len() == MAX_ITEMS {
                        return Err(serde::de::Error::invalid_length(MAX_ITEMS + 1, &self));
                    }
                    names.push(name);
                }
                Ok(Choices(names))
            }
        }
        deserializer.deserialize_any(Names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_come_as_one_field_or_one_checkbox_each() {
        #[derive(Deserialize)]
        struct Form {
            scopes: Option<Choices>,
        }
        let parse = |body: &str| {
            serde_qs::Config::new(5, false)
                .deserialize_str::<Form>(body)
                .map(|f| {
                    f.scopes
                        .map(|s| s.names().map(str::to_owned).collect::<Vec<_>>())
                })
                .map_err(|e| e.to_string())
        };
        let both = Ok(Some(vec!["gateway".to_owned(), "keys:read".to_owned()]));
        assert_eq!(parse("scopes=gateway%20keys%3Aread"), both);
        assert_eq!(parse("scopes=gateway,keys%3Aread"), both);
        // As a browser encodes the brackets, after the form's empty first field.
        assert_eq!(
            parse("scopes%5B%5D=&scopes%5B%5D=gateway&scopes%5B%5D=keys%3Aread"),
            both
        );
        assert_eq!(parse("").unwrap(), None, "no field: no choice");
        assert_eq!(
            parse("scopes%5B%5D=").unwrap(),
            Some(Vec::new()),
            "the form with no box ticked"
        );
        assert!(parse(&"scopes%5B%5D=a&".repeat(MAX_ITEMS + 1)).is_err());
        assert!(parse(&"scopes%5B%5D=a&".repeat(MAX_ITEMS)).is_ok());
    }
}
