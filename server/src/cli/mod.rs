//! The operator's command line, on the same binary as the server, so scripts can
//! bootstrap Keygate without a browser:
//!
//! ```text
//! keygate [serve]
//! keygate migrate
//! keygate user create --email EMAIL --name NAME        (password: KEYGATE_PASSWORD or stdin)
//! keygate org create --name NAME --owner EMAIL
//! keygate key create --org ORG_ID --name NAME [--expires-in 30d|1y|never] [--scopes gateway,keys:read]
//!                    [--rate-limit 100/minute] [--allowed-ips 203.0.113.0/24,...]
//!                    [--tags billing,prod] [--owner cus_123] [--metadata '{"plan":"pro"}'] [--as EMAIL]
//! keygate key roll --org ORG_ID --id KEY_ID [--overlap 24h] [--as EMAIL]
//! keygate key revoke-leaked [--source URL]                 (keys on stdin)
//! keygate key import --org ORG_ID --file keys.jsonl [--as EMAIL]   (- for stdin)
//! keygate permission add --org ORG_ID --name invoices:read [--description TEXT] [--as EMAIL]
//! keygate permission list --org ORG_ID
//! keygate role add --org ORG_ID --name billing --permissions invoices:read,refunds:* [--as EMAIL]
//! keygate route-rules set --org ORG_ID --file rules.txt [--unmatched allow|deny] [--as EMAIL]
//! keygate route-rules show --org ORG_ID
//! ```
//!
//! Parsed by clap: `--help` works on every subcommand. Results go to stdout (only the key,
//! for `key create`); everything else to stderr. Exit status: 0, 1 when the command
//! failed, 2 for a usage mistake.

mod args;

use crate::config::Config;
use app::ids::{KeyId, OrgId, UserId};
use app::keys::service::{self as keys, KeyManager};
use app::orgs::Role;
use app::orgs::access;
use app::orgs::service as orgs;
use app::permissions::catalog;
use chrono::Utc;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

pub use args::{Command, NotRun, parse};

