//! The client's address, decided once per request. By default it is the connection's
//! peer and forwarding headers are ignored (anyone can send them). Behind a load balancer
//! or reverse proxy, the operator names the proxies in `KEYGATE_TRUSTED_PROXIES`; for a
//! request from one of them, the client is the right-most `X-Forwarded-For` address that
//! is not itself a trusted proxy. The per-address limits (failed verifications, logins)
//! use this address, so they count clients rather than the proxy.

use std::net::{IpAddr, SocketAddr};

use app::keys::allowlist::{IpRange, canonical};
use app::ssr::ClientAddr;
use axum::extract::{ConnectInfo, Request};
use http::HeaderMap;

/// Addresses and CIDR ranges (`10.0.0.0/8`, `fd00::/8`, `192.0.2.7`) of trusted proxies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpRange>);

impl TrustedProxies {
    /// Parses a comma-separated list; the error names the entry that is wrong. A range
    /// of every address (`/0`) is refused (L4): it would let every client name its own
    /// address in `X-Forwarded-For` and so escape every per-address limit.
    pub fn parse(raw: &str) -> Result<Self, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|entry| {
                let range = IpRange::parse_any(entry)?;
                if range.prefix() == 0 {
                    return Err(format!(
                        "{entry:?} would trust every address, so any client could choose its own address: name your proxies' addresses or ranges"
                    ));
                }
                Ok(range)
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|range| range.contains(ip))
    }

    /// The client of a request that came from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.contains(peer) {
            return canonical(peer);
        }
        // Right to left: each trusted hop appended the address it got the request from.
        let mut hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        hops.reverse();
        let mut client = canonical(peer);
        for hop in hops {
            let Ok(ip) = hop.parse::<IpAddr>() else {
                // Garbage in the chain: trust nothing further left.
                break;
            };
            client = canonical(ip);
            if !self.contains(ip) {
                break;
            }
        }
        client
    }
}

/// Records the request's [`ClientAddr`] as an extension for every handler.
pub fn record(trusted: &TrustedProxies, request: &mut Request) {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    if let Some(peer) = peer {
        let client = trusted.client(peer, request.headers());
        request.extensions_mut().insert(ClientAddr(client));
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn forwarded(chain: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(chain).unwrap());
        h
    }

    #[test]
    fn parses_addresses_and_ranges_and_names_bad_entries() {
        let t = TrustedProxies::parse(" 10.0.0.0/8, 192.0.2.7 ,fd00::/8,").unwrap();
        assert!(t.contains(ip("10.200.1.1")));
        assert!(t.contains(ip("192.0.2.7")));
        assert!(!t.contains(ip("192.0.2.8")));
        assert!(t.contains(ip("fd12::1")));
        assert!(t.contains(ip("::ffff:10.1.1.1")), "IPv4-mapped");
        assert!(!t.contains(ip("11.0.0.1")));
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        assert!(
            TrustedProxies::parse("0.0.0.0/1")
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
        for bad in [
            "10.0.0.0/33",
            "example.com",
            "10.0.0.1/x",
            "::/129",
            "0.0.0.0/0",
            "::/0",
        ] {
            let message = TrustedProxies::parse(bad).unwrap_err();
            assert!(message.contains(bad), "{message}");
        }
        let message = TrustedProxies::parse("10.0.0.1, 1.2.3.4/0").unwrap_err();
        assert!(
            message.contains("\"1.2.3.4/0\" would trust every address"),
            "{message}"
        );
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client(ip("203.0.113.9"), &forwarded("1.2.3.4")),
            ip("203.0.113.9")
        );

        let lb = TrustedProxies::parse("10.0.0.0/8").unwrap();
        // A direct client cannot choose its address.
        assert_eq!(
            lb.client(ip("203.0.113.9"), &forwarded("1.2.3.4")),
            ip("203.0.113.9")
        );
        // Through the balancer: the address it appended, not what the client claimed.
        assert_eq!(
            lb.client(ip("10.0.0.2"), &forwarded("1.2.3.4, 198.51.100.7")),
            ip("198.51.100.7")
        );
        // Through two trusted hops.
        assert_eq!(
            lb.client(ip("10.0.0.2"), &forwarded("198.51.100.7, 10.0.0.9")),
            ip("198.51.100.7")
        );
        // No header, or garbage right after the proxy: the proxy itself.
        assert_eq!(lb.client(ip("10.0.0.2"), &HeaderMap::new()), ip("10.0.0.2"));
        assert_eq!(
            lb.client(ip("10.0.0.2"), &forwarded("1.2.3.4, nonsense")),
            ip("10.0.0.2")
        );
    }
}
