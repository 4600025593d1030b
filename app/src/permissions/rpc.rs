//! The Permissions page's server functions: the catalog and the route rules (read by
//! whoever manages keys, changed by owners and admins) and a key's permissions (changed
//! by whoever manages keys). Each checks its arguments, then the caller, then calls the
//! catalog or key service, as the REST API does.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::routes::{SavedRule, Unmatched};
use super::upstreams::UpstreamView;
use super::{Catalog, Proposal};
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::ids::{KeyId, OrgId, UserId};

/// What the Permissions page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionsView {
    pub catalog: Catalog,
    pub rules: Vec<SavedRule>,
    pub unmatched: Unmatched,
    /// The organization's upstreams by path prefix.
    pub upstreams: Vec<UpstreamView>,
    /// Owners and admins change the catalog, the rules and the upstreams.
    pub can_edit: bool,
    /// An OpenAPI import reviewed in this browser session and not yet applied (owners
    /// and admins only).
    pub review: Option<Proposal>,
}

/// Where a reviewed import waits in the session: the organization, and the proposal.
#[cfg(feature = "ssr")]
const REVIEW_KEY: &str = "openapi_review";

#[cfg(feature = "ssr")]
async fn reviewed(
    session: &tower_sessions::Session,
    org_id: &str,
) -> Result<Option<Proposal>, AppError> {
    let staged: Option<(String, Proposal)> = session
        .get(REVIEW_KEY)
        .await
        .map_err(|_| AppError::Unavailable)?;
    Ok(staged.and_then(|(org, proposal)| (org == org_id).then_some(proposal)))
}

#[cfg(feature = "ssr")]
async fn admin(
    org_id: &str,
) -> Result<(crate::state::AppState, crate::orgs::access::OrgAdmin), AppError> {
    let (state, user_id) = crate::state::authenticated().await?;
    let admin = crate::orgs::access::membership(&state.db, UserId(&user_id), OrgId(org_id))
        .await?
        .require_admin()?;
    Ok((state, admin))
}

#[server(prefix = "/rpc", endpoint = "get_permissions")]
pub async fn get_permissions(org_id: String) -> Result<PermissionsView, AppError> {
    let (state, user_id) = crate::state::authenticated().await?;
    let member =
        crate::orgs::access::membership(&state.db, UserId(&user_id), OrgId(&org_id)).await?;
    // As `GET /api/v1/permissions`: about keys, which a member has no say over.
    if !member.role.can_manage_keys() {
        return Err(AppError::Forbidden);
    }
    let catalog = super::catalog::catalog(&state.db, OrgId(&org_id))
        .await
        .map_err(crate::ssr::db_error)?;
    let rules = super::catalog::route_rules(&state.db, OrgId(&org_id)).await?;
    let upstreams = super::catalog::upstreams(&state.db, OrgId(&org_id))
        .await
        .map_err(crate::ssr::db_error)?;
    let can_edit = member.role.can_manage_members();
    let review = if can_edit {
        reviewed(&crate::state::session().await?, &org_id).await?
    } else {
        None
    };
    Ok(PermissionsView {
        catalog,
        rules: rules.rules,
        unmatched: rules.unmatched,
        upstreams,
        can_edit,
        review,
    })
}

/// Adds a permission, or changes its description.
#[server(prefix = "/rpc", endpoint = "put_permission")]
pub async fn put_permission(
    org_id: String,
    name: String,
    #[server(default)] description: String,
) -> Result<String, AppError> {
    let (state, admin) = admin(&org_id).await?;
    let name = name.trim();
    let (_, created) =
        super::catalog::put_permission(&state.db, &admin, name, &description).await?;
    Ok(if created {
        format!("Added {name}.")
    } else {
        format!("Saved {name}.")
    })
}

#[server(prefix = "/rpc", endpoint = "delete_permission")]
pub async fn delete_permission(org_id: String, name: String) -> Result<(), AppError> {
    let (state, admin) = admin(&org_id).await?;
    Ok(super::catalog::delete_permission(&state.db, &admin, &name).await?)
}

