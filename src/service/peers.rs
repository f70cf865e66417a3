//! DICOM peers and tenants: which AE titles we answer to, which tenant each
//! called AE title stands for, what each calling AE title may do and in
//! which tenant, where a C-MOVE may send, and which TLS client certificate
//! an AE title must present.
//!
//! The tenant of a DIMSE request is the tenant of the AE title it called
//! (`dicom.ae_title` is the implicit tenant; each `[[tenants]]` entry has its
//! own). A calling AE title is looked up among the peers of that tenant:
//! its entry gives its rights. An AE title known only in other tenants is
//! refused (it belongs elsewhere); one known nowhere gets what
//! `dicom.unknown_peers` allows. When something is refused the log says
//! which setting decides it.

use std::net::{IpAddr, SocketAddr};

use dicom_net::service::AssociationRequest;
use dicom_net::AeTitle;
use dicom_ul::pdu::AssociationRJServiceUserReason;
use storage::TenantId;

use super::context::{Context, Right};
use crate::config::{DicomConfig, Permission, TenantConfig, UnknownPeers};

/// One `[[dicom.peers]]` entry, checked.
#[derive(Debug, Clone)]
struct PeerEntry {
    ae_title: AeTitle,
    host: String,
    port: u16,
    rights: Vec<Right>,
    check_host: bool,
    tenant: TenantId,
    tls_subject: Option<Subject>,
    forward_mpps: bool,
    retrieve_by_get: bool,
}

/// A configured DICOM peer, as the console lists it.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct PeerView {
    /// Its AE title.
    pub ae_title: String,
    /// Where it listens.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// Its tenant (`""`: the implicit one).
    pub tenant: String,
}

/// One tenant, checked.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// Its ID.
    pub id: TenantId,
    /// Its name.
    pub name: String,
    /// The AE title its modalities call.
    pub ae_title: AeTitle,
}

/// The DICOM side's access policy.
#[derive(Debug, Clone)]
pub struct Peers {
    ae_title: AeTitle,
    /// `[print] ae_title`: one more AE title of the implicit tenant.
    print_ae_title: Option<AeTitle>,
    check_called_ae_title: bool,
    unknown: UnknownPeers,
    tenants: Vec<Tenant>,
    peers: Vec<PeerEntry>,
}

