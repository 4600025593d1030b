//! Which webhook URLs and addresses Keygate may send to (SECURITY.md W2): checked when an
//! org admin saves a URL, and again by the sender on every resolved address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::Url;

use crate::keys::allowlist::IpRange;

/// The longest URL an org admin may save.
pub const URL_MAX_LEN: usize = 2048;

/// `KEYGATE_WEBHOOK_ALLOWED_HOSTS`: the private destinations an operator lets webhooks go
/// to besides public addresses (an internal service), as host names (every address the
/// name resolves to) or addresses and CIDR ranges. Link-local addresses, the clouds'
/// metadata services among them, are never allowed, whatever the list says (W2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    names: Vec<String>,
    ranges: Vec<IpRange>,
}

impl AllowedHosts {
    /// Parses a list separated by commas or spaces; the error names the entry at fault.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut allowed = Self::default();
        for entry in raw
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
        {
            if entry.parse::<IpAddr>().is_ok() || entry.contains('/') {
                let range = IpRange::parse_any(entry)?;
                if range.prefix() == 0 {
                    return Err(format!(
                        "{entry:?} would allow every address: name the hosts or ranges webhooks may reach"
                    ));
                }
                allowed.ranges.push(range);
            } else {
                let name = host_name(entry);
                let valid = !name.is_empty()
                    && name.len() <= 253
                    && name
                        .split('.')
                        .all(|label| !label.is_empty() && label.len() <= 63)
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
                if !valid {
                    return Err(format!(
                        "{entry:?} is neither a host name nor an address or CIDR range"
                    ));
                }
                allowed.names.push(name);
            }
        }
        Ok(allowed)
    }

    /// Whether the sender may connect to `ip` for a URL whose host is `host`.
    pub fn allows(&self, host: &str, ip: IpAddr) -> bool {
        if never_allowed(ip) {
            return false;
        }
        is_public(ip)
            || self.ranges.iter().any(|range| range.contains(ip))
            || self.allows_name(host)
    }

    /// Whether `host` is named in the list.
    pub fn allows_name(&self, host: &str) -> bool {
        let host = host_name(host);
        self.names.contains(&host)
    }
}

/// A host name as compared: lower case, without a trailing dot or IPv6 brackets.
fn host_name(host: &str) -> String {
    host.trim_end_matches('.')
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

/// Addresses no webhook may ever reach: link-local (169.254/16, where cloud metadata
/// services answer, and fe80::/10, in any IPv6 form that embeds them), AWS's IPv6
/// metadata address, unspecified, broadcast and multicast.
pub fn never_allowed(ip: IpAddr) -> bool {
    match crate::keys::allowlist::canonical(ip) {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            (a == 169 && b == 254) || v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast()
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            (s[0] & 0xffc0) == 0xfe80
                || s == [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254]
                || v6.is_unspecified()
                || v6.is_multicast()
        }
    }
}

/// Whether the sender may connect to `ip` with nothing allowed besides public addresses.
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
pub fn refused_address(ip: IpAddr) -> String {
    format!("Keygate does not send webhooks to private or loopback addresses such as {ip}.")
}

/// The sentence shown when a host name has no address Keygate may send to: the same
/// whether it resolves to private addresses only or does not resolve at all, so an org
/// admin cannot map the deployment's internal names (issue 27 §5).
pub fn unreachable_host(host: &str) -> String {
    format!(
        "The host name {host} does not resolve to a public address, so Keygate does not send webhooks to it."
    )
}

/// The host of `url` as an IP address, when it is an IP literal.
///
/// The URL parser has already turned every IPv4 spelling (`127.1`, `0x7f.0.0.1`,
/// `2130706433`) into dotted decimal, and IPv6 literals come in brackets.
pub fn literal_ip(url: &Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.parse().ok()
}

