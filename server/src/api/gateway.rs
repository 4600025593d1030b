//! `/gw/*`: forwards a request authenticated by an API key with the `gateway` scope to
//! `KEYGATE_UPSTREAM_URL`. Method, path, query, headers and body go through (bodies are
//! streamed both ways, never buffered); the credential, Keygate's cookie and hop-by-hop
//! headers do not. The upstream learns the caller from `X-Keygate-Org-Id`,
//! `X-Keygate-Key-Id`, `X-Keygate-Scopes`, `X-Keygate-Key-Owner` (for a key with an
//! owner id) and `X-Keygate-Permissions` (for a key with permissions of the API), which a
//! client can never set itself. The organization's route rules decide first which
//! requests a key's permissions allow.

use std::net::SocketAddr;

use app::keys::scopes::Scope;
use app::keys::verify::routes::{RouteVerdict, Routes};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Uri, uri::PathAndQuery};

use super::auth::Principal;
use super::error::ApiError;

pub const ORG_HEADER: HeaderName = HeaderName::from_static("x-keygate-org-id");
pub const KEY_HEADER: HeaderName = HeaderName::from_static("x-keygate-key-id");
pub const SCOPES_HEADER: HeaderName = HeaderName::from_static("x-keygate-scopes");
pub const OWNER_HEADER: HeaderName = HeaderName::from_static("x-keygate-key-owner");
pub const PERMISSIONS_HEADER: HeaderName = HeaderName::from_static("x-keygate-permissions");

/// Hop-by-hop headers (RFC 9110 7.6.1), never forwarded in either direction.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

const FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Which of the headers the gateway filters a message has, found in one pass over its
/// names: most messages have none of them, and looking each one up by name would hash
/// a dozen names per request.
#[derive(Default)]
struct Filtered {
    connection: bool,
    hop_by_hop: bool,
    api_key: bool,
    authorization: bool,
    cookie: bool,
    set_cookie: bool,
    keygate: bool,
}

fn filtered(headers: &HeaderMap) -> Filtered {
    let mut found = Filtered::default();
    for name in headers.keys() {
        match name.as_str() {
            "connection" => {
                found.connection = true;
                found.hop_by_hop = true;
            }
            "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade" => found.hop_by_hop = true,
            "x-api-key" => found.api_key = true,
            "authorization" => found.authorization = true,
            "cookie" => found.cookie = true,
            "set-cookie" => found.set_cookie = true,
            other if other.starts_with("x-keygate-") => found.keygate = true,
            _ => {}
        }
    }
    found
}

fn strip_hop_by_hop(headers: &mut HeaderMap, found: &Filtered) {
    if found.connection {
        let listed: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
            .collect();
        for name in listed {
            headers.remove(name);
        }
    }
    if found.hop_by_hop {
        for name in HOP_BY_HOP {
            headers.remove(name);
        }
    }
}

/// The request headers the upstream gets: the caller's own, minus the key, Keygate's
/// session cookie, hop-by-hop headers and any `X-Keygate-*` the caller tried to set.
fn upstream_headers(mut headers: HeaderMap, peer: Option<SocketAddr>) -> HeaderMap {
    let found = filtered(&headers);
    strip_hop_by_hop(&mut headers, &found);
    headers.remove(header::HOST);
    if found.api_key {
        headers.remove(super::auth::X_API_KEY);
    }
    // Every Authorization value that carries a Bearer token goes, readable or not; other
    // schemes (Basic, ...) are the upstream's own and pass through.
    if found.authorization {
        let kept: Vec<HeaderValue> = headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .filter(|v| super::auth::bearer_token(v.as_bytes()).is_none())
            .cloned()
            .collect();
        headers.remove(header::AUTHORIZATION);
        for value in kept {
            headers.append(header::AUTHORIZATION, value);
        }
    }
    if found.cookie {
        let cookies: Vec<String> = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .filter(|c| {
                let name = c.split('=').next().unwrap_or_default();
                name != crate::state::SESSION_COOKIE && name != crate::state::SECURE_SESSION_COOKIE
            })
            .map(str::to_owned)
            .collect();
        headers.remove(header::COOKIE);
        if !cookies.is_empty()
            && let Ok(value) = HeaderValue::from_str(&cookies.join("; "))
        {
            headers.insert(header::COOKIE, value);
        }
    }
    if found.keygate {
        let spoofed: Vec<HeaderName> = headers
            .keys()
            .filter(|name| name.as_str().starts_with("x-keygate-"))
            .cloned()
            .collect();
        for name in spoofed {
            headers.remove(name);
        }
    }
    if let Some(peer) = peer {
        let value = match headers.get(FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
            Some(previous) => HeaderValue::try_from(format!("{previous}, {}", peer.ip())),
            None => HeaderValue::try_from(peer.ip().to_string()),
        };
        if let Ok(value) = value {
            headers.insert(FORWARDED_FOR, value);
        }
    }
    headers
}

