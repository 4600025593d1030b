//! The command line's grammar: what clap reads, checked into a [`Command`].

use app::keys::RateLimit;
use app::keys::allowlist::IpRange;
use app::keys::context::KeyContext;
use app::keys::scopes::{DEFAULT_SCOPES, Scopes};
use chrono::Utc;
use clap::{Parser, Subcommand};

/// The command line, as clap reads it: `--help` on every subcommand.
#[derive(Debug, Parser)]
#[command(
    name = "keygate",
    about = "Keygate: API keys for your API.",
    after_help = "Configuration comes from the KEYGATE_* variables (see the README).",
    disable_version_flag = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Top>,
}

#[derive(Debug, Subcommand)]
enum Top {
    /// Run the server (the default)
    Serve,
    /// Apply database migrations and exit
    Migrate,
    /// Accounts
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Organizations
    Org {
        #[command(subcommand)]
        action: OrgAction,
    },
    /// API keys
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
    /// The organization's catalog of your API's permissions
    Permission {
        #[command(subcommand)]
        action: PermissionAction,
    },
    /// Roles: named bundles of permissions
    Role {
        #[command(subcommand)]
        action: RoleAction,
    },
    /// The gateway's route rules
    #[command(name = "route-rules")]
    RouteRules {
        #[command(subcommand)]
        action: RulesAction,
    },
}

#[derive(Debug, Subcommand)]
enum PermissionAction {
    /// Add a permission (resource:action), or change its description
    Add {
        /// The organization's id (org_...)
        #[arg(long)]
        org: String,
        /// e.g. invoices:read
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// Act as this owner or admin (default: the organization's first owner)
        #[arg(long = "as", value_name = "EMAIL")]
        admin: Option<String>,
    },
    /// Print the catalog: permissions, then roles
    List {
        /// The organization's id (org_...)
        #[arg(long)]
        org: String,
    },
}

