use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: String,
    pub actor_id: String,
    /// `key.created`, `key.rolled`, `key.revoked`, `key.paused`, ...
    pub action: String,
    pub key_id: String,
    /// The key's name when it happened.
    pub key_name: String,
    pub created_at: DateTimeUtc,
    /// What else the event needs said, e.g. a roll's overlap.
    pub detail: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
