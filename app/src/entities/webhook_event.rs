use sea_orm::entity::prelude::*;

/// The webhook outbox: one row per event, written in the transaction of the change.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_events")]
pub struct Model {
    /// `msg_...`, the `webhook-id` of every delivery of the event.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub event_type: String,
    /// The JSON body, exactly as sent.
    pub payload: String,
    pub created_at: DateTimeUtc,
    /// Unique when set: an event Keygate raises by itself is raised once.
    pub dedupe: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
