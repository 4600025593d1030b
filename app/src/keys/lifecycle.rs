//! Key changes: create, roll, the change pipeline for everything that keeps the secret
//! (revoke, pause, resume, end an overlap, shorten, limits, addresses, labels), and a
//! leaving member's keys. Each runs in one transaction that also records its events
//! (`super::events`) and, for a key in use, the invalidation every instance follows, so
//! a failure before commit leaves no row and returns no key (R1). At rest there is only
//! HMAC-SHA256(server secret, key) and the display hint (K2).

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter,
};

use super::context::KeyContext;
use super::events::{self, KeyEvent, Revocation};
use super::format;
use super::listing::{find_in_org, flag_policy, view};
use super::manager::{KeyError, KeyManager};
use super::org_policy::org_policy;
use super::scopes::Scopes;
use super::verify::digest::digest;
use super::verify::{Invalidation, Verifier, announce};
use super::{ApiKeyView, CreatedKey, KeyPolicy, KeyStatus, MAX_OVERLAP_SECONDS};
use crate::entities::api_key;
use crate::ids::{KeyId, OrgId, UserId};
use crate::orgs::access::names;
use crate::ssr::Secret;
use crate::validate;

/// Now, to the microsecond: what both databases store, so a returned view equals the row.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    format::key_from_bytes(&bytes)
}

/// Takes the key's write lock for the rest of the transaction with a no-op update
/// (a row lock on PostgreSQL; on SQLite it makes this transaction the writer before it
/// reads, so a concurrent commit cannot invalidate its snapshot), then reads the key.
/// `NotFound` when the key does not exist in the manager's organization.
async fn locked_key(
    txn: &impl ConnectionTrait,
    manager: &KeyManager,
    key_id: &str,
) -> Result<api_key::Model, KeyError> {
    let res = api_key::Entity::update_many()
        .col_expr(api_key::Column::Id, Expr::col(api_key::Column::Id).into())
        .filter(api_key::Column::Id.eq(key_id))
        .filter(api_key::Column::OrgId.eq(manager.org_id()))
        .exec(txn)
        .await?;
    if res.rows_affected == 0 {
        return Err(KeyError::NotFound);
    }
    find_in_org(txn, manager, key_id).await
}

pub async fn create_key(
    db: &DatabaseConnection,
    secret: &Secret,
    manager: &KeyManager,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
    scopes: Scopes,
) -> Result<CreatedKey, KeyError> {
    create_key_with(
        db,
        secret,
        manager,
        name,
        expires_at,
        scopes,
        KeyExtras::default(),
    )
    .await
}

/// What a new key may carry besides its name, expiry and scopes.
#[derive(Debug, Clone, Default)]
pub struct KeyExtras {
    pub rate_limit: Option<super::RateLimit>,
    /// `None`: usable from anywhere.
    pub allowed_ips: Option<Vec<super::allowlist::IpRange>>,
    /// Tags, owner and metadata, already checked.
    pub context: KeyContext,
    /// Permissions and roles of the API behind the gateway (checked on creation).
    pub grants: Vec<crate::permissions::Grant>,
    pub roles: Vec<String>,
}