/// Adds or changes a role; `permissions` separated by spaces, commas or lines.
#[server(prefix = "/rpc", endpoint = "put_role")]
pub async fn put_role(
    org_id: String,
    name: String,
    #[server(default)] description: String,
    #[server(default)] permissions: String,
) -> Result<String, AppError> {
    let (state, admin) = admin(&org_id).await?;
    let name = name.trim();
    let listed: Vec<String> = permissions.split_whitespace().map(str::to_owned).collect();
    let (_, created) =
        super::catalog::put_role(&state.db, &admin, name, &description, &listed).await?;
    state.verifier.forget_org_permissions(&org_id);
    Ok(if created {
        format!("Added role {name}.")
    } else {
        format!("Saved role {name}.")
    })
}

#[server(prefix = "/rpc", endpoint = "delete_role")]
pub async fn delete_role(org_id: String, name: String) -> Result<(), AppError> {
    let (state, admin) = admin(&org_id).await?;
    super::catalog::delete_role(&state.db, &admin, &name).await?;
    state.verifier.forget_org_permissions(&org_id);
    Ok(())
}

/// Replaces the route rules with those of `rules` (one per line, see
/// [`super::routes::parse_rules_text`]) and sets the default for unmatched requests.
#[server(prefix = "/rpc", endpoint = "set_route_rules")]
pub async fn set_route_rules(
    org_id: String,
    #[server(default)] rules: String,
    unmatched: String,
) -> Result<String, AppError> {
    let (state, admin) = admin(&org_id).await?;
    let rules =
        super::routes::parse_rules_text(&rules).map_err(|m| AppError::invalid("rules", m))?;
    let unmatched = match unmatched.as_str() {
        "allow" => Unmatched::Allow,
        "deny" => Unmatched::Deny,
        _ => return Err(AppError::invalid("unmatched", "Choose allow or deny.")),
    };
    let saved = super::catalog::set_route_rules(&state.db, &admin, rules, unmatched).await?;
    state.verifier.forget_org_permissions(&org_id);
    Ok(match saved.rules.len() {
        1 => "Saved 1 rule.".to_owned(),
        n => format!("Saved {n} rules."),
    })
}

/// Reads an OpenAPI document (JSON, pasted or fetched from `url`) into a proposal of
/// permissions and route rules, kept in this browser session for review: nothing is saved
/// until it is applied.
#[server(prefix = "/rpc", endpoint = "review_openapi")]
pub async fn review_openapi(
    org_id: String,
    #[server(default)] document: String,
    #[server(default)] url: String,
) -> Result<String, AppError> {
    let (state, _admin) = admin(&org_id).await?;
    let document = match (document.trim().is_empty(), url.trim().is_empty()) {
        (true, true) => {
            return Err(AppError::invalid(
                "document",
                "Paste the document, in JSON, or give its URL.",
            ));
        }
        (false, false) => {
            return Err(AppError::invalid(
                "url",
                "Paste the document or give its URL, not both.",
            ));
        }
        (false, true) => document,
        (true, false) => state
            .fetch_document
            .fetch(&url)
            .await
            .map_err(|m| AppError::invalid("url", m))?,
    };
    let proposal =
        super::openapi::propose(&document).map_err(|m| AppError::invalid("document", m))?;
    let (permissions, rules) = (proposal.permissions.len(), proposal.rules.len());
    crate::state::session()
        .await?
        .insert(REVIEW_KEY, (&org_id, proposal))
        .await
        .map_err(|_| AppError::Unavailable)?;
    Ok(format!(
        "Proposed: {permissions} permissions and {rules} rules. Review them below."
    ))
}

/// Applies the import reviewed in this session: adds the permissions the catalog lacks
/// and replaces the route rules (keeping the default for unmatched routes).
#[server(prefix = "/rpc", endpoint = "apply_openapi")]
pub async fn apply_openapi(org_id: String) -> Result<String, AppError> {
    let (state, admin) = admin(&org_id).await?;
    let session = crate::state::session().await?;
    let Some(proposal) = reviewed(&session, &org_id).await? else {
        return Err(AppError::conflict(
            "document",
            "There is no reviewed import to apply: review a document first.",
        ));
    };
    let saved = super::catalog::import_openapi(&state.db, &admin, proposal).await?;
    state.verifier.forget_org_permissions(&org_id);
    session
        .remove_value(REVIEW_KEY)
        .await
        .map_err(|_| AppError::Unavailable)?;
    Ok(format!("Imported: {} route rules.", saved.rules.len()))
}

