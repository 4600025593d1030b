//! Database schema for Keygate, as ordered SeaORM migrations run at start (and by tests).

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_foundation;
mod m20261124_000002_api_keys;
mod m20261125_000003_key_scopes;
mod m20261126_000004_cache_events;
mod m20261201_000005_key_lifecycle;
mod m20261202_000006_webhooks;
mod m20261203_000007_usage_limits;
mod m20261204_000008_allowed_ips;
mod m20261205_000009_key_context;
mod m20261206_000010_imported_keys;
mod m20261207_000011_endpoint_disabled;
mod m20261208_000012_permissions;
mod m20261208_000013_upstreams;
mod m20261209_000014_permission_usage;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_foundation::Migration),
            Box::new(m20261124_000002_api_keys::Migration),
            Box::new(m20261125_000003_key_scopes::Migration),
            Box::new(m20261126_000004_cache_events::Migration),
            Box::new(m20261201_000005_key_lifecycle::Migration),
            Box::new(m20261202_000006_webhooks::Migration),
            Box::new(m20261203_000007_usage_limits::Migration),
            Box::new(m20261204_000008_allowed_ips::Migration),
            Box::new(m20261205_000009_key_context::Migration),
            Box::new(m20261206_000010_imported_keys::Migration),
            Box::new(m20261207_000011_endpoint_disabled::Migration),
            Box::new(m20261208_000012_permissions::Migration),
            Box::new(m20261208_000013_upstreams::Migration),
            Box::new(m20261209_000014_permission_usage::Migration),
        ]
    }
}
