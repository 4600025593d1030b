//! The one authentication extractor of the REST API and the gateway (K5, K6, K7).
//!
//! A key comes in `x-api-key: <key>` or `Authorization: Bearer <key>` (scheme
//! case-insensitive), never in the query string. An empty header is no credential; two
//! different keys are a 400. Without a key header, the browser's session cookie is used.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use app::ids::{OrgId, UserId};
use app::keys::scopes::Scope;
use app::keys::usage::Outcome;
use app::keys::verify::meter::Decision;
use app::keys::verify::verdict::{Use, Verdict};
use app::keys::verify::{Rejection, Verified};
use app::orgs::access::{self, OrgAdmin, OrgMember};
use app::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::response::Response;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use tower_sessions::Session;

use super::error::{ApiError, ErrorCode};

/// The API key header. A constant name: looking a header up by a string parses the
/// string first, on every request.
pub const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// Longest credential header value looked at (I1); longer values are refused unread.
pub const MAX_CREDENTIAL_LEN: usize = app::keys::verify::verdict::MAX_PRESENTED_LEN;

/// What the request's headers present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented<'a> {
    Nothing,
    Key(&'a str),
    /// Over [`MAX_CREDENTIAL_LEN`], or not printable ASCII: cannot be a key.
    Garbage,
    /// Different keys in `x-api-key` and `Authorization`.
    Conflict,
}

/// Reads the key headers. Bounded and panic-free for any input (property-tested).
pub fn presented(headers: &HeaderMap) -> Presented<'_> {
    let mut found: Option<&str> = None;
    let mut garbage = false;
    let api_keys = headers.get_all(X_API_KEY).iter().map(|v| (v, false));
    let bearers = headers
        .get_all(http::header::AUTHORIZATION)
        .iter()
        .map(|v| (v, true));
    for (value, is_authorization) in api_keys.chain(bearers) {
        let token = if is_authorization {
            match bearer_token(value.as_bytes()) {
                Some(token) => token,
                // Another scheme (Basic, Digest, ...) is not a Keygate credential, whatever
                // its length: the gateway forwards it to the upstream.
                None => continue,
            }
        } else {
            http_trim(value.as_bytes())
        };
        if token.is_empty() {
            continue;
        }
        if token.len() > MAX_CREDENTIAL_LEN || !token.iter().all(u8::is_ascii_graphic) {
            garbage = true;
            continue;
        }
        let Ok(token) = std::str::from_utf8(token) else {
            garbage = true;
            continue;
        };
        match found {
            Some(previous) if previous != token => return Presented::Conflict,
            _ => found = Some(token),
        }
    }
    match (found, garbage) {
        (Some(_), true) => Presented::Conflict,
        (Some(key), false) => Presented::Key(key),
        (None, true) => Presented::Garbage,
        (None, false) => Presented::Nothing,
    }
}

/// The token of an `Authorization: Bearer <token>` value, scheme case-insensitive;
/// `None` for another scheme. Works on bytes, so a value that is not valid UTF-8 or
/// holds other whitespace is still recognised as Bearer (and refused as a bad key, and
/// never forwarded by the gateway).
pub fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    let value = http_trim(value);
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    if !rest.is_empty() && !matches!(rest[0], b' ' | b'\t') {
        return None;
    }
    Some(http_trim(rest))
}

/// Strips HTTP's optional whitespace (space and tab) from both ends; nothing else.
fn http_trim(value: &[u8]) -> &[u8] {
    let start = value
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |i| i + 1);
    &value[start..end]
}

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Principal {
    /// An API key of `org_id` with its effective scopes.
    Key(Arc<Verified>),
    /// A person logged in through the browser.
    User { user_id: String },
}

impl Principal {
    pub fn require_key_scope(&self, scope: Scope) -> Result<(), ApiError> {
        match self {
            Principal::Key(key) if key.scopes.contains(scope) => Ok(()),
            Principal::Key(_) => Err(ApiError::InsufficientScope(scope)),
            Principal::User { .. } => Ok(()),
        }
    }
}

impl FromRequestParts<crate::state::ServerState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::state::ServerState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(parts, &state.app).await
    }
}

