//! HL7 v2 from the RIS and HIS: an MLLP listener (`[hl7] bind`) that takes
//! orders (ORM^O01, OMI^O23) and patient updates (ADT^A08, A31) and merges
//! (ADT^A40) from the senders `[[hl7.senders]]` lists, applies each through
//! the service layer, and answers every message with an ACK.
//!
//! - `message`: ER7 parsing and the ACK;
//! - `apply`: what each message does;
//! - `listener`: MLLP framing, connection limits and timeouts.

mod apply;
mod listener;
pub mod message;

pub use listener::serve;

use std::net::IpAddr;

use ipnet::IpNet;
use storage::TenantId;

use crate::config::Hl7Config;
use crate::service::Context;

/// One configured sender.
#[derive(Debug, Clone)]
struct Sender {
    application: String,
    facility: String,
    tenant: TenantId,
    /// Where it may connect from; empty: anywhere.
    hosts: Vec<IpNet>,
}

/// Who may send: the configured senders, each with its tenant and hosts.
#[derive(Debug, Clone)]
pub struct Senders(Vec<Sender>);

/// Why a message's sender is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// MSH-3/MSH-4 name no configured sender.
    Unknown,
    /// A configured sender, from an address it does not connect from.
    WrongHost,
}

impl Senders {
    /// From `[[hl7.senders]]` (validated by the configuration).
    pub fn new(config: &Hl7Config) -> anyhow::Result<Self> {
        let mut out = Vec::new();
        for s in &config.senders {
            let tenant = if s.tenant.is_empty() {
                TenantId::implicit()
            } else {
                TenantId::parse(&s.tenant)
                    .map_err(|e| anyhow::anyhow!("[[hl7.senders]] tenant {:?}: {e}", s.tenant))?
            };
            let hosts = s
                .hosts
                .iter()
                .map(|h| crate::http::proxy::parse_net(h).map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<Vec<_>>>()?;
            out.push(Sender {
                application: s.application.clone(),
                facility: s.facility.clone(),
                tenant,
                hosts,
            });
        }
        Ok(Senders(out))
    }

    /// The context of a message from `application` at `facility` (MSH-3,
    /// MSH-4) that came from `ip`: a listed sender, from one of its hosts.
    pub fn context(
        &self,
        application: &str,
        facility: &str,
        ip: IpAddr,
    ) -> Result<Context, Refused> {
        let mut named = false;
        for s in self.0.iter().filter(|s| {
            s.application.eq_ignore_ascii_case(application)
                && (s.facility.is_empty() || s.facility.eq_ignore_ascii_case(facility))
        }) {
            named = true;
            let ip = canonical(ip);
            if !s.hosts.is_empty() && !s.hosts.iter().any(|n| n.contains(&ip)) {
                continue;
            }
            let name = if s.facility.is_empty() && facility.is_empty() {
                s.application.clone()
            } else {
                format!("{application}@{facility}")
            };
            return Ok(Context::hl7(&name, s.tenant.clone(), ip.to_string()));
        }
        Err(if named {
            Refused::WrongHost
        } else {
            Refused::Unknown
        })
    }
}

/// An IPv4 address as itself when it came mapped into IPv6.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Hl7Sender;

    #[test]
    fn senders_are_named_and_where_they_connect_from() {
        let config = Hl7Config {
            senders: vec![
                Hl7Sender {
                    application: "RIS".into(),
                    facility: "BVHD".into(),
                    tenant: String::new(),
                    hosts: vec!["10.0.0.0/24".into(), "192.168.1.7".into()],
                },
                Hl7Sender {
                    application: "HIS".into(),
                    facility: String::new(),
                    tenant: String::new(),
                    hosts: Vec::new(),
                },
            ],
            ..Default::default()
        };
        let s = Senders::new(&config).unwrap();
        let ip = |v: &str| v.parse::<IpAddr>().unwrap();
        assert!(s.context("RIS", "BVHD", ip("10.0.0.9")).is_ok());
        assert!(s.context("ris", "bvhd", ip("::ffff:192.168.1.7")).is_ok());
        assert_eq!(
            s.context("RIS", "BVHD", ip("10.0.1.9")).unwrap_err(),
            Refused::WrongHost
        );
        assert_eq!(
            s.context("RIS", "OTHER", ip("10.0.0.9")).unwrap_err(),
            Refused::Unknown
        );
        assert!(s.context("HIS", "ANY", ip("172.16.0.1")).is_ok());
    }
}
