//! The outbound side of webhooks (SECURITY.md W1, W2): signing a delivery per Standard
//! Webhooks and sending one attempt. Which URLs an org admin may save is
//! `app::webhooks::address`.
//!
//! No SSRF: the sender connects only to public addresses, and to the private ones the
//! operator names in `KEYGATE_WEBHOOK_ALLOWED_HOSTS`; link-local and metadata addresses
//! never. An IP-literal host is checked here before any connection; a host name goes
//! through [`CheckedResolver`], which drops every address it may not connect to, on every
//! attempt (so a name re-pointed at 10.0.0.5 after the URL was saved is still refused), and
//! says the same whether the name resolved to refused addresses or did not resolve.
//! Redirects are not followed, no proxy from the environment is used, an attempt times out
//! as a whole after [`TIMEOUT`], and at most [`EXCERPT_LIMIT`] bytes of a public answer
//! are read (none of a private destination's: it is the operator's network, not the org's).

use std::error::Error as StdError;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use app::webhooks::address::{
    AllowedHosts, is_public, literal_ip, refused_address, unreachable_host,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use sha2::Sha256;

/// How long one attempt may take in all: connecting, sending, the answer's head and excerpt.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// At most this many bytes of an answer's body are read and kept.
pub const EXCERPT_LIMIT: usize = 1024;
/// The `User-Agent` of every delivery.
pub const USER_AGENT: &str = "Keygate-Webhooks/1";

/// `v1,<base64 std HMAC-SHA256(secret, "{msg_id}.{timestamp}.{body}")>` (Standard Webhooks).
pub fn signature(secret: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC accepts a key of any length");
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The resolver's error when a name has no address the sender may connect to: it
/// resolves to refused addresses only, or not at all (one error for both, W2).
#[derive(Debug)]
struct Unreachable;

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the host name has no address webhooks may be sent to")
    }
}

impl StdError for Unreachable {}

/// Resolves with the system resolver (`tokio::net::lookup_host`) and keeps only the
/// addresses `allowed` lets the sender connect to. Consulted for every new connection to
/// a host name.
struct CheckedResolver {
    allowed: Arc<AllowedHosts>,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allowed = self.allowed.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| Unreachable)?;
            let kept: Vec<SocketAddr> = found
                .filter(|addr| allowed.allows(&host, addr.ip()))
                .collect();
            if kept.is_empty() {
                return Err(Box::new(Unreachable) as Box<dyn StdError + Send + Sync>);
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The HTTP status of the answer, if one came.
    pub status: Option<u16>,
    /// At most [`EXCERPT_LIMIT`] bytes of the answer's body, lossy UTF-8.
    pub excerpt: String,
    /// Why there is no status (refused address, timeout, connection error): a short sentence
    /// with no secret and no URL in it.
    pub error: Option<String>,
}

impl Attempt {
    /// A 2xx answer.
    pub fn succeeded(&self) -> bool {
        matches!(self.status, Some(200..=299))
    }

    fn failed(error: impl Into<String>) -> Self {
        Attempt {
            status: None,
            excerpt: String::new(),
            error: Some(error.into()),
        }
    }
}

/// Sends webhook deliveries; cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct Sender {
    /// `Err` only if the TLS backend could not start; every attempt then reports it.
    client: Result<reqwest::Client, String>,
    allowed: Arc<AllowedHosts>,
    timeout: Duration,
}

impl Sender {
    /// A sender with the production [`TIMEOUT`]. `allowed` is
    /// `KEYGATE_WEBHOOK_ALLOWED_HOSTS`.
    pub fn new(allowed: Arc<AllowedHosts>) -> Self {
        Self::with_timeout(allowed, TIMEOUT)
    }