/// [`create_key`] with a rate limit, an IP allowlist, tags, an owner or metadata.
pub async fn create_key_with(
    db: &DatabaseConnection,
    secret: &Secret,
    manager: &KeyManager,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
    scopes: Scopes,
    extras: KeyExtras,
) -> Result<CreatedKey, KeyError> {
    let (rate_limit, allowed_ips) = manager.inherit(extras.rate_limit, extras.allowed_ips)?;
    let (rate_limit, rate_limit_window) = super::RateLimit::to_stored(rate_limit);
    let name = validate::name(name, "Name").map_err(|message| KeyError::Invalid {
        field: "name",
        message,
    })?;
    if scopes.is_empty() {
        return Err(KeyError::Invalid {
            field: "scopes",
            message: "Choose at least one scope.".into(),
        });
    }
    if !scopes.is_subset_of(manager.limit) {
        return Err(KeyError::BroaderScopes);
    }
    check_permissions(db, manager, &extras.grants, &extras.roles).await?;
    let now = now();
    let expires_at = manager.cap_expiry(expires_at.map(|at| at.trunc_subsecs(6)));
    if expires_at.is_some_and(|at| at <= now) {
        return Err(KeyError::Invalid {
            field: "expiry",
            message: "The expiry must be in the future.".into(),
        });
    }
    org_policy(db, OrgId(manager.org_id()))
        .await?
        .check(expires_at, now)
        .map_err(|message| KeyError::Invalid {
            field: "expiry",
            message,
        })?;
    let raw = generate_key();
    let row = api_key::Model {
        name,
        start: format::hint(&raw),
        lookup_digest: digest(secret, &raw),
        scopes: scopes.to_stored(),
        expires_at,
        rate_limit,
        rate_limit_window,
        allowed_ips: allowed_ips.map(|ranges| super::allowlist::to_stored(&ranges)),
        tags: super::context::store_tags(&extras.context.tags),
        owner_id: extras.context.owner,
        metadata: extras.context.metadata,
        permissions: crate::permissions::to_stored(&crate::permissions::grant_texts(
            &extras.grants,
        )),
        roles: crate::permissions::to_stored(&extras.roles),
        ..api_key::Model::new_in(manager.org_id(), manager.user_id(), now)
    };
    let creator = names(db, [row.created_by.clone()]).await?;
    let txn = crate::ssr::begin_write(db).await?;
    api_key::Entity::insert(api_key::ActiveModel::from(row.clone()))
        .exec_without_returning(&txn)
        .await?;
    events::record(&txn, manager.user_id(), now, &row, KeyEvent::Created).await?;
    txn.commit().await?;
    // Only now, after commit, does the key leave this function (K4).
    Ok(CreatedKey {
        key: view(row, &creator, now),
        secret: raw,
    })
}

/// Revokes a key (both secrets during a roll's overlap). Revoking a revoked key changes
/// nothing and records nothing.
pub async fn revoke_key(
    db: &DatabaseConnection,
    verifier: &Verifier,
    manager: &KeyManager,
    key_id: KeyId<'_>,
) -> Result<ApiKeyView, KeyError> {
    let key_id = key_id.0;
    change_key(db, verifier, manager, KeyId(key_id), KeyChange::Revoke).await
}

/// `1 hour`, `24 hours`, `7 days`, `90 minutes`: an overlap for the audit log.
pub fn overlap_text(seconds: u32) -> String {
    let plural = |n: u32, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    match seconds {
        0 => "none".into(),
        s if s % 86_400 == 0 && s >= 2 * 86_400 => plural(s / 86_400, "day"),
        s if s % 3_600 == 0 => plural(s / 3_600, "hour"),
        s if s % 60 == 0 => plural(s / 60, "minute"),
        s => plural(s, "second"),
    }
}

