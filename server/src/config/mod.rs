//! Keygate's configuration: read once at start from `KEYGATE_*` variables, typed and
//! validated, with a clear message naming the variable for any bad value. Nothing else
//! in the server reads the environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use app::ssr::Secret;

mod values;

use values::{
    limit, parse_bool, parse_origins, parse_public_url, parse_upstream, read_or_create_secret_file,
    seconds,
};

pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";
pub const DEFAULT_DATA_DIR: &str = "./data";
/// Shortest server secret accepted, in bytes (256 bits of hex or better).
pub const MIN_SECRET_LEN: usize = 32;
const SECRET_FILE: &str = "secret";
const SQLITE_FILE: &str = "keygate.db";

#[derive(Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// `KEYGATE_DATABASE_URL`, or `None` for the embedded SQLite file in `data_dir`.
    pub database_url: Option<String>,
    /// `KEYGATE_SECRET`, or `None` to use (and on first start create) `data_dir/secret`.
    pub secret: Option<Secret>,
    /// `KEYGATE_PREVIOUS_SECRET`: during a rotation, keys made under this secret still
    /// verify and are moved to the current one on first use.
    pub previous_secret: Option<Secret>,
    pub cookie_secure: bool,
    /// A `tracing` filter such as `info` or `keygate=debug,info`.
    pub log: String,
    /// Where the compiled site (wasm, js, css, public assets) is served from.
    pub site_root: PathBuf,
    /// `KEYGATE_UPSTREAM_URL`: where `/gw/*` forwards to (`http://host:port[/prefix]`).
    pub upstream: Option<http::Uri>,
    /// `KEYGATE_UPSTREAM_TIMEOUT` (seconds): longest wait for the upstream's response head.
    pub upstream_timeout: Duration,
    /// `KEYGATE_UPSTREAM_CA_FILE`: the only CA certificates https upstreams are checked
    /// against (a private CA); `None`: the system's roots.
    pub upstream_ca: Option<std::sync::Arc<[rustls_pki_types::CertificateDer<'static>]>>,
    /// `KEYGATE_UPSTREAM_HOSTS`: the hosts organizations may send their requests to
    /// besides `KEYGATE_UPSTREAM_URL`'s.
    pub upstream_hosts: Vec<crate::upstream::AllowedHost>,
    /// `KEYGATE_CORS_ORIGINS`: exact origins allowed to call the API from a browser (T2).
    pub cors_origins: Vec<String>,
    /// `KEYGATE_AUTH_FAILURE_LIMIT`: failed key verifications per client address per minute.
    pub auth_failure_limit: u32,
    /// `KEYGATE_SIGNUP_LIMIT`: sign-ups per client address per 15 minutes.
    pub signup_limit: u32,
    /// `KEYGATE_PUBLIC_URL`: the origin people reach Keygate at (`https://keys.example.com`).
    /// When set, the cross-site check (S6) compares a request's `Origin` with it instead of
    /// with the `Host` header, which a proxy may rewrite.
    pub public_origin: Option<String>,
    /// `KEYGATE_USAGE_FLUSH_INTERVAL` (seconds): how often last-used times are written.
    pub usage_flush_interval: Duration,
    /// `KEYGATE_SQLITE_MAX_SIZE_MB`: the most the SQLite file may grow to (no limit by
    /// default); past it, writes fail cleanly with "database full".
    pub sqlite_max_size_mb: Option<u64>,
    /// `KEYGATE_TRUSTED_PROXIES`: load balancers and proxies whose `X-Forwarded-For` names
    /// the client (addresses or CIDR ranges). Empty: the connection's peer is the client.
    pub trusted_proxies: crate::client_addr::TrustedProxies,
    /// `KEYGATE_WEBHOOK_ALLOWED_HOSTS`: private hosts and ranges webhooks may go to besides
    /// public addresses (none by default; link-local never, SECURITY.md W2).
    pub webhook_allowed_hosts: app::webhooks::address::AllowedHosts,
    /// `KEYGATE_REDIS_URL`: where the limits every instance shares are counted (per-key
    /// rate limits, failed verifications per address, login throttles). `None`: each
    /// instance counts alone.
    pub redis_url: Option<String>,
    /// `KEYGATE_REDIS_PREFIX`: the prefix of every Redis key Keygate writes.
    pub redis_prefix: String,
    /// `KEYGATE_METRICS_ADDR`: where Prometheus metrics are served (`/metrics`); off
    /// unless set.
    pub metrics_addr: Option<SocketAddr>,
}

