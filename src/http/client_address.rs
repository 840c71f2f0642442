//! Which client a request comes from, as the per-address rate limit counts it.
//!
//! The client is the connecting peer. `X-Forwarded-For` is anyone's to write, so it is read only
//! when the peer is one of the reverse proxies the operator listed
//! (`FLASHSALE_RATE_LIMIT_TRUSTED_PROXIES`), and then only as far as those proxies vouch for
//! it: walking from its right end (the hop the nearest proxy appended), the first address that
//! is not itself a trusted proxy is the client. Whatever a client wrote to the left of that is
//! never believed.
//!
//! An IPv6 client counts by its /64: one host is routinely given a whole /64, so counting
//! single addresses would give it 2^64 separate limits.

use std::net::{IpAddr, Ipv6Addr};

use actix_web::http::header::HeaderValue;
use ipnet::IpNet;

/// The header a reverse proxy appends the address it received the request from to.
pub const FORWARDED_FOR: &str = "X-Forwarded-For";

/// The reverse proxies whose `X-Forwarded-For` is believed; none by default.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The client of a request from `peer` carrying the `X-Forwarded-For` header lines
    /// `forwarded_for` (all of them, in order), as its rate-limit key (see [`limit_key`]).
    pub fn client<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl DoubleEndedIterator<Item = &'a HeaderValue>,
    ) -> IpAddr {
        let peer = peer.to_canonical();
        let mut client = peer;
        if self.trusts(peer) {
            // Right to left: each address was appended by the hop to its right, which is
            // believed only while that hop is a trusted proxy. A hop that cannot be read ends
            // the walk at the last one that could.
            let hops = forwarded_for
                .rev()
                .flat_map(|line| line.to_str().unwrap_or_default().rsplit(','));
            for hop in hops {
                let Ok(address) = hop.trim().parse::<IpAddr>() else {
                    break;
                };
                client = address.to_canonical();
                if !self.trusts(client) {
                    break;
                }
            }
        }
        limit_key(client)
    }
}

/// The key an address is limited under: an IPv4 address itself, an IPv6 address its /64.
pub fn limit_key(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !(u128::MAX >> 64);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("a valid address")
    }

    fn proxies(networks: &[&str]) -> TrustedProxies {
        TrustedProxies::new(
            networks
                .iter()
                .map(|n| n.parse().expect("a valid network"))
                .collect(),
        )
    }

    /// The client of a request from `peer` with these `X-Forwarded-For` lines.
    fn client(trusted: &TrustedProxies, peer: &str, lines: &[&str]) -> IpAddr {
        let values: Vec<HeaderValue> = lines
            .iter()
            .map(|line| HeaderValue::from_str(line).expect("a valid header value"))
            .collect();
        trusted.client(ip(peer), values.iter())
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let none = TrustedProxies::default();
        assert_eq!(
            client(&none, "203.0.113.9", &["198.51.100.1"]),
            ip("203.0.113.9")
        );
        // Trusting some proxy does not make every peer one.
        let one = proxies(&["10.0.0.7/32"]);
        assert_eq!(
            client(&one, "203.0.113.9", &["198.51.100.1"]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_client_is_the_rightmost_untrusted_hop() {
        let trusted = proxies(&["10.0.0.0/8"]);
        // The client forged the left part; the proxy appended what it saw.
        assert_eq!(
            client(&trusted, "10.0.0.7", &["1.2.3.4, 198.51.100.1"]),
            ip("198.51.100.1")
        );
        // Two proxies in a chain, and the header split over two lines.
        assert_eq!(
            client(&trusted, "10.0.0.7", &["1.2.3.4, 198.51.100.1", "10.0.0.8"]),
            ip("198.51.100.1")
        );
        // No header: the proxy itself is the client.
        assert_eq!(client(&trusted, "10.0.0.7", &[]), ip("10.0.0.7"));
        // Every hop a proxy: the leftmost one.
        assert_eq!(client(&trusted, "10.0.0.7", &["10.0.0.9"]), ip("10.0.0.9"));
        // A hop that is not an address ends the walk at the last one that was.
        assert_eq!(
            client(&trusted, "10.0.0.7", &["1.2.3.4, junk, 10.0.0.9"]),
            ip("10.0.0.9")
        );
        assert_eq!(client(&trusted, "10.0.0.7", &["junk"]), ip("10.0.0.7"));
    }

    #[test]
    fn an_ipv6_client_counts_by_its_64_and_a_mapped_ipv4_as_ipv4() {
        let none = TrustedProxies::default();
        assert_eq!(
            client(&none, "2001:db8:1:2:aaaa::1", &[]),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            client(&none, "2001:db8:1:2:ffff:1:2:3", &[]),
            client(&none, "2001:db8:1:2::9", &[])
        );
        assert_ne!(
            client(&none, "2001:db8:1:3::1", &[]),
            client(&none, "2001:db8:1:2::1", &[])
        );
        assert_eq!(client(&none, "::ffff:192.0.2.1", &[]), ip("192.0.2.1"));
    }
}