/// Issues a new secret for the same key record (id, name, scopes, expiry, usage). The old
/// secret keeps working for `overlap_seconds` (0 to 7 days), then is refused on every
/// instance by time alone; with no overlap it stops when this commits. A key already in
/// an overlap loses its older secret now: only one overlap at a time. The secret belongs
/// to whoever rolled it: they become the key's creator, so its rights follow their role
/// from now on (K9), and removing them from the organization ends it.
pub async fn roll_key(
    db: &DatabaseConnection,
    secret: &Secret,
    verifier: &Verifier,
    manager: &KeyManager,
    key_id: KeyId<'_>,
    overlap_seconds: u32,
) -> Result<CreatedKey, KeyError> {
    let key_id = key_id.0;
    if overlap_seconds > MAX_OVERLAP_SECONDS {
        return Err(KeyError::Invalid {
            field: "overlap_seconds",
            message: "The overlap can be at most 7 days (604800 seconds).".into(),
        });
    }
    let now = now();
    let txn = crate::ssr::begin_write(db).await?;
    let key = locked_key(&txn, manager, key_id).await?;
    if !Scopes::from_stored(&key.scopes).is_subset_of(manager.limit) {
        return Err(KeyError::BroaderScopes);
    }
    if let Some(own) = manager.grant_limit()
        && let Some(held) = crate::keys::verify::digest::load_grants(
            &txn,
            &key.org_id,
            key.permissions.as_deref(),
            key.roles.as_deref(),
        )
        .await?
        && held
            .names()
            .iter()
            .filter_map(|g| crate::permissions::Grant::parse(g).ok())
            .any(|g| !own.covers(&g))
    {
        return Err(KeyError::BroaderPermissions);
    }
    if !manager.may_issue_until(key.expires_at) {
        return Err(KeyError::OutlivesCaller);
    }
    refuse_unless_live(&key, now, "rolled")?;
    if key.import_digest.is_some() && overlap_seconds > 0 {
        return Err(KeyError::Invalid {
            field: "overlap_seconds",
            message: "This imported key has not been used since it was imported, so its old \
                      secret cannot keep working: roll it with no overlap."
                .into(),
        });
    }
    let ended_early = key.previous_until.is_some_and(|until| until > now);
    let raw = generate_key();
    let rolled = api_key::Model {
        start: format::hint(&raw),
        lookup_digest: digest(secret, &raw),
        created_by: manager.user_id().to_owned(),
        // The replaced secret is kept by digest only, so that after its overlap it is
        // refused as revoked rather than unknown.
        previous_digest: Some(key.lookup_digest.clone()),
        previous_start: Some(key.start.clone()),
        previous_until: Some(now + chrono::Duration::seconds(i64::from(overlap_seconds))),
        // An imported key's other-product digest goes with its old secret.
        import_digest: None,
        ..key.clone()
    };
    api_key::ActiveModel::from(rolled.clone())
        .reset_all()
        .update(&txn)
        .await?;
    let mut detail = format!(
        "old secret {} works for {}",
        key.start,
        overlap_text(overlap_seconds)
    );
    if overlap_seconds == 0 {
        detail = format!("old secret {} stopped at once", key.start);
    }
    if ended_early {
        detail.push_str("; the previous overlap was ended");
    }
    events::record(
        &txn,
        manager.user_id(),
        now,
        &rolled,
        KeyEvent::Rolled { detail },
    )
    .await?;
    announce(&txn, &Invalidation::Key(key.id.clone())).await?;
    let people = names(&txn, [manager.user_id().to_owned()]).await?;
    txn.commit().await?;
    verifier.forget_key(&key.id);
    // Only now, after commit, does the new key leave this function (K4).
    Ok(CreatedKey {
        key: view(rolled, &people, now),
        secret: raw,
    })
}

/// Refuses to change a revoked or expired key: `what` is the change, e.g. "rolled".
fn refuse_unless_live(
    key: &api_key::Model,
    now: DateTime<Utc>,
    what: &str,
) -> Result<(), KeyError> {
    match KeyStatus::of(key.revoked_at, key.expires_at, now) {
        KeyStatus::Revoked => Err(KeyError::Conflict {
            message: format!("A revoked key cannot be {what}. Create a new key."),
        }),
        KeyStatus::Expired => Err(KeyError::Conflict {
            message: format!("An expired key cannot be {what}. Create a new key."),
        }),
        KeyStatus::Active | KeyStatus::Paused => Ok(()),
    }
}

/// A change to one key that keeps its secret (a roll, which issues one, is [`roll_key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyChange {
    Revoke,
    /// Ends a roll's overlap now: the old secret is refused from the next request on.
    EndOverlap,
    /// Until a time (`None`: until resumed). A paused key is refused with `key_paused` and
    /// comes back by itself at that time; pausing a paused key moves its end.
    Pause {
        until: Option<DateTime<Utc>>,
    },
    Resume,
    /// Gives a key that outlives the organization's policy the longest expiry the policy
    /// allows from now.
    ShortenToPolicy,
    /// Sets (or, with `None`, removes) the key's own rate limit.
    SetRateLimit(Option<super::RateLimit>),
    /// Sets the addresses the key may be used from (`None`: anywhere).
    SetAllowedIps(Option<Vec<super::allowlist::IpRange>>),
    /// Replaces the key's tags, owner and metadata (any key, even a revoked one: labels
    /// change nothing it can do).
    SetContext(KeyContext),
    /// Replaces the permissions and roles of the API the key holds, already checked
    /// against the catalog and the manager's own grants ([`set_permissions`]).
    SetPermissions {
        grants: Vec<crate::permissions::Grant>,
        roles: Vec<String>,
    },
}

