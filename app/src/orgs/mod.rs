//! Organizations, memberships and roles.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[cfg(feature = "ssr")]
pub mod service;
pub mod ui;

/// A member's role, from most to least powerful (see the table in DESIGN.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Developer,
    Member,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Developer, Role::Member];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Developer => "developer",
            Role::Member => "member",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == value)
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Admin => "Admin",
            Role::Developer => "Developer",
            Role::Member => "Member",
        }
    }

    /// List, create, revoke and roll API keys.
    pub fn can_manage_keys(self) -> bool {
        matches!(self, Role::Owner | Role::Admin | Role::Developer)
    }

    /// Open the Members page: add and remove members, change roles.
    pub fn can_manage_members(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }

    /// Whether someone with this role may grant, take away or change `target`: owners
    /// manage everyone, admins everyone but owners.
    pub fn can_administer(self, target: Role) -> bool {
        match self {
            Role::Owner => true,
            Role::Admin => target != Role::Owner,
            Role::Developer | Role::Member => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgSummary {
    pub id: String,
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub joined_at: chrono::DateTime<chrono::Utc>,
    /// This member is the caller.
    pub is_you: bool,
}

/// A key that removing its creator revokes or hands over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberKeyView {
    pub id: String,
    pub name: String,
    pub hint: String,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[cfg(feature = "ssr")]
fn parse_role(value: &str) -> Result<Role, AppError> {
    Role::parse(value)
        .ok_or_else(|| AppError::invalid("role", "Choose owner, admin, developer or member."))
}

#[server(prefix = "/rpc", endpoint = "list_my_orgs")]
pub async fn list_my_orgs() -> Result<Vec<OrgSummary>, AppError> {
    let (state, user_id) = crate::ssr::authenticated().await?;
    Ok(service::list_orgs(&state.db, &user_id).await?)
}

#[server(prefix = "/rpc", endpoint = "create_org")]
pub async fn create_org(name: String) -> Result<OrgSummary, AppError> {
    let (state, user_id) = crate::ssr::authenticated().await?;
    let org = service::create_org(&state.db, &user_id, &name).await?;
    leptos_axum::redirect(&format!("/orgs/{}/settings", org.id));
    Ok(org)
}

/// The organization as the caller sees it (any member).
#[server(prefix = "/rpc", endpoint = "get_org")]
pub async fn get_org(org_id: String) -> Result<OrgSummary, AppError> {
    let (state, user_id) = crate::ssr::authenticated().await?;
    let member = service::membership(&state.db, &user_id, &org_id).await?;
    Ok(service::get_org(&state.db, &member).await?)
}

#[server(prefix = "/rpc", endpoint = "rename_org")]
pub async fn rename_org(org_id: String, name: String) -> Result<OrgSummary, AppError> {
    let (state, user_id) = crate::ssr::authenticated().await?;
    let admin = service::membership(&state.db, &user_id, &org_id)
        .await?
        .require_admin()?;
    Ok(service::rename_org(&state.db, &admin, &name).await?)
}

#[server(prefix = "/rpc", endpoint = "list_members")]
pub async fn list_members(org_id: String) -> Result<Vec<MemberView>, AppError> {
    let (state, user_id) = crate::ssr::authenticated().await?;
    let admin = service::membership(&state.db, &user_id, &org_id)
        .await?
        .require_admin()?;
    Ok(service::list_members(&state.db, &admin).await?)
}

#[server(prefix = "/rpc", endpoint = "add_member")]
pub async fn add_member(
    org_id: String,
    email: String,
    role: String,
) -> Result<MemberView, AppError> {
    let (state, user_id) = crate::ssr::authenticated().await?;
    let admin = service::membership(&state.db, &user_id, &org_id)
        .await?
        .require_admin()?;
    let role = parse_role(&role)?;
    Ok(service::add_member(&state.db, &admin, &email, role).await?)
}

#[server(prefix = "/rpc", endpoint = "change_member_role")]
pub async fn change_member_role(
    org_id: String,
    user_id: String,
    role: String,
) -> Result<MemberView, AppError> {
    let (state, caller) = crate::ssr::authenticated().await?;
    let admin = service::membership(&state.db, &caller, &org_id)
        .await?
        .require_admin()?;
    let role = parse_role(&role)?;
    let member = service::change_role(&state.db, &admin, &user_id, role).await?;
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
    let (state, caller) = crate::ssr::authenticated().await?;
    let admin = service::membership(&state.db, &caller, &org_id)
        .await?
        .require_admin()?;
    Ok(service::member_keys(&state.db, &admin, &user_id).await?)
}

/// Removes a member. `keys` says what happens to the keys they created: `revoke` (the
/// default) or `transfer` (to the caller).
#[server(prefix = "/rpc", endpoint = "remove_member")]
pub async fn remove_member(
    org_id: String,
    user_id: String,
    #[server(default)] keys: Option<String>,
) -> Result<(), AppError> {
    let (state, caller) = crate::ssr::authenticated().await?;
    let admin = service::membership(&state.db, &caller, &org_id)
        .await?
        .require_admin()?;
    let handover = match keys.as_deref().map(str::trim) {
        None | Some("") | Some("revoke") => service::KeyHandover::Revoke,
        Some("transfer") => service::KeyHandover::Transfer,
        Some(_) => return Err(AppError::invalid("keys", "Choose revoke or transfer.")),
    };
    service::remove_member(&state.db, &admin, &user_id, handover).await?;
    // Keys made by someone who left stop working at once (K9).
    state.verifier.forget_creator(&org_id, &user_id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("Owner"), None);
        assert_eq!(Role::parse("superuser"), None);
    }

    #[test]
    fn permissions_follow_the_design_table() {
        use Role::*;
        assert_eq!(
            Role::ALL.map(Role::can_manage_keys),
            [true, true, true, false]
        );
        assert_eq!(
            Role::ALL.map(Role::can_manage_members),
            [true, true, false, false]
        );
        assert!(Owner.can_administer(Owner));
        assert!(!Admin.can_administer(Owner));
        assert!(Admin.can_administer(Admin) && Admin.can_administer(Member));
        assert!(!Developer.can_administer(Member));
        assert!(!Member.can_administer(Member));
    }
}