pub const DEFAULT_REDIS_PREFIX: &str = "keygate:";

pub const DEFAULT_UPSTREAM_TIMEOUT_SECS: f64 = 30.0;
pub const DEFAULT_USAGE_FLUSH_SECS: f64 = 5.0;

/// By hand: a database URL may carry a password, so only its scheme is shown.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let database = self
            .database_url
            .as_deref()
            .map(|url| url.split(':').next().unwrap_or("?"));
        f.debug_struct("Config")
            .field("addr", &self.addr)
            .field("data_dir", &self.data_dir)
            .field("database", &database.unwrap_or("sqlite (data dir)"))
            .field("secret", &self.secret)
            .field("previous_secret", &self.previous_secret)
            .field("cookie_secure", &self.cookie_secure)
            .field("log", &self.log)
            .field("site_root", &self.site_root)
            .field("upstream", &self.upstream)
            .field("upstream_timeout", &self.upstream_timeout)
            .field("upstream_ca", &self.upstream_ca.as_ref().map(|c| c.len()))
            .field("upstream_hosts", &self.upstream_hosts)
            .field("cors_origins", &self.cors_origins)
            .field("auth_failure_limit", &self.auth_failure_limit)
            .field("signup_limit", &self.signup_limit)
            .field("public_origin", &self.public_origin)
            .field("usage_flush_interval", &self.usage_flush_interval)
            .field("sqlite_max_size_mb", &self.sqlite_max_size_mb)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("webhook_allowed_hosts", &self.webhook_allowed_hosts)
            .field(
                "redis",
                &self
                    .redis_url
                    .as_deref()
                    .map(|url| url.split(':').next().unwrap_or("?")),
            )
            .field("redis_prefix", &self.redis_prefix)
            .field("metrics_addr", &self.metrics_addr)
            .finish()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

