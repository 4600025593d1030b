use sea_orm::entity::prelude::*;

/// Where the gateway sends an organization's requests under one path prefix.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "upstreams")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub org_id: String,
    /// `/billing`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub prefix: String,
    /// `https://billing.internal:8443/api`.
    pub url: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
