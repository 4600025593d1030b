use sea_orm::entity::prelude::*;

/// One gateway route rule: requests whose method and path match need its permissions.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "route_rules")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    /// Order in the organization's list: the first rule that matches decides.
    pub position: i32,
    /// Methods, space-separated; `*`: any.
    pub methods: String,
    pub path: String,
    /// Required permissions (all of), space-separated.
    pub permissions: String,
    /// Would-be denials are counted and logged, not refused.
    pub report_only: bool,
    /// Requests this rule would have refused while report-only, over every instance.
    pub would_deny: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
