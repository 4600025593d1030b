//! The operator's command line, on the same binary as the server, so scripts can
//! bootstrap Keygate without a browser:
//!
//! ```text
//! keygate [serve]
//! keygate migrate
//! keygate user create --email EMAIL --name NAME        (password: KEYGATE_PASSWORD or stdin)
//! keygate org create --name NAME --owner EMAIL
//! keygate key create --org ORG_ID --name NAME [--expires-in 30d|1y|never] [--scopes gateway,keys:read] [--as EMAIL]
//! ```
//!
//! Results go to stdout (only the key, for `key create`); everything else to stderr.

use app::keys::scopes::{DEFAULT_SCOPES, Scopes};
use app::keys::service::{self as keys, KeyManager};
use app::orgs::Role;
use app::orgs::service as orgs;
use chrono::{Duration, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use crate::config::Config;

pub const USAGE: &str = "\
Keygate: API keys for your API.

Usage:
  keygate [serve]                 Run the server (the default)
  keygate migrate                 Apply database migrations and exit
  keygate user create --email EMAIL --name NAME
                                  Create an account; the password is read from
                                  KEYGATE_PASSWORD, or else from the first line of stdin
  keygate org create --name NAME --owner EMAIL
                                  Create an organization owned by an existing account;
                                  prints its id
  keygate key create --org ORG_ID --name NAME [--expires-in DAYS|30d|1y|never]
                     [--scopes gateway,keys:read,keys:write] [--as EMAIL]
                                  Create an API key and print it (once) on stdout.
                                  Defaults: never expires, scope gateway, created
                                  as the organization's first owner
  keygate help                    Show this help

Configuration comes from the KEYGATE_* variables (see the README).";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Serve,
    Migrate,
    Help,
    CreateUser {
        email: String,
        name: String,
    },
    CreateOrg {
        name: String,
        owner: String,
    },
    CreateKey {
        org: String,
        name: String,
        expires_in_days: Option<u32>,
        scopes: Scopes,
        creator: Option<String>,
    },
}

/// A usage mistake: printed with the usage text, exit status 2.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn usage(message: impl Into<String>) -> UsageError {
    UsageError(message.into())
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, UsageError> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let (command, rest): (&[&str], &[&str]) = match words.as_slice() {
        [] => return Ok(Command::Serve),
        ["serve", rest @ ..] => (&["serve"], rest),
        ["migrate", rest @ ..] => (&["migrate"], rest),
        ["help" | "--help" | "-h", ..] => return Ok(Command::Help),
        [noun @ ("user" | "org" | "key"), "create", rest @ ..] => (
            if *noun == "user" {
                &["user"]
            } else if *noun == "org" {
                &["org"]
            } else {
                &["key"]
            },
            rest,
        ),
        [noun @ ("user" | "org" | "key"), ..] => {
            return Err(usage(format!(
                "`keygate {noun}` needs a subcommand: create"
            )));
        }
        [other, ..] => return Err(usage(format!("unknown command {other:?}"))),
    };
    let mut flags = Flags::parse(rest)?;
    let parsed = match command {
        ["serve"] => Command::Serve,
        ["migrate"] => Command::Migrate,
        ["user"] => Command::CreateUser {
            email: flags.required("--email")?,
            name: flags.required("--name")?,
        },
        ["org"] => Command::CreateOrg {
            name: flags.required("--name")?,
            owner: flags.required("--owner")?,
        },
        _ => Command::CreateKey {
            org: flags.required("--org")?,
            name: flags.required("--name")?,
            expires_in_days: match flags.optional("--expires-in") {
                None => None,
                Some(v) => parse_expiry(&v)?,
            },
            scopes: match flags.optional("--scopes") {
                None => DEFAULT_SCOPES,
                Some(v) => {
                    Scopes::parse_list([v.as_str()]).map_err(|m| usage(format!("--scopes: {m}")))?
                }
            },
            creator: flags.optional("--as"),
        },
    };
    flags.finish()?;
    Ok(parsed)
}

/// `never`, `30`, `30d` or `1y` (365 days).
fn parse_expiry(value: &str) -> Result<Option<u32>, UsageError> {
    let value = value.trim().to_ascii_lowercase();
    if value == "never" {
        return Ok(None);
    }
    let days = if let Some(years) = value.strip_suffix('y') {
        years.parse::<u32>().ok().and_then(|y| y.checked_mul(365))
    } else {
        value
            .strip_suffix('d')
            .unwrap_or(&value)
            .parse::<u32>()
            .ok()
    };
    match days {
        Some(days @ 1..=1830) => Ok(Some(days)),
        _ => Err(usage(format!(
            "--expires-in: {value:?} is not 1 to 1830 days (e.g. 30d, 90, 1y) or never"
        ))),
    }
}

