//! Who may manage an organization's keys: [`KeyManager`], the proof every key change
//! takes, for a person with a key-managing role or for a key acting for its creator
//! (limited to the key's own scopes, expiry, rate limit and addresses: K9, Z6).

use chrono::{DateTime, Utc};
use sea_orm::DbErr;

use super::scopes::Scopes;
use crate::error::AppError;
use crate::ids::{OrgId, UserId};
use crate::orgs::access::OrgMember;
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Unknown key, or another organization's (Z2).
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
    Conflict { message: String },
    /// A key tried to create or roll a key with scopes it does not have itself (K9).
    #[error("a key cannot grant scopes it does not have")]
    BroaderScopes,
    /// A key tried to give (or roll) a key permissions of the API it does not hold.
    #[error("a key cannot give permissions it does not hold")]
    BroaderPermissions,
    /// A key tried to roll a key that expires later than itself: the new secret would
    /// outlive the credential that made it.
    #[error("a key cannot roll a key that outlives it")]
    OutlivesCaller,
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<KeyError> for AppError {
    fn from(err: KeyError) -> Self {
        match err {
            KeyError::NotFound => AppError::NotFound,
            KeyError::Forbidden => AppError::Forbidden,
            KeyError::Invalid { field, message } => AppError::invalid(field, message),
            KeyError::Conflict { message } => AppError::conflict("key", message),
            KeyError::BroaderScopes | KeyError::OutlivesCaller | KeyError::BroaderPermissions => {
                AppError::Forbidden
            }
            KeyError::Db(e) => crate::ssr::db_error(e),
        }
    }
}

/// Proof that the caller may list, create, revoke and roll the org's keys
/// (owner, admin or developer), read from the database on this request.
#[derive(Debug, Clone)]
pub struct KeyManager {
    member: OrgMember,
    /// The broadest scopes this manager may give a key: everything for a person with a
    /// key-managing role, no more than its own scopes for a key (K9).
    pub(super) limit: Scopes,
    /// For a key: its own expiry (`Some(None)` when it never expires). The keys it creates
    /// or rolls may not expire later, so a short-lived key cannot mint a lasting one.
    caller_expiry: Option<Option<DateTime<Utc>>>,
    /// For a key: its own rate limit and allowed addresses, which the keys it creates
    /// inherit, no looser (Z6).
    caller_rate_limit: Option<super::RateLimit>,
    caller_allowed_ips: Option<std::sync::Arc<[super::allowlist::IpRange]>>,
    /// For a key: the API permissions it holds, the most it can hand on (`None`: a
    /// person, who may give any permission of the catalog).
    caller_grants: Option<std::sync::Arc<crate::permissions::Grants>>,
}

impl KeyManager {
    pub fn new(member: OrgMember) -> Result<Self, KeyError> {
        if member.role.can_manage_keys() {
            Ok(Self {
                limit: Scopes::allowed_for(member.role),
                member,
                caller_expiry: None,
                caller_rate_limit: None,
                caller_allowed_ips: None,
                caller_grants: None,
            })
        } else {
            Err(KeyError::Forbidden)
        }
    }

    /// A key acting for its creator (`member`, read from the database on this request):
    /// limited to the key's own scopes and to what the creator's role allows now, and to
    /// keys that expire no later than it does (`key_expires_at`).
    pub fn for_key(
        member: OrgMember,
        key_scopes: Scopes,
        key_expires_at: Option<DateTime<Utc>>,
    ) -> Result<Self, KeyError> {
        let mut manager = Self::new(member)?;
        manager.limit = manager.limit.intersect(key_scopes);
        manager.caller_expiry = Some(key_expires_at);
        Ok(manager)
    }

    /// A key's own rate limit and allowed addresses, which the keys it creates inherit
    /// (Z6): a key limited to one network, or to a rate, cannot mint one that is not.
    pub fn with_caller_limits(
        mut self,
        rate_limit: Option<super::RateLimit>,
        allowed_ips: Option<std::sync::Arc<[super::allowlist::IpRange]>>,
    ) -> Self {
        self.caller_rate_limit = rate_limit;
        self.caller_allowed_ips = allowed_ips;
        self
    }

