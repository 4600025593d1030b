//! Keys imported from another product (Better Auth, Unkey), which stores them as unsalted
//! SHA-256: `import_digest` holds that digest (hex) until the key's first use moves it to
//! our HMAC digest and clears it; `imported_at` marks the key as imported for good. A
//! unique index serves the lookup and refuses the same key imported twice.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    ImportDigest,
    ImportedAt,
}

const INDEX: &str = "idx_api_keys_import_digest";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            ColumnDef::new(ApiKeys::ImportDigest)
                .string_len(64)
                .null()
                .to_owned(),
            ColumnDef::new(ApiKeys::ImportedAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        ] {
            // One column per statement: SQLite alters one at a time.
            manager
                .alter_table(
                    Table::alter()
                        .table(ApiKeys::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(ApiKeys::Table)
                    .col(ApiKeys::ImportDigest)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(INDEX).table(ApiKeys::Table).to_owned())
            .await?;
        for column in [ApiKeys::ImportDigest, ApiKeys::ImportedAt] {
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
