//! A webhook endpoint can be disabled: when the member who added it leaves the
//! organization, their endpoints stop receiving its events (Z6), in the removal's
//! transaction. `disabled_at` says when, `disabled_reason` why, in a sentence for the
//! Webhooks page.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    DisabledAt,
    DisabledReason,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            ColumnDef::new(WebhookEndpoints::DisabledAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(WebhookEndpoints::DisabledReason)
                .string_len(200)
                .null()
                .to_owned(),
        ] {
            // One column per statement: SQLite alters one at a time.
            manager
                .alter_table(
                    Table::alter()
                        .table(WebhookEndpoints::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            WebhookEndpoints::DisabledAt,
            WebhookEndpoints::DisabledReason,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(WebhookEndpoints::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