#[derive(Debug, Subcommand)]
enum RoleAction {
    /// Add or change a role
    Add {
        /// The organization's id (org_...)
        #[arg(long)]
        org: String,
        /// e.g. billing-readonly
        #[arg(long)]
        name: String,
        /// Comma-separated permissions of the catalog and wildcards
        #[arg(long, value_name = "invoices:read,refunds:*")]
        permissions: String,
        #[arg(long, default_value = "")]
        description: String,
        /// Act as this owner or admin (default: the organization's first owner)
        #[arg(long = "as", value_name = "EMAIL")]
        admin: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum RulesAction {
    /// Replace the rules with those of a file, one per line:
    /// `[report] METHODS PATH [PERMISSION ...]`, in order
    Set {
        /// The organization's id (org_...)
        #[arg(long)]
        org: String,
        /// The rules file, or - for stdin
        #[arg(long, value_name = "rules.txt")]
        file: std::path::PathBuf,
        /// What happens to a request no rule matches
        #[arg(long, value_parser = ["allow", "deny"], default_value = "allow")]
        unmatched: String,
        /// Act as this owner or admin (default: the organization's first owner)
        #[arg(long = "as", value_name = "EMAIL")]
        admin: Option<String>,
    },
    /// Print the rules in the form `set` reads
    Show {
        /// The organization's id (org_...)
        #[arg(long)]
        org: String,
    },
}

#[derive(Debug, Subcommand)]
enum UserAction {
    /// Create an account; the password is read from KEYGATE_PASSWORD, or else from the
    /// first line of stdin. Prints the account's id.
    Create {
        #[arg(long)]
        email: String,
        /// The display name
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum OrgAction {
    /// Create an organization owned by an existing account; prints its id
    Create {
        #[arg(long)]
        name: String,
        /// The owner's email (an existing account)
        #[arg(long)]
        owner: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeyAction {
    /// Create an API key and print it (once) on stdout
    Create {
        /// The organization's id (org_...)
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        /// Days until it expires: 30, 30d, 1y (365 days) or never (the default)
        #[arg(long = "expires-in", value_name = "DAYS|30d|1y|never", value_parser = parse_expiry)]
        expires_in: Option<Expiry>,
        /// Comma-separated scopes (default: gateway)
        #[arg(long, value_name = "gateway,keys:read,keys:write", value_parser = parse_scopes)]
        scopes: Option<Scopes>,
        /// The key's own rate limit (default: none)
        #[arg(long = "rate-limit", value_name = "N/second|minute|hour", value_parser = parse_rate_limit)]
        rate_limit: Option<RateLimit>,
        /// Comma-separated addresses or CIDR ranges it may be used from (default: anywhere)
        #[arg(long = "allowed-ips", value_name = "203.0.113.0/24,2001:db8::/32", value_parser = parse_allowed_ips)]
        allowed_ips: Option<AllowedIps>,
        /// Comma-separated tags: lower-case letters, digits, -, : and . (up to 20)
        #[arg(long, value_name = "billing,prod", value_parser = parse_tags)]
        tags: Option<Tags>,
        /// The external owner the key is for (a customer or service id)
        #[arg(long, value_name = "ID", value_parser = parse_owner)]
        owner: Option<String>,
        /// A JSON object of metadata (up to 4096 bytes)
        #[arg(long, value_name = "JSON", value_parser = parse_metadata)]
        metadata: Option<String>,
        /// Comma-separated permissions of the API from the organization's catalog, and
        /// wildcards (default: none)
        #[arg(long, value_name = "invoices:read,refunds:*", value_parser = parse_grants)]
        permissions: Option<GrantList>,
        /// Comma-separated roles of the organization's catalog (default: none)
        #[arg(long, value_name = "billing-readonly", value_parser = parse_roles)]
        roles: Option<RoleList>,
        /// Create it as this member (default: the organization's first owner)
        #[arg(long = "as", value_name = "EMAIL")]
        creator: Option<String>,
    },
    /// Issue a new secret for a key and print it (once) on stdout; the old secret stops
    /// now, or after --overlap
    Roll {
        /// The organization's id (org_...)
        #[arg(long)]
        org: String,
        /// The key's id (key_...)
        #[arg(long)]
        id: String,
        /// How long the old secret keeps working: 0 (the default), 30m, 1h, 24h, 7d (at most)
        #[arg(long, value_name = "0|30m|1h|24h|7d", value_parser = parse_overlap, default_value = "0")]
        overlap: u32,
        /// Roll it as this member, who becomes the key's creator (default: the
        /// organization's first owner)
        #[arg(long = "as", value_name = "EMAIL")]
        roller: Option<String>,
    },
    /// Stop every live key read from stdin (whitespace-separated, as found in a leak):
    /// each is revoked, or a rolled-away secret still in its overlap is stopped
    #[command(name = "revoke-leaked")]
    RevokeLeaked {
        /// Where the keys were found (an http(s) URL), kept in the audit log
        #[arg(long, value_name = "URL")]
        source: Option<String>,
    },
    /// Import keys exported from Better Auth or Unkey (unsalted SHA-256 digests), one
    /// JSON object per line: {"name", "sha256", "encoding": "base64url"|"base64"|"hex",
    /// "start", "created_at", "expires_at", "scopes"}. They keep working as issued. Every
    /// line is checked first; one bad line imports nothing. See docs/migrating.md.
    Import {
        /// The organization's id (org_...)
        #[arg(long)]
        org: String,
        /// The JSON-lines file, or - for stdin
        #[arg(long, value_name = "keys.jsonl")]
        file: std::path::PathBuf,
        /// Import them as this member, who becomes their creator (default: the
        /// organization's first owner)
        #[arg(long = "as", value_name = "EMAIL")]
        creator: Option<String>,
    },
}

/// `--overlap`: `0`/`now`, or a number with `s`, `m`, `h` or `d`, up to 7 days.
fn parse_overlap(value: &str) -> Result<u32, String> {
    let value = value.trim().to_ascii_lowercase();
    if value == "0" || value == "now" {
        return Ok(0);
    }
    let (number, unit) = value.split_at(value.len().saturating_sub(1));
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => 0,
    };
    match number.parse::<u32>().ok().and_then(|n| n.checked_mul(unit)) {
        Some(seconds) if unit > 0 && seconds <= app::keys::MAX_OVERLAP_SECONDS => Ok(seconds),
        _ => Err(format!(
            "{value:?} is not an overlap of at most 7 days, such as 0, 30m, 1h, 24h or 7d"
        )),
    }
}

/// `--expires-in`: a number of days, or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Expiry(Option<u32>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Serve,
    Migrate,
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
        rate_limit: Option<RateLimit>,
        allowed_ips: Option<Vec<IpRange>>,
        context: KeyContext,
        grants: Vec<app::permissions::Grant>,
        roles: Vec<String>,
        creator: Option<String>,
    },
    RollKey {
        org: String,
        id: String,
        overlap_seconds: u32,
        roller: Option<String>,
    },
    RevokeLeaked {
        source: Option<String>,
    },
    ImportKeys {
        org: String,
        file: std::path::PathBuf,
        creator: Option<String>,
    },
    PutPermission {
        org: String,
        name: String,
        description: String,
        admin: Option<String>,
    },
    ListPermissions {
        org: String,
    },
    PutRole {
        org: String,
        name: String,
        description: String,
        permissions: Vec<String>,
        admin: Option<String>,
    },
    SetRouteRules {
        org: String,
        file: std::path::PathBuf,
        deny_unmatched: bool,
        admin: Option<String>,
    },
    ShowRouteRules {
        org: String,
    },
}

/// Why the arguments are not a command to run.
#[derive(Debug, PartialEq, Eq)]
pub enum NotRun {
    /// `--help` (or `help`): print this on stdout, exit 0.
    Help(String),
    /// A usage mistake: print this on stderr, exit 2.
    Usage(String),
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, NotRun> {
    let cli =
        Cli::try_parse_from(std::iter::once("keygate").chain(args.iter().map(String::as_str)))
            .map_err(|e| match e.kind() {
                clap::error::ErrorKind::DisplayHelp => NotRun::Help(e.render().to_string()),
                // Including `keygate key` with no subcommand: help, but as a mistake (exit 2).
                _ => NotRun::Usage(e.render().to_string()),
            })?;
    Ok(match cli.command {
        None | Some(Top::Serve) => Command::Serve,
        Some(Top::Migrate) => Command::Migrate,
        Some(Top::User {
            action: UserAction::Create { email, name },
        }) => Command::CreateUser { email, name },
        Some(Top::Org {
            action: OrgAction::Create { name, owner },
        }) => Command::CreateOrg { name, owner },
        Some(Top::Key {
            action:
                KeyAction::Create {
                    org,
                    name,
                    expires_in,
                    scopes,
                    rate_limit,
                    allowed_ips,
                    tags,
                    owner,
                    metadata,
                    permissions,
                    roles,
                    creator,
                },
        }) => Command::CreateKey {
            org,
            name,
            expires_in_days: expires_in.and_then(|e| e.0),
            scopes: scopes.unwrap_or(DEFAULT_SCOPES),
            rate_limit,
            allowed_ips: allowed_ips.and_then(|a| a.0),
            context: KeyContext {
                tags: tags.map(|t| t.0).unwrap_or_default(),
                owner,
                metadata,
            },
            grants: permissions.map(|p| p.0).unwrap_or_default(),
            roles: roles.map(|r| r.0).unwrap_or_default(),
            creator,
        },
        Some(Top::Key {
            action:
                KeyAction::Roll {
                    org,
                    id,
                    overlap,
                    roller,
                },
        }) => Command::RollKey {
            org,
            id,
            overlap_seconds: overlap,
            roller,
        },
        Some(Top::Key {
            action: KeyAction::RevokeLeaked { source },
        }) => Command::RevokeLeaked { source },
        Some(Top::Key {
            action: KeyAction::Import { org, file, creator },
        }) => Command::ImportKeys { org, file, creator },
        Some(Top::Permission {
            action:
                PermissionAction::Add {
                    org,
                    name,
                    description,
                    admin,
                },
        }) => Command::PutPermission {
            org,
            name,
            description,
            admin,
        },
        Some(Top::Permission {
            action: PermissionAction::List { org },
        }) => Command::ListPermissions { org },
        Some(Top::Role {
            action:
                RoleAction::Add {
                    org,
                    name,
                    permissions,
                    description,
                    admin,
                },
        }) => Command::PutRole {
            org,
            name,
            description,
            permissions: permissions
                .split([',', ' '])
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
            admin,
        },
        Some(Top::RouteRules {
            action:
                RulesAction::Set {
                    org,
                    file,
                    unmatched,
                    admin,
                },
        }) => Command::SetRouteRules {
            org,
            file,
            deny_unmatched: unmatched == "deny",
            admin,
        },
        Some(Top::RouteRules {
            action: RulesAction::Show { org },
        }) => Command::ShowRouteRules { org },
    })
}

/// `never`, `30`, `30d` or `1y` (365 days).
fn parse_expiry(value: &str) -> Result<Expiry, String> {
    let value = value.trim().to_ascii_lowercase();
    if value == "never" {
        return Ok(Expiry(None));
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
    let Some(days) = days else {
        return Err(format!(
            "{value:?} is not a number of days (e.g. 30d, 90, 1y) or never"
        ));
    };
    // The same limit as every other way of making a key (`app::keys::expiry`).
    app::keys::expiry::in_days(days, Utc::now()).map(|_| Expiry(Some(days)))
}

fn parse_scopes(value: &str) -> Result<Scopes, String> {
    Scopes::parse_list([value])
}

/// An allowlist as given on the command line (`None` inside: empty, anywhere).
#[derive(Debug, Clone)]
struct AllowedIps(Option<Vec<IpRange>>);

fn parse_allowed_ips(value: &str) -> Result<AllowedIps, String> {
    app::keys::allowlist::parse_list([value]).map(AllowedIps)
}

/// Tags as given on the command line.
#[derive(Debug, Clone)]
struct Tags(Vec<String>);

fn parse_tags(value: &str) -> Result<Tags, String> {
    app::keys::context::parse_tags_text(value).map(Tags)
}

/// Permissions as given on the command line.
#[derive(Debug, Clone)]
struct GrantList(Vec<app::permissions::Grant>);

fn parse_grants(value: &str) -> Result<GrantList, String> {
    app::permissions::parse_grants([value]).map(GrantList)
}

/// Roles as given on the command line.
#[derive(Debug, Clone)]
struct RoleList(Vec<String>);

fn parse_roles(value: &str) -> Result<RoleList, String> {
    app::permissions::parse_roles([value]).map(RoleList)
}

fn parse_owner(value: &str) -> Result<String, String> {
    app::keys::context::parse_owner(value)?.ok_or_else(|| "the owner id is empty".to_owned())
}

fn parse_metadata(value: &str) -> Result<String, String> {
    app::keys::context::parse_metadata_text(value)?
        .ok_or_else(|| "the metadata is empty: give a JSON object".to_owned())
}

/// `100/minute`, `5/second`, `1000/hour`.
fn parse_rate_limit(value: &str) -> Result<RateLimit, String> {
    let (requests, per) = value
        .split_once('/')
        .ok_or_else(|| format!("{value:?} is not N/second, N/minute or N/hour"))?;
    RateLimit::from_form(requests, per.trim())
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{value:?} is not N/second, N/minute or N/hour"))
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
                rate_limit: None,
                allowed_ips: None,
                context: KeyContext::default(),
                grants: Vec::new(),
                roles: Vec::new(),
                creator: None,
            }
        );
        assert_eq!(
            parse(&args(
                "key create --org org_1 --name ci --rate-limit 100/minute"
            ))
            .unwrap(),
            Command::CreateKey {
                org: "org_1".into(),
                name: "ci".into(),
                expires_in_days: None,
                scopes: DEFAULT_SCOPES,
                rate_limit: Some(RateLimit::new(100, app::keys::RatePeriod::Minute).unwrap()),
                allowed_ips: None,
                context: KeyContext::default(),
                grants: Vec::new(),
                roles: Vec::new(),
                creator: None,
            }
        );
        let Command::CreateKey { grants, roles, .. } = parse(&args(
            "key create --org org_1 --name ci --permissions invoices:read,refunds:* --roles billing",
        ))
        .unwrap() else {
            panic!("not a key creation");
        };
        assert_eq!(
            app::permissions::grant_texts(&grants),
            ["invoices:read", "refunds:*"]
        );
        assert_eq!(roles, ["billing"]);
        assert!(matches!(
            parse(&args("key create --org org_1 --name ci --permissions Invoices")),
            Err(NotRun::Usage(message)) if message.contains("resource:action")
        ));
    }

    #[test]
    fn imports_read_a_file_or_stdin() {
        assert_eq!(
            parse(&args(
                "key import --org org_1 --file - --as ops@example.com"
            ))
            .unwrap(),
            Command::ImportKeys {
                org: "org_1".into(),
                file: "-".into(),
                creator: Some("ops@example.com".into()),
            }
        );
    }

    #[test]
    fn keys_are_created_with_their_context() {
        let parsed = parse(&args(
            "key create --org o --name x --tags prod,billing --owner cus_1 --metadata {\"plan\":\"pro\"}",
        ))
        .unwrap();
        let Command::CreateKey { context, .. } = parsed else {
            panic!("not a key creation: {parsed:?}");
        };
        assert_eq!(
            context,
            KeyContext {
                tags: vec!["billing".into(), "prod".into()],
                owner: Some("cus_1".into()),
                metadata: Some("{\"plan\":\"pro\"}".into()),
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
            "key create --org o --name x --rate-limit 100",
            "key create --org o --name x --rate-limit 0/minute",
            "key create --org o --name x --rate-limit 5/week",
            "key create --org o --name x --allowed-ips 0.0.0.0/0",
            "key create --org o --name x --allowed-ips 10.0.0.1/33",
            "key create --org o --name x --tags Prod",
            "key create --org o --name x --owner",
            "key create --org o --name x --metadata [1]",
            "key import --org o",
            "key import --file keys.jsonl",
            "org create --name x --owner",
            "org create --name x --owner a --owner b",
            "user create --email a --name b --colour blue",
            "migrate now",
        ] {
            assert!(matches!(parse(&args(bad)), Err(NotRun::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn every_subcommand_has_help() {
        for line in [
            "--help",
            "help",
            "serve --help",
            "migrate --help",
            "user --help",
            "user create --help",
            "org create --help",
            "key create --help",
            "key revoke-leaked --help",
            "key import --help",
        ] {
            match parse(&args(line)) {
                Err(NotRun::Help(text)) => assert!(text.contains("Usage:"), "{line}: {text}"),
                other => panic!("{line}: {other:?}"),
            }
        }
        let Err(NotRun::Help(text)) = parse(&args("key create --help")) else {
            unreachable!()
        };
        assert!(
            text.contains("--expires-in") && text.contains("--scopes"),
            "{text}"
        );
    }
}
