//! The outbound side of webhooks (SECURITY.md W1, W2): signing a delivery per Standard
//! Webhooks, checking the URL an org admin typed, and sending one attempt.
//!
//! No SSRF: unless the operator sets `KEYGATE_WEBHOOK_ALLOW_PRIVATE=true`, the sender
//! connects only to public addresses. An IP-literal host is checked here before any
//! connection; a host name goes through [`PublicResolver`], which drops every non-public
//! address it resolves to, on every attempt (so a name re-pointed at 10.0.0.5 after the URL
//! was saved is still refused). Redirects are not followed, no proxy from the environment is
//! used, an attempt times out as a whole after [`TIMEOUT`], and at most [`EXCERPT_LIMIT`]
//! bytes of the answer are read.

use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

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
/// The longest URL an org admin may save.
pub const URL_MAX_LEN: usize = 2048;
/// The `User-Agent` of every delivery.
pub const USER_AGENT: &str = "Keygate-Webhooks/1";

const PRIVATE_ONLY: &str = "resolves only to private addresses";

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

/// Whether the sender may connect to `ip` without `KEYGATE_WEBHOOK_ALLOW_PRIVATE`.
///
/// False for loopback, private, CGNAT, link-local (cloud metadata included), "this network",
/// broadcast and reserved, multicast, documentation and benchmarking ranges, IPv6 unspecified,
/// loopback, unique-local, link-local and site-local, multicast, and for IPv6 forms that embed
/// a refused IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = a == 0 // "this network" 0.0.0.0/8
        || a == 10 // private 10/8
        || (a == 100 && (64..=127).contains(&b)) // CGNAT 100.64/10
        || a == 127 // loopback 127/8
        || (a == 169 && b == 254) // link-local 169.254/16, cloud metadata
        || (a == 172 && (16..=31).contains(&b)) // private 172.16/12
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments 192.0.0/24
        || (a == 192 && b == 0 && c == 2) // documentation TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // deprecated 6to4 relay anycast
        || (a == 192 && b == 168) // private 192.168/16
        || (a == 198 && (18..=19).contains(&b)) // benchmarking 198.18/15
        || (a == 198 && b == 51 && c == 100) // documentation TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // documentation TEST-NET-3
        || a >= 224; // multicast 224/4, reserved 240/4, broadcast 255.255.255.255
    !refused
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let o = ip.octets();
    let embedded_v4 = |at: usize| Ipv4Addr::new(o[at], o[at + 1], o[at + 2], o[at + 3]);

    if ip.is_unspecified() || ip.is_loopback() {
        return false;
    }
    // IPv4-mapped ::ffff:0:0/96 and IPv4-compatible ::/96 (:: and ::1 handled above).
    if s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0) {
        return is_public_v4(embedded_v4(12));
    }
    // NAT64 well-known prefix 64:ff9b::/96.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(embedded_v4(12));
    }
    // 6to4 2002::/16 carries an IPv4 address in bits 16..48.
    if s[0] == 0x2002 {
        return is_public_v4(embedded_v4(2));
    }
    // Teredo 2001::/32: the server's IPv4 in bits 32..64, the client's, inverted, in the last 32.
    if s[0] == 0x2001 && s[1] == 0 {
        let client = Ipv4Addr::from(!u32::from(embedded_v4(12)));
        return is_public_v4(embedded_v4(4)) && is_public_v4(client);
    }
    let refused = (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // deprecated site-local fec0::/10
        || (s[0] & 0xff00) == 0xff00 // multicast ff00::/8
        || s[..3] == [0x64, 0xff9b, 1] // local-use NAT64 64:ff9b:1::/48
        || s[..4] == [0x100, 0, 0, 0] // discard-only 100::/64
        || s[..3] == [0x2001, 2, 0] // benchmarking 2001:2::/48
        || (s[0] == 0x2001 && (s[1] & 0xfff0) == 0x10) // ORCHID 2001:10::/28
        || (s[0] == 0x2001 && (s[1] & 0xfff0) == 0x20) // ORCHIDv2 2001:20::/28
        || s[..2] == [0x2001, 0xdb8] // documentation 2001:db8::/32
        || (s[0] & 0xfff0) == 0x3ff0; // documentation 3fff::/20
    !refused
}

/// The sentence shown when a URL or a delivery names a refused address.
fn refused_address(ip: IpAddr) -> String {
    format!("Keygate does not send webhooks to private or loopback addresses such as {ip}.")
}

/// The host of `url` as an IP address, when it is an IP literal.
///
/// The URL parser has already turned every IPv4 spelling (`127.1`, `0x7f.0.0.1`,
/// `2130706433`) into dotted decimal, and IPv6 literals come in brackets.
fn literal_ip(url: &Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.parse().ok()
}

