//! SeaORM entities: plain table shapes with no behaviour (that lives in the services).

pub mod api_key;
pub mod audit_event;
pub mod cache_event;
pub mod key_permission_usage;
pub mod key_usage;
pub mod lease;
pub mod membership;
pub mod organization;
pub mod permission;
pub mod permission_role;
pub mod route_rule;
pub mod session;
pub mod upstream;
pub mod user;
pub mod webhook_delivery;
pub mod webhook_endpoint;
pub mod webhook_event;
