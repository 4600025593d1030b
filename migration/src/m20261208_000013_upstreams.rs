//! Upstreams by path prefix, per organization (issue 29 §4): `/gw/billing/...` can go to
//! one service and `/gw/search/...` to another, over http or https. An organization
//! without any keeps using `KEYGATE_UPSTREAM_URL`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Upstreams {
    Table,
    OrgId,
    /// `/billing`: the requests whose path (after `/gw`) starts with these segments.
    Prefix,
    /// `https://billing.internal:8443/api`: where they go, the prefix replaced by its path.
    Url,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Upstreams::Table)
                    .col(ColumnDef::new(Upstreams::OrgId).string_len(32).not_null())
                    .col(ColumnDef::new(Upstreams::Prefix).string_len(256).not_null())
                    .col(ColumnDef::new(Upstreams::Url).string_len(2048).not_null())
                    .col(
                        ColumnDef::new(Upstreams::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(Index::create().col(Upstreams::OrgId).col(Upstreams::Prefix))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Upstreams::Table, Upstreams::OrgId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Upstreams::Table).to_owned())
            .await
    }
}
