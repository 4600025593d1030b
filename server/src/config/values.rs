//! Parsers of single configuration values: each names its variable in its error.

use std::path::Path;
use std::time::Duration;

use app::ssr::Secret;

use super::{ConfigError, MIN_SECRET_LEN, err};

/// A count limit: a whole number of at least 1, or `default` when unset.
pub(super) fn limit(
    var: &'static str,
    raw: Option<String>,
    default: u32,
) -> Result<u32, ConfigError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    raw.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| err(var, format!("{raw:?} is not a whole number of at least 1")))
}

/// `KEYGATE_PUBLIC_URL` as the origin a browser sends: `scheme://host[:port]`, lower-case,
/// without a default port, path or trailing slash.
pub(super) fn parse_public_url(raw: &str) -> Result<String, ConfigError> {
    let bad = |why: &str| {
        err(
            "KEYGATE_PUBLIC_URL",
            format!("{raw:?} {why}; expected an origin such as https://keys.example.com"),
        )
    };
    let uri: http::Uri = raw.trim().parse().map_err(|_| bad("is not a URL"))?;
    let scheme = match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("https") => "https",
        Some(s) if s.eq_ignore_ascii_case("http") => "http",
        _ => return Err(bad("must start with https:// or http://")),
    };
    let authority = uri.authority().ok_or_else(|| bad("has no host"))?;
    if authority.as_str().contains('@') {
        return Err(bad("must not contain a user name or password"));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(bad("must not have a path or query"));
    }
    let host = authority.host().to_ascii_lowercase();
    let default_port = if scheme == "https" { 443 } else { 80 };
    Ok(match authority.port_u16() {
        Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// A duration in seconds, decimals allowed (`0.5`), between 1 ms and one hour.
pub(super) fn seconds(
    var: &'static str,
    raw: Option<String>,
    default: f64,
) -> Result<Duration, ConfigError> {
    let Some(raw) = raw else {
        return Ok(Duration::from_secs_f64(default));
    };
    raw.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| (0.001..=3600.0).contains(s))
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            err(
                var,
                format!("{raw:?} is not a number of seconds between 0.001 and 3600"),
            )
        })
}

/// `http://host:port` with an optional path prefix; no query, no credentials.
pub(super) fn parse_upstream(raw: &str) -> Result<http::Uri, ConfigError> {
    const VAR: &str = "KEYGATE_UPSTREAM_URL";
    let uri: http::Uri = raw.parse().map_err(|_| {
        err(
            VAR,
            "is not a URL such as http://127.0.0.1:8080 (the value is not shown)",
        )
    })?;
    crate::upstream::check_upstream(&uri).map_err(|message| err(VAR, message))?;
    Ok(uri)
}

/// `KEYGATE_UPSTREAM_CA_FILE`: a PEM file of CA certificates, read at start (a file that
/// cannot be read, or holds none, stops the start with a message saying so).
pub(super) fn read_ca_file(
    path: &str,
) -> Result<std::sync::Arc<[rustls_pki_types::CertificateDer<'static>]>, ConfigError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    const VAR: &str = "KEYGATE_UPSTREAM_CA_FILE";
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| err(VAR, format!("cannot read {path}: {e}")))?;
    if certs.is_empty() {
        return Err(err(VAR, format!("{path} holds no PEM certificate")));
    }
    Ok(certs.into())
}

/// `KEYGATE_UPSTREAM_HOSTS`: hosts (`host` or `host:port`) organizations may point their
/// upstreams at, comma-separated.
pub(super) fn parse_upstream_hosts(
    raw: &str,
) -> Result<Vec<crate::upstream::AllowedHost>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| {
            crate::upstream::AllowedHost::parse(h).ok_or_else(|| {
                err(
                    "KEYGATE_UPSTREAM_HOSTS",
                    format!("{h:?} is not a host or host:port"),
                )
            })
        })
        .collect()
}

/// A comma-separated list of exact origins (`https://app.example.com`). `*` is refused:
/// the allowlist is exact (T2).
pub(super) fn parse_origins(raw: &str) -> Result<Vec<String>, ConfigError> {
    const VAR: &str = "KEYGATE_CORS_ORIGINS";
    let mut origins = Vec::new();
    for origin in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let valid = origin
            .split_once("://")
            .filter(|(scheme, _)| *scheme == "http" || *scheme == "https")
            .is_some_and(|(_, host)| {
                !host.is_empty()
                    && !host.contains(['/', '?', '#', '*', '@', ' '])
                    && origin.parse::<http::HeaderValue>().is_ok()
            });
        if !valid {
            return Err(err(
                VAR,
                format!(
                    "{origin:?} is not an exact origin such as https://app.example.com (no path, no wildcard)"
                ),
            ));
        }
        origins.push(origin.trim_end_matches('/').to_owned());
    }
    Ok(origins)
}

pub(super) fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

pub(super) fn read_or_create_secret_file(path: &Path) -> Result<Secret, ConfigError> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

    const VAR: &str = "KEYGATE_DATA_DIR";
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| err(VAR, format!("cannot create {}: {e}", dir.display())))?;
    }
    match std::fs::read_to_string(path) {
        Ok(contents) => {
            let secret = contents.trim();
            if secret.len() < MIN_SECRET_LEN {
                return Err(err(
                    VAR,
                    format!(
                        "{} is shorter than {MIN_SECRET_LEN} characters",
                        path.display()
                    ),
                ));
            }
            let mode = std::fs::metadata(path)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0);
            if mode & 0o077 != 0 {
                tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "server secret file is readable by others; chmod 600 it");
            }
            Ok(Secret::new(secret))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            rand::fill(&mut bytes);
            let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| err(VAR, format!("cannot create {}: {e}", path.display())))?;
            file.write_all(secret.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| err(VAR, format!("cannot write {}: {e}", path.display())))?;
            tracing::info!(path = %path.display(), "generated a new server secret");
            Ok(Secret::new(secret))
        }
        Err(e) => Err(err(VAR, format!("cannot read {}: {e}", path.display()))),
    }
}