struct Flags(Vec<(String, String)>);

impl Flags {
    fn parse(words: &[&str]) -> Result<Self, UsageError> {
        let mut pairs = Vec::new();
        let mut i = 0;
        while i < words.len() {
            let word = words[i];
            let Some(name) = word.strip_prefix("--").map(|_| word) else {
                return Err(usage(format!("unexpected argument {word:?}")));
            };
            let (name, value) = match name.split_once('=') {
                Some((n, v)) => (n.to_owned(), v.to_owned()),
                None => {
                    let value = words
                        .get(i + 1)
                        .filter(|v| !v.starts_with("--"))
                        .ok_or_else(|| usage(format!("{name} needs a value")))?;
                    i += 1;
                    (name.to_owned(), (*value).to_owned())
                }
            };
            if pairs.iter().any(|(n, _)| *n == name) {
                return Err(usage(format!("{name} is given twice")));
            }
            pairs.push((name, value));
            i += 1;
        }
        Ok(Self(pairs))
    }

    fn optional(&mut self, name: &str) -> Option<String> {
        let at = self.0.iter().position(|(n, _)| n == name)?;
        Some(self.0.remove(at).1)
    }

    fn required(&mut self, name: &str) -> Result<String, UsageError> {
        self.optional(name)
            .ok_or_else(|| usage(format!("{name} is required")))
    }

    fn finish(self) -> Result<(), UsageError> {
        match self.0.first() {
            Some((name, _)) => Err(usage(format!("unknown option {name}"))),
            None => Ok(()),
        }
    }
}

/// Runs a command other than `serve`. The `Ok` string goes to stdout.
pub async fn run(command: Command, config: &Config) -> Result<String, String> {
    let state = crate::build_state(config)
        .await
        .map_err(|e| e.to_string())?;
    let db = &state.db;
    match command {
        Command::Serve | Command::Help => Err("not a one-shot command".into()),
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
            let org = orgs::create_org(db, &user, &name)
                .await
                .map_err(|e| describe(e.into()))?;
            Ok(org.id)
        }
        Command::CreateKey {
            org,
            name,
            expires_in_days,
            scopes,
            creator,
        } => {
            let creator = match creator {
                Some(email) => user_by_email(db, &email).await?,
                None => first_owner(db, &org).await?,
            };
            let member = orgs::membership(db, &creator, &org)
                .await
                .map_err(|e| match e {
                    orgs::OrgError::NotFound => {
                        format!("no organization {org:?} with that person as a member")
                    }
                    other => describe(other.into()),
                })?;
            let manager = KeyManager::new(member).map_err(|_| {
                "that person's role cannot create keys (owner, admin or developer needed)"
                    .to_owned()
            })?;
            let expires_at = expires_in_days.map(|d| Utc::now() + Duration::days(i64::from(d)));
            let created = keys::create_key(db, &state.secret, &manager, &name, expires_at, scopes)
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
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn commands_parse() {
        assert_eq!(parse(&[]).unwrap(), Command::Serve);
        assert_eq!(parse(&args("serve")).unwrap(), Command::Serve);
        assert_eq!(parse(&args("migrate")).unwrap(), Command::Migrate);
        assert_eq!(
            parse(&args("user create --email a@b.c --name=Ada")).unwrap(),
            Command::CreateUser {
                email: "a@b.c".into(),
                name: "Ada".into()
            }
        );
        assert_eq!(
            parse(&args(
                "key create --org org_1 --name ci --expires-in 1y --scopes gateway,keys:read"
            ))
            .unwrap(),
            Command::CreateKey {
                org: "org_1".into(),
                name: "ci".into(),
                expires_in_days: Some(365),
                scopes: Scopes::parse_list(["gateway keys:read"]).unwrap(),
                creator: None,
            }
        );
    }

    #[test]
    fn mistakes_are_usage_errors() {
        for bad in [
            "frobnicate",
            "key",
            "key create --name x",
            "key create --org o --name x --expires-in 0",
            "key create --org o --name x --expires-in soon",
            "key create --org o --name x --scopes admin",
            "org create --name x --owner",
            "org create --name x --owner a --owner b",
            "user create --email a --name b --colour blue",
            "migrate now",
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad}");
        }
    }
}
