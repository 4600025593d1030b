//! The organization's permission catalog and route rules, as stored: read by anyone who
//! manages keys, changed by owners and admins ([`OrgAdmin`]). Every change is audited in
//! its own transaction; one that changes what a key holds or what a route needs is
//! announced to every instance ([`Invalidation::Permissions`]).

use chrono::{SubsecRound, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};

use super::routes::{MAX_RULES, RouteRule, RouteRules, SavedRule, Unmatched};
use super::upstreams::UpstreamView;
use super::{
    Catalog, MAX_CATALOG, MAX_DESCRIPTION, MAX_ROLES, PermissionView, RoleView, grant_texts,
    parse_grants, shown,
};
use crate::audit::{self, Action};
use crate::entities::{api_key, organization, permission, permission_role, route_rule, upstream};
use crate::error::AppError;
use crate::ids::OrgId;
use crate::keys::verify::{Invalidation, announce};
use crate::orgs::access::OrgAdmin;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("not found")]
    NotFound,
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<CatalogError> for AppError {
    fn from(err: CatalogError) -> Self {
        match err {
            CatalogError::NotFound => AppError::NotFound,
            CatalogError::Invalid { field, message } => AppError::invalid(field, message),
            CatalogError::Conflict(message) => AppError::conflict("name", message),
            CatalogError::Db(e) => crate::ssr::db_error(e),
        }
    }
}

fn invalid(field: &'static str, message: String) -> CatalogError {
    CatalogError::Invalid { field, message }
}

fn description(text: &str) -> Result<String, CatalogError> {
    let text = text.trim();
    if text.chars().count() > MAX_DESCRIPTION {
        return Err(invalid(
            "description",
            format!("A description can be at most {MAX_DESCRIPTION} characters."),
        ));
    }
    if text.chars().any(|c| c.is_control()) {
        return Err(invalid(
            "description",
            "A description is one line of text.".into(),
        ));
    }
    Ok(text.to_owned())
}

/// The organization's catalog, permissions and roles each sorted by name.
pub async fn catalog(db: &impl ConnectionTrait, org_id: OrgId<'_>) -> Result<Catalog, DbErr> {
    let permissions = permission::Entity::find()
        .filter(permission::Column::OrgId.eq(org_id.0))
        .order_by_asc(permission::Column::Name)
        .all(db)
        .await?
        .into_iter()
        .map(|p| PermissionView {
            name: p.name,
            description: p.description,
        })
        .collect();
    let roles = permission_role::Entity::find()
        .filter(permission_role::Column::OrgId.eq(org_id.0))
        .order_by_asc(permission_role::Column::Name)
        .all(db)
        .await?
        .into_iter()
        .map(|r| RoleView {
            name: r.name,
            description: r.description,
            permissions: r
                .permissions
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        })
        .collect();
    Ok(Catalog { permissions, roles })
}

async fn audit_change(
    txn: &impl ConnectionTrait,
    admin: &OrgAdmin,
    action: Action,
    subject: &str,
    detail: String,
) -> Result<(), DbErr> {
    let member = admin.member();
    audit::insert(
        txn,
        vec![audit::Row {
            org_id: member.org_id.clone(),
            actor_id: member.user_id.clone(),
            action,
            subject_id: String::new(),
            subject_name: subject.to_owned(),
            at: Utc::now().trunc_subsecs(6),
            detail: Some(detail),
        }],
    )
    .await
}