/// Drops the import reviewed in this session, saving nothing.
#[server(prefix = "/rpc", endpoint = "discard_openapi")]
pub async fn discard_openapi(org_id: String) -> Result<(), AppError> {
    let (_, _admin) = admin(&org_id).await?;
    crate::state::session()
        .await?
        .remove_value(REVIEW_KEY)
        .await
        .map_err(|_| AppError::Unavailable)?;
    Ok(())
}

/// Replaces the organization's upstreams with those of `upstreams` (`PREFIX URL` per
/// line); each URL must name a host the operator allows.
#[server(prefix = "/rpc", endpoint = "set_upstreams")]
pub async fn set_upstreams(
    org_id: String,
    #[server(default)] upstreams: String,
) -> Result<String, AppError> {
    let (state, admin) = admin(&org_id).await?;
    let list = super::upstreams::parse_upstreams_text(&upstreams)
        .map_err(|m| AppError::invalid("upstreams", m))?;
    let check = state.upstream_check.clone();
    let saved =
        super::catalog::set_upstreams(&state.db, &admin, list, |url| (check.0)(url)).await?;
    state.verifier.forget_org_permissions(&org_id);
    Ok(match saved.len() {
        0 => "Saved: every request goes to the default upstream.".to_owned(),
        1 => "Saved 1 upstream.".to_owned(),
        n => format!("Saved {n} upstreams."),
    })
}

/// Replaces the permissions and roles a key holds: those typed (separated by spaces or
/// commas) and those the resources' selects give.
#[server(prefix = "/rpc", endpoint = "set_key_permissions")]
pub async fn set_key_permissions(
    org_id: String,
    key_id: String,
    #[server(default)] permissions: String,
    #[server(default)] roles: String,
    /// The None / Read / Write selects, by resource: each the permissions it gives.
    #[server(default)]
    access: std::collections::BTreeMap<String, String>,
) -> Result<String, AppError> {
    let grants = super::parse_grants(
        std::iter::once(permissions.as_str()).chain(access.values().map(String::as_str)),
    )
    .map_err(|m| AppError::invalid("permissions", m))?;
    let roles = super::parse_roles([roles.as_str()]).map_err(|m| AppError::invalid("roles", m))?;
    let (state, manager) = crate::keys::service::authorize(&org_id).await?;
    crate::keys::service::set_permissions(
        &state.db,
        &state.verifier,
        &manager,
        KeyId(&key_id),
        grants,
        roles,
    )
    .await?;
    Ok("Saved.".to_owned())
}

/// What the key did with its permissions in the last 30 days (its page's "Used" table).
#[server(prefix = "/rpc", endpoint = "get_permission_use")]
pub async fn get_permission_use(
    org_id: String,
    key_id: String,
) -> Result<super::usage::PermissionUse, AppError> {
    let (state, manager) = crate::keys::service::authorize(&org_id).await?;
    let key = crate::keys::service::get_key(&state.db, &manager, KeyId(&key_id)).await?;
    super::usage::permission_use(&state.db, OrgId(&org_id), &key, chrono::Utc::now())
        .await
        .map_err(crate::ssr::db_error)
}

/// Restricts a key to the permissions it used in the last 30 days. `removes` and
/// `removes_roles` are what the confirmation showed would go: if that has changed,
/// nothing does.
#[server(prefix = "/rpc", endpoint = "restrict_key_permissions")]
pub async fn restrict_key_permissions(
    org_id: String,
    key_id: String,
    #[server(default)] removes: String,
    #[server(default)] removes_roles: String,
) -> Result<String, AppError> {
    let (state, manager) = crate::keys::service::authorize(&org_id).await?;
    let confirmed = (
        super::usage::listed(&removes),
        super::usage::listed(&removes_roles),
    );
    let (_, found) = super::usage::restrict(
        &state.db,
        &state.verifier,
        &manager,
        KeyId(&key_id),
        Some(confirmed),
    )
    .await?;
    Ok(match found.used.len() {
        0 => "Restricted: the key now holds no permissions.".to_owned(),
        _ => format!("Restricted to {}.", found.used.join(", ")),
    })
}
