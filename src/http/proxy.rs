//! The client's address behind reverse proxies: `X-Forwarded-For` is
//! believed only from the proxies `[http] trusted_proxies` lists, and then
//! only as far back as the last address that is not itself a trusted
//! proxy (the rightmost untrusted hop, which the client could not forge).

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// An address or a CIDR range.
pub fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net);
    }
    s.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("{s:?} is neither an IP address nor a CIDR range"))
}

/// The trusted proxies.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// From `[http] trusted_proxies` (validated by the configuration).
    pub fn new(list: &[String]) -> anyhow::Result<Self> {
        list.iter()
            .map(|s| parse_net(s).map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<Vec<_>>>()
            .map(TrustedProxies)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client of a request that reached us from `peer`.
    pub fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer.ip()) {
            return peer.ip();
        }
        let hops: Vec<Option<IpAddr>> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|h| parse_hop(h.trim()))
            .collect();
        // From the nearest hop back: the first one we do not trust is the
        // client as far as we can know. A hop we cannot read ends the walk
        // at the last address we could: what lies before it is anyone's.
        let mut client = peer.ip();
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) => {
                    client = *ip;
                    if !self.trusts(*ip) {
                        break;
                    }
                }
                None => break,
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, or one with a port (some
/// proxies add it).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let proxies = TrustedProxies::new(&["10.0.0.0/8".into(), "127.0.0.1".into()]).unwrap();
        let proxy: SocketAddr = "10.1.2.3:443".parse().unwrap();
        let stranger: SocketAddr = "192.0.2.7:5555".parse().unwrap();
        assert_eq!(
            proxies.client(proxy, &headers("203.0.113.9")),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        // A client cannot forge an earlier hop past the proxy's own entry.
        assert_eq!(
            proxies.client(proxy, &headers("6.6.6.6, 203.0.113.9, 10.9.9.9")),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            proxies.client(stranger, &headers("203.0.113.9")),
            stranger.ip(),
            "ignored from anyone else"
        );
        assert_eq!(proxies.client(proxy, &HeaderMap::new()), proxy.ip());
        // An entry with a port is read; one that cannot be read stops the
        // walk: a forged entry before it does not count.
        assert_eq!(
            proxies.client(proxy, &headers("203.0.113.9:5678")),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            proxies.client(proxy, &headers("6.6.6.6, unknown, 10.9.9.9")),
            "10.9.9.9".parse::<IpAddr>().unwrap()
        );
        assert!(parse_net("10.0.0.0/33").is_err() && parse_net("proxy").is_err());
    }
}