    /// A sender whose attempts time out after `timeout` (for tests).
    pub fn with_timeout(allowed: Arc<AllowedHosts>, timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .user_agent(USER_AGENT)
            // A proxy from the environment would be connected to instead of the checked address.
            .no_proxy()
            .dns_resolver(Arc::new(CheckedResolver {
                allowed: allowed.clone(),
            }))
            .build()
            .map_err(|_| "Keygate could not start its webhook client.".to_owned());
        Sender {
            client,
            allowed,
            timeout,
        }
    }

    /// POSTs `body` (`application/json`) to `url` with `webhook-id`, `webhook-timestamp` and
    /// `webhook-signature` (one space-separated `v1,...` per secret, so a rotation can sign
    /// with two). Never panics; reads at most [`EXCERPT_LIMIT`] bytes of the answer.
    pub async fn send(
        &self,
        url: &str,
        msg_id: &str,
        timestamp: i64,
        body: &[u8],
        secrets: &[&[u8]],
    ) -> Attempt {
        let client = match &self.client {
            Ok(client) => client,
            Err(error) => return Attempt::failed(error.clone()),
        };
        let Ok(parsed) = Url::parse(url) else {
            return Attempt::failed("The webhook URL is not valid.");
        };
        if !matches!(parsed.scheme(), "http" | "https") {
            return Attempt::failed("The webhook URL is not an http:// or https:// URL.");
        }
        if parsed.host().is_none() {
            return Attempt::failed("The webhook URL has no host.");
        }
        // The resolver is not consulted for IP literals: check them here.
        let host = parsed.host_str().unwrap_or_default().to_owned();
        if let Some(ip) = literal_ip(&parsed)
            && !self.allowed.allows(&host, ip)
        {
            return Attempt::failed(refused_address(ip));
        }
        if secrets.is_empty() {
            return Attempt::failed("The endpoint has no secret to sign the delivery with.");
        }
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let Ok(id) = HeaderValue::from_str(msg_id) else {
            return Attempt::failed("The message id cannot be sent as a header.");
        };
        headers.insert("webhook-id", id);
        headers.insert("webhook-timestamp", HeaderValue::from(timestamp));
        let signatures: Vec<String> = secrets
            .iter()
            .map(|secret| signature(secret, msg_id, timestamp, body))
            .collect();
        let Ok(signatures) = HeaderValue::from_str(&signatures.join(" ")) else {
            return Attempt::failed("The delivery could not be signed.");
        };
        headers.insert("webhook-signature", signatures);

        let request = client.post(parsed).headers(headers).body(body.to_vec());
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(error) => return Attempt::failed(self.describe(&error, &host)),
        };
        let status = response.status().as_u16();
        // What a private destination (one the operator allowed) answers stays there: the
        // org's admins see its status, never its words.
        let public = response
            .remote_addr()
            .is_some_and(|addr| is_public(addr.ip()));
        let mut bytes: Vec<u8> = Vec::new();
        // A body error (including the timeout) after the status keeps what was read.
        while public && bytes.len() < EXCERPT_LIMIT {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = EXCERPT_LIMIT - bytes.len();
                    bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                Ok(None) | Err(_) => break,
            }
        }
        drop(response);
        Attempt {
            status: Some(status),
            excerpt: excerpt(&bytes),
            error: None,
        }
    }

    /// A short sentence for a failed request, naming the host but never the URL (whose path
    /// or query may hold a token).
    fn describe(&self, error: &reqwest::Error, host: &str) -> String {
        let mut source: Option<&(dyn StdError + 'static)> = error.source();
        let mut io_kind = None;
        while let Some(cause) = source {
            if cause.is::<Unreachable>() {
                return unreachable_host(host);
            }
            if let Some(io) = cause.downcast_ref::<std::io::Error>() {
                io_kind.get_or_insert(io.kind());
            }
            source = cause.source();
        }
        if error.is_timeout() || io_kind == Some(std::io::ErrorKind::TimedOut) {
            return format!(
                "The request timed out after {}.",
                show_duration(self.timeout)
            );
        }
        if error.is_connect() {
            return match io_kind {
                Some(std::io::ErrorKind::ConnectionRefused) => {
                    format!("Could not connect to {host}: connection refused.")
                }
                _ => format!("Could not connect to {host}."),
            };
        }
        format!("The request to {host} failed before an answer came.")
    }
}