/// Adds a permission to the catalog, or changes its description. `true`: it is new.
pub async fn put_permission(
    db: &DatabaseConnection,
    admin: &OrgAdmin,
    name: &str,
    text: &str,
) -> Result<(PermissionView, bool), CatalogError> {
    super::check_permission_name(name).map_err(|m| invalid("name", m))?;
    let text = description(text)?;
    let org_id = &admin.member().org_id;
    let txn = crate::ssr::begin_write(db).await?;
    let existing = permission::Entity::find_by_id((org_id.clone(), name.to_owned()))
        .one(&txn)
        .await?;
    let created = existing.is_none();
    if created {
        let count = permission::Entity::find()
            .filter(permission::Column::OrgId.eq(org_id))
            .all(&txn)
            .await?
            .len();
        if count >= MAX_CATALOG {
            return Err(invalid(
                "name",
                format!("An organization can have at most {MAX_CATALOG} permissions."),
            ));
        }
        permission::Entity::insert(permission::ActiveModel {
            org_id: Set(org_id.clone()),
            name: Set(name.to_owned()),
            description: Set(text.clone()),
            created_at: Set(Utc::now().trunc_subsecs(6)),
        })
        .exec_without_returning(&txn)
        .await?;
    } else if existing.is_some_and(|e| e.description != text) {
        permission::Entity::update_many()
            .col_expr(permission::Column::Description, Expr::value(text.clone()))
            .filter(permission::Column::OrgId.eq(org_id))
            .filter(permission::Column::Name.eq(name))
            .exec(&txn)
            .await?;
    } else {
        return Ok((
            PermissionView {
                name: name.to_owned(),
                description: text,
            },
            false,
        ));
    }
    let verb = if created { "added" } else { "described" };
    audit_change(
        &txn,
        admin,
        Action::CatalogChanged,
        name,
        format!("{verb} permission {name}"),
    )
    .await?;
    txn.commit().await?;
    Ok((
        PermissionView {
            name: name.to_owned(),
            description: text,
        },
        created,
    ))
}

/// Live keys of the organization, with what they hold.
async fn live_keys(txn: &impl ConnectionTrait, org_id: &str) -> Result<Vec<api_key::Model>, DbErr> {
    api_key::Entity::find()
        .filter(api_key::Column::OrgId.eq(org_id))
        .filter(api_key::Column::RevokedAt.is_null())
        .filter(
            sea_orm::Condition::any()
                .add(api_key::Column::Permissions.is_not_null())
                .add(api_key::Column::Roles.is_not_null()),
        )
        .all(txn)
        .await
}

fn holds(stored: Option<&str>, name: &str) -> bool {
    stored
        .unwrap_or_default()
        .split_whitespace()
        .any(|w| w == name)
}

/// `key “a”, key “b” and 3 more`.
fn named(kind: &str, names: &[String]) -> String {
    let mut shown: Vec<String> = names
        .iter()
        .take(3)
        .map(|n| format!("{kind} {}", shown(n)))
        .collect();
    if names.len() > 3 {
        shown.push(format!("{} more", names.len() - 3));
    }
    shown.join(", ")
}

