//! Least privilege from real use (issue 29 §7): requests counted per key, route rule (or
//! permission a `/verify` question used), day and outcome, summed over every instance by
//! the usage flush. A key's page reads the last 30 days of it to show which permissions
//! the key used, and to restrict it to them.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum KeyPermissionUsage {
    Table,
    KeyId,
    OrgId,
    /// Unix second of the start of the day (UTC).
    Day,
    /// The route rule's id, or `verify <permission>` for a `/verify` question.
    Rule,
    /// `allowed`, `would_deny` (a report-only rule) or `denied`.
    Outcome,
    /// `GET /invoices/{id}` as the rule read when last counted.
    Route,
    /// The rule's required permissions when last counted, space-separated.
    Permissions,
    Count,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(KeyPermissionUsage::Table)
                    .col(
                        ColumnDef::new(KeyPermissionUsage::KeyId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(KeyPermissionUsage::OrgId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(KeyPermissionUsage::Day)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(KeyPermissionUsage::Rule)
                            .string_len(96)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(KeyPermissionUsage::Outcome)
                            .string_len(24)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(KeyPermissionUsage::Route)
                            .string_len(400)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(KeyPermissionUsage::Permissions)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(KeyPermissionUsage::Count)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(KeyPermissionUsage::KeyId)
                            .col(KeyPermissionUsage::Day)
                            .col(KeyPermissionUsage::Rule)
                            .col(KeyPermissionUsage::Outcome),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(KeyPermissionUsage::Table).to_owned())
            .await
    }
}
