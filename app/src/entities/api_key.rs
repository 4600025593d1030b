use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub created_by: String,
    pub name: String,
    /// The display hint (`kg_AbCd`), never enough to use the key.
    pub start: String,
    /// Hex HMAC-SHA256(server secret, key).
    #[sea_orm(unique)]
    pub lookup_digest: String,
    pub scopes: String,
    pub created_at: DateTimeUtc,
    pub expires_at: Option<DateTimeUtc>,
    pub last_used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    pub revoked_by: Option<String>,
    /// During a roll's overlap: the digest of the secret the roll replaced.
    #[sea_orm(unique)]
    pub previous_digest: Option<String>,
    /// The replaced secret's display hint.
    pub previous_start: Option<String>,
    /// When the replaced secret stops working.
    pub previous_until: Option<DateTimeUtc>,
    pub paused_at: Option<DateTimeUtc>,
    /// When a paused key works again by itself; `None` while paused: until resumed.
    pub paused_until: Option<DateTimeUtc>,
    /// Requests allowed per `rate_limit_window` seconds; `None`: no limit.
    pub rate_limit: Option<i32>,
    pub rate_limit_window: Option<i32>,
    /// The addresses and CIDR ranges the key may be used from, normalized and
    /// comma-separated; `None`: anywhere.
    pub allowed_ips: Option<String>,
    /// Tags, normalized and stored as `,a,b,` (so one matches `%,a,%`); `None`: none.
    pub tags: Option<String>,
    /// The external owner the key is for (a customer or service id).
    pub owner_id: Option<String>,
    /// A JSON object of metadata, at most 4 KB.
    pub metadata: Option<String>,
    /// Hex SHA-256 of a key imported from another product, until its first use moves it
    /// to `lookup_digest` (which holds an unmatchable placeholder till then).
    #[sea_orm(unique)]
    pub import_digest: Option<String>,
    /// When the key was imported from another product; `None`: made here.
    pub imported_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
