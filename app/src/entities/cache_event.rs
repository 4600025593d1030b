use sea_orm::entity::prelude::*;

/// One "drop these cached keys" message for every instance (see `keys::verify`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cache_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `key <key id>` or `member <org id> <user id>`.
    pub payload: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
