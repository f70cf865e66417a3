//! `[dicom]` and `[[tenants]]`: the DICOM listener, its peers, and the
//! hospitals one deployment serves.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// `[dicom]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DicomConfig {
    /// Our AE title.
    pub ae_title: String,
    /// Address and port of the DICOM listener.
    pub bind: SocketAddr,
    /// Associations at once; more are rejected (transient, local limit).
    pub max_associations: usize,
    /// Associations at once from one IP address; 0: no limit of its own.
    pub max_associations_per_peer: usize,
    /// Largest PDU we receive, in bytes.
    pub max_pdu_length: u32,
    /// Seconds a peer has to complete association negotiation (ARTIM).
    pub artim_timeout_secs: u64,
    /// Seconds an association may stay silent before it is aborted.
    pub idle_timeout_secs: u64,
    /// Refuse associations that call another AE title than ours.
    pub check_called_ae_title: bool,
    /// What callers that are not in `peers` may do.
    pub unknown_peers: UnknownPeers,
    /// Person names match case- and accent-insensitively in C-FIND,
    /// QIDO-RS and the worklist (`nguyen` finds NGUYỄN).
    pub accent_insensitive_names: bool,
    /// The most instances one storage commitment request may name; more
    /// are refused with 0213H (resource limitation), so one request cannot
    /// make the archive read its whole store.
    pub max_commitment_references: usize,
    /// The earlier name of `accent_insensitive_names`; when set, it wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_insensitive_names: Option<bool>,
    /// Known peers: C-MOVE destinations and callers with permissions.
    pub peers: Vec<Peer>,
    /// DICOM TLS listener (e.g. `0.0.0.0:2762`); empty: none.
    pub tls_bind: String,
    /// Its certificate chain (PEM, leaf first).
    pub tls_cert: String,
    /// Its private key (PEM).
    pub tls_key: String,
    /// CA certificates (PEM) that client certificates must chain to; empty:
    /// clients need no certificate.
    pub tls_client_ca: String,
}

/// What an unknown calling AE title may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnknownPeers {
    /// Echo and store, not query or retrieve (the default: a new modality
    /// can send at once; patient data leaves only to known peers).
    Store,
    /// Refuse the association.
    Reject,
    /// Everything a known peer may do.
    All,
}

/// What a peer may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// C-ECHO and C-STORE to us.
    Store,
    /// C-FIND.
    Find,
    /// C-MOVE.
    Move,
    /// C-GET.
    Get,
    /// Modality Worklist C-FIND.
    Worklist,
    /// Modality Performed Procedure Step N-CREATE and N-SET.
    Mpps,
    /// Storage Commitment Push Model N-ACTION (and the reports back).
    Commitment,
    /// Print Management (film sessions, film boxes, image boxes): prints
    /// film sheets into the archive.
    Print,
    /// Rejection notes (IHE IOCM): its Key Object Selections with a
    /// rejection title hide the instances they name. Not in the default
    /// set: give it to the modalities and archives trusted with it.
    Reject,
}

/// `[[dicom.peers]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    /// Its AE title.
    pub ae_title: String,
    /// Host name or address (where C-MOVE sends to).
    pub host: String,
    /// Port.
    pub port: u16,
    /// What it may do (default: everything).
    #[serde(default = "all_permissions")]
    pub permissions: Vec<Permission>,
    /// Accept this AE title only from `host`'s address.
    #[serde(default)]
    pub check_host: bool,
    /// The tenant (hospital) it belongs to: `id` of a `[[tenants]]` entry;
    /// empty for the implicit tenant. Its stores go there, and it sees only
    /// that tenant's studies.
    #[serde(default)]
    pub tenant: String,
    /// Bind the AE title to a DICOM TLS client certificate: the subject
    /// the certificate must carry (e.g. `CN=CT01,O=District Hospital`).
    /// The AE title is then accepted only over TLS with that certificate.
    #[serde(default)]
    pub tls_subject: String,
    /// Forward every MPPS N-CREATE and N-SET of its tenant's modalities to
    /// it (a RIS that follows the procedure steps), durably, in order.
    #[serde(default)]
    pub forward_mpps: bool,
    /// How `filmless retrieve` and prefetch pull from it: `move` (C-MOVE
    /// to our AE title; it must know us as a destination) or `get` (C-GET:
    /// the instances come back on our own association).
    #[serde(default)]
    pub retrieve: RetrieveBy,
}

/// How studies are pulled from a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RetrieveBy {
    /// C-MOVE to our AE title.
    #[default]
    Move,
    /// C-GET.
    Get,
}

fn all_permissions() -> Vec<Permission> {
    vec![
        Permission::Store,
        Permission::Find,
        Permission::Move,
        Permission::Get,
        Permission::Worklist,
        Permission::Mpps,
        Permission::Commitment,
        Permission::Print,
    ]
}

impl std::str::FromStr for Peer {
    type Err = String;

    /// `AET@HOST:PORT`, allowed everything.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (ae, rest) = s.split_once('@').ok_or("expected AET@HOST:PORT")?;
        let (host, port) = rest.rsplit_once(':').ok_or("expected AET@HOST:PORT")?;
        let port = port.parse().map_err(|_| format!("bad port {port:?}"))?;
        let ae = dicom_net::AeTitle::parse(ae)?;
        if host.is_empty() {
            return Err("expected AET@HOST:PORT".into());
        }
        Ok(Peer {
            ae_title: ae.to_string(),
            host: host.trim_matches(['[', ']']).to_owned(),
            port,
            permissions: all_permissions(),
            check_host: false,
            tenant: String::new(),
            tls_subject: String::new(),
            forward_mpps: false,
            retrieve: RetrieveBy::Move,
        })
    }
}

impl Default for DicomConfig {
    fn default() -> Self {
        DicomConfig {
            ae_title: "FILMLESS".to_owned(),
            bind: SocketAddr::from(([0, 0, 0, 0], 11112)),
            max_associations: 64,
            max_associations_per_peer: 16,
            max_pdu_length: 131_072,
            artim_timeout_secs: 30,
            idle_timeout_secs: 300,
            check_called_ae_title: true,
            unknown_peers: UnknownPeers::Store,
            accent_insensitive_names: true,
            max_commitment_references: 50_000,
            case_insensitive_names: None,
            peers: Vec::new(),
            tls_bind: String::new(),
            tls_cert: String::new(),
            tls_key: String::new(),
            tls_client_ca: String::new(),
        }
    }
}

/// `[[tenants]]`: one hospital of a shared deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Short ID (`a-z`, `0-9`, `-`; at most 32), used in users, peers and
    /// object keys; never changes.
    pub id: String,
    /// The hospital's name, for people.
    pub name: String,
    /// The AE title this hospital's modalities and RIS call (our AE title
    /// for them); it decides the tenant of what arrives by DIMSE.
    pub ae_title: String,
}