/// Runs a command other than `serve`. The `Ok` string goes to stdout.
pub async fn run(command: Command, config: &Config) -> Result<String, String> {
    let state = crate::build_state(config)
        .await
        .map_err(|e| e.to_string())?;
    let db = &state.db;
    match command {
        Command::Serve => Err("not a one-shot command".into()),
        Command::Migrate => Ok("migrations applied".into()),
        Command::CreateUser { email, name } => {
            let password = password()?;
            let user = app::auth::service::create_user(db, &email, &name, &password)
                .await
                .map_err(|e| describe(app::error::AppError::from(e)))?;
            Ok(user.id)
        }
        Command::CreateOrg { name, owner } => {
            let user = user_by_email(db, &owner).await?;
            let org = orgs::create_org(db, UserId(&user), &name)
                .await
                .map_err(|e| describe(e.into()))?;
            Ok(org.id)
        }
        Command::CreateKey {
            org,
            name,
            expires_in_days,
            scopes,
            rate_limit,
            allowed_ips,
            context,
            grants,
            roles,
            creator,
        } => {
            let manager = acting_manager(db, &org, creator.as_deref()).await?;
            let expires_at = expires_in_days
                .map(|days| app::keys::expiry::in_days(days, Utc::now()))
                .transpose()?;
            let created = keys::create_key_with(
                db,
                &state.secret,
                &manager,
                &name,
                expires_at,
                scopes,
                keys::KeyExtras {
                    rate_limit,
                    allowed_ips,
                    context,
                    grants,
                    roles,
                },
            )
            .await
            .map_err(|e| describe(e.into()))?;
            eprintln!(
                "Created key {} ({}) with scopes {}, {}. It is shown once: store it now.",
                created.key.id,
                created.key.name,
                created.key.scopes.join(", "),
                match created.key.expires_at {
                    Some(at) => format!("expiring {}", at.format("%Y-%m-%d %H:%M UTC")),
                    None => "never expiring".to_owned(),
                }
            );
            Ok(created.secret)
        }
        Command::RollKey {
            org,
            id,
            overlap_seconds,
            roller,
        } => {
            let manager = acting_manager(db, &org, roller.as_deref()).await?;
            let rolled = keys::roll_key(
                db,
                &state.secret,
                &state.verifier,
                &manager,
                KeyId(&id),
                overlap_seconds,
            )
            .await
            .map_err(|e| match e {
                keys::KeyError::NotFound => format!("no key {id:?} in organization {org:?}"),
                other => describe(other.into()),
            })?;
            eprintln!(
                "Rolled key {} ({}): the new secret is shown once, store it now. {}",
                rolled.key.id,
                rolled.key.name,
                match &rolled.key.rolling {
                    Some(old) => format!(
                        "The old secret {} works until {}.",
                        old.hint,
                        old.until.format("%Y-%m-%d %H:%M UTC")
                    ),
                    None => "The old secret no longer works.".to_owned(),
                }
            );
            Ok(rolled.secret)
        }
        Command::RevokeLeaked { source } => {
            let source = app::keys::leaks::check_source(source.as_deref())?;
            // Imported keys are reported as they are: know which exist.
            state
                .verifier
                .imports()
                .reload(db)
                .await
                .map_err(|e| format!("database: {e}"))?;
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .map_err(|e| format!("cannot read the keys from stdin: {e}"))?;
            let reported: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
            if reported.is_empty() {
                return Err("give the leaked keys on stdin, separated by spaces or lines".into());
            }
            let (mut revoked, mut stopped) = (Vec::new(), Vec::new());
            for chunk in reported.chunks(app::keys::leaks::MAX_REPORTED) {
                let outcome = app::keys::leaks::revoke_leaked(
                    db,
                    &state.secret,
                    &state.verifier,
                    chunk,
                    source.as_deref(),
                )
                .await
                .map_err(|e| format!("database: {e}"))?;
                revoked.extend(outcome.revoked);
                stopped.extend(outcome.overlaps_ended);
            }
            for id in &revoked {
                eprintln!("revoked {id}");
            }
            for id in &stopped {
                eprintln!("stopped the old secret of {id} (its new secret still works)");
            }
            Ok(format!(
                "checked {} strings: {} keys revoked, {} old secrets stopped",
                reported.len(),
                revoked.len(),
                stopped.len()
            ))
        }
        Command::ImportKeys { org, file, creator } => {
            use app::keys::imports;
            let manager = acting_manager(db, &org, creator.as_deref()).await?;
            let text = read_input(&file)?;
            let policy = app::keys::service::org_policy(db, OrgId(&org))
                .await
                .map_err(|e| format!("database: {e}"))?;
            let plan =
                imports::parse(&text, &manager, policy, Utc::now()).map_err(|e| e.to_string())?;
            for (at, name) in &plan.expired {
                eprintln!("skipped {at} ({name}): it has already expired");
            }
            let ids = imports::import(db, &manager, &plan)
                .await
                .map_err(|e| e.to_string())?;
            for (key, id) in plan.keys.iter().zip(&ids) {
                eprintln!("imported {} as {id} ({})", key.at, key.name);
            }
            let keys = |n: usize| if n == 1 { "key" } else { "keys" };
            Ok(format!(
                "imported {} {} into {org}, skipped {} already expired",
                ids.len(),
                keys(ids.len()),
                plan.expired.len()
            ))
        }
        Command::PutPermission {
            org,
            name,
            description,
            admin,
        } => {
            let admin = acting_admin(db, &org, admin.as_deref()).await?;
            let (_, created) = catalog::put_permission(db, &admin, &name, &description)
                .await
                .map_err(|e| describe(e.into()))?;
            Ok(if created {
                format!("added permission {name}")
            } else {
                format!("permission {name} saved")
            })
        }
        Command::ListPermissions { org } => {
            first_owner(db, &org).await?;
            let catalog = catalog::catalog(db, OrgId(&org))
                .await
                .map_err(|e| format!("database: {e}"))?;
            let mut out = Vec::new();
            for p in catalog.permissions {
                out.push(format!("permission {}\t{}", p.name, p.description));
            }
            for r in catalog.roles {
                out.push(format!(
                    "role {}\t{}\t{}",
                    r.name,
                    r.permissions.join(","),
                    r.description
                ));
            }
            Ok(out.join("\n"))
        }
        Command::PutRole {
            org,
            name,
            description,
            permissions,
            admin,
        } => {
            let admin = acting_admin(db, &org, admin.as_deref()).await?;
            let (_, created) = catalog::put_role(db, &admin, &name, &description, &permissions)
                .await
                .map_err(|e| describe(e.into()))?;
            Ok(if created {
                format!("added role {name}")
            } else {
                format!("role {name} saved")
            })
        }
        Command::SetRouteRules {
            org,
            file,
            deny_unmatched,
            admin,
        } => {
            let admin = acting_admin(db, &org, admin.as_deref()).await?;
            let rules = app::permissions::routes::parse_rules_text(&read_input(&file)?)?;
            let unmatched = if deny_unmatched {
                app::permissions::routes::Unmatched::Deny
            } else {
                app::permissions::routes::Unmatched::Allow
            };
            let saved = catalog::set_route_rules(db, &admin, rules, unmatched)
                .await
                .map_err(|e| describe(e.into()))?;
            Ok(format!("saved {} route rules", saved.rules.len()))
        }
        Command::ShowRouteRules { org } => {
            let saved = catalog::route_rules(db, OrgId(&org))
                .await
                .map_err(|e| match e {
                    catalog::CatalogError::NotFound => format!("no organization {org:?}"),
                    other => describe(other.into()),
                })?;
            let rules: Vec<_> = saved.rules.into_iter().map(|r| r.rule).collect();
            Ok(app::permissions::routes::rules_text(&rules))
        }
    }
}