fn err(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        message: message.into(),
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `get`, so tests can pass their own.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| get(name).filter(|v| !v.trim().is_empty());

        let addr_raw = var("KEYGATE_ADDR").unwrap_or_else(|| DEFAULT_ADDR.to_owned());
        let addr = addr_raw.trim().parse::<SocketAddr>().map_err(|_| {
            err(
                "KEYGATE_ADDR",
                format!("{addr_raw:?} is not an address and port such as {DEFAULT_ADDR}"),
            )
        })?;

        let data_dir =
            PathBuf::from(var("KEYGATE_DATA_DIR").unwrap_or_else(|| DEFAULT_DATA_DIR.to_owned()));

        let database_url = match var("KEYGATE_DATABASE_URL") {
            None => None,
            Some(url) => {
                let url = url.trim().to_owned();
                let known = ["sqlite:", "postgres://", "postgresql://"]
                    .iter()
                    .any(|p| url.starts_with(p));
                if !known {
                    return Err(err(
                        "KEYGATE_DATABASE_URL",
                        "must start with sqlite:, postgres:// or postgresql:// (the value is not shown because it may hold a password)",
                    ));
                }
                Some(url)
            }
        };

        let secret = match get("KEYGATE_SECRET") {
            None => None,
            Some(s) if s.trim().len() >= MIN_SECRET_LEN => Some(Secret::new(s.trim())),
            Some(_) => {
                return Err(err(
                    "KEYGATE_SECRET",
                    format!(
                        "must be at least {MIN_SECRET_LEN} characters (for example `openssl rand -hex 32`)"
                    ),
                ));
            }
        };

        let previous_secret = match var("KEYGATE_PREVIOUS_SECRET") {
            None => None,
            Some(s) if s.trim().len() >= MIN_SECRET_LEN => {
                if secret.as_ref().is_some_and(|c| c.expose() == s.trim()) {
                    return Err(err(
                        "KEYGATE_PREVIOUS_SECRET",
                        "is the same as KEYGATE_SECRET: give the new secret in KEYGATE_SECRET and the old one here",
                    ));
                }
                Some(Secret::new(s.trim()))
            }
            Some(_) => {
                return Err(err(
                    "KEYGATE_PREVIOUS_SECRET",
                    format!("must be at least {MIN_SECRET_LEN} characters"),
                ));
            }
        };

        let flag = |name: &'static str| -> Result<bool, ConfigError> {
            match var(name).as_deref().map(str::trim) {
                None => Ok(false),
                Some(v) => parse_bool(v).ok_or_else(|| {
                    err(
                        name,
                        format!("{v:?} is not one of true, false, 1, 0, yes, no, on, off"),
                    )
                }),
            }
        };
        let cookie_secure = flag("KEYGATE_COOKIE_SECURE")?;
        if var("KEYGATE_WEBHOOK_ALLOW_PRIVATE").is_some() {
            return Err(err(
                "KEYGATE_WEBHOOK_ALLOW_PRIVATE",
                "was replaced by KEYGATE_WEBHOOK_ALLOWED_HOSTS: name the private hosts or ranges webhooks may reach (e.g. hooks.internal, 10.0.0.0/8)",
            ));
        }
        let webhook_allowed_hosts = match var("KEYGATE_WEBHOOK_ALLOWED_HOSTS") {
            None => Default::default(),
            Some(raw) => app::webhooks::address::AllowedHosts::parse(&raw)
                .map_err(|message| err("KEYGATE_WEBHOOK_ALLOWED_HOSTS", message))?,
        };

        let redis_prefix = var("KEYGATE_REDIS_PREFIX")
            .map(|p| p.trim().to_owned())
            .unwrap_or_else(|| DEFAULT_REDIS_PREFIX.to_owned());
        let redis_url = match var("KEYGATE_REDIS_URL") {
            None => None,
            Some(url) => {
                let url = url.trim().to_owned();
                // Checked now, so a typo stops the start; reachability is not (Keygate
                // serves on local counters while Redis is down).
                app::keys::verify::shared::SharedLimits::redis(&url, &redis_prefix).map_err(
                    |_| {
                        err(
                            "KEYGATE_REDIS_URL",
                            "is not a Redis URL such as redis://127.0.0.1:6379",
                        )
                    },
                )?;
                Some(url)
            }
        };
        let metrics_addr = match var("KEYGATE_METRICS_ADDR") {
            None => None,
            Some(raw) => Some(raw.trim().parse::<SocketAddr>().map_err(|_| {
                err(
                    "KEYGATE_METRICS_ADDR",
                    format!("{raw:?} is not an address such as 127.0.0.1:9464"),
                )
            })?),
        };

        let log = var("KEYGATE_LOG").unwrap_or_else(|| "info".to_owned());
        if tracing_subscriber::EnvFilter::try_new(&log).is_err() {
            return Err(err(
                "KEYGATE_LOG",
                format!("{log:?} is not a log filter such as info, debug or server=debug,info"),
            ));
        }

        // cargo-leptos sets LEPTOS_SITE_ROOT when it runs the server; a plain binary uses
        // the build's output directory relative to the repository root.
        let site_root = PathBuf::from(
            var("KEYGATE_SITE_ROOT")
                .or_else(|| var("LEPTOS_SITE_ROOT"))
                .unwrap_or_else(|| "target/site".into()),
        );

        let upstream = match var("KEYGATE_UPSTREAM_URL") {
            None => None,
            Some(raw) => Some(parse_upstream(raw.trim())?),
        };
        let upstream_timeout = seconds(
            "KEYGATE_UPSTREAM_TIMEOUT",
            var("KEYGATE_UPSTREAM_TIMEOUT"),
            DEFAULT_UPSTREAM_TIMEOUT_SECS,
        )?;
        let upstream_ca = match var("KEYGATE_UPSTREAM_CA_FILE") {
            None => None,
            Some(path) => Some(values::read_ca_file(path.trim())?),
        };
        let upstream_hosts = match var("KEYGATE_UPSTREAM_HOSTS") {
            None => Vec::new(),
            Some(raw) => values::parse_upstream_hosts(&raw)?,
        };
        let trusted_proxies = match var("KEYGATE_TRUSTED_PROXIES") {
            None => crate::client_addr::TrustedProxies::default(),
            Some(raw) => crate::client_addr::TrustedProxies::parse(&raw)
                .map_err(|message| err("KEYGATE_TRUSTED_PROXIES", message))?,
        };
        let cors_origins = match var("KEYGATE_CORS_ORIGINS") {
            None => Vec::new(),
            Some(raw) => parse_origins(&raw)?,
        };
        let auth_failure_limit = limit(
            "KEYGATE_AUTH_FAILURE_LIMIT",
            var("KEYGATE_AUTH_FAILURE_LIMIT"),
            app::keys::verify::DEFAULT_FAILURE_LIMIT,
        )?;
        let signup_limit = limit(
            "KEYGATE_SIGNUP_LIMIT",
            var("KEYGATE_SIGNUP_LIMIT"),
            app::auth::throttle::DEFAULT_SIGNUP_LIMIT,
        )?;
        let public_origin = match var("KEYGATE_PUBLIC_URL") {
            None => None,
            Some(raw) => Some(parse_public_url(&raw)?),
        };
        let usage_flush_interval = seconds(
            "KEYGATE_USAGE_FLUSH_INTERVAL",
            var("KEYGATE_USAGE_FLUSH_INTERVAL"),
            DEFAULT_USAGE_FLUSH_SECS,
        )?;

        let sqlite_max_size_mb = match var("KEYGATE_SQLITE_MAX_SIZE_MB") {
            None => None,
            Some(raw) => Some(
                raw.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=1_000_000).contains(n))
                    .ok_or_else(|| {
                        err(
                            "KEYGATE_SQLITE_MAX_SIZE_MB",
                            format!("{raw:?} is not a whole number of megabytes (1 or more)"),
                        )
                    })?,
            ),
        };

        Ok(Self {
            addr,
            data_dir,
            database_url,
            secret,
            previous_secret,
            cookie_secure,
            log,
            site_root,
            upstream,
            upstream_timeout,
            upstream_ca,
            upstream_hosts,
            cors_origins,
            auth_failure_limit,
            signup_limit,
            public_origin,
            usage_flush_interval,
            sqlite_max_size_mb,
            trusted_proxies,
            webhook_allowed_hosts,
            redis_url,
            redis_prefix,
            metrics_addr,
        })
    }

    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join(SQLITE_FILE)
    }

    /// The SQLite file in use, if the database is SQLite on a file.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        match &self.database_url {
            None => Some(self.sqlite_path()),
            Some(url) if url.starts_with("sqlite:") => {
                use std::str::FromStr;
                sqlx::sqlite::SqliteConnectOptions::from_str(url)
                    .ok()
                    .map(|o| o.get_filename().to_path_buf())
                    .filter(|p| p.as_os_str() != ":memory:")
            }
            Some(_) => None,
        }
    }

    /// The configured secret, or the one kept in `data_dir/secret`, generated with 0600
    /// permissions on first start.
    pub fn load_or_create_secret(&self) -> Result<Secret, ConfigError> {
        if let Some(secret) = &self.secret {
            return Ok(secret.clone());
        }
        let path = self.data_dir.join(SECRET_FILE);
        read_or_create_secret_file(&path)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_need_no_configuration() {
        let c = config(&[]).unwrap();
        assert_eq!(c.addr.to_string(), DEFAULT_ADDR);
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert!(c.database_url.is_none() && c.secret.is_none() && !c.cookie_secure);
        assert_eq!(c.sqlite_path(), PathBuf::from("./data/keygate.db"));
    }

    #[test]
    fn bad_values_name_their_variable() {
        assert_eq!(
            config(&[("KEYGATE_ADDR", "localhost")]).unwrap_err().var,
            "KEYGATE_ADDR"
        );
        assert_eq!(
            config(&[("KEYGATE_DATABASE_URL", "mysql://x")])
                .unwrap_err()
                .var,
            "KEYGATE_DATABASE_URL"
        );
        assert_eq!(
            config(&[("KEYGATE_SECRET", "short")]).unwrap_err().var,
            "KEYGATE_SECRET"
        );
        assert_eq!(
            config(&[("KEYGATE_COOKIE_SECURE", "maybe")])
                .unwrap_err()
                .var,
            "KEYGATE_COOKIE_SECURE"
        );
        assert_eq!(
            config(&[("KEYGATE_LOG", "info,[")]).unwrap_err().var,
            "KEYGATE_LOG"
        );
        // L4: trusting every address would let every client choose its own.
        for everyone in ["0.0.0.0/0", "::/0", "10.0.0.0/8, ::/0"] {
            assert_eq!(
                config(&[("KEYGATE_TRUSTED_PROXIES", everyone)])
                    .unwrap_err()
                    .var,
                "KEYGATE_TRUSTED_PROXIES"
            );
        }
    }

    #[test]
    fn the_public_url_becomes_an_origin() {
        let origin = |raw: &str| config(&[("KEYGATE_PUBLIC_URL", raw)]).map(|c| c.public_origin);
        assert_eq!(
            origin("https://Keys.Example.com/").unwrap().as_deref(),
            Some("https://keys.example.com")
        );
        assert_eq!(
            origin("https://keys.example.com:443").unwrap().as_deref(),
            Some("https://keys.example.com")
        );
        assert_eq!(
            origin("http://10.0.0.5:8080").unwrap().as_deref(),
            Some("http://10.0.0.5:8080")
        );
        for bad in [
            "keys.example.com",
            "ftp://keys.example.com",
            "https://keys.example.com/app",
            "https://user:pw@keys.example.com",
            "https://",
        ] {
            assert_eq!(origin(bad).unwrap_err().var, "KEYGATE_PUBLIC_URL", "{bad}");
        }
        assert_eq!(config(&[]).unwrap().public_origin, None);
    }

    #[test]
    fn the_signup_limit_is_validated() {
        assert_eq!(
            config(&[("KEYGATE_SIGNUP_LIMIT", "50")])
                .unwrap()
                .signup_limit,
            50
        );
        assert_eq!(
            config(&[("KEYGATE_SIGNUP_LIMIT", "0")]).unwrap_err().var,
            "KEYGATE_SIGNUP_LIMIT"
        );
    }

    #[test]
    fn gateway_cors_and_limits_are_validated() {
        let c = config(&[
            ("KEYGATE_UPSTREAM_URL", "http://127.0.0.1:9000/base"),
            ("KEYGATE_UPSTREAM_TIMEOUT", "0.5"),
            (
                "KEYGATE_CORS_ORIGINS",
                "https://app.example.com, http://localhost:5173",
            ),
            ("KEYGATE_AUTH_FAILURE_LIMIT", "5"),
        ])
        .unwrap();
        assert_eq!(c.upstream.unwrap().path(), "/base");
        assert_eq!(c.upstream_timeout, Duration::from_millis(500));
        assert_eq!(
            c.cors_origins,
            ["https://app.example.com", "http://localhost:5173"]
        );
        assert_eq!(c.auth_failure_limit, 5);
        // https upstreams are taken (checked against the system's roots, or a CA file).
        let https =
            config(&[("KEYGATE_UPSTREAM_URL", "https://billing.internal:8443/api")]).unwrap();
        assert_eq!(https.upstream.unwrap().scheme_str(), Some("https"));
        let defaults = config(&[]).unwrap();
        assert!(defaults.upstream.is_none() && defaults.cors_origins.is_empty());
        assert_eq!(defaults.upstream_timeout, Duration::from_secs(30));
        for (var, bad) in [
            ("KEYGATE_UPSTREAM_URL", "ftp://x"),
            ("KEYGATE_UPSTREAM_URL", "https://x/?q=1"),
            ("KEYGATE_UPSTREAM_URL", "http://user:pw@x"),
            ("KEYGATE_UPSTREAM_URL", "not a url"),
            ("KEYGATE_UPSTREAM_TIMEOUT", "0"),
            ("KEYGATE_UPSTREAM_TIMEOUT", "soon"),
            ("KEYGATE_CORS_ORIGINS", "*"),
            ("KEYGATE_CORS_ORIGINS", "https://a.example/path"),
            ("KEYGATE_AUTH_FAILURE_LIMIT", "0"),
            ("KEYGATE_USAGE_FLUSH_INTERVAL", "-1"),
            ("KEYGATE_PREVIOUS_SECRET", "short"),
            ("KEYGATE_SQLITE_MAX_SIZE_MB", "0"),
            ("KEYGATE_UPSTREAM_HOSTS", "a/b"),
            ("KEYGATE_UPSTREAM_CA_FILE", "/nonexistent/ca.pem"),
        ] {
            let e = config(&[(var, bad)]).unwrap_err();
            assert_eq!(e.var, var, "{bad}");
            assert!(!e.to_string().contains("pw@"), "{e}");
        }
    }

    #[test]
    fn the_previous_secret_must_differ_from_the_current_one() {
        let same = "r".repeat(40);
        let e = config(&[
            ("KEYGATE_SECRET", &same),
            ("KEYGATE_PREVIOUS_SECRET", &same),
        ])
        .unwrap_err();
        assert_eq!(e.var, "KEYGATE_PREVIOUS_SECRET");
        let c = config(&[
            ("KEYGATE_SECRET", &same),
            ("KEYGATE_PREVIOUS_SECRET", &"p".repeat(40)),
        ])
        .unwrap();
        assert_eq!(c.previous_secret.unwrap().expose(), "p".repeat(40));
    }

    #[test]
    fn database_url_error_does_not_echo_the_url() {
        let e = config(&[("KEYGATE_DATABASE_URL", "mysql://root:hunter2@db")]).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn values_are_parsed() {
        let c = config(&[
            ("KEYGATE_ADDR", "0.0.0.0:8080"),
            (
                "KEYGATE_DATABASE_URL",
                "postgres://postgres@127.0.0.1/keygate",
            ),
            ("KEYGATE_SECRET", &"s".repeat(40)),
            ("KEYGATE_COOKIE_SECURE", "TRUE"),
        ])
        .unwrap();
        assert_eq!(c.addr.port(), 8080);
        assert!(c.database_url.unwrap().starts_with("postgres://"));
        assert_eq!(c.secret.unwrap().expose().len(), 40);
        assert!(c.cookie_secure);
    }

    #[test]
    fn secret_file_is_created_once_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let c = config(&[(
            "KEYGATE_DATA_DIR",
            dir.path().join("nested").to_str().unwrap(),
        )])
        .unwrap();
        let first = c.load_or_create_secret().unwrap();
        let path = dir.path().join("nested/secret");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(first.expose().len(), 64);
        let second = c.load_or_create_secret().unwrap();
        assert_eq!(
            first.expose(),
            second.expose(),
            "the secret must be stable across restarts"
        );
    }

    #[test]
    fn secrets_do_not_reach_debug_output() {
        let c = config(&[
            ("KEYGATE_SECRET", &"x".repeat(40)),
            ("KEYGATE_DATABASE_URL", "postgres://app:hunter2@db/keygate"),
        ])
        .unwrap();
        let printed = format!("{c:?}");
        assert!(
            !printed.contains("xxxx") && !printed.contains("hunter2"),
            "{printed}"
        );
    }
}
