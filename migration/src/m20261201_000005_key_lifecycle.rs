//! Key lifecycle: a roll may keep the old secret working for a while (its digest in a
//! second uniquely indexed column, never the key), a key may be paused until a time, and
//! an organization may set a key policy (maximum lifetime, mandatory expiry, revocation
//! of idle keys).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    /// HMAC digest of the secret a roll replaced, while it still works.
    PreviousDigest,
    /// Display hint of that secret.
    PreviousStart,
    /// When that secret stops working.
    PreviousUntil,
    PausedAt,
    /// When a paused key works again by itself; null while paused: until resumed.
    PausedUntil,
}

/// Named leases: background work that only one instance may do at a time (the idle-key
/// sweep) is done by whoever holds the lease.
#[derive(DeriveIden)]
enum Leases {
    Table,
    Name,
    Holder,
    Until,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    /// What else the event needs said, e.g. a roll's overlap or a pause's end.
    Detail,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    /// Longest lifetime a new key may have, in days; null: no limit.
    MaxKeyDays,
    /// Whether every new key must have an expiry.
    RequireExpiry,
    /// Keys unused for this many days are revoked; null: never.
    IdleRevokeDays,
}

/// The columns this migration adds; SQLite takes one per ALTER TABLE.
fn columns() -> Vec<(DynIden, ColumnDef)> {
    let tz = |name: ApiKeys| {
        ColumnDef::new(name)
            .timestamp_with_time_zone()
            .null()
            .to_owned()
    };
    vec![
        (
            ApiKeys::Table.into_iden(),
            ColumnDef::new(ApiKeys::PreviousDigest)
                .string_len(64)
                .null()
                .to_owned(),
        ),
        (
            ApiKeys::Table.into_iden(),
            ColumnDef::new(ApiKeys::PreviousStart)
                .string_len(32)
                .null()
                .to_owned(),
        ),
        (ApiKeys::Table.into_iden(), tz(ApiKeys::PreviousUntil)),
        (ApiKeys::Table.into_iden(), tz(ApiKeys::PausedAt)),
        (ApiKeys::Table.into_iden(), tz(ApiKeys::PausedUntil)),
        (
            Organizations::Table.into_iden(),
            ColumnDef::new(Organizations::MaxKeyDays)
                .integer()
                .null()
                .to_owned(),
        ),
        (
            Organizations::Table.into_iden(),
            ColumnDef::new(Organizations::RequireExpiry)
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
        ),
        (
            Organizations::Table.into_iden(),
            ColumnDef::new(Organizations::IdleRevokeDays)
                .integer()
                .null()
                .to_owned(),
        ),
        (
            AuditEvents::Table.into_iden(),
            ColumnDef::new(AuditEvents::Detail)
                .string_len(200)
                .null()
                .to_owned(),
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in columns() {
            manager
                .alter_table(Table::alter().table(table).add_column(column).to_owned())
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("api_keys_previous_digest")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::PreviousDigest)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Leases::Table)
                    .col(
                        ColumnDef::new(Leases::Name)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Leases::Holder).string_len(64).not_null())
                    .col(
                        ColumnDef::new(Leases::Until)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Leases::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("api_keys_previous_digest")
                    .table(ApiKeys::Table)
                    .to_owned(),
            )
            .await?;
        for (table, column) in columns() {
            let name = column.get_column_name();
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column(Alias::new(name))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
