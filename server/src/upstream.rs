//! The gateway's upstreams and the pooled HTTP/1.1 client that `api::gateway` forwards
//! requests with: `KEYGATE_UPSTREAM_URL` (the default) and each organization's upstreams
//! by path prefix, over http or https. TLS is rustls, trusting the system's roots, or
//! only the CA certificates of `KEYGATE_UPSTREAM_CA_FILE` when it is set (a private CA).
//! Which hosts an organization may send its requests to is the operator's choice
//! (`KEYGATE_UPSTREAM_HOSTS`; the default upstream's host is always allowed).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::Uri;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::CertificateDer;

/// What an upstream URL must be, for `KEYGATE_UPSTREAM_URL` and an organization's
/// upstreams alike: http or https, a host, no credentials, query or fragment.
pub fn check_upstream(uri: &http::Uri) -> Result<(), String> {
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err("must start with http:// or https://".into()),
    }
    let Some(authority) = uri.authority() else {
        return Err("must name a host, as in https://billing.internal:8443".into());
    };
    if authority.as_str().contains('@') {
        return Err("must not contain credentials".into());
    }
    if uri.query().is_some() {
        return Err("must not contain a query string".into());
    }
    Ok(())
}

/// The upstream and a pooled HTTP/1.1 client to it.
#[derive(Clone, Debug)]
pub struct Gateway {
    pub(crate) upstream: Option<Uri>,
    pub(crate) timeout: Duration,
    pub(crate) client: Client<HttpsConnector<HttpConnector>, Body>,
    /// Hosts (with a port, or any port) an organization's upstreams may name.
    allowed_hosts: Arc<[AllowedHost]>,
}

/// `host` or `host:port` of `KEYGATE_UPSTREAM_HOSTS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHost {
    pub host: String,
    pub port: Option<u16>,
}

impl AllowedHost {
    pub fn parse(text: &str) -> Option<AllowedHost> {
        let text = text.trim().to_ascii_lowercase();
        if text.is_empty() || text.contains(['/', '@', '?', '#']) {
            return None;
        }
        // `[::1]:8080`, `host:8080`, `host`.
        let uri: Uri = format!("http://{text}").parse().ok()?;
        let authority = uri.authority()?;
        // A `:` after the host (past an IPv6 address's `]`) must be a port number.
        let after_host = text
            .rsplit_once(']')
            .map_or(text.as_str(), |(_, rest)| rest);
        if after_host.contains(':') && authority.port_u16().is_none() {
            return None;
        }
        Some(AllowedHost {
            host: authority.host().trim_matches(['[', ']']).to_owned(),
            port: authority.port_u16(),
        })
    }

    fn allows(&self, uri: &Uri) -> bool {
        let Some(host) = uri.host() else {
            return false;
        };
        host.trim_matches(['[', ']'])
            .eq_ignore_ascii_case(&self.host)
            && self
                .port
                .is_none_or(|port| Some(port) == uri.port_u16().or(default_port(uri)))
    }
}

fn default_port(uri: &Uri) -> Option<u16> {
    match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    }
}

/// The roots upstream certificates are checked against: `ca` alone when given (a private
/// CA, `KEYGATE_UPSTREAM_CA_FILE`), else the system's.
fn roots(ca: Option<&[CertificateDer<'static>]>) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(certs) => {
            roots.add_parsable_certificates(certs.iter().cloned());
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for error in &found.errors {
                tracing::warn!(%error, "a system root certificate could not be read");
            }
            roots.add_parsable_certificates(found.certs);
        }
    }
    if roots.is_empty() {
        tracing::warn!(
            "no trusted root certificates: https upstreams will fail (set KEYGATE_UPSTREAM_CA_FILE)"
        );
    }
    roots
}

impl Gateway {
    pub fn new(
        upstream: Option<Uri>,
        timeout: Duration,
        ca: Option<&[CertificateDer<'static>]>,
        allowed_hosts: Vec<AllowedHost>,
    ) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        // https URLs reach the TLS layer.
        connector.enforce_http(false);
        // Shorter than the whole timeout, so an unreachable upstream is a 502 rather than
        // a race between the connect timeout (502) and the request timeout (504).
        connector.set_connect_timeout(Some((timeout / 2).min(Duration::from_secs(5))));
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring offers TLS 1.2 and 1.3")
        .with_root_certificates(roots(ca))
        .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        let mut allowed_hosts = allowed_hosts;
        if let Some(default) = upstream
            .as_ref()
            .and_then(|u| u.authority())
            .and_then(|a| AllowedHost::parse(a.as_str()))
        {
            allowed_hosts.push(default);
        }
        Self {
            upstream,
            timeout,
            client,
            allowed_hosts: allowed_hosts.into(),
        }
    }

    /// Whether an organization may send requests to `uri`'s host.
    pub fn allows(&self, uri: &Uri) -> bool {
        self.allowed_hosts.iter().any(|h| h.allows(uri))
    }