/// Whether `path` has a `.` or `..` segment, also percent-encoded or behind an encoded or
/// back slash: an upstream that normalises paths would resolve it outside the
/// configured base path.
fn escapes_prefix(path: &str) -> bool {
    // Without a dot, a percent sign or a backslash there is no such segment, encoded or
    // not (most paths: no need to build the decoded copy).
    if !path.bytes().any(|b| matches!(b, b'.' | b'%' | b'\\')) {
        return false;
    }
    let decoded = path
        .to_ascii_lowercase()
        .replace("%2e", ".")
        .replace("%2f", "/")
        .replace("%5c", "/")
        .replace('\\', "/");
    decoded
        .split('/')
        .any(|segment| segment == "." || segment == "..")
}

/// `upstream` + `rest` (the part of the path after `/gw`, or after an organization's
/// upstream prefix), with the caller's query string.
fn upstream_uri(upstream: &Uri, rest: &str, query: Option<&str>) -> Result<Uri, ApiError> {
    if escapes_prefix(rest) {
        return Err(ApiError::BadRequest(
            "The gateway path may not contain '.' or '..' segments.".into(),
        ));
    }
    let base = upstream.path().trim_end_matches('/');
    let mut path = format!("{base}{rest}");
    if path.is_empty() {
        path.push('/');
    }
    if let Some(query) = query {
        path.push('?');
        path.push_str(query);
    }
    let mut parts = upstream.clone().into_parts();
    parts.path_and_query = Some(
        PathAndQuery::try_from(path)
            .map_err(|_| ApiError::BadRequest("The request path cannot be forwarded.".into()))?,
    );
    Uri::from_parts(parts)
        .map_err(|_| ApiError::BadRequest("The request path cannot be forwarded.".into()))
}