/// Removes a permission no role, live key or route rule uses (else a conflict naming
/// them: nothing is taken from a key behind its owners' backs).
pub async fn delete_permission(
    db: &DatabaseConnection,
    admin: &OrgAdmin,
    name: &str,
) -> Result<(), CatalogError> {
    let org_id = &admin.member().org_id;
    let txn = crate::ssr::begin_write(db).await?;
    if permission::Entity::find_by_id((org_id.clone(), name.to_owned()))
        .one(&txn)
        .await?
        .is_none()
    {
        return Err(CatalogError::NotFound);
    }
    let roles: Vec<String> = permission_role::Entity::find()
        .filter(permission_role::Column::OrgId.eq(org_id))
        .all(&txn)
        .await?
        .into_iter()
        .filter(|r| holds(Some(&r.permissions), name))
        .map(|r| r.name)
        .collect();
    let keys: Vec<String> = live_keys(&txn, org_id)
        .await?
        .into_iter()
        .filter(|k| holds(k.permissions.as_deref(), name))
        .map(|k| k.name)
        .collect();
    let rules: Vec<String> = route_rule::Entity::find()
        .filter(route_rule::Column::OrgId.eq(org_id))
        .all(&txn)
        .await?
        .into_iter()
        .filter(|r| holds(Some(&r.permissions), name))
        .map(|r| format!("{} {}", r.methods, r.path))
        .collect();
    if !roles.is_empty() || !keys.is_empty() || !rules.is_empty() {
        let users = [
            (!roles.is_empty()).then(|| named("role", &roles)),
            (!keys.is_empty()).then(|| named("key", &keys)),
            (!rules.is_empty()).then(|| named("route rule", &rules)),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("; ");
        return Err(CatalogError::Conflict(format!(
            "{} is still used by {users}: take it from them first.",
            shown(name)
        )));
    }
    permission::Entity::delete_many()
        .filter(permission::Column::OrgId.eq(org_id))
        .filter(permission::Column::Name.eq(name))
        .exec(&txn)
        .await?;
    audit_change(
        &txn,
        admin,
        Action::CatalogChanged,
        name,
        format!("removed permission {name}"),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Adds or changes a role: a named bundle of the catalog's permissions and wildcards.
/// Keys holding it get the change on every instance. `true`: it is new.
pub async fn put_role(
    db: &DatabaseConnection,
    admin: &OrgAdmin,
    name: &str,
    text: &str,
    permissions: &[String],
) -> Result<(RoleView, bool), CatalogError> {
    super::check_role_name(name).map_err(|m| invalid("name", m))?;
    let text = description(text)?;
    let grants = parse_grants(permissions.iter().map(String::as_str))
        .map_err(|m| invalid("permissions", m))?;
    if grants.is_empty() {
        return Err(invalid(
            "permissions",
            "A role needs at least one permission.".into(),
        ));
    }
    let org_id = &admin.member().org_id;
    let txn = crate::ssr::begin_write(db).await?;
    let current = catalog(&txn, OrgId(org_id)).await?;
    current
        .check_grants(&grants)
        .map_err(|m| invalid("permissions", m))?;
    let stored = grant_texts(&grants).join(" ");
    let existing = current.roles.iter().find(|r| r.name == name);
    let created = existing.is_none();
    if created && current.roles.len() >= MAX_ROLES {
        return Err(invalid(
            "name",
            format!("An organization can have at most {MAX_ROLES} roles."),
        ));
    }
    let view = RoleView {
        name: name.to_owned(),
        description: text.clone(),
        permissions: grant_texts(&grants),
    };
    if existing == Some(&view) {
        return Ok((view, false));
    }
    let row = permission_role::ActiveModel {
        org_id: Set(org_id.clone()),
        name: Set(name.to_owned()),
        description: Set(text),
        permissions: Set(stored.clone()),
        created_at: Set(Utc::now().trunc_subsecs(6)),
    };
    if created {
        permission_role::Entity::insert(row)
            .exec_without_returning(&txn)
            .await?;
    } else {
        permission_role::Entity::update_many()
            .col_expr(
                permission_role::Column::Description,
                Expr::value(view.description.clone()),
            )
            .col_expr(
                permission_role::Column::Permissions,
                Expr::value(stored.clone()),
            )
            .filter(permission_role::Column::OrgId.eq(org_id))
            .filter(permission_role::Column::Name.eq(name))
            .exec(&txn)
            .await?;
    }
    let verb = if created { "added" } else { "changed" };
    audit_change(
        &txn,
        admin,
        Action::CatalogChanged,
        name,
        format!("{verb} role {name}: {stored}"),
    )
    .await?;
    announce(&txn, &Invalidation::Permissions(org_id.clone())).await?;
    txn.commit().await?;
    Ok((view, created))
}

/// Removes a role no live key holds.
pub async fn delete_role(
    db: &DatabaseConnection,
    admin: &OrgAdmin,
    name: &str,
) -> Result<(), CatalogError> {
    let org_id = &admin.member().org_id;
    let txn = crate::ssr::begin_write(db).await?;
    let res = permission_role::Entity::find_by_id((org_id.clone(), name.to_owned()))
        .one(&txn)
        .await?;
    if res.is_none() {
        return Err(CatalogError::NotFound);
    }
    let keys: Vec<String> = live_keys(&txn, org_id)
        .await?
        .into_iter()
        .filter(|k| holds(k.roles.as_deref(), name))
        .map(|k| k.name)
        .collect();
    if !keys.is_empty() {
        return Err(CatalogError::Conflict(format!(
            "Role {} is still held by {}: take it from them first.",
            shown(name),
            named("key", &keys)
        )));
    }
    permission_role::Entity::delete_many()
        .filter(permission_role::Column::OrgId.eq(org_id))
        .filter(permission_role::Column::Name.eq(name))
        .exec(&txn)
        .await?;
    audit_change(
        &txn,
        admin,
        Action::CatalogChanged,
        name,
        format!("removed role {name}"),
    )
    .await?;
    announce(&txn, &Invalidation::Permissions(org_id.clone())).await?;
    txn.commit().await?;
    Ok(())
}

pub async fn route_rules(
    db: &impl ConnectionTrait,
    org_id: OrgId<'_>,
) -> Result<RouteRules, CatalogError> {
    let Some(org) = organization::Entity::find_by_id(org_id.0.to_owned())
        .one(db)
        .await?
    else {
        return Err(CatalogError::NotFound);
    };
    let rules = route_rule::Entity::find()
        .filter(route_rule::Column::OrgId.eq(org_id.0))
        .order_by_asc(route_rule::Column::Position)
        .all(db)
        .await?
        .into_iter()
        .map(|r| SavedRule {
            id: r.id,
            rule: RouteRule {
                methods: r.methods,
                path: r.path,
                permissions: r
                    .permissions
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
                report_only: r.report_only,
            },
            would_deny: r.would_deny,
        })
        .collect();
    Ok(RouteRules {
        rules,
        unmatched: if org.deny_unmatched_routes {
            Unmatched::Deny
        } else {
            Unmatched::Allow
        },
    })
}

/// Replaces the organization's route rules and default, all at once and in order. Each
/// rule must require permissions of the catalog. A rule kept with the same methods and
/// path keeps its id and its count; the change reaches every instance.
pub async fn set_route_rules(
    db: &DatabaseConnection,
    admin: &OrgAdmin,
    rules: Vec<RouteRule>,
    unmatched: Unmatched,
) -> Result<RouteRules, CatalogError> {
    if rules.len() > MAX_RULES {
        return Err(invalid(
            "rules",
            format!("An organization can have at most {MAX_RULES} route rules."),
        ));
    }
    let org_id = admin.member().org_id.clone();
    let mut checked = Vec::with_capacity(rules.len());
    for (i, rule) in rules.into_iter().enumerate() {
        let (rule, _, _) = rule
            .checked()
            .map_err(|m| invalid("rules", format!("Rule {}: {m}", i + 1)))?;
        if checked
            .iter()
            .any(|r: &RouteRule| r.methods == rule.methods && r.path == rule.path)
        {
            return Err(invalid(
                "rules",
                format!(
                    "Rule {}: {} {} is already in the list; an earlier rule always wins.",
                    i + 1,
                    rule.methods,
                    rule.path
                ),
            ));
        }
        checked.push(rule);
    }
    let txn = crate::ssr::begin_write(db).await?;
    let current = catalog(&txn, OrgId(&org_id)).await?;
    for (i, rule) in checked.iter().enumerate() {
        if let Some(unknown) = rule
            .permissions
            .iter()
            .find(|p| !current.permissions.iter().any(|c| &c.name == *p))
        {
            return Err(invalid(
                "rules",
                format!(
                    "Rule {} ({} {}): {} is not in the organization's permission catalog.",
                    i + 1,
                    rule.methods,
                    rule.path,
                    shown(unknown)
                ),
            ));
        }
    }
    let before = route_rules(&txn, OrgId(&org_id)).await?;
    route_rule::Entity::delete_many()
        .filter(route_rule::Column::OrgId.eq(&org_id))
        .exec(&txn)
        .await?;
    let now = Utc::now().trunc_subsecs(6);
    let rows: Vec<route_rule::ActiveModel> = checked
        .iter()
        .enumerate()
        .map(|(i, rule)| {
            let kept = before
                .rules
                .iter()
                .find(|r| r.rule.methods == rule.methods && r.rule.path == rule.path);
            route_rule::ActiveModel {
                id: Set(kept.map_or_else(|| crate::ssr::random_id("rul"), |k| k.id.clone())),
                org_id: Set(org_id.clone()),
                position: Set(i32::try_from(i).unwrap_or(i32::MAX)),
                methods: Set(rule.methods.clone()),
                path: Set(rule.path.clone()),
                permissions: Set(rule.permissions.join(" ")),
                report_only: Set(rule.report_only),
                would_deny: Set(kept.map_or(0, |k| k.would_deny)),
                created_at: Set(now),
            }
        })
        .collect();
    for chunk in rows.chunks(200) {
        route_rule::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await?;
    }
    organization::Entity::update_many()
        .col_expr(
            organization::Column::DenyUnmatchedRoutes,
            Expr::value(unmatched == Unmatched::Deny),
        )
        .filter(organization::Column::Id.eq(&org_id))
        .exec(&txn)
        .await?;
    let report_only = checked.iter().filter(|r| r.report_only).count();
    audit_change(
        &txn,
        admin,
        Action::RouteRulesChanged,
        "",
        format!(
            "{} rules ({report_only} report-only); unmatched routes: {}",
            checked.len(),
            match unmatched {
                Unmatched::Allow => "allowed",
                Unmatched::Deny => "refused",
            }
        ),
    )
    .await?;
    announce(&txn, &Invalidation::Permissions(org_id.clone())).await?;
    let after = route_rules(&txn, OrgId(&org_id)).await?;
    txn.commit().await?;
    Ok(after)
}

/// Saves a reviewed OpenAPI proposal: adds the permissions the catalog lacks (those it
/// has keep their descriptions), then replaces the route rules with the proposal's,
/// keeping the default for unmatched routes. The rules are checked before anything is
/// written.
pub async fn import_openapi(
    db: &DatabaseConnection,
    admin: &OrgAdmin,
    proposal: super::openapi::Proposal,
) -> Result<RouteRules, CatalogError> {
    for (i, rule) in proposal.rules.iter().enumerate() {
        rule.clone()
            .checked()
            .map_err(|m| invalid("rules", format!("Rule {}: {m}", i + 1)))?;
    }
    let org_id = admin.member().org_id.clone();
    let current = catalog(db, OrgId(&org_id)).await?;
    let missing: Vec<&PermissionView> = proposal
        .permissions
        .iter()
        .filter(|p| !current.permissions.iter().any(|c| c.name == p.name))
        .collect();
    if current.permissions.len() + missing.len() > MAX_CATALOG {
        return Err(invalid(
            "document",
            format!(
                "The catalog has {} permissions and the document adds {}: a catalog holds at most {MAX_CATALOG}.",
                current.permissions.len(),
                missing.len()
            ),
        ));
    }
    for permission in missing {
        put_permission(db, admin, &permission.name, &permission.description).await?;
    }
    let unmatched = route_rules(db, OrgId(&org_id)).await?.unmatched;
    set_route_rules(db, admin, proposal.rules, unmatched).await
}

/// The organization's upstreams, by prefix.
pub async fn upstreams(
    db: &impl ConnectionTrait,
    org_id: OrgId<'_>,
) -> Result<Vec<UpstreamView>, DbErr> {
    Ok(upstream::Entity::find()
        .filter(upstream::Column::OrgId.eq(org_id.0))
        .order_by_asc(upstream::Column::Prefix)
        .all(db)
        .await?
        .into_iter()
        .map(|u| UpstreamView {
            prefix: u.prefix,
            url: u.url,
        })
        .collect())
}

/// Replaces the organization's upstreams, all at once. `check_url` is the server's check
/// of a URL (its scheme, and a host the operator allows), giving the URL as stored or
/// what is wrong. Every instance routes by them within a second.
pub async fn set_upstreams(
    db: &DatabaseConnection,
    admin: &OrgAdmin,
    list: Vec<UpstreamView>,
    check_url: impl Fn(&str) -> Result<String, String>,
) -> Result<Vec<UpstreamView>, CatalogError> {
    use super::upstreams::{MAX_UPSTREAMS, check_prefix};
    if list.len() > MAX_UPSTREAMS {
        return Err(invalid(
            "upstreams",
            format!("An organization can have at most {MAX_UPSTREAMS} upstreams."),
        ));
    }
    let mut checked: Vec<UpstreamView> = Vec::with_capacity(list.len());
    for (i, item) in list.into_iter().enumerate() {
        let at = |m: String| invalid("upstreams", format!("Upstream {}: {m}", i + 1));
        let prefix = check_prefix(&item.prefix).map_err(at)?;
        let url = check_url(item.url.trim()).map_err(at)?;
        if checked.iter().any(|c| c.prefix == prefix) {
            return Err(at(format!("{prefix} is already in the list.")));
        }
        checked.push(UpstreamView { prefix, url });
    }
    let org_id = admin.member().org_id.clone();
    let txn = crate::ssr::begin_write(db).await?;
    upstream::Entity::delete_many()
        .filter(upstream::Column::OrgId.eq(&org_id))
        .exec(&txn)
        .await?;
    let now = Utc::now().trunc_subsecs(6);
    if !checked.is_empty() {
        upstream::Entity::insert_many(checked.iter().map(|u| upstream::ActiveModel {
            org_id: Set(org_id.clone()),
            prefix: Set(u.prefix.clone()),
            url: Set(u.url.clone()),
            created_at: Set(now),
        }))
        .exec_without_returning(&txn)
        .await?;
    }
    let detail = if checked.is_empty() {
        "every request goes to the default upstream".to_owned()
    } else {
        checked
            .iter()
            .map(|u| u.prefix.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    audit_change(&txn, admin, Action::UpstreamsChanged, "", detail).await?;
    announce(&txn, &Invalidation::Permissions(org_id.clone())).await?;
    txn.commit().await?;
    checked.sort_by(|a, b| a.prefix.cmp(&b.prefix));
    Ok(checked)
}