/// Validates a URL an org admin typed: http or https only, a host, no `user:password`, at most
/// [`URL_MAX_LEN`] characters, no fragment; an IP-literal host must be public or `allowed`,
/// and never link-local; the name `localhost` must be `allowed` by name. Returns the
/// normalized URL or a sentence for the form.
pub fn check_url(url: &str, allowed: &AllowedHosts) -> Result<String, String> {
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
    if let Some(ip) = literal_ip(&parsed) {
        if !allowed.allows(host, ip) {
            return Err(refused_address(ip));
        }
    } else {
        let name = host_name(host);
        if (name == "localhost" || name.ends_with(".localhost")) && !allowed.allows_name(&name) {
            return Err(
                "Keygate does not send webhooks to private or loopback addresses such as localhost."
                    .into(),
            );
        }
    }
    let normalized = String::from(parsed);
    if normalized.chars().count() > URL_MAX_LEN {
        return Err(too_long());
    }
    Ok(normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> AllowedHosts {
        AllowedHosts::default()
    }

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
                check_url(typed, &none()).as_deref(),
                Ok(normalized),
                "{typed}"
            );
        }
        // What the operator allows goes through, and nothing else private does.
        let allowed = AllowedHosts::parse("127.0.0.1, 10.0.0.0/8 ::1,localhost").unwrap();
        for typed in [
            "http://127.0.0.1:8080/h",
            "http://10.0.0.5/",
            "http://localhost:3000/",
            "http://[::1]/",
        ] {
            assert!(check_url(typed, &allowed).is_ok(), "{typed}");
        }
        for typed in [
            "http://192.168.1.1/",
            "http://127.0.0.2/",
            "http://app.localhost/",
        ] {
            assert!(check_url(typed, &allowed).is_err(), "{typed}");
        }
    }

    #[test]
    fn link_local_and_metadata_are_never_allowed() {
        let allowed =
            AllowedHosts::parse("169.254.0.0/16, fe80::/10, 0.0.0.0/1, metadata.internal").unwrap();
        for ip in [
            "169.254.169.254",
            "169.254.1.1",
            "::ffff:169.254.169.254",
            "fe80::1",
            "fd00:ec2::254",
            "0.0.0.0",
            "224.0.0.1",
        ] {
            assert!(
                !allowed.allows("metadata.internal", ip.parse().unwrap()),
                "{ip}"
            );
        }
        assert!(check_url("http://169.254.169.254/latest/meta-data/", &allowed).is_err());
        assert!(allowed.allows("metadata.internal", "10.1.2.3".parse().unwrap()));
        assert!(
            allowed.allows("elsewhere", "10.1.2.3".parse().unwrap()),
            "0.0.0.0/1"
        );
        assert!(!allowed.allows("elsewhere", "192.168.1.1".parse().unwrap()));
    }

    #[test]
    fn the_allowed_hosts_are_checked() {
        assert_eq!(AllowedHosts::parse("").unwrap(), AllowedHosts::default());
        for bad in ["0.0.0.0/0", "::/0", "10.0.0.0/33", "bad_host!", "a..b"] {
            let error = AllowedHosts::parse(&format!("10.0.0.1, {bad}")).unwrap_err();
            assert!(error.contains(bad), "{bad}: {error}");
        }
        let allowed = AllowedHosts::parse("Hooks.Internal.").unwrap();
        assert!(allowed.allows_name("hooks.internal"));
        assert!(allowed.allows("HOOKS.internal.", "10.9.9.9".parse().unwrap()));
    }

    #[test]
    fn refused_urls() {
        let scheme = Err("Use an http:// or https:// URL.".to_owned());
        assert_eq!(check_url("ftp://example.com/", &none()), scheme);
        assert_eq!(check_url("file:///etc/passwd", &none()), scheme);
        assert_eq!(check_url("javascript:alert(1)", &none()), scheme);
        assert_eq!(check_url("example.com/hook", &none()), scheme);
        assert_eq!(
            check_url("http://10.0.0.5/hook", &none()),
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
            let error = check_url(typed, &none()).unwrap_err();
            assert!(error.contains("private or loopback"), "{typed}: {error}");
        }
        assert!(
            check_url("https://user:pass@example.com/", &none())
                .unwrap_err()
                .contains("password")
        );
        assert!(
            check_url("https://user@example.com/", &none())
                .unwrap_err()
                .contains("password")
        );
        assert!(
            check_url("https://example.com/#frag", &none())
                .unwrap_err()
                .contains("fragment")
        );
        assert!(
            check_url("https://example.com/#", &none())
                .unwrap_err()
                .contains("fragment")
        );
        assert!(check_url("", &none()).is_err());
        assert!(check_url("http://", &none()).is_err());
        assert!(check_url("https://exa mple.com/", &none()).is_err());
        let long = format!("https://example.com/{}", "a".repeat(URL_MAX_LEN));
        assert!(check_url(&long, &none()).unwrap_err().contains("2048"));
        let fits = format!("https://example.com/{}", "a".repeat(URL_MAX_LEN - 20));
        assert_eq!(fits.len(), URL_MAX_LEN);
        assert!(check_url(&fits, &none()).is_ok());
    }
}