pub async fn forward(
    State(state): State<crate::state::ServerState>,
    principal: Principal,
    request: Request,
) -> Result<Response, ApiError> {
    // Borrowed from the shared state: cloning the client per request costs more than
    // the forwarding itself.
    let gateway = &state.gateway;
    let key = match principal {
        Principal::Key(key) => key,
        Principal::User { .. } => {
            return Err(ApiError::Forbidden(
                "The gateway takes API keys, not browser sessions.".into(),
            ));
        }
    };
    principal_scope(&key)?;
    let org = state
        .app
        .verifier
        .routes(&state.app.db, &key.org_id)
        .await?;
    let rest = request.uri().path().strip_prefix("/gw").unwrap_or("");
    route_rules(&org.rules, &key, request.method(), rest)?;
    let (upstream, rest) = match org.upstreams.matching(rest) {
        Some((upstream, rest)) => {
            // Checked when saved; checked again, in case the operator has since taken the
            // host off KEYGATE_UPSTREAM_HOSTS.
            if !gateway.allows(upstream) {
                tracing::warn!(key_id = %key.key_id, "an organization's upstream names a host the operator no longer allows");
                return Err(ApiError::BadGateway);
            }
            (upstream, rest)
        }
        None => match &gateway.upstream {
            Some(upstream) => (upstream, rest),
            None => return Err(ApiError::NoUpstream),
        },
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr);
    let uri = upstream_uri(upstream, rest, request.uri().query())?;
    let (parts, body) = request.into_parts();
    let mut headers = upstream_headers(parts.headers, peer);
    let scopes = key.scopes.to_stored();
    let owner = key.context.as_ref().and_then(|c| c.owner.as_deref());
    let permissions = key.grants.as_ref().map(|g| g.listed());
    let identity = [
        (ORG_HEADER, Some(key.org_id.as_str())),
        (KEY_HEADER, Some(key.key_id.as_str())),
        (SCOPES_HEADER, Some(scopes.as_str())),
        (OWNER_HEADER, owner),
        (PERMISSIONS_HEADER, permissions),
    ];
    for (name, value) in identity {
        // Owner ids and permission names are printable ASCII, so every value here is a
        // valid header value.
        if let Some(Ok(value)) = value.map(HeaderValue::from_str) {
            headers.insert(name, value);
        }
    }
    let mut outgoing = http::Request::new(body);
    *outgoing.method_mut() = parts.method;
    *outgoing.uri_mut() = uri;
    *outgoing.headers_mut() = headers;

    let timer = crate::metrics::get().map(|m| (m, std::time::Instant::now()));
    let answer = tokio::time::timeout(gateway.timeout, gateway.client.request(outgoing)).await;
    if let Some((metrics, started)) = timer {
        let status = match &answer {
            Ok(Ok(response)) => Some(response.status().as_u16()),
            _ => None,
        };
        metrics.upstream_answered(status, started.elapsed());
    }
    let response = match answer {
        Err(_) => {
            tracing::warn!(key_id = %key.key_id, "upstream timed out");
            return Err(ApiError::GatewayTimeout);
        }
        Ok(Err(e)) => {
            tracing::warn!(key_id = %key.key_id, error = %e, connect = e.is_connect(), "upstream request failed");
            return Err(ApiError::BadGateway);
        }
        Ok(Ok(response)) => response,
    };
    let (mut parts, body) = response.into_parts();
    downstream_headers(&mut parts.headers);
    Ok(Response::from_parts(parts, Body::new(body)))
}

/// The upstream's response headers, minus hop-by-hop headers and any cookie named like
/// Keygate's session cookie: the gateway shares Keygate's origin, and an upstream must not
/// be able to set or clear a browser's Keygate session.
fn downstream_headers(headers: &mut HeaderMap) {
    let found = filtered(headers);
    strip_hop_by_hop(headers, &found);
    if !found.set_cookie {
        return;
    }
    let kept: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter(|v| {
            let name = v
                .as_bytes()
                .split(|b| *b == b'=')
                .next()
                .unwrap_or_default()
                .trim_ascii();
            name != crate::state::SESSION_COOKIE.as_bytes()
                && name != crate::state::SECURE_SESSION_COOKIE.as_bytes()
        })
        .cloned()
        .collect();
    headers.remove(header::SET_COOKIE);
    for value in kept {
        headers.append(header::SET_COOKIE, value);
    }
}

/// The organization's route rules for this request (compiled and cached: no database
/// work once read): a request the matching rule refuses gets 403
/// `insufficient_permission` naming what the key lacks, before the upstream sees it; a
/// report-only rule's would-be refusal is counted and logged, and the request goes on.
/// `path` is the part after `/gw`.
fn route_rules(
    routes: &Routes,
    key: &app::keys::verify::Verified,
    method: &http::Method,
    path: &str,
) -> Result<(), ApiError> {
    if routes.is_empty() && routes.unmatched == app::permissions::routes::Unmatched::Allow {
        return Ok(());
    }
    match routes.decide(key.grants.as_deref(), &key.meter, method.as_str(), path) {
        RouteVerdict::Allowed(_) => Ok(()),
        RouteVerdict::WouldDeny { rule, missing } => {
            tracing::info!(
                key_id = %key.key_id,
                rule,
                missing = %missing.join(" "),
                "a report-only route rule would refuse this request"
            );
            Ok(())
        }
        RouteVerdict::Denied { missing, .. } => Err(ApiError::InsufficientPermission(
            missing.into_iter().map(str::to_owned).collect(),
        )),
    }
}

