use sea_orm::entity::prelude::*;

/// Where an organization wants its webhook events sent.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub url: String,
    /// Comma-separated event types.
    pub events: String,
    /// The `whsec_` secret is derived from this and the server secret; never stored.
    pub secret_salt: String,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    /// Set when the endpoint stopped receiving events (its creator left the organization).
    pub disabled_at: Option<DateTimeUtc>,
    /// Why, in a sentence for the Webhooks page.
    pub disabled_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
