//! `/gw/*`: forwards a request authenticated by an API key with the `gateway` scope to
//! `KEYGATE_UPSTREAM_URL`. Method, path, query, headers and body go through (bodies are
//! streamed both ways, never buffered); the credential, Keygate's cookie and hop-by-hop
//! headers do not. The upstream learns the caller from `X-Keygate-Org-Id`,
//! `X-Keygate-Key-Id` and `X-Keygate-Scopes`, which a client can never set itself.

use std::net::SocketAddr;
use std::time::Duration;

use app::keys::scopes::Scope;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Uri, uri::PathAndQuery};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::auth::Principal;
use super::error::ApiError;

pub const ORG_HEADER: &str = "x-keygate-org-id";
pub const KEY_HEADER: &str = "x-keygate-key-id";
pub const SCOPES_HEADER: &str = "x-keygate-scopes";

/// The upstream and a pooled HTTP/1.1 client to it.
#[derive(Clone, Debug)]
pub struct Gateway {
    upstream: Option<Uri>,
    timeout: Duration,
    client: Client<HttpConnector, Body>,
}

impl Gateway {
    pub fn new(upstream: Option<Uri>, timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Self {
            upstream,
            timeout,
            client,
        }
    }
}

/// Hop-by-hop headers (RFC 9110 7.6.1), never forwarded in either direction.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
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
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The request headers the upstream gets: the caller's own, minus the key, Keygate's
/// session cookie, hop-by-hop headers and any `X-Keygate-*` the caller tried to set.
fn upstream_headers(mut headers: HeaderMap, peer: Option<SocketAddr>) -> HeaderMap {
    strip_hop_by_hop(&mut headers);
    headers.remove(header::HOST);
    headers.remove("x-api-key");
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .get(..6)
                .is_some_and(|s| s.eq_ignore_ascii_case("bearer"))
        });
    if bearer {
        headers.remove(header::AUTHORIZATION);
    }
    let cookies: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .filter(|c| {
            let name = c.split('=').next().unwrap_or_default();
            name != crate::http::SESSION_COOKIE && name != crate::http::SECURE_SESSION_COOKIE
        })
        .map(str::to_owned)
        .collect();
    headers.remove(header::COOKIE);
    if !cookies.is_empty()
        && let Ok(value) = HeaderValue::from_str(&cookies.join("; "))
    {
        headers.insert(header::COOKIE, value);
    }
    let spoofed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("x-keygate-"))
        .cloned()
        .collect();
    for name in spoofed {
        headers.remove(name);
    }
    if let Some(peer) = peer {
        let forwarded = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(previous) => format!("{previous}, {}", peer.ip()),
            None => peer.ip().to_string(),
        };
        if let Ok(value) = HeaderValue::from_str(&forwarded) {
            headers.insert("x-forwarded-for", value);
        }
    }
    headers
}

/// `upstream` + the part of `path` after `/gw`, with the caller's query string.
fn upstream_uri(upstream: &Uri, original: &Uri) -> Result<Uri, ApiError> {
    let rest = original.path().strip_prefix("/gw").unwrap_or("");
    let base = upstream.path().trim_end_matches('/');
    let mut path = format!("{base}{rest}");
    if path.is_empty() {
        path.push('/');
    }
    if let Some(query) = original.query() {
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
    State(gateway): State<Gateway>,
    principal: Principal,
    request: Request,
) -> Result<Response, ApiError> {
    let key = match principal {
        Principal::Key(key) => key,
        Principal::User { .. } => {
            return Err(ApiError::Forbidden(
                "The gateway takes API keys, not browser sessions.".into(),
            ));
        }
    };
    principal_scope(&key)?;
    let Some(upstream) = &gateway.upstream else {
        return Err(ApiError::NoUpstream);
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr);
    let (parts, body) = request.into_parts();
    let uri = upstream_uri(upstream, &parts.uri)?;
    let mut headers = upstream_headers(parts.headers, peer);
    let identity = [
        (ORG_HEADER, key.org_id.clone()),
        (KEY_HEADER, key.key_id.clone()),
        (SCOPES_HEADER, key.scopes.to_stored()),
    ];
    for (name, value) in identity {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    let mut outgoing = http::Request::new(body);
    *outgoing.method_mut() = parts.method;
    *outgoing.uri_mut() = uri;
    *outgoing.headers_mut() = headers;

    let response = match tokio::time::timeout(gateway.timeout, gateway.client.request(outgoing))
        .await
    {
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
    strip_hop_by_hop(&mut parts.headers);
    Ok(Response::from_parts(parts, Body::new(body)))
}

fn principal_scope(key: &app::keys::service::KeyPrincipal) -> Result<(), ApiError> {
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
        for (incoming, expected) in cases {
            let got = upstream_uri(&up, &incoming.parse().unwrap()).unwrap();
            assert_eq!(got.to_string(), expected, "{incoming}");
        }
        let root: Uri = "http://10.0.0.1:80".parse().unwrap();
        assert_eq!(
            upstream_uri(&root, &"/gw".parse().unwrap())
                .unwrap()
                .to_string(),
            "http://10.0.0.1:80/"
        );
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

        let mut basic = HeaderMap::new();
        basic.insert("authorization", HeaderValue::from_static("Basic dXNlcg=="));
        assert_eq!(
            upstream_headers(basic, None)["authorization"],
            "Basic dXNlcg=="
        );
    }
}