    /// The check of an upstream URL an organization names (a length, http(s) with no
    /// credentials or query, and a host the operator allows): the URL as stored, or what
    /// is wrong. Given to the application for its pages; the REST API uses it too.
    pub fn url_check(&self) -> app::permissions::upstreams::UpstreamCheck {
        let gateway = self.clone();
        app::permissions::upstreams::UpstreamCheck(Arc::new(move |raw: &str| {
            if raw.len() > app::permissions::upstreams::MAX_URL_LEN {
                return Err("The URL is too long.".into());
            }
            let uri: Uri = raw
                .parse()
                .map_err(|_| "is not a URL such as https://billing.internal/api.".to_owned())?;
            check_upstream(&uri).map_err(|m| format!("The URL {m}."))?;
            if !gateway.allows(&uri) {
                return Err(format!(
                    "This server does not send requests to {}: the hosts it allows are {}.",
                    uri.host().unwrap_or_default(),
                    gateway.allowed_hosts_text()
                ));
            }
            Ok(uri.to_string())
        }))
    }

    /// Fetching an OpenAPI document by URL for the import, with the gateway's client: on
    /// a host the operator allows (as an upstream), redirects not followed, within the
    /// upstream timeout and [`MAX_DOCUMENT`](app::permissions::openapi::MAX_DOCUMENT).
    pub fn document_fetch(&self) -> app::permissions::openapi::DocumentFetch {
        let gateway = self.clone();
        app::permissions::openapi::DocumentFetch(Arc::new(move |raw: String| {
            let gateway = gateway.clone();
            Box::pin(async move { gateway.fetch_document(&raw).await })
        }))
    }

    async fn fetch_document(&self, raw: &str) -> Result<String, String> {
        use http_body_util::BodyExt;
        let uri: Uri = raw
            .parse()
            .ok()
            .filter(|u: &Uri| matches!(u.scheme_str(), Some("http" | "https")))
            .filter(|u| u.authority().is_some_and(|a| !a.as_str().contains('@')))
            .ok_or_else(|| {
                "Give an http:// or https:// URL without credentials, such as \
                 https://billing.internal/openapi.json."
                    .to_owned()
            })?;
        if !self.allows(&uri) {
            return Err(format!(
                "This server fetches documents only from the hosts it allows for upstreams: {}.",
                self.allowed_hosts_text()
            ));
        }
        let request = http::Request::get(uri)
            .header(http::header::ACCEPT, "application/json")
            .body(Body::empty())
            .map_err(|_| "The URL cannot be requested.".to_owned())?;
        let fetched = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|_| "The document's server could not be reached.".to_owned())?;
            if !response.status().is_success() {
                return Err(format!(
                    "The document's server answered {}.",
                    response.status()
                ));
            }
            let limit = app::permissions::openapi::MAX_DOCUMENT;
            http_body_util::Limited::new(response.into_body(), limit)
                .collect()
                .await
                .map(|body| body.to_bytes())
                .map_err(|_| format!("The document is larger than {} MB.", limit / 1024 / 1024))
        };
        let bytes = tokio::time::timeout(self.timeout, fetched)
            .await
            .map_err(|_| "The document's server did not answer in time.".to_owned())??;
        String::from_utf8(bytes.to_vec()).map_err(|_| "The document is not UTF-8 text.".to_owned())
    }

    /// The hosts it may, for an error message.
    pub fn allowed_hosts_text(&self) -> String {
        if self.allowed_hosts.is_empty() {
            return "none (the operator sets KEYGATE_UPSTREAM_HOSTS)".into();
        }
        self.allowed_hosts
            .iter()
            .map(|h| match h.port {
                Some(port) => format!("{}:{port}", h.host),
                None => h.host.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_matched_with_their_port_when_one_is_given() {
        let any_port = AllowedHost::parse("Billing.Internal").unwrap();
        let one_port = AllowedHost::parse("search.internal:9200").unwrap();
        let v6 = AllowedHost::parse("[::1]:8443").unwrap();
        let uri = |s: &str| s.parse::<Uri>().unwrap();
        assert!(any_port.allows(&uri("https://billing.internal/api")));
        assert!(any_port.allows(&uri("http://billing.internal:8080")));
        assert!(!any_port.allows(&uri("http://billing.internal.evil.example")));
        assert!(one_port.allows(&uri("http://search.internal:9200/x")));
        assert!(!one_port.allows(&uri("http://search.internal/x")));
        assert!(v6.allows(&uri("https://[::1]:8443/")));
        assert!(AllowedHost::parse("a/b").is_none());
        assert!(AllowedHost::parse("user@host").is_none());
        assert!(AllowedHost::parse("host:port").is_none());
        let https = AllowedHost::parse("api.example.com:443").unwrap();
        assert!(https.allows(&uri("https://api.example.com/v1")));
    }
}