impl Principal {
    /// Proof that the caller is an owner or admin of `org_id`, calling with a browser
    /// session: for what only a person may do (the key policy, webhooks). A key gets 403
    /// with `refusal`.
    pub async fn session_admin(
        &self,
        app: &AppState,
        org_id: Option<&str>,
        refusal: &str,
    ) -> Result<OrgAdmin, ApiError> {
        let Principal::User { user_id } = self else {
            return Err(ApiError::Forbidden(refusal.into()));
        };
        let org_id = org_id.ok_or_else(|| ApiError::Invalid {
            field: "org_id".into(),
            message: "Give org_id (the organization).".into(),
        })?;
        let admin = access::membership(&app.db, UserId(user_id), OrgId(org_id))
            .await
            .and_then(OrgMember::require_admin)
            .map_err(app::error::AppError::from)?;
        Ok(admin)
    }
}

/// The client's address (see `crate::client_addr`), else the connection's peer.
pub fn client_ip(parts: &Parts) -> Option<std::net::IpAddr> {
    parts
        .extensions
        .get::<app::ssr::ClientAddr>()
        .map(|addr| addr.0)
        .or_else(|| {
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip())
        })
}

/// Where the key extractor leaves the verified key and its rate limit's answer, so that
/// once the request is answered [`KeySlot::settle`] can count its outcome on the key's
/// meter (`ok`, or `insufficient_scope` / `rate_limited` when that is how it was refused)
/// and add
/// - `Keygate-Key-Expires: <RFC 3339>` when the presented secret stops working at some
///   time (its expiry, or the end of a roll's overlap), so callers can alert before it
///   does (GitHub sends `GitHub-Authentication-Token-Expiration`);
/// - `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers) when the
///   key has a rate limit.
///
/// Attached and settled by the middleware every request goes through (`http::edge`)
/// rather than by a layer of its own around the API and gateway routes: a router layer
/// clones the routes below it and boxes a future for every request.
#[derive(Clone, Default)]
pub struct KeySlot(Arc<OnceLock<SlotKey>>);

/// What [`KeySlot`] holds: the key, its rate limit's answer, and whether its outcome was
/// counted already (by the verdict, for a key over its limit).
struct SlotKey {
    key: Arc<Verified>,
    decision: Option<Decision>,
    counted: bool,
}

pub const KEY_EXPIRES_HEADER: HeaderName = HeaderName::from_static("keygate-key-expires");
const RATELIMIT_POLICY_HEADER: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT_HEADER: HeaderName = HeaderName::from_static("ratelimit");

impl KeySlot {
    /// A slot for a request that could carry a key to a route that takes one (the REST
    /// API and the gateway); `None` (and nothing allocated) for any other, such as a page
    /// or a bundle file fetched through a proxy that sends its own `Authorization`. The
    /// headers themselves are parsed once, by the extractor.
    pub fn attach(request: &mut Request) -> Option<KeySlot> {
        let path = request.uri().path();
        let under = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        if !under("/api/v1") && !under("/gw") {
            return None;
        }
        let headers = request.headers();
        if !headers.contains_key(X_API_KEY) && !headers.contains_key(http::header::AUTHORIZATION) {
            return None;
        }
        let slot = KeySlot::default();
        request.extensions_mut().insert(slot.clone());
        Some(slot)
    }