impl KeyChange {
    /// The event this change records, with its audit detail.
    fn event(&self, detail: Option<String>) -> KeyEvent {
        let detail_text = || detail.clone().unwrap_or_default();
        match self {
            KeyChange::Revoke => KeyEvent::Revoked(Revocation::ByPerson),
            KeyChange::EndOverlap => KeyEvent::OverlapEnded {
                detail: detail.clone(),
            },
            KeyChange::Pause { .. } => KeyEvent::Paused {
                detail: detail_text(),
            },
            KeyChange::Resume => KeyEvent::Resumed,
            KeyChange::ShortenToPolicy => KeyEvent::Shortened {
                detail: detail.clone(),
            },
            KeyChange::SetRateLimit(_) => KeyEvent::RateLimitChanged {
                detail: detail_text(),
            },
            KeyChange::SetAllowedIps(_) => KeyEvent::AllowedIpsChanged {
                detail: detail_text(),
            },
            KeyChange::SetContext(_) => KeyEvent::ContextChanged {
                detail: detail_text(),
            },
            KeyChange::SetPermissions { .. } => KeyEvent::PermissionsChanged {
                detail: detail_text(),
            },
        }
    }

    /// The changed row and the audit detail, or `None` when there is nothing to change.
    fn apply(
        self,
        key: &api_key::Model,
        manager: &KeyManager,
        policy: KeyPolicy,
        now: DateTime<Utc>,
    ) -> Result<Option<(api_key::Model, Option<String>)>, KeyError> {
        let key = key.clone();
        let paused = crate::keys::is_paused(key.paused_at, key.paused_until, now);
        Ok(match self {
            KeyChange::Revoke => (key.revoked_at.is_none()).then(|| {
                let changed = api_key::Model {
                    revoked_at: Some(now),
                    revoked_by: Some(manager.user_id().to_owned()),
                    // Nothing unsalted is kept for a key that can no longer be used.
                    import_digest: None,
                    ..key
                };
                (changed, None)
            }),
            KeyChange::EndOverlap => {
                key.previous_until
                    .is_some_and(|until| until > now)
                    .then(|| {
                        let detail = key
                            .previous_start
                            .as_ref()
                            .map(|hint| format!("old secret {hint} stopped"));
                        let changed = api_key::Model {
                            previous_until: Some(now),
                            ..key
                        };
                        (changed, detail)
                    })
            }
            KeyChange::Pause { until } => {
                refuse_unless_live(&key, now, "paused")?;
                let until = until.map(|at| at.trunc_subsecs(6));
                if until.is_some_and(|at| at <= now) {
                    return Err(KeyError::Invalid {
                        field: "until",
                        message: "Pick a time in the future, or pause until resumed.".into(),
                    });
                }
                if let (Some(at), Some(expiry)) = (until, key.expires_at)
                    && at >= expiry
                {
                    return Err(KeyError::Invalid {
                        field: "until",
                        message: format!(
                            "The key expires on {} before that: pick an earlier time, or revoke it.",
                            super::format_date(expiry)
                        ),
                    });
                }
                let detail = match until {
                    Some(at) => format!("until {}", at.format("%Y-%m-%d %H:%M UTC")),
                    None => "until resumed".into(),
                };
                let changed = api_key::Model {
                    paused_at: Some(if paused {
                        key.paused_at.unwrap_or(now)
                    } else {
                        now
                    }),
                    paused_until: until,
                    ..key
                };
                Some((changed, Some(detail)))
            }
            KeyChange::Resume => paused.then(|| {
                let changed = api_key::Model {
                    paused_at: None,
                    paused_until: None,
                    ..key
                };
                (changed, None)
            }),
            KeyChange::ShortenToPolicy => {
                refuse_unless_live(&key, now, "shortened")?;
                policy.exceeded_by(key.expires_at, now).then(|| {
                    let expires_at = policy.shortened(key.expires_at, now);
                    let detail = expires_at
                        .map(|at| format!("now expires {}", at.format("%Y-%m-%d %H:%M UTC")));
                    (api_key::Model { expires_at, ..key }, detail)
                })
            }
            KeyChange::SetRateLimit(limit) => {
                refuse_unless_live(&key, now, "limited")?;
                let (rate_limit, rate_limit_window) = super::RateLimit::to_stored(limit);
                (rate_limit != key.rate_limit || rate_limit_window != key.rate_limit_window).then(
                    || {
                        let detail = match limit {
                            Some(limit) => format!("rate limit {}", limit.text()),
                            None => "rate limit removed".to_owned(),
                        };
                        let changed = api_key::Model {
                            rate_limit,
                            rate_limit_window,
                            ..key
                        };
                        (changed, Some(detail))
                    },
                )
            }
            KeyChange::SetAllowedIps(ranges) => {
                refuse_unless_live(&key, now, "limited")?;
                let stored = ranges.as_deref().map(super::allowlist::to_stored);
                (stored != key.allowed_ips).then(|| {
                    let detail = match &stored {
                        Some(list) => format!("allowed from {}", list.replace(',', ", ")),
                        None => "allowed from anywhere".to_owned(),
                    };
                    // The audit detail holds 200 characters.
                    let detail: String = detail.chars().take(200).collect();
                    let changed = api_key::Model {
                        allowed_ips: stored,
                        ..key
                    };
                    (changed, Some(detail))
                })
            }
            KeyChange::SetContext(context) => {
                let tags = super::context::store_tags(&context.tags);
                let mut changes = Vec::new();
                if tags != key.tags {
                    changes.push(if context.tags.is_empty() {
                        "tags removed".to_owned()
                    } else {
                        format!("tags {}", context.tags.join(", "))
                    });
                }
                if context.owner != key.owner_id {
                    changes.push(match &context.owner {
                        Some(owner) => format!("owner {owner}"),
                        None => "owner removed".to_owned(),
                    });
                }
                if context.metadata != key.metadata {
                    changes.push("metadata changed".to_owned());
                }
                (!changes.is_empty()).then(|| {
                    // The audit detail holds 200 characters.
                    let detail: String = changes.join("; ").chars().take(200).collect();
                    let changed = api_key::Model {
                        tags,
                        owner_id: context.owner,
                        metadata: context.metadata,
                        ..key
                    };
                    (changed, Some(detail))
                })
            }
            KeyChange::SetPermissions { grants, roles } => {
                refuse_unless_live(&key, now, "given permissions")?;
                let permissions =
                    crate::permissions::to_stored(&crate::permissions::grant_texts(&grants));
                let roles = crate::permissions::to_stored(&roles);
                (permissions != key.permissions || roles != key.roles).then(|| {
                    let detail = permissions_text(permissions.as_deref(), roles.as_deref());
                    let changed = api_key::Model {
                        permissions,
                        roles,
                        ..key
                    };
                    (changed, Some(detail))
                })
            }
        })
    }
}

