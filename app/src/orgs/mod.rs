//! Organizations, memberships and roles.

use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
pub mod access;
mod rpc;
#[cfg(feature = "ssr")]
pub mod service;
pub mod ui;

pub use rpc::*;

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
