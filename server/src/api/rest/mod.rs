//! `/api/v1`, by resource: whoami and verify (`identity`), keys (list, create, get,
//! revoke, roll: `keys`; changes that keep the secret: `key_changes`), the key policy,
//! usage, and the API's own permissions (catalog, route rules, a key's permissions). Every handler takes the [`Principal`](crate::api::auth::Principal) and
//! checks scope and role itself (Z3); the org comes from the key, or for a browser
//! session from `org_id` plus the caller's membership (Z1).

mod identity;
mod key_changes;
mod keys;
mod permission_use;
mod permissions;
mod policy;
mod shared;
mod usage;

pub use identity::*;
pub use key_changes::*;
pub use keys::*;
pub use permission_use::*;
pub use permissions::*;
pub use policy::*;
pub use shared::*;
pub use usage::*;
