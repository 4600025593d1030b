//! The log through which instances tell each other to drop cached keys: revoke, roll and
//! membership changes append a row in their own transaction; every instance reads new
//! rows a few times a second (works the same on PostgreSQL and on a shared SQLite file).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CacheEvents {
    Table,
    Id,
    Payload,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CacheEvents::Table)
                    .col(
                        ColumnDef::new(CacheEvents::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(CacheEvents::Payload)
                            .string_len(200)
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CacheEvents::Table).to_owned())
            .await
    }
}