/// `permissions invoices:read; roles billing`, or `no permissions`, for the audit log
/// (cut to its 200 characters there).
fn permissions_text(permissions: Option<&str>, roles: Option<&str>) -> String {
    let parts: Vec<String> = [("permissions", permissions), ("roles", roles)]
        .into_iter()
        .filter_map(|(what, list)| list.map(|l| format!("{what} {}", l.replace(' ', ", "))))
        .collect();
    if parts.is_empty() {
        "no permissions".to_owned()
    } else {
        parts.join("; ")
    }
}

/// Checks grants and roles for a key made or changed by `manager`: each must be in the
/// organization's catalog, and a key acting for its creator can hand on only what it
/// holds itself (K9).
pub async fn check_permissions(
    db: &impl sea_orm::ConnectionTrait,
    manager: &KeyManager,
    grants: &[crate::permissions::Grant],
    roles: &[String],
) -> Result<(), KeyError> {
    if grants.is_empty() && roles.is_empty() {
        return Ok(());
    }
    let invalid = |field: &'static str| move |message| KeyError::Invalid { field, message };
    let catalog = crate::permissions::catalog::catalog(db, OrgId(manager.org_id())).await?;
    catalog
        .check_grants(grants)
        .map_err(invalid("permissions"))?;
    catalog.check_roles(roles).map_err(invalid("roles"))?;
    if let Some(own) = manager.grant_limit() {
        let from_roles = catalog
            .roles
            .iter()
            .filter(|r| roles.contains(&r.name))
            .flat_map(|r| {
                r.permissions
                    .iter()
                    .filter_map(|g| crate::permissions::Grant::parse(g).ok())
            });
        if grants
            .iter()
            .cloned()
            .chain(from_roles)
            .any(|g| !own.covers(&g))
        {
            return Err(KeyError::BroaderPermissions);
        }
    }
    Ok(())
}