impl Peers {
    /// From `[dicom]` and `[[tenants]]` (validated by the configuration).
    pub fn new(dicom: &DicomConfig, tenants: &[TenantConfig]) -> anyhow::Result<Self> {
        let parse_ae = |s: &str| AeTitle::parse(s).map_err(anyhow::Error::msg);
        let tenants = tenants
            .iter()
            .map(|t| {
                Ok(Tenant {
                    id: TenantId::parse(&t.id)?,
                    name: t.name.clone(),
                    ae_title: parse_ae(&t.ae_title)?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let peers = dicom
            .peers
            .iter()
            .map(|p| {
                Ok(PeerEntry {
                    ae_title: parse_ae(&p.ae_title)?,
                    host: p.host.clone(),
                    port: p.port,
                    rights: p.permissions.iter().map(|p| right_of(*p)).collect(),
                    check_host: p.check_host,
                    forward_mpps: p.forward_mpps,
                    retrieve_by_get: p.retrieve == crate::config::RetrieveBy::Get,
                    tenant: TenantId::parse(&p.tenant)?,
                    tls_subject: if p.tls_subject.is_empty() {
                        None
                    } else {
                        Some(Subject::parse(&p.tls_subject).map_err(|e| {
                            anyhow::anyhow!("dicom.peers {}: tls_subject: {e}", p.ae_title)
                        })?)
                    },
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Peers {
            ae_title: parse_ae(&dicom.ae_title)?,
            print_ae_title: None,
            check_called_ae_title: dicom.check_called_ae_title,
            unknown: dicom.unknown_peers,
            tenants,
            peers,
        })
    }

    /// Answer also to `ae_title` (`[print] ae_title`; empty: nothing more),
    /// as the implicit tenant.
    pub fn with_print_ae_title(mut self, ae_title: &str) -> anyhow::Result<Self> {
        if !ae_title.trim().is_empty() {
            self.print_ae_title = Some(AeTitle::parse(ae_title).map_err(anyhow::Error::msg)?);
        }
        Ok(self)
    }

    /// Every configured peer.
    pub fn list(&self) -> Vec<PeerView> {
        self.peers
            .iter()
            .map(|p| PeerView {
                ae_title: p.ae_title.to_string(),
                host: p.host.clone(),
                port: p.port,
                tenant: p.tenant.as_str().to_owned(),
            })
            .collect()
    }

    /// Whether `ae_title` is one of `tenant`'s peers.
    pub fn is_peer(&self, tenant: &TenantId, ae_title: &str) -> bool {
        self.peer(ae_title, tenant).is_some()
    }

    /// Whether studies are pulled from `tenant`'s peer `ae_title` by
    /// C-GET (else C-MOVE).
    pub fn retrieves_by_get(&self, tenant: &TenantId, ae_title: &str) -> bool {
        self.peer(ae_title, tenant)
            .is_some_and(|p| p.retrieve_by_get)
    }

    /// The AE titles of `tenant`'s peers that want its MPPS forwarded.
    pub fn mpps_recipients(&self, tenant: &TenantId) -> Vec<String> {
        self.peers
            .iter()
            .filter(|p| p.forward_mpps && &p.tenant == tenant)
            .map(|p| p.ae_title.to_string())
            .collect()
    }

    /// The configured tenants.
    pub fn tenants(&self) -> &[Tenant] {
        &self.tenants
    }

    /// A tenant by ID (`None` for an unknown one; the implicit tenant has no
    /// entry).
    pub fn tenant(&self, id: &TenantId) -> Option<&Tenant> {
        self.tenants.iter().find(|t| &t.id == id)
    }

    /// Whether `id` names a tenant here (the implicit one always does).
    pub fn is_tenant(&self, id: &TenantId) -> bool {
        id.is_implicit() || self.tenant(id).is_some()
    }

    /// The tenant an AE title called stands for; `None` when it is none of
    /// ours.
    pub fn tenant_of_called(&self, called_ae: &str) -> Option<TenantId> {
        if called_ae.trim() == self.ae_title.as_str()
            || self
                .print_ae_title
                .as_ref()
                .is_some_and(|a| a.as_str() == called_ae.trim())
        {
            return Some(TenantId::implicit());
        }
        self.tenants
            .iter()
            .find(|t| t.ae_title.as_str() == called_ae.trim())
            .map(|t| t.id.clone())
            .or_else(|| (!self.check_called_ae_title).then(TenantId::implicit))
    }

    /// The AE title we answer as for `tenant` (C-MOVE sub-operations come
    /// from it).
    pub fn our_ae_title(&self, tenant: &TenantId) -> &str {
        self.tenant(tenant)
            .map_or(self.ae_title.as_str(), |t| t.ae_title.as_str())
    }

    fn peer(&self, ae_title: &str, tenant: &TenantId) -> Option<&PeerEntry> {
        self.peers
            .iter()
            .find(|p| p.ae_title.as_str() == ae_title.trim() && &p.tenant == tenant)
    }

    /// Accept or refuse an association, saying why in the log.
    pub fn check_association(
        &self,
        request: &AssociationRequest<'_>,
    ) -> Result<(), AssociationRJServiceUserReason> {
        let (calling, called, peer) = (request.calling_ae, request.called_ae, request.peer);
        let Some(tenant) = self.tenant_of_called(called) else {
            let tenants: Vec<&str> = self.tenants.iter().map(|t| t.ae_title.as_str()).collect();
            tracing::warn!(
                calling_ae = calling,
                called_ae = called,
                %peer,
                our_ae = %self.ae_title,
                "association rejected: the peer called AE title {called:?}, but ours is {:?}{} \
                 (fix the peer, or set dicom.check_called_ae_title = false)",
                self.ae_title.as_str(),
                if tenants.is_empty() {
                    String::new()
                } else {
                    format!(" and the tenants' are {tenants:?}")
                }
            );
            return Err(AssociationRJServiceUserReason::CalledAETitleNotRecognized);
        };
        let Some(known) = self.peer(calling, &tenant) else {
            if let Some(elsewhere) = self
                .peers
                .iter()
                .find(|p| p.ae_title.as_str() == calling.trim())
            {
                tracing::warn!(
                    calling_ae = calling,
                    called_ae = called,
                    %peer,
                    "association rejected: {calling:?} is a peer of tenant {} and called the AE \
                     title of tenant {tenant} (each hospital's devices call their own AE title)",
                    elsewhere.tenant
                );
                return Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized);
            }
            if self.unknown == UnknownPeers::Reject {
                tracing::warn!(
                    calling_ae = calling,
                    %peer,
                    "association rejected: calling AE title {calling:?} is not in [[dicom.peers]] \
                     and dicom.unknown_peers = \"reject\""
                );
                return Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized);
            }
            return Ok(());
        };
        if known.check_host && !host_matches(&known.host, peer.ip()) {
            tracing::warn!(
                calling_ae = calling,
                %peer,
                host = %known.host,
                "association rejected: AE title {calling:?} called from {}, not from its host {} \
                 (dicom.peers check_host = true)",
                peer.ip(),
                known.host
            );
            return Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized);
        }
        if let Some(subject) = &known.tls_subject {
            let presented = request.client_certificate.map(Subject::of_certificate);
            let why = match presented {
                _ if !request.tls => Some("it came without TLS".to_owned()),
                None => Some("it presented no client certificate".to_owned()),
                Some(Err(e)) => Some(format!("its certificate does not parse: {e}")),
                Some(Ok(s)) if !subject.matches(&s) => {
                    Some(format!("its certificate's subject is {s}"))
                }
                Some(Ok(_)) => None,
            };
            if let Some(why) = why {
                tracing::warn!(
                    calling_ae = calling,
                    %peer,
                    "association rejected: AE title {calling:?} is bound to the certificate \
                     subject {subject} (dicom.peers tls_subject), and {why}"
                );
                return Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized);
            }
        }
        Ok(())
    }

    /// The context of an operation on an accepted association.
    pub fn context(&self, calling_ae: &str, called_ae: &str, peer: SocketAddr) -> Context {
        let tenant = self
            .tenant_of_called(called_ae)
            .unwrap_or_else(TenantId::implicit);
        let rights = match self.peer(calling_ae, &tenant) {
            Some(p) => p.rights.clone(),
            None => match self.unknown {
                UnknownPeers::All => vec![
                    Right::Search,
                    Right::Retrieve,
                    Right::Move,
                    Right::Store,
                    Right::Worklist,
                    Right::Procedure,
                    Right::Commitment,
                    Right::Print,
                ],
                UnknownPeers::Store => vec![Right::Store],
                UnknownPeers::Reject => Vec::new(),
            },
        };
        Context::ae(calling_ae, rights, tenant, peer.ip().to_string())
    }

    /// Where a C-MOVE of `ctx` may send to `ae_title`: a peer of the same
    /// tenant, resolved now (its address may change between moves).
    pub async fn move_destination(&self, ctx: &Context, ae_title: &str) -> Option<SocketAddr> {
        let tenant = ctx.tenant()?;
        if self.peer(ae_title, tenant).is_none() {
            tracing::warn!(
                destination = ae_title,
                tenant = %tenant,
                "C-MOVE to an unknown AE title {ae_title:?}: not a peer of tenant {tenant} (add it \
                 to [[dicom.peers]], with that tenant)"
            );
            return None;
        }
        self.address_of(tenant, ae_title).await
    }

    /// Where the peer `ae_title` of `tenant` listens, resolved now; `None`
    /// when it is not a peer of that tenant or its host does not resolve.
    pub async fn address_of(&self, tenant: &TenantId, ae_title: &str) -> Option<SocketAddr> {
        let peer = self.peer(ae_title, tenant)?;
        match tokio::net::lookup_host((peer.host.as_str(), peer.port)).await {
            Ok(mut addrs) => addrs.next(),
            Err(e) => {
                tracing::warn!(destination = ae_title, host = %peer.host, error = %e, "cannot resolve the peer's host");
                None
            }
        }
    }
}

/// The right a peer permission gives.
fn right_of(p: Permission) -> Right {
    match p {
        Permission::Store => Right::Store,
        Permission::Find => Right::Search,
        Permission::Move => Right::Move,
        Permission::Get => Right::Retrieve,
        Permission::Worklist => Right::Worklist,
        Permission::Mpps => Right::Procedure,
        Permission::Commitment => Right::Commitment,
        Permission::Print => Right::Print,
        // Over DIMSE, deleting is only ever a rejection note.
        Permission::Reject => Right::Delete,
    }
}

/// Whether `ip` is `host`'s address: an IP literal, or a name resolved by
/// the system resolver (/etc/hosts, DNS) at each association.
fn host_matches(host: &str, ip: IpAddr) -> bool {
    if let Ok(literal) = host.parse::<IpAddr>() {
        return literal == ip || (literal.is_loopback() && ip.is_loopback());
    }
    let resolve = || {
        use std::net::ToSocketAddrs;
        (host, 0)
            .to_socket_addrs()
            .map(|addrs| addrs.map(|a| a.ip()).any(|a| a == ip))
            .unwrap_or(false)
    };
    // Name resolution blocks: keep it off the runtime's other tasks.
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(resolve),
        _ => resolve(),
    }
}

/// A certificate subject: its attributes as (short name, value), e.g.
/// `CN=CT01, O=District Hospital`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject(Vec<(String, String)>);

impl Subject {
    /// Parse `CN=CT01,O=District Hospital` (attribute names in any case;
    /// spaces around `,` and `=` do not count).
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for part in s.split(',') {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?} is not NAME=VALUE"))?;
            let (k, v) = (k.trim().to_ascii_uppercase(), v.trim().to_owned());
            if k.is_empty() || v.is_empty() {
                return Err(format!("{part:?} is not NAME=VALUE"));
            }
            out.push((k, v));
        }
        if out.is_empty() {
            return Err("empty".into());
        }
        out.sort();
        Ok(Subject(out))
    }

