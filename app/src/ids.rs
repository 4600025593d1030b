//! Ids as types in the services' signatures: a function that takes an organization's id
//! and a person's cannot be handed them the other way round, and a key's id cannot be
//! passed where an organization's is wanted. Borrowed, so wrapping one costs nothing:
//! `OrgId(&row.org_id)`.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name<'a>(pub &'a str);

        impl<'a> $name<'a> {
            pub fn as_str(self) -> &'a str {
                self.0
            }
        }

        impl fmt::Display for $name<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0)
            }
        }
    };
}

id_type!(
    /// An organization's id (`org_…`).
    OrgId
);
id_type!(
    /// A person's id (`usr_…`).
    UserId
);
id_type!(
    /// An API key's id (`key_…`).
    KeyId
);