/// Validates a URL an org admin typed: http or https only, a host, no `user:password`, at most
/// [`URL_MAX_LEN`] characters, no fragment; an IP-literal host (and, unless `allow_private`,
/// the name `localhost`) must be public unless `allow_private`. Returns the normalized URL or
/// a sentence for the form.
pub fn check_url(url: &str, allow_private: bool) -> Result<String, String> {
    let url = url.trim();
    let too_long = || format!("Use a URL of at most {URL_MAX_LEN} characters.");
    if url.is_empty() {
        return Err("Enter the URL Keygate should send webhooks to.".into());
    }
    if url.chars().count() > URL_MAX_LEN {
        return Err(too_long());
    }
    let parsed = match Url::parse(url) {
        Ok(parsed) => parsed,
        // "example.com/hook": no scheme at all.
        Err(_) if !url.contains("://") => return Err("Use an http:// or https:// URL.".into()),
        Err(_) => return Err("That is not a valid URL.".into()),
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("Use an http:// or https:// URL.".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(
            "Remove the user name and password from the URL: Keygate signs each delivery instead."
                .into(),
        );
    }
    if parsed.fragment().is_some() {
        return Err("Remove the #fragment from the URL.".into());
    }
    let Some(host) = parsed.host_str() else {
        return Err("The URL needs a host name.".into());
    };
    if !allow_private {
        if let Some(ip) = literal_ip(&parsed) {
            if !is_public(ip) {
                return Err(refused_address(ip));
            }
        } else {
            let name = host.trim_end_matches('.').to_ascii_lowercase();
            if name == "localhost" || name.ends_with(".localhost") {
                return Err(
                    "Keygate does not send webhooks to private or loopback addresses such as localhost."
                        .into(),
                );
            }
        }
    }
    let normalized = String::from(parsed);
    if normalized.chars().count() > URL_MAX_LEN {
        return Err(too_long());
    }
    Ok(normalized)
}

/// The resolver's error when a name has addresses but none the sender may connect to.
#[derive(Debug)]
struct PrivateOnly;

impl fmt::Display for PrivateOnly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PRIVATE_ONLY)
    }
}

impl StdError for PrivateOnly {}

/// The resolver's error when a name does not resolve at all.
#[derive(Debug)]
struct NotResolved;

impl fmt::Display for NotResolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the host name does not resolve")
    }
}

impl StdError for NotResolved {}

/// Resolves with the system resolver (`tokio::net::lookup_host`) and keeps only public
/// addresses, unless `allow_private`. Consulted for every new connection to a host name.
#[derive(Debug, Clone, Copy)]
struct PublicResolver {
    allow_private: bool,
}

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| NotResolved)?;
            let mut any = false;
            let kept: Vec<SocketAddr> = found
                .inspect(|_| any = true)
                .filter(|addr| allow_private || is_public(addr.ip()))
                .collect();
            if kept.is_empty() {
                return Err(if any {
                    Box::new(PrivateOnly) as Box<dyn StdError + Send + Sync>
                } else {
                    Box::new(NotResolved)
                });
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
    allow_private: bool,
    timeout: Duration,
}

impl Sender {
    /// A sender with the production [`TIMEOUT`]. `allow_private` is
    /// `KEYGATE_WEBHOOK_ALLOW_PRIVATE`.
    pub fn new(allow_private: bool) -> Self {
        Self::with_timeout(allow_private, TIMEOUT)
    }

