//! The API's own permissions (issue 29): a catalog of `resource:action` permissions and
//! roles (named bundles of them) per organization, the permissions and roles a key
//! carries, and the gateway's route rules (method and path -> required permissions) with
//! the organization's default for routes no rule matches.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
    /// Whether a gateway request no route rule matches is refused (`false`: any key with
    /// the `gateway` scope may make it).
    DenyUnmatchedRoutes,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    /// Granted permissions and wildcards, space-separated; `None`: none.
    Permissions,
    /// Granted roles, space-separated; `None`: none.
    Roles,
}

#[derive(DeriveIden)]
enum Permissions {
    Table,
    OrgId,
    Name,
    Description,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PermissionRoles {
    Table,
    OrgId,
    Name,
    Description,
    /// The permissions and wildcards it grants, space-separated.
    Permissions,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RouteRules {
    Table,
    Id,
    OrgId,
    /// Order within the organization: the first rule that matches decides.
    Position,
    /// Methods, space-separated; `*`: any.
    Methods,
    /// `/invoices/{id}`, `/invoices/*`.
    Path,
    /// Required permissions (all of), space-separated.
    Permissions,
    /// Counts and logs would-be denials without refusing.
    ReportOnly,
    /// Requests a report-only rule would have refused, summed over every instance.
    WouldDeny,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Organizations::Table)
                    .add_column(
                        ColumnDef::new(Organizations::DenyUnmatchedRoutes)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await?;
        for column in [ApiKeys::Permissions, ApiKeys::Roles] {
            // One column per statement: SQLite alters one at a time.
            manager
                .alter_table(
                    Table::alter()
                        .table(ApiKeys::Table)
                        .add_column(ColumnDef::new(column).text().null())
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Permissions::Table)
                    .col(ColumnDef::new(Permissions::OrgId).string_len(32).not_null())
                    .col(ColumnDef::new(Permissions::Name).string_len(64).not_null())
                    .col(
                        ColumnDef::new(Permissions::Description)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Permissions::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(Permissions::OrgId)
                            .col(Permissions::Name),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Permissions::Table, Permissions::OrgId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PermissionRoles::Table)
                    .col(
                        ColumnDef::new(PermissionRoles::OrgId)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PermissionRoles::Name)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PermissionRoles::Description)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PermissionRoles::Permissions)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PermissionRoles::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(PermissionRoles::OrgId)
                            .col(PermissionRoles::Name),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(PermissionRoles::Table, PermissionRoles::OrgId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RouteRules::Table)
                    .col(
                        ColumnDef::new(RouteRules::Id)
                            .string_len(32)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(RouteRules::OrgId).string_len(32).not_null())
                    .col(ColumnDef::new(RouteRules::Position).integer().not_null())
                    .col(
                        ColumnDef::new(RouteRules::Methods)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(RouteRules::Path).string_len(256).not_null())
                    .col(ColumnDef::new(RouteRules::Permissions).text().not_null())
                    .col(
                        ColumnDef::new(RouteRules::ReportOnly)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(RouteRules::WouldDeny)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(RouteRules::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(RouteRules::Table, RouteRules::OrgId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("route_rules_org_position")
                    .table(RouteRules::Table)
                    .col(RouteRules::OrgId)
                    .col(RouteRules::Position)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            RouteRules::Table.into_iden(),
            PermissionRoles::Table.into_iden(),
            Permissions::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        for column in [ApiKeys::Permissions, ApiKeys::Roles] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ApiKeys::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Organizations::Table)
                    .drop_column(Organizations::DenyUnmatchedRoutes)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