/// The owner or admin a catalog command acts as: the member with `email`, or the
/// organization's first owner.
async fn acting_admin(
    db: &DatabaseConnection,
    org: &str,
    email: Option<&str>,
) -> Result<access::OrgAdmin, String> {
    let person = match email {
        Some(email) => user_by_email(db, email).await?,
        None => first_owner(db, org).await?,
    };
    access::membership(db, UserId(&person), OrgId(org))
        .await
        .and_then(access::OrgMember::require_admin)
        .map_err(|e| match e {
            access::OrgError::NotFound => {
                format!("no organization {org:?} with that person as a member")
            }
            access::OrgError::Forbidden => {
                "that person's role cannot change the catalog (owner or admin needed)".to_owned()
            }
            other => describe(other.into()),
        })
}

/// Reads a file, or stdin for `-`.
fn read_input(file: &std::path::Path) -> Result<String, String> {
    if file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| format!("cannot read stdin: {e}"))?;
        Ok(text)
    } else {
        std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))
    }
}

/// The key manager a CLI command acts as: the member with `email`, or the
/// organization's first owner.
async fn acting_manager(
    db: &DatabaseConnection,
    org: &str,
    email: Option<&str>,
) -> Result<KeyManager, String> {
    let person = match email {
        Some(email) => user_by_email(db, email).await?,
        None => first_owner(db, org).await?,
    };
    let member = access::membership(db, UserId(&person), OrgId(org))
        .await
        .map_err(|e| match e {
            access::OrgError::NotFound => {
                format!("no organization {org:?} with that person as a member")
            }
            other => describe(other.into()),
        })?;
    KeyManager::new(member).map_err(|_| {
        "that person's role cannot manage keys (owner, admin or developer needed)".to_owned()
    })
}

fn describe(error: app::error::AppError) -> String {
    error.to_string()
}

fn password() -> Result<String, String> {
    if let Ok(password) = std::env::var("KEYGATE_PASSWORD") {
        return Ok(password);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        return Err("give the password in KEYGATE_PASSWORD or on stdin".into());
    }
    Ok(password)
}

async fn user_by_email(db: &DatabaseConnection, email: &str) -> Result<String, String> {
    use app::entities::user;
    let normalized = email.trim().to_lowercase();
    user::Entity::find()
        .filter(user::Column::Email.eq(&normalized))
        .one(db)
        .await
        .map_err(|e| format!("database: {e}"))?
        .map(|u| u.id)
        .ok_or_else(|| format!("no account with the email {normalized:?}"))
}

async fn first_owner(db: &DatabaseConnection, org: &str) -> Result<String, String> {
    use app::entities::membership;
    membership::Entity::find()
        .filter(membership::Column::OrgId.eq(org))
        .filter(membership::Column::Role.eq(Role::Owner.as_str()))
        .order_by_asc(membership::Column::CreatedAt)
        .one(db)
        .await
        .map_err(|e| format!("database: {e}"))?
        .map(|m| m.user_id)
        .ok_or_else(|| format!("no organization {org:?}"))
}
