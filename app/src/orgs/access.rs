//! Who may do what in an organization: the proofs of a caller's membership
//! ([`OrgMember`]) and of an admin's role ([`OrgAdmin`]), read from the database on each
//! request so a role change or removal takes effect on the very next one (S5), and the
//! display names of people. Below every service that checks a role.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use super::Role;
use crate::entities::{membership, user};
use crate::error::AppError;
use crate::ids::{OrgId, UserId};
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum OrgError {
    /// Unknown organization or member, or the caller is not a member: indistinguishable (Z2).
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{message}")]
    Conflict {
        field: &'static str,
        message: String,
    },
    /// The change would leave the organization without an owner.
    #[error("an organization needs at least one owner")]
    LastOwner,
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<OrgError> for AppError {
    fn from(err: OrgError) -> Self {
        match err {
            OrgError::NotFound => AppError::NotFound,
            OrgError::Forbidden => AppError::Forbidden,
            OrgError::Invalid { field, message } => AppError::invalid(field, message),
            OrgError::Conflict { field, message } => AppError::conflict(field, message),
            OrgError::LastOwner => AppError::invalid(
                "role",
                "An organization needs at least one owner. Make another member owner first.",
            ),
            OrgError::Db(e) => crate::ssr::db_error(e),
        }
    }
}

/// Proof that `user_id` is a member of `org_id` with `role`, read from the database.
#[derive(Debug, Clone)]
pub struct OrgMember {
    pub org_id: String,
    pub user_id: String,
    pub role: Role,
}

/// Proof that the caller may manage members (owner or admin).
#[derive(Debug, Clone)]
pub struct OrgAdmin(OrgMember);

impl OrgMember {
    pub fn require_admin(self) -> Result<OrgAdmin, OrgError> {
        if self.role.can_manage_members() {
            Ok(OrgAdmin(self))
        } else {
            Err(OrgError::Forbidden)
        }
    }
}

impl OrgAdmin {
    pub fn member(&self) -> &OrgMember {
        &self.0
    }
}

pub(crate) fn parse_stored_role(value: &str) -> Result<Role, OrgError> {
    Role::parse(value).ok_or_else(|| {
        OrgError::Db(DbErr::Custom(format!(
            "unknown role {value:?} in memberships"
        )))
    })
}

/// The caller's membership of `org_id`; `NotFound` when the org does not exist or the
/// caller is not in it.
pub async fn membership(
    db: &impl ConnectionTrait,
    user_id: UserId<'_>,
    org_id: OrgId<'_>,
) -> Result<OrgMember, OrgError> {
    let row = membership::Entity::find_by_id((org_id.0.to_owned(), user_id.0.to_owned()))
        .one(db)
        .await?
        .ok_or(OrgError::NotFound)?;
    Ok(OrgMember {
        role: parse_stored_role(&row.role)?,
        org_id: row.org_id,
        user_id: row.user_id,
    })
}

/// The start of a server function for any member: logged in (401), a member (404).
pub async fn member_of(org_id: &str) -> Result<(AppState, OrgMember), AppError> {
    let (state, user_id) = crate::state::authenticated().await?;
    let member = membership(&state.db, UserId(&user_id), OrgId(org_id)).await?;
    Ok((state, member))
}

/// The start of a server function for owners and admins: logged in (401), a member
/// (404), an owner or admin (403).
pub async fn admin_of(org_id: &str) -> Result<(AppState, OrgAdmin), AppError> {
    let (state, member) = member_of(org_id).await?;
    Ok((state, member.require_admin()?))
}

/// Display names of the users with these ids.
pub async fn names(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = String>,
) -> Result<HashMap<String, String>, DbErr> {
    let mut ids: Vec<String> = ids.into_iter().collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let users = user::Entity::find()
        .filter(user::Column::Id.is_in(ids))
        .all(db)
        .await?;
    Ok(users.into_iter().map(|u| (u.id, u.display_name)).collect())
}
