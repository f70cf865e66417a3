//! `[hl7]`: the MLLP listener for the RIS and HIS.

use serde::{Deserialize, Serialize};

/// `[hl7]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hl7Config {
    /// Address and port of the MLLP listener (e.g. `0.0.0.0:2575`); empty:
    /// no HL7.
    pub bind: String,
    /// Who may send (MSH-3, MSH-4); messages from anyone else get AR and
    /// change nothing.
    pub senders: Vec<Hl7Sender>,
    /// Connections at once; more are closed at once.
    pub max_connections: usize,
    /// Connections at once from one address.
    pub max_connections_per_host: usize,
    /// Certificate chain (PEM) of MLLP over TLS; with `tls_key`, the
    /// listener speaks TLS only (IHE ATNA secure node).
    pub tls_cert: String,
    /// Private key (PEM) for `tls_cert`.
    pub tls_key: String,
    /// Seconds a connection may stay silent.
    pub idle_timeout_secs: u64,
    /// Largest message, in bytes.
    pub max_message_bytes: usize,
}

impl Default for Hl7Config {
    fn default() -> Self {
        Hl7Config {
            bind: String::new(),
            senders: Vec::new(),
            max_connections: 16,
            max_connections_per_host: 4,
            tls_cert: String::new(),
            tls_key: String::new(),
            idle_timeout_secs: 300,
            max_message_bytes: 1024 * 1024,
        }
    }
}

/// `[[hl7.senders]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hl7Sender {
    /// Sending application (MSH-3).
    pub application: String,
    /// Sending facility (MSH-4); empty: any.
    #[serde(default)]
    pub facility: String,
    /// The tenant its orders and patients belong to (`id` of a
    /// `[[tenants]]` entry); empty: the implicit one.
    #[serde(default)]
    pub tenant: String,
    /// Addresses or networks (`10.0.0.20`, `10.0.0.0/24`) it connects
    /// from; empty: any. MSH-3 and MSH-4 are only what the message says,
    /// so a production listener names its senders' hosts.
    #[serde(default)]
    pub hosts: Vec<String>,
}