    /// The subject of a DER certificate.
    pub fn of_certificate(der: &[u8]) -> Result<Self, String> {
        use x509_parser::prelude::FromDer;
        let (_, cert) =
            x509_parser::certificate::X509Certificate::from_der(der).map_err(|e| e.to_string())?;
        let registry = x509_parser::objects::oid_registry();
        let mut out = Vec::new();
        for attr in cert.subject().iter_attributes() {
            // CN, O, OU, C… as RFC 4514 writes them.
            let name = x509_parser::objects::oid2abbrev(attr.attr_type(), registry)
                .map(str::to_owned)
                .unwrap_or_else(|_| attr.attr_type().to_id_string());
            let value = attr
                .as_str()
                .map_err(|_| format!("attribute {name} is not a string"))?;
            out.push((name.to_ascii_uppercase(), value.to_owned()));
        }
        out.sort();
        Ok(Subject(out))
    }

    /// Whether a certificate's subject is this one: the same attributes
    /// with the same values, in any order.
    pub fn matches(&self, presented: &Subject) -> bool {
        self == presented
    }
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Peer;

    fn peers() -> Peers {
        let mut dicom = DicomConfig::default();
        let peer = |ae: &str, tenant: &str, permissions: Vec<Permission>| Peer {
            ae_title: ae.into(),
            host: "127.0.0.1".into(),
            port: 104,
            permissions,
            check_host: false,
            tenant: tenant.into(),
            tls_subject: String::new(),
            forward_mpps: false,
            retrieve: Default::default(),
        };
        dicom.peers = vec![
            peer("RIS", "", vec![Permission::Find, Permission::Move]),
            peer("CT01", "h1", vec![Permission::Store]),
            peer("RIS1", "h1", vec![Permission::Find, Permission::Get]),
            peer("WS1", "h1", vec![]),
        ];
        let tenants = vec![TenantConfig {
            id: "h1".into(),
            name: "Hospital One".into(),
            ae_title: "H1PACS".into(),
        }];
        Peers::new(&dicom, &tenants).unwrap()
    }

