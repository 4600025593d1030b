//! What the REST API's key routes share: the key as the API shows it, the `org_id`
//! query, the acting key manager (scope, org and role, read now), and the parsers of the
//! allowlist and context fields a create and an update both take.

use app::ids::{OrgId, UserId};
use app::keys::context::{self, KeyContext};
use app::keys::scopes::Scope;
use app::keys::service::KeyManager;
use app::keys::{ApiKeyView, RateLimit, RatePeriod};
use app::orgs::access;
use app::state::AppState;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::auth::Principal;
use crate::api::error::ApiError;

/// An API key as the API shows it: never the key itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKey {
    #[schema(example = "key_3kTMd0PqZc8xY1vB2nR4sQ")]
    pub id: String,
    pub name: String,
    /// The first characters of the key, to recognise it.
    #[schema(example = "kg_AbCd")]
    pub hint: String,
    /// Granted scopes, e.g. `["gateway"]`.
    pub scopes: Vec<String>,
    /// `active`, `paused`, `expired` or `revoked`.
    #[schema(example = "active")]
    pub status: String,
    pub created_at: DateTime<Utc>,
    /// Display name of the person who created it.
    pub created_by: String,
    pub last_used_at: Option<DateTime<Utc>>,
    /// `null` when the key never expires.
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
    /// Set when an active key does less than its status says: its creator left the
    /// organization or lost the role that lets keys act.
    pub notice: Option<String>,
    /// For a paused key: when it works again by itself; `null` while paused means until
    /// someone resumes it.
    pub paused_until: Option<DateTime<Utc>>,
    /// During a roll's overlap: the old secret's hint, still working until this time.
    pub previous_hint: Option<String>,
    pub previous_expires_at: Option<DateTime<Utc>>,
    /// The key lives longer than the organization's key policy allows a new key.
    pub exceeds_policy: bool,
    /// The key's own rate limit; `null`: none.
    pub rate_limit: Option<RateLimitBody>,
    /// The addresses and CIDR ranges the key may be used from; empty: anywhere.
    pub allowed_ips: Vec<String>,
    /// Sorted tags; empty: none.
    #[schema(example = json!(["billing", "prod"]))]
    pub tags: Vec<String>,
    /// The external owner the key is for (a customer or service id); forwarded by the
    /// gateway as `X-Keygate-Key-Owner`.
    #[schema(example = "cus_4QFJ")]
    pub owner_id: Option<String>,
    /// The key's metadata object; `null`: none.
    #[schema(value_type = Option<Object>, example = json!({"plan": "pro"}))]
    pub metadata: Option<serde_json::Value>,
    /// When the key was imported from another product (`keygate key import`); `null`:
    /// made in Keygate. An imported key keeps its old hint and works as it is.
    pub imported_at: Option<DateTime<Utc>>,
    /// Permissions of the API behind the gateway (and wildcards: `invoices:*`, `*`).
    #[schema(example = json!(["invoices:read"]))]
    pub permissions: Vec<String>,
    /// Roles of the organization's permission catalog.
    #[schema(example = json!(["billing-readonly"]))]
    pub roles: Vec<String>,
}

/// Metadata as stored (compact JSON of an object) as a JSON value.
pub(super) fn metadata_value(text: Option<&str>) -> Option<serde_json::Value> {
    text.and_then(|t| serde_json::from_str(t).ok())
}

/// A key's own rate limit: at most `requests` per `per`, as a sliding window. Over it,
/// the key's requests get 429 `rate_limited` with `Retry-After`; every response to the
/// key carries `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitBody {
    #[schema(minimum = 1, maximum = 1000000, example = 100)]
    pub requests: u32,
    /// `second`, `minute` or `hour`.
    #[schema(example = "minute")]
    pub per: String,
}

impl From<RateLimit> for RateLimitBody {
    fn from(l: RateLimit) -> Self {
        Self {
            requests: l.requests,
            per: l.per.as_str().into(),
        }
    }
}

impl RateLimitBody {
    /// The limit, or a field error under `field` naming what is wrong.
    pub(super) fn parse(&self, field: &str) -> Result<RateLimit, ApiError> {
        let per = RatePeriod::parse(&self.per).ok_or_else(|| ApiError::Invalid {
            field: format!("{field}.per"),
            message: "per must be second, minute or hour.".into(),
        })?;
        RateLimit::new(self.requests, per).map_err(|message| ApiError::Invalid {
            field: format!("{field}.requests"),
            message,
        })
    }
}