fn show_duration(duration: Duration) -> String {
    if duration.subsec_millis() == 0 && duration.as_secs() > 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{} ms", duration.as_millis())
    }
}

/// Lossy UTF-8 of at most [`EXCERPT_LIMIT`] bytes, cut on a character boundary: a character
/// split by the limit is dropped rather than shown as U+FFFD.
fn excerpt(bytes: &[u8]) -> String {
    let mut bytes = &bytes[..bytes.len().min(EXCERPT_LIMIT)];
    if bytes.len() == EXCERPT_LIMIT
        && let Err(error) = std::str::from_utf8(bytes)
        && error.error_len().is_none()
    {
        bytes = &bytes[..error.valid_up_to()];
    }
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    // U+FFFD takes three bytes where the invalid byte took one.
    let mut end = text.len().min(EXCERPT_LIMIT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_reference_vector() {
        let secret = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            signature(
                &secret,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn excerpt_is_cut_on_a_char_boundary() {
        assert_eq!(excerpt(b"ok"), "ok");
        assert_eq!(excerpt(&[b'a'; 5000]).len(), EXCERPT_LIMIT);
        // "é" is two bytes: the one split by the limit is dropped, not shown as U+FFFD.
        let mut bytes = vec![b'a'; EXCERPT_LIMIT - 1];
        bytes.extend_from_slice("é".as_bytes());
        let text = excerpt(&bytes);
        assert_eq!(text.len(), EXCERPT_LIMIT - 1);
        assert!(!text.contains('\u{fffd}'));
        // Invalid bytes become U+FFFD and the result still fits the limit.
        let text = excerpt(&[0xff; EXCERPT_LIMIT]);
        assert!(text.len() <= EXCERPT_LIMIT && text.starts_with('\u{fffd}'));
    }

    #[test]
    fn attempt_succeeded_only_on_2xx() {
        let with = |status| Attempt {
            status,
            excerpt: String::new(),
            error: None,
        };
        assert!(with(Some(200)).succeeded());
        assert!(with(Some(204)).succeeded());
        assert!(with(Some(299)).succeeded());
        assert!(!with(Some(302)).succeeded());
        assert!(!with(Some(500)).succeeded());
        assert!(!with(None).succeeded());
    }

    #[tokio::test]
    async fn refused_before_connecting() {
        let sender = Sender::new(Arc::default());
        let attempt = sender
            .send(
                "http://169.254.169.254/latest/meta-data/",
                "msg_1",
                1,
                b"{}",
                &[b"k"],
            )
            .await;
        assert_eq!(attempt.status, None);
        assert!(attempt.error.unwrap().contains("169.254.169.254"));
        let attempt = sender
            .send("http://[::ffff:10.0.0.5]/", "msg_1", 1, b"{}", &[b"k"])
            .await;
        assert!(attempt.error.unwrap().contains("private"));
        // A name that resolves to loopback only gets the sentence a name that does not
        // resolve gets: an org admin cannot map the deployment's internal names (W2).
        let attempt = sender
            .send("http://localhost:9/hook", "msg_1", 1, b"{}", &[b"k"])
            .await;
        assert_eq!(attempt.error, Some(unreachable_host("localhost")));
        let attempt = sender.send("not a url", "msg_1", 1, b"{}", &[b"k"]).await;
        assert!(attempt.error.is_some());
        let attempt = sender
            .send("https://example.com/", "msg_1", 1, b"{}", &[])
            .await;
        assert!(attempt.error.unwrap().contains("secret"));
        let attempt = sender
            .send("https://example.com/", "bad\nid", 1, b"{}", &[b"k"])
            .await;
        assert!(attempt.error.is_some());
    }
}
