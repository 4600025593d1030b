//! Server-side leaves every other module may use: the server secret's type, random ids,
//! the mapping of database errors, the client's address and the page's response headers.
//! Nothing here imports a domain module (the application state is `crate::state`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::ConnectInfo;
use hmac::{Hmac, Mac};
use leptos::prelude::*;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, TransactionTrait};
use sha2::Sha256;

use crate::error::AppError;

/// A secret that must never be printed: `Debug` is redacted and there is no `Display`.
#[derive(Clone)]
pub struct Secret(Arc<SecretInner>);

struct SecretInner {
    value: Arc<str>,
    /// HMAC-SHA256 keyed with `value`. Keying hashes the padded key twice (the inner and
    /// outer pads), as much work as hashing a key itself: done once here, every digest
    /// starts from a copy.
    mac: Hmac<Sha256>,
}

impl Secret {
    pub fn new(value: impl Into<Arc<str>>) -> Self {
        let value: Arc<str> = value.into();
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(value.as_bytes())
            .expect("HMAC takes any key length");
        Self(Arc::new(SecretInner { value, mac }))
    }

    pub fn expose(&self) -> &str {
        &self.0.value
    }

    /// HMAC-SHA256 keyed with this secret, ready for the message.
    pub fn mac(&self) -> Hmac<Sha256> {
        self.0.mac.clone()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// The client's address as the server decided it for this request: the connection's
/// peer, or the address a trusted proxy forwarded (`KEYGATE_TRUSTED_PROXIES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The counter a client address counts against, for every per-address limit: an IPv6
/// client usually holds a whole /64, so it is one counter (it could otherwise rotate
/// addresses to escape the limit); an IPv4-mapped IPv6 address counts as the IPv4 address.
pub fn address_bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
        },
        v4 => v4,
    }
}

/// The client's address: the [`ClientAddr`] the server recorded, else the peer.
pub async fn client_ip() -> Option<IpAddr> {
    if let Ok(axum::Extension(ClientAddr(ip))) =
        leptos_axum::extract::<axum::Extension<ClientAddr>>().await
    {
        return Some(ip);
    }
    leptos_axum::extract::<ConnectInfo<SocketAddr>>()
        .await
        .ok()
        .map(|ConnectInfo(a)| a.ip())
}

/// The Content-Security-Policy of an HTML page: scripts only from this origin or inline
/// with this response's nonce (Leptos puts it on its hydration script), never
/// `'unsafe-inline'`.
pub fn page_csp(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )
}

/// Called by the HTML shell while it renders: the page's CSP names the nonce Leptos
/// generated for this response.
pub fn set_page_csp() {
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    if let Ok(value) = http::HeaderValue::from_str(&page_csp(&nonce)) {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}

/// Sets the status of a page being rendered (404 and 403 pages).
pub fn set_page_status(status: http::StatusCode) {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(status);
    }
}

/// Starts a transaction that will write. On SQLite it takes the write lock at once, as
/// `BEGIN IMMEDIATE` does (sea-orm only issues a deferred `BEGIN`): a deferred
/// transaction that reads and then writes fails at once with SQLITE_BUSY ("database is
/// locked") when another connection committed in between, and no busy timeout helps it,
/// because its snapshot is already stale. Taking the lock first makes it wait its turn
/// (up to the pool's busy timeout) and then see the latest data. The statement touches no
/// row: an `UPDATE` takes the lock when it starts, whatever its `WHERE` matches.
/// PostgreSQL needs nothing: its writers wait on the rows they touch.
pub async fn begin_write(db: &impl TransactionTrait) -> Result<DatabaseTransaction, DbErr> {
    let txn = db.begin().await?;
    if txn.get_database_backend() == DbBackend::Sqlite {
        txn.execute_unprepared("UPDATE seaql_migrations SET version = version WHERE 0")
            .await?;
    }
    Ok(txn)
}

