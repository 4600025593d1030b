//! A key's context: tags (normalized, stored as `,a,b,` so one tag matches `%,a,%`), the
//! external owner it is for (the customer or service), and a JSON object of metadata.
//! The owner is indexed per organization, for the keys page's owner filter.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    OrgId,
    Tags,
    OwnerId,
    Metadata,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            ColumnDef::new(ApiKeys::Tags).text().null().to_owned(),
            ColumnDef::new(ApiKeys::OwnerId)
                .string_len(128)
                .null()
                .to_owned(),
            ColumnDef::new(ApiKeys::Metadata).text().null().to_owned(),
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
                    .name("idx_api_keys_org_owner")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::OrgId)
                    .col(ApiKeys::OwnerId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_api_keys_org_owner")
                    .table(ApiKeys::Table)
                    .to_owned(),
            )
            .await?;
        for column in [ApiKeys::Tags, ApiKeys::OwnerId, ApiKeys::Metadata] {
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
