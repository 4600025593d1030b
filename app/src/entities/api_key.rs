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
    /// Permissions of the organization's catalog and wildcards, space-separated; `None`:
    /// none.
    pub permissions: Option<String>,
    /// Roles of the organization's catalog, space-separated; `None`: none.
    pub roles: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// A key of `org_id` made by `created_by` at `created_at`: active, unrestricted, never
    /// used, and with no name, hint, digest or scopes yet. Callers set those (and whatever
    /// else they know) with struct update syntax, so a new column gets its default here
    /// once rather than in every place that makes a key.
    pub fn new_in(org_id: &str, created_by: &str, created_at: DateTimeUtc) -> Self {
        Model {
            id: crate::ssr::random_id("key"),
            org_id: org_id.to_owned(),
            created_by: created_by.to_owned(),
            name: String::new(),
            start: String::new(),
            lookup_digest: String::new(),
            scopes: String::new(),
            created_at,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
            revoked_by: None,
            previous_digest: None,
            previous_start: None,
            previous_until: None,
            paused_at: None,
            paused_until: None,
            rate_limit: None,
            rate_limit_window: None,
            allowed_ips: None,
            tags: None,
            owner_id: None,
            metadata: None,
            import_digest: None,
            imported_at: None,
            permissions: None,
            roles: None,
        }
    }
}