    /// Counts the answered request on the key it presented and adds the key's headers;
    /// a request that never got as far as a verified key is left as it is.
    pub fn settle(&self, mut response: Response) -> Response {
        let Some(SlotKey {
            key,
            decision,
            counted,
        }) = self.0.get()
        else {
            return response;
        };
        if !counted {
            key.count(
                match response.extensions().get::<ErrorCode>().map(|c| c.0) {
                    Some("insufficient_scope") => Outcome::InsufficientScope,
                    Some("insufficient_permission") => Outcome::InsufficientPermission,
                    Some("rate_limited") => Outcome::RateLimited,
                    _ => Outcome::Ok,
                },
            );
        }
        let headers = response.headers_mut();
        if let Some(at) = key.stops_at()
            && let Ok(value) =
                HeaderValue::from_str(&at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        {
            headers.insert(KEY_EXPIRES_HEADER, value);
        }
        if let Some(decision) = decision {
            let (policy, state) = rate_limit_fields(decision);
            if let (Ok(policy), Ok(state)) = (
                HeaderValue::from_str(&policy),
                HeaderValue::from_str(&state),
            ) {
                headers.insert(RATELIMIT_POLICY_HEADER, policy);
                headers.insert(RATELIMIT_HEADER, state);
            }
        }
        response
    }
}

/// The `RateLimit-Policy` and `RateLimit` field values for a key's limit.
fn rate_limit_fields(decision: &Decision) -> (String, String) {
    (
        format!(
            r#""key";q={};w={}"#,
            decision.limit.requests,
            decision.limit.per.seconds()
        ),
        format!(
            r#""key";r={};t={}"#,
            decision.remaining, decision.reset_secs
        ),
    )
}

/// Who is calling: a key, by the verifier's [`Verdict`] (`app::keys::verify::verdict`),
/// or a browser session.
pub async fn authenticate(parts: &Parts, app: &AppState) -> Result<Principal, ApiError> {
    let ip = client_ip(parts);
    match presented(&parts.headers) {
        Presented::Conflict => Err(ApiError::BadRequest(
            "Send one API key: x-api-key and Authorization carry different values.".into(),
        )),
        // The refusals and the session are boxed: see `Verifier::verify`.
        Presented::Garbage => match Box::pin(app.verifier.refuse_malformed(ip)).await {
            Rejection::RateLimited(wait) => Err(ApiError::RateLimited(wait)),
            Rejection::Invalid(_) => Err(ApiError::InvalidToken),
        },
        Presented::Key(key) => {
            let verdict =
                timed(
                    app.verifier
                        .authorize(&app.db, &app.secret, key, ip, Use::Request),
                )
                .await?;
            match verdict {
                Verdict::Allowed { key, limit } => {
                    keep(parts, key.clone(), limit, false);
                    Ok(Principal::Key(key))
                }
                Verdict::RateLimited { key, decision } => {
                    keep(parts, key, Some(decision), true);
                    Err(ApiError::KeyRateLimited(decision))
                }
                Verdict::IpNotAllowed(_) => Err(ApiError::IpNotAllowed),
                Verdict::Refused(reason) => {
                    tracing::debug!(%reason, "API key refused");
                    Err(ApiError::from(reason))
                }
                Verdict::Throttled(wait) => Err(ApiError::RateLimited(wait)),
            }
        }
        Presented::Nothing => Box::pin(session_user(parts)).await,
    }
}

/// Leaves a verified key in the request's [`KeySlot`], for the response's headers and,
/// unless `counted`, its outcome.
fn keep(parts: &Parts, key: Arc<Verified>, decision: Option<Decision>, counted: bool) {
    match parts.extensions.get::<KeySlot>() {
        Some(slot) => {
            let _ = slot.0.set(SlotKey {
                key,
                decision,
                counted,
            });
        }
        // No slot (`edge` attaches one to every API and gateway request with a key header,
        // so only a caller outside the router gets here): counted now.
        None if !counted => key.count(Outcome::Ok),
        None => {}
    }
}

/// Records how long a verification took, when metrics are on.
async fn timed<T>(verification: impl std::future::Future<Output = T>) -> T {
    match crate::metrics::get() {
        None => verification.await,
        Some(metrics) => {
            let started = std::time::Instant::now();
            let answer = verification.await;
            metrics.verification.record(started.elapsed());
            answer
        }
    }
}

/// The person logged in through the browser, when no key was presented.
async fn session_user(parts: &Parts) -> Result<Principal, ApiError> {
    let Some(session) = parts.extensions.get::<Session>() else {
        return Err(ApiError::Unauthenticated);
    };
    let Some(user_id) = app::auth::session::user_id(session).await? else {
        return Err(ApiError::Unauthenticated);
    };
    // A browser session's writes carry the page's CSRF token in its header (T4): markup
    // on our own origin passes the Origin check but cannot read it.
    if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        check_csrf_header(parts, session).await?;
    }
    Ok(Principal::User { user_id })
}