/// How a database error should be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbFailure {
    /// The database cannot be reached (or the connection broke): try again later.
    Unavailable,
    /// SQLite's size limit or the disk is full: nothing was saved.
    Full,
    /// Anything else: a bug or a constraint, logged, answered generically.
    Other,
}

pub fn classify(err: &DbErr) -> DbFailure {
    use sea_orm::sqlx::Error as Sqlx;
    use sea_orm::{DbErr as E, RuntimeErr};
    let sqlx = match err {
        E::Conn(_) | E::ConnectionAcquire(_) => return DbFailure::Unavailable,
        E::Exec(RuntimeErr::SqlxError(e)) | E::Query(RuntimeErr::SqlxError(e)) => e,
        _ => return DbFailure::Other,
    };
    match sqlx {
        Sqlx::Io(_)
        | Sqlx::Tls(_)
        | Sqlx::Protocol(_)
        | Sqlx::PoolTimedOut
        | Sqlx::PoolClosed
        | Sqlx::WorkerCrashed => DbFailure::Unavailable,
        Sqlx::Database(db) => {
            let code = db.code().unwrap_or_default();
            match code.as_ref() {
                // SQLite: SQLITE_BUSY (5, and its extended codes), the write lock still
                // held by another connection after the busy timeout: try again later.
                "5" => DbFailure::Unavailable,
                c if c.parse::<u32>().is_ok_and(|n| n > 255 && n & 0xff == 5) => {
                    DbFailure::Unavailable
                }
                // SQLite: SQLITE_FULL (13, and its extended codes).
                "13" => DbFailure::Full,
                // SQLite: SQLITE_IOERR (10), SQLITE_CANTOPEN (14), SQLITE_NOTADB (26) and
                // their extended codes: the file is gone or unreadable.
                c if ["10", "14", "26"].contains(&c)
                    || c.parse::<u32>()
                        .is_ok_and(|n| n > 255 && [10, 14, 26].contains(&(n & 0xff))) =>
                {
                    DbFailure::Unavailable
                }
                c if c.parse::<u32>().is_ok_and(|n| n > 255 && n & 0xff == 13) => DbFailure::Full,
                // PostgreSQL: disk full, connection exceptions, shutting down.
                "53100" => DbFailure::Full,
                c if c.starts_with("08") || c.starts_with("57P") || c == "53300" => {
                    DbFailure::Unavailable
                }
                _ => DbFailure::Other,
            }
        }
        _ => DbFailure::Other,
    }
}

/// Database errors become `Unavailable` when the database cannot be reached, `StorageFull`
/// when it is full, and a logged, generic `Internal` otherwise: no SQL or driver detail
/// reaches the caller.
pub fn db_error(err: DbErr) -> AppError {
    match classify(&err) {
        DbFailure::Unavailable => {
            tracing::warn!(error = %err, "database unavailable");
            AppError::Unavailable
        }
        DbFailure::Full => {
            tracing::error!(error = %err, "database full");
            AppError::StorageFull
        }
        DbFailure::Other => {
            tracing::error!(error = %err, "database error");
            AppError::Internal
        }
    }
}

/// Random identifiers such as `org_3kTMd...`: 22 base62 characters (about 130 bits).
pub fn random_id(prefix: &str) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let mut id = String::with_capacity(prefix.len() + 23);
    id.push_str(prefix);
    id.push('_');
    id.extend((0..22).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char));
    id
}

#[cfg(test)]
mod tests {
    use super::address_bucket;

    #[test]
    fn ipv6_clients_count_per_64_and_mapped_ipv4_as_ipv4() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert_eq!(
            address_bucket(ip("2001:db8:1:2::1")),
            address_bucket(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            address_bucket(ip("2001:db8:1:2::1")),
            address_bucket(ip("2001:db8:1:3::1"))
        );
        assert_eq!(address_bucket(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(address_bucket(ip("192.0.2.1")), ip("192.0.2.1"));
        assert_ne!(
            address_bucket(ip("192.0.2.1")),
            address_bucket(ip("192.0.2.2"))
        );
    }
}