    fn request<'a>(calling: &'a str, called: &'a str) -> AssociationRequest<'a> {
        AssociationRequest {
            calling_ae: calling,
            called_ae: called,
            peer: "127.0.0.1:5000".parse().unwrap(),
            tls: false,
            client_certificate: None,
        }
    }

    #[test]
    fn the_called_ae_title_decides_the_tenant() {
        let p = peers();
        let peer: SocketAddr = "10.0.0.5:4000".parse().unwrap();
        assert_eq!(p.tenant_of_called("FILMLESS"), Some(TenantId::implicit()));
        assert_eq!(p.tenant_of_called("H1PACS").unwrap().as_str(), "h1");
        assert_eq!(p.tenant_of_called("OTHER"), None);
        let ctx = p.context("RIS1", "H1PACS", peer);
        assert_eq!(ctx.tenant().unwrap().as_str(), "h1");
        assert!(ctx.may(Right::Search) && ctx.may(Right::Retrieve) && !ctx.may(Right::Move));
        let unknown = p.context("MR7", "H1PACS", peer);
        assert!(unknown.may(Right::Store) && !unknown.may(Right::Search));
        assert_eq!(p.our_ae_title(&TenantId::parse("h1").unwrap()), "H1PACS");
    }

    #[test]
    fn a_peer_of_one_tenant_cannot_call_another() {
        let p = peers();
        assert!(p.check_association(&request("CT01", "H1PACS")).is_ok());
        assert_eq!(
            p.check_association(&request("CT01", "FILMLESS")),
            Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized)
        );
        assert!(p.check_association(&request("RIS", "FILMLESS")).is_ok());
        assert_eq!(
            p.check_association(&request("RIS", "NOBODY")),
            Err(AssociationRJServiceUserReason::CalledAETitleNotRecognized)
        );
        assert!(
            p.check_association(&request("NEWCT", "H1PACS")).is_ok(),
            "unknown: store"
        );
    }

    #[test]
    fn subjects_compare_attribute_by_attribute() {
        let a = Subject::parse("CN=CT01, O=District Hospital").unwrap();
        let b = Subject::parse("o=District Hospital,cn=CT01").unwrap();
        assert!(a.matches(&b));
        assert!(!a.matches(&Subject::parse("CN=CT02,O=District Hospital").unwrap()));
        assert!(!a.matches(&Subject::parse("CN=CT01").unwrap()));
        assert!(Subject::parse("CT01").is_err());
        assert!(Subject::parse("CN=").is_err());
        assert_eq!(a.to_string(), "CN=CT01,O=District Hospital");
    }
}