/// Refuses a session's state-changing API call without the session's CSRF token.
async fn check_csrf_header(parts: &Parts, session: &Session) -> Result<(), ApiError> {
    use app::auth::csrf;
    let token = app::auth::session::csrf_token(session)
        .await
        .map_err(|err| {
            tracing::warn!(error = %err, "session store error");
            ApiError::Unavailable
        })?;
    let presented = parts
        .headers
        .get(csrf::HEADER)
        .and_then(|v| v.to_str().ok());
    match (token, presented) {
        (Some(token), Some(presented)) if csrf::matches(&token, presented) => Ok(()),
        _ => Err(ApiError::Forbidden(
            "A browser session's API writes need the session's CSRF token (the page's csrf-token meta) in the x-csrf-token header.".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::test_util::headers;

    #[test]
    fn both_headers_and_schemes() {
        assert_eq!(presented(&headers(&[])), Presented::Nothing);
        assert_eq!(
            presented(&headers(&[("x-api-key", " kg_a ")])),
            Presented::Key("kg_a")
        );
        for auth in [
            "Bearer kg_a",
            "bearer kg_a",
            "BEARER   kg_a",
            "  Bearer\tkg_a ",
        ] {
            assert_eq!(
                presented(&headers(&[("authorization", auth)])),
                Presented::Key("kg_a"),
                "{auth}"
            );
        }
        assert_eq!(
            presented(&headers(&[
                ("x-api-key", "kg_a"),
                ("authorization", "Bearer kg_a")
            ])),
            Presented::Key("kg_a")
        );
        assert_eq!(
            presented(&headers(&[
                ("x-api-key", "kg_a"),
                ("authorization", "Bearer kg_b")
            ])),
            Presented::Conflict
        );
        assert_eq!(
            presented(&headers(&[("x-api-key", "kg_a"), ("x-api-key", "kg_b")])),
            Presented::Conflict
        );
    }

    #[test]
    fn empty_headers_and_other_schemes_are_no_credential() {
        for pairs in [
            vec![("x-api-key", "")],
            vec![("x-api-key", "   ")],
            vec![("authorization", "Bearer")],
            vec![("authorization", "Bearer   ")],
            vec![("authorization", "Basic dXNlcjpwdw==")],
            vec![("authorization", "Bearerkg_a")],
        ] {
            assert_eq!(presented(&headers(&pairs)), Presented::Nothing, "{pairs:?}");
        }
    }

    #[test]
    fn oversized_and_binary_values_are_garbage() {
        let long = "k".repeat(MAX_CREDENTIAL_LEN + 1);
        assert_eq!(
            presented(&headers(&[("x-api-key", &long)])),
            Presented::Garbage
        );
        let mut map = HeaderMap::new();
        map.insert(
            "x-api-key",
            HeaderValue::from_bytes(b"kg_\xff\xfe").unwrap(),
        );
        assert_eq!(presented(&map), Presented::Garbage);
        // A key followed by a non-breaking space (not HTTP whitespace) is not a key.
        let mut map = HeaderMap::new();
        map.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer kg_a\xc2\xa0").unwrap(),
        );
        assert_eq!(presented(&map), Presented::Garbage);
    }

    #[test]
    fn long_values_of_other_schemes_are_no_credential() {
        let basic = format!("Basic {}", "A".repeat(2 * MAX_CREDENTIAL_LEN));
        assert_eq!(
            presented(&headers(&[("authorization", &basic)])),
            Presented::Nothing
        );
        assert_eq!(
            presented(&headers(&[
                ("authorization", &basic),
                ("x-api-key", "kg_a")
            ])),
            Presented::Key("kg_a")
        );
    }

    proptest! {
        #[test]
        fn never_panics_and_never_returns_more_than_256_bytes(
            a in proptest::collection::vec(any::<u8>(), 0..600),
            b in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            let mut map = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_bytes(&a) { map.insert("x-api-key", v); }
            if let Ok(v) = HeaderValue::from_bytes(&b) { map.insert("authorization", v); }
            if let Presented::Key(k) = presented(&map) {
                prop_assert!(!k.is_empty() && k.len() <= MAX_CREDENTIAL_LEN);
            }
        }
    }
}
