//! The key service's public surface, for callers outside `keys` (the REST API, the CLI,
//! the server's background work and the tests): one import for what `manager`,
//! `lifecycle`, `listing`, `org_policy` and `idle` hold. Modules inside `keys` import
//! from those files directly.

pub use super::idle::revoke_idle_keys;
pub use super::lifecycle::{
    KeyChange, KeyExtras, KeyHandover, change_key, create_key, create_key_with, overlap_text,
    revoke_key, roll_key, set_permissions,
};
pub use super::listing::{get_key, list_activity, list_keys};
pub use super::manager::{KeyError, KeyManager, authorize};
pub use super::org_policy::{org_policy, policy_of, set_policy};
