//! Usage and limits: hourly verification counts per key and outcome (written by every
//! instance's coalesced flush and merged by upsert, so instances add up), and a key's own
//! rate limit.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    /// Requests allowed per `rate_limit_window`; null: no limit.
    RateLimit,
    /// The window of that limit in seconds: 1, 60 or 3600.
    RateLimitWindow,
}

/// Verification outcomes counted per key and hour.
#[derive(DeriveIden)]
enum KeyUsage {
    Table,
    KeyId,
    OrgId,
    /// Unix second of the start of the hour (UTC).
    Hour,
    /// `ok`, `revoked`, `expired`, `paused`, `insufficient_scope` or `rate_limited`.
    Outcome,
    Count,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        for column in [ApiKeys::RateLimit, ApiKeys::RateLimitWindow] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ApiKeys::Table)
                        .add_column(ColumnDef::new(column).integer().null())
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(KeyUsage::Table)
                    .col(ColumnDef::new(KeyUsage::KeyId).string_len(64).not_null())
                    .col(ColumnDef::new(KeyUsage::OrgId).string_len(64).not_null())
                    .col(ColumnDef::new(KeyUsage::Hour).big_integer().not_null())
                    .col(ColumnDef::new(KeyUsage::Outcome).string_len(24).not_null())
                    .col(ColumnDef::new(KeyUsage::Count).big_integer().not_null())
                    .primary_key(
                        Index::create()
                            .col(KeyUsage::KeyId)
                            .col(KeyUsage::Hour)
                            .col(KeyUsage::Outcome),
                    )
                    .to_owned(),
            )
            .await?;
        // The organization's totals and busiest keys, and the prune.
        manager
            .create_index(
                Index::create()
                    .name("key_usage_org_hour")
                    .table(KeyUsage::Table)
                    .col(KeyUsage::OrgId)
                    .col(KeyUsage::Hour)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("key_usage_hour")
                    .table(KeyUsage::Table)
                    .col(KeyUsage::Hour)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(KeyUsage::Table).to_owned())
            .await?;
        for column in [ApiKeys::RateLimit, ApiKeys::RateLimitWindow] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ApiKeys::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
