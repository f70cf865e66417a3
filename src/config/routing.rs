//! `[[routing.rules]]`, `[[routing.prefetch]]` and `[[dicomweb.peers]]`:
//! where arriving studies go, which priors to fetch, and the DICOMweb
//! archives that can be destinations.

use serde::{Deserialize, Serialize};

/// `[routing]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingConfig {
    /// Forwarding rules, each tried on every arriving instance.
    pub rules: Vec<RoutingRule>,
    /// Prefetch of a returning patient's earlier studies.
    pub prefetch: Vec<PrefetchRule>,
    /// Attempts of a job before it is failed (kept for a person to retry);
    /// the backoff doubles from 1 s to 5 minutes, so 100 is about 8 hours.
    pub max_attempts: i64,
    /// Associations (or HTTP requests) at once to one destination, per
    /// node.
    pub max_per_peer: usize,
    /// On PostgreSQL, how old an arrival left in the routing journal (an
    /// instance acknowledged whose jobs were never written: a crash) must
    /// be before any node routes it; longer than a live node's routing
    /// queue ever lags. On SQLite (one node) what was left before a start
    /// is routed at that start.
    pub sweep_after_secs: u64,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            rules: Vec::new(),
            prefetch: Vec::new(),
            max_attempts: 100,
            max_per_peer: 2,
            sweep_after_secs: 600,
        }
    }
}

/// When a rule sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// Each instance, as it is stored.
    #[default]
    Instance,
    /// The whole study, once no instance of it arrived for `stable_secs`.
    StudyStable,
}

/// `[[routing.rules]]`: conditions on what arrived (each a list of values,
/// `*` and `?` wildcards, case-insensitive; an empty list matches
/// anything) and where it goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingRule {
    /// Its name (logs, jobs).
    pub name: String,
    /// Calling AE titles of the sender.
    #[serde(default)]
    pub calling_ae: Vec<String>,
    /// Called AE titles (a tenant's AE title selects its tenant).
    #[serde(default)]
    pub called_ae: Vec<String>,
    /// (0008,0060) Modality.
    #[serde(default)]
    pub modality: Vec<String>,
    /// (0018,0015) Body Part Examined.
    #[serde(default)]
    pub body_part: Vec<String>,
    /// (0008,0080) Institution Name.
    #[serde(default)]
    pub institution: Vec<String>,
    /// (0008,1010) Station Name.
    #[serde(default)]
    pub station: Vec<String>,
    /// When to send.
    #[serde(default)]
    pub on: Trigger,
    /// With `on = "study-stable"`: seconds without a new instance.
    #[serde(default = "default_stable_secs")]
    pub stable_secs: u64,
    /// Destinations: AE titles of `[[dicom.peers]]`, names of
    /// `[[dicomweb.peers]]`.
    pub to: Vec<String>,
}

fn default_stable_secs() -> u64 {
    30
}

/// `[[routing.prefetch]]`: when a patient's new study arrives, fetch up
/// to `max_studies` of the patient's earlier studies from the peers
/// `from` (C-FIND by Patient ID, then C-MOVE to us).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefetchRule {
    /// AE titles of `[[dicom.peers]]` to ask.
    pub from: Vec<String>,
    /// Only priors with one of these modalities; empty: any.
    #[serde(default)]
    pub modality: Vec<String>,
    /// Only when the new study is of one of these modalities; empty: any.
    #[serde(default)]
    pub when_modality: Vec<String>,
    /// The most recent this many.
    #[serde(default = "default_max_studies")]
    pub max_studies: usize,
}

fn default_max_studies() -> usize {
    3
}

/// `[dicomweb]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DicomwebConfig {
    /// DICOMweb archives that routing can send to (STOW-RS).
    pub peers: Vec<DicomwebPeer>,
}

/// How to authenticate to a DICOMweb peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DicomwebAuth {
    /// No credentials.
    #[default]
    None,
    /// HTTP Basic with `user` and `password`.
    Basic,
    /// A bearer token: `token`, or the environment variable `token_env`.
    Bearer,
}

/// `[[dicomweb.peers]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DicomwebPeer {
    /// Its name, as rules' `to` names it.
    pub name: String,
    /// The service's base URL (ending before `/studies`).
    pub url: String,
    /// Authentication.
    #[serde(default)]
    pub auth: DicomwebAuth,
    /// With `auth = "basic"`.
    #[serde(default)]
    pub user: String,
    /// With `auth = "basic"`.
    #[serde(default)]
    pub password: String,
    /// With `auth = "bearer"`: the token.
    #[serde(default)]
    pub token: String,
    /// With `auth = "bearer"`: the environment variable holding the token
    /// (read when a request is made, so it can be rotated).
    #[serde(default)]
    pub token_env: String,
    /// The tenant whose studies may go there (`id` of a `[[tenants]]`
    /// entry); empty: the implicit one.
    #[serde(default)]
    pub tenant: String,
    /// Instances per STOW-RS request.
    #[serde(default = "default_batch")]
    pub batch: usize,
}

fn default_batch() -> usize {
    50
}