    /// A sender whose attempts time out after `timeout` (for tests).
    pub fn with_timeout(allow_private: bool, timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .user_agent(USER_AGENT)
            // A proxy from the environment would be connected to instead of the checked address.
            .no_proxy()
            .dns_resolver(Arc::new(PublicResolver { allow_private }))
            .build()
            .map_err(|_| "Keygate could not start its webhook client.".to_owned());
        Sender {
            client,
            allow_private,
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
        if let Some(ip) = literal_ip(&parsed)
            && !self.allow_private
            && !is_public(ip)
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

        let host = parsed.host_str().unwrap_or_default().to_owned();
        let request = client.post(parsed).headers(headers).body(body.to_vec());
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(error) => return Attempt::failed(self.describe(&error, &host)),
        };
        let status = response.status().as_u16();
        let mut bytes: Vec<u8> = Vec::new();
        // A body error (including the timeout) after the status keeps what was read.
        while bytes.len() < EXCERPT_LIMIT {
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
            if cause.is::<PrivateOnly>() {
                return format!(
                    "Keygate does not send webhooks to private or loopback addresses: {host} {PRIVATE_ONLY}."
                );
            }
            if cause.is::<NotResolved>() {
                return format!("The host name {host} does not resolve.");
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

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn public_addresses() {
        for s in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "169.253.255.255",
            "192.167.1.1",
            "192.0.1.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.254",
            "11.0.0.1",
            "2606:4700::1",
            "2001:4860:4860::8888",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
            "::8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(ip(s)), "{s} should be public");
        }
    }

    #[test]
    fn refused_addresses() {
        for s in [
            // this network, loopback
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.255.254",
            // private
            "10.0.0.5",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "192.168.255.255",
            // CGNAT
            "100.64.0.1",
            "100.127.255.255",
            // link-local, cloud metadata
            "169.254.0.1",
            "169.254.169.254",
            // broadcast, reserved, multicast
            "255.255.255.255",
            "240.0.0.1",
            "224.0.0.1",
            "239.255.255.250",
            // documentation, benchmarking, protocol assignments
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "198.19.255.255",
            "192.0.0.8",
            // IPv6
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
            "2001:db8::1",
            "3fff::1",
            "100::1",
            "2001:2::1",
            "64:ff9b:1::a00:5",
            // IPv4-mapped, -compatible, NAT64, 6to4, Teredo forms of refused IPv4
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.5",
            "::ffff:169.254.169.254",
            "::ffff:0.0.0.0",
            "::127.0.0.1",
            "::192.168.1.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "2002:a00:5::",
            "2002:a9fe:a9fe::1",
            "2001:0:4136:e378:8000:63bf:f5ff:fffa", // Teredo, client 10.0.0.5
            "2001:0:a00:5::1",                      // Teredo, server 10.0.0.5
        ] {
            assert!(!is_public(ip(s)), "{s} should be refused");
        }
    }

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
    fn accepted_urls() {
        for (typed, normalized) in [
            ("https://example.com/hook", "https://example.com/hook"),
            ("http://example.com", "http://example.com/"),
            (
                "  HTTPS://Example.COM:8443/a?b=c  ",
                "https://example.com:8443/a?b=c",
            ),
            ("https://8.8.8.8/x", "https://8.8.8.8/x"),
            ("https://[2606:4700::1]/x", "https://[2606:4700::1]/x"),
            (
                "https://hooks.example.org:443/p",
                "https://hooks.example.org/p",
            ),
        ] {
            assert_eq!(
                check_url(typed, false).as_deref(),
                Ok(normalized),
                "{typed}"
            );
        }
        // The operator's opt-in lets private addresses through.
        for typed in [
            "http://127.0.0.1:8080/h",
            "http://10.0.0.5/",
            "http://localhost:3000/",
            "http://[::1]/",
        ] {
            assert!(check_url(typed, true).is_ok(), "{typed}");
        }
    }

    #[test]
    fn refused_urls() {
        let scheme = Err("Use an http:// or https:// URL.".to_owned());
        assert_eq!(check_url("ftp://example.com/", false), scheme);
        assert_eq!(check_url("file:///etc/passwd", false), scheme);
        assert_eq!(check_url("javascript:alert(1)", false), scheme);
        assert_eq!(check_url("example.com/hook", false), scheme);
        assert_eq!(
            check_url("http://10.0.0.5/hook", false),
            Err(
                "Keygate does not send webhooks to private or loopback addresses such as 10.0.0.5."
                    .to_owned()
            )
        );
        for typed in [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://0x7f.0.0.1/",
            "http://2130706433/",
            "http://0.0.0.0/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://192.168.1.1:8080/",
            "http://100.64.0.1/",
            "http://localhost/",
            "http://LOCALHOST./",
            "http://api.localhost/",
        ] {
            let error = check_url(typed, false).unwrap_err();
            assert!(error.contains("private or loopback"), "{typed}: {error}");
        }
        assert!(
            check_url("https://user:pass@example.com/", false)
                .unwrap_err()
                .contains("password")
        );
        assert!(
            check_url("https://user@example.com/", false)
                .unwrap_err()
                .contains("password")
        );
        assert!(
            check_url("https://example.com/#frag", false)
                .unwrap_err()
                .contains("fragment")
        );
        assert!(
            check_url("https://example.com/#", false)
                .unwrap_err()
                .contains("fragment")
        );
        assert!(check_url("", false).is_err());
        assert!(check_url("http://", false).is_err());
        assert!(check_url("https://exa mple.com/", false).is_err());
        let long = format!("https://example.com/{}", "a".repeat(URL_MAX_LEN));
        assert!(check_url(&long, false).unwrap_err().contains("2048"));
        let fits = format!("https://example.com/{}", "a".repeat(URL_MAX_LEN - 20));
        assert_eq!(fits.len(), URL_MAX_LEN);
        assert!(check_url(&fits, false).is_ok());
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
        let sender = Sender::new(false);
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
