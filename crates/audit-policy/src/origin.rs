//! Where a client may come from: `local`, or SSH clients in an address range.
//!
//! The origin is what `audit-tmux` reads from `/proc`: `local`, the SSH client's IP address,
//! or `ssh` when the connection is known but its address is not. Addresses are compared as
//! addresses, not text, so `10.0.0.1` matches `10.0.0.0/8` and `::ffff:10.0.0.1` (an IPv4
//! client seen on an IPv6 socket) matches it too.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

/// One entry of a rule's `origins`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginPattern {
    /// `local`: a client not running under SSH.
    Local,
    /// An address range; a single address is a range of one (`/32` or `/128`).
    Net(IpNet),
}

impl OriginPattern {
    /// Reads a policy entry: `local`, an IPv4/IPv6 address, or a CIDR.
    pub fn parse(text: &str) -> Option<OriginPattern> {
        if text == "local" {
            return Some(OriginPattern::Local);
        }
        if let Ok(net) = text.parse::<IpNet>() {
            return Some(OriginPattern::Net(net));
        }
        text.parse::<IpAddr>()
            .ok()
            .map(|addr| OriginPattern::Net(IpNet::from(addr)))
    }

    /// Whether a client origin (as `audit-tmux` reports it) is within this entry.
    pub fn matches(&self, origin: &str) -> bool {
        match (self, ClientOrigin::of(origin)) {
            (OriginPattern::Local, ClientOrigin::Local) => true,
            (OriginPattern::Net(net), ClientOrigin::Addr(addr)) => {
                net.contains(&addr) || canonical(addr).is_some_and(|v4| net.contains(&v4))
            }
            _ => false,
        }
    }
}

impl fmt::Display for OriginPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OriginPattern::Local => f.write_str("local"),
            OriginPattern::Net(net) if net.prefix_len() == net.max_prefix_len() => {
                write!(f, "{}", net.addr())
            }
            OriginPattern::Net(net) => write!(f, "{net}"),
        }
    }
}

/// A client's origin as reported, sorted into what can be matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientOrigin {
    /// Not under SSH.
    Local,
    /// An SSH client address.
    Addr(IpAddr),
    /// Anything else (`ssh` with no address, or text that is not an address): matches no
    /// entry, since nothing says where it came from.
    Other,
}

impl ClientOrigin {
    pub(crate) fn of(origin: &str) -> ClientOrigin {
        if origin == "local" {
            return ClientOrigin::Local;
        }
        // Accept the forms addresses are printed in: `[::1]`, and `fe80::1%eth0` (the zone
        // names an interface, not a different address).
        let bare = origin.trim_start_matches('[').trim_end_matches(']');
        let bare = bare.split('%').next().unwrap_or(bare);
        bare.parse().map_or(ClientOrigin::Other, ClientOrigin::Addr)
    }
}

/// The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`).
fn canonical(addr: IpAddr) -> Option<IpAddr> {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
        IpAddr::V4(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{ClientOrigin, OriginPattern};

    fn pattern(text: &str) -> OriginPattern {
        OriginPattern::parse(text).expect(text)
    }

    #[test]
    fn parses_local_addresses_and_ranges_and_refuses_the_rest() {
        assert_eq!(pattern("local"), OriginPattern::Local);
        assert_eq!(pattern("10.0.0.0/8").to_string(), "10.0.0.0/8");
        assert_eq!(pattern("192.0.2.7").to_string(), "192.0.2.7");
        assert_eq!(pattern("2001:db8::/32").to_string(), "2001:db8::/32");
        for bad in [
            "10.0.0.0/33",
            "10.0.0",
            "LOCAL",
            "",
            "ssh",
            "2001:db8::/129",
        ] {
            assert_eq!(OriginPattern::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn ranges_match_addresses_inside_them_only() {
        let net = pattern("10.0.0.0/8");
        assert!(net.matches("10.200.3.4"));
        assert!(!net.matches("11.0.0.1"));
        assert!(!net.matches("local"));
        let host = pattern("192.0.2.7");
        assert!(host.matches("192.0.2.7"));
        assert!(!host.matches("192.0.2.8"));
    }

    #[test]
    fn ipv6_clients_match_ipv6_ranges_including_bracketed_and_zoned_forms() {
        let net = pattern("2001:db8::/32");
        assert!(net.matches("2001:db8::5"));
        assert!(net.matches("[2001:db8::5]"));
        assert!(!net.matches("2001:db9::5"));
        assert!(pattern("fe80::/10").matches("fe80::1%eth0"));
    }

    #[test]
    fn an_ipv4_client_seen_as_ipv4_mapped_ipv6_matches_the_ipv4_range() {
        assert!(pattern("10.0.0.0/8").matches("::ffff:10.1.2.3"));
        assert!(!pattern("10.0.0.0/8").matches("::ffff:11.1.2.3"));
    }

    #[test]
    fn ssh_without_an_address_matches_nothing() {
        assert_eq!(ClientOrigin::of("ssh"), ClientOrigin::Other);
        assert!(!pattern("local").matches("ssh"));
        assert!(!pattern("0.0.0.0/0").matches("ssh"));
    }
}
