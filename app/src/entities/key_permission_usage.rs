use sea_orm::entity::prelude::*;

/// Requests of one key on one day that one route rule (or one permission of a `/verify`
/// question) decided with one outcome, summed over every instance.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "key_permission_usage")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub key_id: String,
    pub org_id: String,
    /// Unix second of the start of the day (UTC).
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: i64,
    /// The route rule's id, or `verify <permission>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub rule: String,
    /// `allowed`, `would_deny` or `denied`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub outcome: String,
    /// The rule's method and path when last counted.
    pub route: String,
    /// The rule's required permissions when last counted, space-separated.
    pub permissions: String,
    pub count: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