    /// A key's own API permissions (`None`: it holds none), the most the keys it creates
    /// or rolls may hold.
    pub fn with_caller_grants(
        mut self,
        grants: Option<std::sync::Arc<crate::permissions::Grants>>,
    ) -> Self {
        self.caller_grants = Some(grants.unwrap_or_default());
        self
    }

    /// The most API permissions this manager may give: `None` for a person (any of the
    /// catalog), a key's own grants for a key.
    pub(crate) fn grant_limit(&self) -> Option<&crate::permissions::Grants> {
        self.caller_grants.as_deref()
    }

    /// The rate limit and allowlist a new key gets when `requested`: what was asked, if
    /// no looser than the calling key's own; the calling key's when nothing was asked.
    pub(super) fn inherit(
        &self,
        rate_limit: Option<super::RateLimit>,
        allowed_ips: Option<Vec<super::allowlist::IpRange>>,
    ) -> Result<
        (
            Option<super::RateLimit>,
            Option<Vec<super::allowlist::IpRange>>,
        ),
        KeyError,
    > {
        let rate_limit = match (self.caller_rate_limit, rate_limit) {
            (None, requested) => requested,
            (Some(own), None) => Some(own),
            (Some(own), Some(requested)) if requested.no_looser_than(own) => Some(requested),
            (Some(own), Some(_)) => {
                return Err(KeyError::Invalid {
                    field: "rate_limit",
                    message: format!(
                        "A key cannot give a key a looser rate limit than its own ({}).",
                        own.text()
                    ),
                });
            }
        };
        let allowed_ips = match (&self.caller_allowed_ips, allowed_ips) {
            (None, requested) => requested,
            (Some(own), None) => Some(own.to_vec()),
            (Some(own), Some(requested)) => {
                if let Some(outside) = requested
                    .iter()
                    .find(|range| !own.iter().any(|mine| range.within(mine)))
                {
                    return Err(KeyError::Invalid {
                        field: "allowed_ips",
                        message: format!(
                            "{outside} is outside the addresses the creating key may be used from."
                        ),
                    });
                }
                Some(requested)
            }
        };
        Ok((rate_limit, allowed_ips))
    }

    /// Whether a key expiring at `expires_at` (`None`: never) may be rolled by this manager.
    pub(crate) fn may_issue_until(&self, expires_at: Option<DateTime<Utc>>) -> bool {
        match (self.caller_expiry, expires_at) {
            (None | Some(None), _) => true,
            (Some(Some(_)), None) => false,
            (Some(Some(limit)), Some(at)) => at <= limit,
        }
    }

    /// The expiry a new key gets when `requested`: capped at the calling key's own, so a
    /// key made by a key never outlives it (the response shows the expiry it got).
    pub(super) fn cap_expiry(&self, requested: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        match self.caller_expiry {
            Some(Some(limit)) => Some(requested.map_or(limit, |at| at.min(limit))),
            _ => requested,
        }
    }

    /// The broadest scopes this manager may give a key.
    pub(crate) fn scope_limit(&self) -> Scopes {
        self.limit
    }

    pub fn org_id(&self) -> &str {
        &self.member.org_id
    }

    pub fn user_id(&self) -> &str {
        &self.member.user_id
    }

    /// The role of the person acting (a key's creator, for a key).
    pub fn role(&self) -> crate::orgs::Role {
        self.member.role
    }
}

/// The start of every key server function: logged in (401), a member (404), allowed to
/// manage keys (403).
pub async fn authorize(org_id: &str) -> Result<(AppState, KeyManager), AppError> {
    let (state, user_id) = crate::state::authenticated().await?;
    let member =
        crate::orgs::access::membership(&state.db, UserId(&user_id), OrgId(org_id)).await?;
    Ok((state, KeyManager::new(member)?))
}
