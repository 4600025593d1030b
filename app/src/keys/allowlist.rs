//! IP allowlists: the addresses and CIDR ranges a key may be used from. Checked against
//! the client address Keygate derives (the connection's peer, or with
//! `KEYGATE_TRUSTED_PROXIES` the right-most untrusted `X-Forwarded-For` hop), never a
//! header a client sets itself, before any rate limit counts the request.

use std::net::IpAddr;

/// Most entries one key's list may hold.
pub const MAX_ALLOWED_IPS: usize = 50;

/// An address (`192.0.2.7`) or a CIDR range (`203.0.113.0/24`, `2001:db8::/32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    addr: IpAddr,
    prefix: u8,
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) as the IPv4 address they are.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

/// `addr` with every bit past `prefix` cleared.
fn network(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    }
}

impl IpRange {
    /// Parses one entry, accepting any prefix length (0 included) the address family
    /// allows; the error names the entry.
    pub fn parse_any(entry: &str) -> Result<Self, String> {
        let (addr, prefix) = match entry.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (entry, None),
        };
        let addr = canonical(
            addr.parse::<IpAddr>()
                .map_err(|_| format!("{entry:?} is not an IP address or CIDR range"))?,
        );
        let max = max_prefix(addr);
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{entry:?} has a prefix length outside 0-{max}"))?,
        };
        Ok(Self { addr, prefix })
    }

    /// Parses one entry of a key's allowlist: like [`IpRange::parse_any`], but a range
    /// that allows every address (`/0`) is refused as meaningless, and so is a range
    /// with bits set past its prefix (a typo more often than not).
    pub fn parse(entry: &str) -> Result<Self, String> {
        let range = Self::parse_any(entry)?;
        if range.prefix == 0 {
            return Err(format!(
                "{entry:?} would allow every address: leave the list empty for that"
            ));
        }
        let net = network(range.addr, range.prefix);
        if net != range.addr {
            return Err(format!(
                "{entry:?} has bits set past its prefix: did you mean {net}/{}?",
                range.prefix
            ));
        }
        Ok(range)
    }

    /// Whether every address of this range is in `other`.
    pub fn within(&self, other: &IpRange) -> bool {
        self.prefix >= other.prefix && other.contains(self.addr)
    }

    /// The prefix length: 32 or 128 for a single address, 0 for every address.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        ip.is_ipv4() == self.addr.is_ipv4() && network(ip, self.prefix) == self.addr
    }
}

impl std::fmt::Display for IpRange {
    /// `192.0.2.7` for a single address, `203.0.113.0/24` for a range.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix == max_prefix(self.addr) {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

/// A key's allowlist from a request or form: entries separated by commas, spaces or new
/// lines; duplicates dropped; `None` when empty (the key works from anywhere). Errors are
/// sentences that name the entry at fault.
pub fn parse_list<'a>(
    entries: impl IntoIterator<Item = &'a str>,
) -> Result<Option<Vec<IpRange>>, String> {
    let mut ranges: Vec<IpRange> = Vec::new();
    for entry in entries
        .into_iter()
        .flat_map(|e| e.split([',', ' ', '\n', '\r', '\t']))
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let range = IpRange::parse(entry)?;
        if !ranges.contains(&range) {
            ranges.push(range);
        }
        if ranges.len() > MAX_ALLOWED_IPS {
            return Err(format!(
                "A key may list at most {MAX_ALLOWED_IPS} addresses or ranges."
            ));
        }
    }
    Ok((!ranges.is_empty()).then_some(ranges))
}

/// As stored: normalized and comma-separated.
pub fn to_stored(ranges: &[IpRange]) -> String {
    ranges
        .iter()
        .map(IpRange::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The stored list. An entry that no longer parses is dropped, but a list whose every
/// entry was dropped allows nothing: a damaged list never opens a key to everyone.
pub fn from_stored(stored: Option<&str>) -> Option<Vec<IpRange>> {
    let stored = stored.filter(|s| !s.trim().is_empty())?;
    Some(
        stored
            .split(',')
            .filter_map(|e| IpRange::parse(e.trim()).ok())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_contain_their_addresses_only() {
        let v4 = IpRange::parse("203.0.113.0/24").unwrap();
        assert!(v4.contains(ip("203.0.113.9")));
        assert!(v4.contains(ip("::ffff:203.0.113.9")), "IPv4-mapped");
        assert!(!v4.contains(ip("203.0.114.1")));
        assert!(!v4.contains(ip("2001:db8::1")));
        let v6 = IpRange::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        let one = IpRange::parse("192.0.2.7").unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        assert_eq!(one.to_string(), "192.0.2.7");
        assert_eq!(v6.to_string(), "2001:db8::/32");
    }

    #[test]
    fn bad_entries_are_refused_by_name() {
        for (entry, says) in [
            ("0.0.0.0/0", "every address"),
            ("::/0", "every address"),
            ("10.0.0.1/33", "prefix length outside 0-32"),
            ("2001:db8::/129", "prefix length outside 0-128"),
            ("not-an-ip", "not an IP address"),
            ("203.0.113.5/24", "did you mean 203.0.113.0/24"),
        ] {
            let error = parse_list([entry]).unwrap_err();
            assert!(
                error.contains(entry) && error.contains(says),
                "{entry}: {error}"
            );
        }
        let many: Vec<String> = (0..=MAX_ALLOWED_IPS)
            .map(|i| format!("10.0.{i}.0/24"))
            .collect();
        assert!(
            parse_list(many.iter().map(String::as_str))
                .unwrap_err()
                .contains("at most 50")
        );
    }

    #[test]
    fn lists_are_normalized_and_round_trip() {
        let list = parse_list(["203.0.113.0/24, 2001:DB8::/32\n192.0.2.7 203.0.113.0/24"])
            .unwrap()
            .unwrap();
        let stored = to_stored(&list);
        assert_eq!(stored, "203.0.113.0/24,2001:db8::/32,192.0.2.7");
        assert_eq!(from_stored(Some(&stored)), Some(list));
        assert_eq!(parse_list(["  ", ""]).unwrap(), None);
        assert_eq!(from_stored(None), None);
        assert_eq!(from_stored(Some("garbage")), Some(vec![]), "fails closed");
    }
}