impl From<ApiKeyView> for ApiKey {
    fn from(v: ApiKeyView) -> Self {
        let (previous_hint, previous_expires_at) = match v.rolling {
            Some(overlap) => (Some(overlap.hint), Some(overlap.until)),
            None => (None, None),
        };
        Self {
            status: v.status.as_str().into(),
            paused_until: v.paused_until,
            previous_hint,
            previous_expires_at,
            exceeds_policy: v.exceeds_policy,
            rate_limit: v.rate_limit.map(RateLimitBody::from),
            allowed_ips: v.allowed_ips,
            tags: v.tags,
            metadata: metadata_value(v.metadata.as_deref()),
            owner_id: v.owner,
            imported_at: v.imported_at,
            permissions: v.permissions,
            roles: v.roles,
            id: v.id,
            name: v.name,
            hint: v.hint,
            scopes: v.scopes,
            created_at: v.created_at,
            created_by: v.created_by,
            last_used_at: v.last_used_at,
            expires_at: v.expires_at,
            revoked_at: v.revoked_at,
            revoked_by: v.revoked_by,
            notice: v.notice,
        }
    }
}

/// The `permissions` and `roles` of a request: each readable (the catalog is checked by
/// the key service), or a field error naming the first that is not.
pub(super) fn parse_permissions(
    permissions: Option<&[String]>,
    roles: Option<&[String]>,
) -> Result<(Vec<app::permissions::Grant>, Vec<String>), ApiError> {
    let invalid = |field: &str| {
        let field = field.to_owned();
        move |message| ApiError::Invalid { field, message }
    };
    let grants =
        app::permissions::parse_grants(permissions.unwrap_or_default().iter().map(String::as_str))
            .map_err(invalid("permissions"))?;
    let roles = app::permissions::parse_roles(roles.unwrap_or_default().iter().map(String::as_str))
        .map_err(invalid("roles"))?;
    Ok((grants, roles))
}

/// A scope a key can be given (documentation only: requests carry plain strings, and an
/// unknown one gets a field error naming it).
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum ScopeName {
    #[schema(rename = "gateway")]
    Gateway,
    #[schema(rename = "keys:read")]
    KeysRead,
    #[schema(rename = "keys:write")]
    KeysWrite,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrgQuery {
    /// The organization, when calling with a browser session. With a key, the key's own
    /// organization is used (and any other value is 404).
    pub org_id: Option<String>,
}

/// The key manager for this request: scope, org and the acting person's current role,
/// read from the database now (writes never trust the cache).
pub(crate) async fn manager(
    state: &AppState,
    principal: &Principal,
    org_id: Option<&str>,
    scope: Scope,
) -> Result<KeyManager, ApiError> {
    principal.require_key_scope(scope)?;
    match principal {
        Principal::Key(key) => {
            if org_id.is_some_and(|org| org != key.org_id) {
                return Err(ApiError::NotFound);
            }
            let member =
                match access::membership(&state.db, UserId(&key.creator_id), OrgId(&key.org_id))
                    .await
                {
                    Ok(member) => member,
                    Err(access::OrgError::NotFound) => return Err(ApiError::InvalidToken),
                    Err(e) => return Err(app::error::AppError::from(e).into()),
                };
            KeyManager::for_key(member, key.scopes, key.expires_at)
                .map(|manager| {
                    manager
                        .with_caller_limits(key.rate_limit, key.allowed_ips.clone())
                        .with_caller_grants(key.grants.clone())
                })
                .map_err(|_| ApiError::InsufficientScope(scope))
        }
        Principal::User { user_id } => {
            let org_id = org_id.ok_or_else(|| ApiError::Invalid {
                field: "org_id".into(),
                message: "Give org_id (the organization) when calling with a browser session."
                    .into(),
            })?;
            let member = access::membership(&state.db, UserId(user_id), OrgId(org_id))
                .await
                .map_err(app::error::AppError::from)?;
            Ok(KeyManager::new(member).map_err(app::error::AppError::from)?)
        }
    }
}

/// An allowlist from a request: `None` when absent or empty (anywhere).
pub(super) fn parse_allowed_ips(
    entries: Option<&[String]>,
) -> Result<Option<Vec<app::keys::allowlist::IpRange>>, ApiError> {
    let Some(entries) = entries else {
        return Ok(None);
    };
    app::keys::allowlist::parse_list(entries.iter().map(String::as_str)).map_err(|message| {
        ApiError::Invalid {
            field: "allowed_ips".into(),
            message,
        }
    })
}

/// Tags, owner and metadata from a request, each checked; an error names its field.
pub(super) fn parse_context(
    tags: Option<&[String]>,
    owner_id: Option<&str>,
    metadata: Option<&serde_json::Value>,
) -> Result<KeyContext, ApiError> {
    let invalid = |field: &str| {
        let field = field.to_owned();
        move |message| ApiError::Invalid { field, message }
    };
    Ok(KeyContext {
        tags: context::parse_tags(tags.unwrap_or_default().iter().map(String::as_str))
            .map_err(invalid("tags"))?,
        owner: context::parse_owner(owner_id.unwrap_or_default()).map_err(invalid("owner_id"))?,
        metadata: metadata
            .map(context::check_metadata)
            .transpose()
            .map_err(invalid("metadata"))?
            .flatten(),
    })
}