fn principal_scope(key: &app::keys::verify::digest::KeyPrincipal) -> Result<(), ApiError> {
    if key.scopes.contains(Scope::Gateway) {
        Ok(())
    } else {
        Err(ApiError::InsufficientScope(Scope::Gateway))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_queries_are_joined_to_the_upstream() {
        let up: Uri = "http://127.0.0.1:9000/base/".parse().unwrap();
        let cases = [
            (
                "/gw/v1/items?x=1&y=2",
                "http://127.0.0.1:9000/base/v1/items?x=1&y=2",
            ),
            ("/gw", "http://127.0.0.1:9000/base"),
            ("/gw/", "http://127.0.0.1:9000/base/"),
        ];
        let forward = |up: &Uri, incoming: &str| {
            let uri: Uri = incoming.parse().unwrap();
            upstream_uri(
                up,
                uri.path().strip_prefix("/gw").unwrap_or(""),
                uri.query(),
            )
        };
        for (incoming, expected) in cases {
            let got = forward(&up, incoming).unwrap();
            assert_eq!(got.to_string(), expected, "{incoming}");
        }
        let root: Uri = "http://10.0.0.1:80".parse().unwrap();
        assert_eq!(
            forward(&root, "/gw").unwrap().to_string(),
            "http://10.0.0.1:80/"
        );
        for escaping in [
            "/gw/../admin",
            "/gw/a/./b",
            "/gw/%2e%2E/admin",
            "/gw/.%2e/admin",
            "/gw/x/..%2fadmin",
            "/gw/x/..%5cadmin",
            "/gw/..",
        ] {
            assert!(
                matches!(forward(&up, escaping), Err(ApiError::BadRequest(_))),
                "{escaping} was forwarded"
            );
        }
        // Dots inside a name are fine.
        assert!(forward(&up, "/gw/v1/file..name/.well").is_ok());
    }

    #[test]
    fn upstream_cannot_set_keygate_session_cookies() {
        let mut h = HeaderMap::new();
        for cookie in [
            "theirs=1; Path=/",
            "keygate_session=evil; Path=/",
            "__Host-keygate=evil; Path=/; Secure",
        ] {
            h.append(header::SET_COOKIE, HeaderValue::from_str(cookie).unwrap());
        }
        h.insert("connection", HeaderValue::from_static("close"));
        downstream_headers(&mut h);
        let cookies: Vec<_> = h.get_all(header::SET_COOKIE).iter().collect();
        assert_eq!(cookies, ["theirs=1; Path=/"]);
        assert!(h.get("connection").is_none());
    }

    #[test]
    fn credentials_and_spoofed_identity_are_not_forwarded() {
        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_static("kg_secret"));
        h.insert(
            "authorization",
            HeaderValue::from_static("Bearer kg_secret"),
        );
        h.insert("x-keygate-org-id", HeaderValue::from_static("org_spoofed"));
        h.insert("connection", HeaderValue::from_static("close, x-drop-me"));
        h.insert("x-drop-me", HeaderValue::from_static("1"));
        h.insert("x-custom", HeaderValue::from_static("kept"));
        h.insert(
            "cookie",
            HeaderValue::from_static("keygate_session=abc; theirs=1"),
        );
        let out = upstream_headers(h, Some("10.1.2.3:5555".parse().unwrap()));
        for gone in [
            "x-api-key",
            "authorization",
            "x-keygate-org-id",
            "connection",
            "x-drop-me",
        ] {
            assert!(out.get(gone).is_none(), "{gone} was forwarded");
        }
        assert_eq!(out["x-custom"], "kept");
        assert_eq!(out["cookie"], "theirs=1");
        assert_eq!(out["x-forwarded-for"], "10.1.2.3");

        // A Bearer value after another scheme, or one that is not valid UTF-8, goes too;
        // the other scheme's value stays.
        let mut mixed = HeaderMap::new();
        mixed.append("authorization", HeaderValue::from_static("Basic dXNlcg=="));
        mixed.append(
            "authorization",
            HeaderValue::from_static("bearer kg_secret"),
        );
        mixed.append(
            "authorization",
            HeaderValue::from_bytes(b"Bearer kg_secret\xc2\xa0").unwrap(),
        );
        let out = upstream_headers(mixed, None);
        let kept: Vec<_> = out.get_all("authorization").iter().collect();
        assert_eq!(kept, ["Basic dXNlcg=="]);
    }
}
