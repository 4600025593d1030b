//! `/api/v1`, by resource: whoami and verify (`identity`), keys (list, create, get,
//! revoke, roll: `keys`; changes that keep the secret: `key_changes`), the key policy
//! and usage. Every handler takes the [`Principal`](crate::api::auth::Principal) and
//! checks scope and role itself (Z3); the org comes from the key, or for a browser
//! session from `org_id` plus the caller's membership (Z1).

mod identity;
mod key_changes;
mod keys;
mod policy;
mod shared;
mod usage;

pub use identity::*;
pub use key_changes::*;
pub use keys::*;
pub use policy::*;
pub use shared::*;
pub use usage::*;
