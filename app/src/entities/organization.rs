use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organizations")]
pub struct Model {
    /// The public, copyable ID (`org_...`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub created_at: DateTimeUtc,
    /// Longest lifetime of a new key, in days (`None`: no limit).
    pub max_key_days: Option<i32>,
    /// Whether every new key must expire.
    pub require_expiry: bool,
    /// Keys unused for this many days are revoked (`None`: never).
    pub idle_revoke_days: Option<i32>,
    /// Whether a gateway request that no route rule matches is refused.
    pub deny_unmatched_routes: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::membership::Entity")]
    Membership,
}

impl Related<super::membership::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Membership.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