/// Gives a key other permissions and roles of the API behind the gateway: checked
/// against the catalog and the manager's own grants, audited (`key.permissions_changed`)
/// and re-read by every instance within a second.
pub async fn set_permissions(
    db: &DatabaseConnection,
    verifier: &Verifier,
    manager: &KeyManager,
    key_id: KeyId<'_>,
    grants: Vec<crate::permissions::Grant>,
    roles: Vec<String>,
) -> Result<ApiKeyView, KeyError> {
    check_permissions(db, manager, &grants, &roles).await?;
    change_key(
        db,
        verifier,
        manager,
        key_id,
        KeyChange::SetPermissions { grants, roles },
    )
    .await
}

/// Changes one key in a transaction with its audit event and the invalidation that makes
/// every instance re-read it (R3); a change with nothing to do writes and records nothing.
pub async fn change_key(
    db: &DatabaseConnection,
    verifier: &Verifier,
    manager: &KeyManager,
    key_id: KeyId<'_>,
    change: KeyChange,
) -> Result<ApiKeyView, KeyError> {
    let key_id = key_id.0;
    let now = now();
    let txn = crate::ssr::begin_write(db).await?;
    let key = locked_key(&txn, manager, key_id).await?;
    let policy = org_policy(&txn, OrgId(manager.org_id())).await?;
    let template = change.clone();
    let key = match change.apply(&key, manager, policy, now)? {
        Some((changed, detail)) => {
            api_key::ActiveModel::from(changed.clone())
                .reset_all()
                .update(&txn)
                .await?;
            let event = template.event(detail);
            events::record(&txn, manager.user_id(), now, &changed, event).await?;
            announce(&txn, &Invalidation::Key(key.id.clone())).await?;
            changed
        }
        None => key,
    };
    // Everything the answer needs is read before commit: after it, nothing may fail.
    let people = names(
        &txn,
        [Some(key.created_by.clone()), key.revoked_by.clone()]
            .into_iter()
            .flatten(),
    )
    .await?;
    txn.commit().await?;
    // Refused (or re-read) from the next request on, on this instance.
    verifier.forget_key(&key.id);
    let mut keys = [view(key, &people, now)];
    flag_policy(&mut keys, policy, now);
    let [key] = keys;
    Ok(key)
}

/// What happens to the keys a removed member created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyHandover {
    /// They are revoked with the removal.
    Revoke,
    /// They keep working, with the remover as their creator: the remover's role caps
    /// them from now on (K9).
    Transfer,
}

/// The keys `user_id` created in `org_id` that are not revoked: what their removal
/// revokes or hands over.
pub async fn live_keys_of(
    db: &impl ConnectionTrait,
    org_id: OrgId<'_>,
    user_id: UserId<'_>,
) -> Result<Vec<api_key::Model>, DbErr> {
    let org_id = org_id.0;
    let user_id = user_id.0;
    api_key::Entity::find()
        .filter(api_key::Column::OrgId.eq(org_id))
        .filter(api_key::Column::CreatedBy.eq(user_id))
        .filter(api_key::Column::RevokedAt.is_null())
        .all(db)
        .await
}

/// Revokes, or hands over to `actor`, every key `user_id` created in `org_id` that is
/// not revoked, with their events, in the caller's transaction (the membership change
/// announces the invalidation). Returns how many.
pub async fn hand_over_keys(
    txn: &impl ConnectionTrait,
    org_id: OrgId<'_>,
    user_id: UserId<'_>,
    actor: UserId<'_>,
    handover: KeyHandover,
) -> Result<usize, DbErr> {
    let org_id = org_id.0;
    let user_id = user_id.0;
    let actor = actor.0;
    let affected = live_keys_of(txn, OrgId(org_id), UserId(user_id)).await?;
    if affected.is_empty() {
        return Ok(0);
    }
    let now = now();
    let update = api_key::Entity::update_many()
        .filter(api_key::Column::OrgId.eq(org_id))
        .filter(api_key::Column::CreatedBy.eq(user_id))
        .filter(api_key::Column::RevokedAt.is_null());
    let (update, event) = match handover {
        KeyHandover::Revoke => (
            update
                .col_expr(api_key::Column::RevokedAt, Expr::value(now))
                .col_expr(api_key::Column::RevokedBy, Expr::value(actor)),
            KeyEvent::Revoked(Revocation::MemberRemoved),
        ),
        KeyHandover::Transfer => (
            update.col_expr(api_key::Column::CreatedBy, Expr::value(actor)),
            KeyEvent::Transferred,
        ),
    };
    update.exec(txn).await?;
    events::record_each(txn, actor, now, &affected, &event).await?;
    Ok(affected.len())
}
