//! The server functions behind the organization pages.

use leptos::prelude::*;

use super::{MemberKeyView, MemberView, OrgSummary};
#[cfg(feature = "ssr")]
use super::{Role, access, service};
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::ids::UserId;
#[cfg(feature = "ssr")]
use crate::keys::lifecycle::KeyHandover;

#[cfg(feature = "ssr")]
fn parse_role(value: &str) -> Result<Role, AppError> {
    Role::parse(value)
        .ok_or_else(|| AppError::invalid("role", "Choose owner, admin, developer or member."))
}

#[server(prefix = "/rpc", endpoint = "list_my_orgs")]
pub async fn list_my_orgs() -> Result<Vec<OrgSummary>, AppError> {
    let (state, user_id) = crate::state::authenticated().await?;
    Ok(service::list_orgs(&state.db, UserId(&user_id)).await?)
}

#[server(prefix = "/rpc", endpoint = "create_org")]
pub async fn create_org(name: String) -> Result<OrgSummary, AppError> {
    let (state, user_id) = crate::state::authenticated().await?;
    let org = service::create_org(&state.db, UserId(&user_id), &name).await?;
    leptos_axum::redirect(&format!("/orgs/{}/settings", org.id));
    Ok(org)
}

/// The organization as the caller sees it (any member).
#[server(prefix = "/rpc", endpoint = "get_org")]
pub async fn get_org(org_id: String) -> Result<OrgSummary, AppError> {
    let (state, member) = access::member_of(&org_id).await?;
    Ok(service::get_org(&state.db, &member).await?)
}

#[server(prefix = "/rpc", endpoint = "rename_org")]
pub async fn rename_org(org_id: String, name: String) -> Result<OrgSummary, AppError> {
    let (state, admin) = access::admin_of(&org_id).await?;
    Ok(service::rename_org(&state.db, &admin, &name).await?)
}

#[server(prefix = "/rpc", endpoint = "list_members")]
pub async fn list_members(org_id: String) -> Result<Vec<MemberView>, AppError> {
    let (state, admin) = access::admin_of(&org_id).await?;
    Ok(service::list_members(&state.db, &admin).await?)
}

#[server(prefix = "/rpc", endpoint = "add_member")]
pub async fn add_member(
    org_id: String,
    email: String,
    role: String,
) -> Result<MemberView, AppError> {
    let (state, admin) = access::admin_of(&org_id).await?;
    let role = parse_role(&role)?;
    Ok(service::add_member(&state.db, &admin, &email, role).await?)
}

#[server(prefix = "/rpc", endpoint = "change_member_role")]
pub async fn change_member_role(
    org_id: String,
    user_id: String,
    role: String,
) -> Result<MemberView, AppError> {
    let (state, admin) = access::admin_of(&org_id).await?;
    let role = parse_role(&role)?;
    let member = service::change_role(&state.db, &admin, UserId(&user_id), role).await?;
    // The member's keys are capped by their role (K9): re-read it on their next use.
    state.verifier.forget_creator(&org_id, &user_id);
    Ok(member)
}

/// The keys a member created that are not revoked: what removing them revokes or hands
/// over.
#[server(prefix = "/rpc", endpoint = "list_member_keys")]
pub async fn list_member_keys(
    org_id: String,
    user_id: String,
) -> Result<Vec<MemberKeyView>, AppError> {
    let (state, admin) = access::admin_of(&org_id).await?;
    Ok(service::member_keys(&state.db, &admin, UserId(&user_id)).await?)
}

/// Removes a member. `keys` says what happens to the keys they created: `revoke` (the
/// default) or `transfer` (to the caller).
#[server(prefix = "/rpc", endpoint = "remove_member")]
pub async fn remove_member(
    org_id: String,
    user_id: String,
    #[server(default)] keys: Option<String>,
) -> Result<(), AppError> {
    let (state, admin) = access::admin_of(&org_id).await?;
    let handover = match keys.as_deref().map(str::trim) {
        None | Some("") | Some("revoke") => KeyHandover::Revoke,
        Some("transfer") => KeyHandover::Transfer,
        Some(_) => return Err(AppError::invalid("keys", "Choose revoke or transfer.")),
    };
    service::remove_member(&state.db, &admin, UserId(&user_id), handover).await?;
    // Keys made by someone who left stop working at once (K9).
    state.verifier.forget_creator(&org_id, &user_id);
    // Back to the members list (the removal page's form, with script or without).
    leptos_axum::redirect(&format!("/orgs/{org_id}/settings/members"));
    Ok(())
}
