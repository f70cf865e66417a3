//! Configuration: one [`Config`] read from a TOML file, then `FILMLESS_*`
//! environment variables, then command-line flags, each overriding the one
//! before (meilisearch's option.rs does the same).
//!
//! Every key is documented in `config.example.toml`. Unknown keys are
//! errors, so a typo never silently falls back to a default.
//!
//! Environment variables: the common flags have their own
//! (`FILMLESS_DATA_DIR`, `FILMLESS_DATABASE_URL`, …, see `filmless serve
//! --help`); any other key is reachable as `FILMLESS_<SECTION>__<KEY>`,
//! e.g. `FILMLESS_STORAGE__COMPRESSION=none`.

mod dicom;
mod hl7;
mod http;
mod routing;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use dicom_net::AeTitle;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use storage::{ArchiveConfig, TenantId};

pub use dicom::{DicomConfig, Peer, Permission, RetrieveBy, TenantConfig, UnknownPeers};
pub use hl7::{Hl7Config, Hl7Sender};
pub use http::{AuditConfig, AuthConfig, HttpConfig, LogConfig, LogFormat, OidcConfig};
pub use routing::{
    DicomwebAuth, DicomwebConfig, DicomwebPeer, PrefetchRule, RoutingConfig, RoutingRule, Trigger,
};

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the default SQLite index and local objects live.
    pub data_dir: PathBuf,
    /// The DICOM listener.
    pub dicom: DicomConfig,
    /// The HTTP (DICOMweb and viewer) listener.
    pub http: HttpConfig,
    /// The archive: object store, index, compression, duplicates.
    pub storage: ArchiveConfig,
    /// Logging.
    pub log: LogConfig,
    /// Who may use the HTTP side.
    pub auth: AuthConfig,
    /// The audit trail.
    pub audit: AuditConfig,
    /// The hospitals one deployment serves; none: one implicit tenant.
    pub tenants: Vec<TenantConfig>,
    /// The HL7 v2 listener (orders and patient updates from the RIS).
    pub hl7: Hl7Config,
    /// Forwarding rules and prefetch.
    pub routing: RoutingConfig,
    /// DICOMweb archives as destinations.
    pub dicomweb: DicomwebConfig,
    /// The facility.
    pub site: SiteConfig,
    /// The DICOM Print SCP (a modality's film printer).
    pub print: PrintConfig,
    /// `GET /metrics`.
    pub metrics: MetricsConfig,
    /// How long studies are kept.
    pub retention: RetentionConfig,
}

/// `[retention]`: studies deleted once old enough, by rules. Nothing is
/// deleted unless `enabled`; `filmless retention plan` shows what would be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Delete, once a day, what the rules say (else only plan).
    pub enabled: bool,
    /// When, each day, in the server's local time: `HH:MM` (or
    /// `HH:MM:SS`); `02:00` by default, when the modalities are quiet.
    pub run_at: String,
    /// The rules; a study no rule matches is kept.
    pub rules: Vec<RetentionRule>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            enabled: false,
            run_at: "02:00".to_owned(),
            rules: Vec::new(),
        }
    }
}

/// A time of day, `HH:MM` or `HH:MM:SS` (`[retention] run_at`).
pub fn time_of_day(value: &str) -> Option<chrono::NaiveTime> {
    let value = value.trim();
    chrono::NaiveTime::parse_from_str(value, "%H:%M:%S")
        .or_else(|_| chrono::NaiveTime::parse_from_str(value, "%H:%M"))
        .ok()
}

/// `[[retention.rules]]`: studies of these modalities (all of a study's
/// modalities among them; empty: any) and tenants (empty: any) are kept
/// `keep` after their Study Date (their arrival when they have none).
/// When several rules match a study, the longest `keep` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionRule {
    /// Its name, in the plan and the audit trail.
    pub name: String,
    /// Modalities, e.g. `["CR", "DX"]`.
    #[serde(default)]
    pub modalities: Vec<String>,
    /// Tenant ids (`""`: the implicit tenant).
    #[serde(default)]
    pub tenants: Vec<String>,
    /// How long: `10y`, `18m` (months), `90d`.
    pub keep: String,
}

/// Days in a `keep` (`10y`, `18m`, `90d`); a year is 365.25 days, a month
/// 30.44.
pub fn keep_days(keep: &str) -> Option<i64> {
    let keep = keep.trim();
    let unit = keep.chars().last()?;
    let n: f64 = keep[..keep.len() - unit.len_utf8()]
        .parse()
        .ok()
        .filter(|n: &f64| *n > 0.0 && *n < 1000.0)?;
    let days = match unit {
        'y' => n * 365.25,
        'm' => n * 30.44,
        'd' => n,
        _ => return None,
    };
    // At least a day: a rounding must never mean "delete everything".
    Some((days.round() as i64).max(1))
}

/// `[metrics]`: who may read `GET /metrics` besides administrators.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// A bearer token a scraper presents (`Authorization: Bearer …`) to
    /// read `/metrics` and nothing else; empty: none. Better given as the
    /// environment variable `FILMLESS_METRICS__TOKEN` than in the file.
    pub token: String,
}

/// Width and height in millimetres of a Film Size ID (PS3.3 C.13.8), as
/// in portrait orientation.
pub fn film_size_mm(id: &str) -> Option<(f64, f64)> {
    const IN: f64 = 25.4;
    Some(match id {
        "8INX10IN" => (8.0 * IN, 10.0 * IN),
        "8_5INX11IN" => (8.5 * IN, 11.0 * IN),
        "10INX12IN" => (10.0 * IN, 12.0 * IN),
        "10INX14IN" => (10.0 * IN, 14.0 * IN),
        "11INX14IN" => (11.0 * IN, 14.0 * IN),
        "11INX17IN" => (11.0 * IN, 17.0 * IN),
        "14INX14IN" => (14.0 * IN, 14.0 * IN),
        "14INX17IN" => (14.0 * IN, 17.0 * IN),
        "24CMX24CM" => (240.0, 240.0),
        "24CMX30CM" => (240.0, 300.0),
        "A4" => (210.0, 297.0),
        "A3" => (297.0, 420.0),
        _ => return None,
    })
}

/// `[print]`: Filmless answers as a film printer (Print Management SCP)
/// and files each printed sheet into its study.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrintConfig {
    /// Answer print requests at all.
    pub enabled: bool,
    /// A further AE title modalities may print to (the archive's own AE
    /// titles always work); empty: none.
    pub ae_title: String,
    /// Resolution the sheet is composed at, in dots per inch of film.
    pub dpi: u32,
    /// Film Size IDs accepted (PS3.3 C.13.8), e.g. `14INX17IN`, `A4`.
    pub film_sizes: Vec<String>,
    /// The film size when a film box names none.
    pub default_film_size: String,
    /// A sheet that names no study goes into the most recent study its
    /// station stored, if all it stored within this many minutes is of one
    /// patient (of the patient the print names, when it names one);
    /// otherwise into a new study to reconcile.
    pub match_window_minutes: u64,
    /// Also file each sheet as an encapsulated PDF (to print on paper).
    pub pdf: bool,
}

impl Default for PrintConfig {
    fn default() -> Self {
        PrintConfig {
            enabled: true,
            ae_title: String::new(),
            dpi: 150,
            film_sizes: [
                "8INX10IN",
                "8_5INX11IN",
                "10INX12IN",
                "10INX14IN",
                "11INX14IN",
                "11INX17IN",
                "14INX14IN",
                "14INX17IN",
                "24CMX24CM",
                "24CMX30CM",
                "A4",
                "A3",
            ]
            .map(str::to_owned)
            .to_vec(),
            default_film_size: "14INX17IN".to_owned(),
            match_window_minutes: 15,
            pdf: true,
        }
    }
}

/// `[site]`: the facility, as patients see it (share slips).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SiteConfig {
    /// Its name, printed on share slips (with tenants, each tenant's name
    /// is used instead).
    pub name: String,
}

impl Default for SiteConfig {
    fn default() -> Self {
        SiteConfig {
            name: "Filmless".to_owned(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./filmless-data"),
            dicom: DicomConfig::default(),
            http: HttpConfig::default(),
            storage: ArchiveConfig {
                // Empty: derived from data_dir in `resolve`.
                object_store_url: String::new(),
                database_url: String::new(),
                ..ArchiveConfig::default()
            },
            log: LogConfig::default(),
            auth: AuthConfig::default(),
            audit: AuditConfig::default(),
            tenants: Vec::new(),
            hl7: Hl7Config::default(),
            routing: RoutingConfig::default(),
            dicomweb: DicomwebConfig::default(),
            site: SiteConfig::default(),
            print: PrintConfig::default(),
            metrics: MetricsConfig::default(),
            retention: RetentionConfig::default(),
        }
    }
}

/// Flags shared by every command that opens the archive. Each has its own
/// environment variable; flags win over it, and it wins over the file.
#[derive(Debug, Clone, Default, Args)]
pub struct ArchiveArgs {
    /// Configuration file (TOML); see config.example.toml.
    #[arg(long, env = "FILMLESS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory for the default SQLite index and local objects.
    #[arg(long, env = "FILMLESS_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Index database: sqlite://PATH or postgres://USER@HOST/DB.
    #[arg(long, env = "FILMLESS_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// Object store: file:///PATH, s3://BUCKET/PREFIX or memory://.
    #[arg(long, env = "FILMLESS_OBJECT_STORE_URL", value_name = "URL")]
    pub object_store_url: Option<String>,
}

/// Flags of `filmless serve` beyond [`ArchiveArgs`].
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Our AE title.
    #[arg(long, env = "FILMLESS_AE_TITLE", value_name = "AET")]
    pub ae_title: Option<String>,
    /// Address and port of the DICOM listener.
    #[arg(long, env = "FILMLESS_DICOM_BIND", value_name = "ADDR:PORT")]
    pub dicom_bind: Option<SocketAddr>,
    /// Address and port of the HTTP listener.
    #[arg(long, env = "FILMLESS_HTTP_BIND", value_name = "ADDR:PORT")]
    pub http_bind: Option<SocketAddr>,
    /// A DICOM peer allowed everything (repeatable); adds to [[dicom.peers]].
    #[arg(long = "peer", value_name = "AET@HOST:PORT")]
    pub peers: Vec<Peer>,
}

impl Config {
    /// Load: defaults < file < `FILMLESS_SECTION__KEY` variables < flags,
    /// then fill derived defaults and validate.
    pub fn load(archive: &ArchiveArgs, serve: Option<&ServeArgs>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = &archive.config {
            if !path.exists() {
                bail!("configuration file {} does not exist", path.display());
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        // Only sectioned variables (FILMLESS_STORAGE__COMPRESSION): the flat
        // ones belong to the flags above, which clap reads itself.
        figment = figment.merge(
            Env::prefixed("FILMLESS_")
                .filter(|k| k.as_str().contains("__"))
                .split("__"),
        );
        let mut config: Config = figment.extract().context("invalid configuration")?;
        if let Some(d) = &archive.data_dir {
            config.data_dir = d.clone();
        }
        if let Some(u) = &archive.database_url {
            config.storage.database_url = u.clone();
        }
        if let Some(u) = &archive.object_store_url {
            config.storage.object_store_url = u.clone();
        }
        if let Some(s) = serve {
            if let Some(a) = &s.ae_title {
                config.dicom.ae_title = a.clone();
            }
            if let Some(b) = s.dicom_bind {
                config.dicom.bind = b;
            }
            if let Some(b) = s.http_bind {
                config.http.bind = b;
            }
            for p in &s.peers {
                config
                    .dicom
                    .peers
                    .retain(|q| q.ae_title != p.ae_title || q.tenant != p.tenant);
                config.dicom.peers.push(p.clone());
            }
        }
        config.resolve()?;
        config.validate()?;
        Ok(config)
    }

    /// Derive the index and object store locations from `data_dir` where
    /// they are not given.
    fn resolve(&mut self) -> anyhow::Result<()> {
        let dir = absolute(&self.data_dir)?;
        if self.storage.object_store_url.is_empty() {
            self.storage.object_store_url = format!("file://{}", dir.join("objects").display());
        }
        if self.storage.database_url.is_empty() {
            self.storage.database_url = format!("sqlite://{}", dir.join("index.db").display());
        }
        // S3 gets a spool by default; "off" uploads every instance before
        // acknowledging it.
        match self.storage.spool_dir.as_str() {
            "off" => self.storage.spool_dir.clear(),
            "" if self.storage.object_store_url.starts_with("s3://") => {
                self.storage.spool_dir = dir.join("spool").display().to_string();
            }
            _ => {}
        }
        Ok(())
    }

    /// Check values that parse but make no sense.
    pub fn validate(&self) -> anyhow::Result<()> {
        AeTitle::parse(&self.dicom.ae_title).map_err(|e| anyhow::anyhow!("dicom.ae_title: {e}"))?;
        self.validate_tenants()?;
        self.validate_routing()?;
        self.validate_print()?;
        if time_of_day(&self.retention.run_at).is_none() {
            bail!(
                "retention.run_at {:?} is not a time of day like 02:00",
                self.retention.run_at
            );
        }
        for r in &self.retention.rules {
            if keep_days(&r.keep).is_none() {
                bail!(
                    "retention.rules {:?}: keep {:?} is not a duration like 10y, 18m or 90d",
                    r.name,
                    r.keep
                );
            }
        }
        let d = &self.dicom;
        if d.max_associations == 0
            || d.max_pdu_length < 4096
            || d.idle_timeout_secs == 0
            || d.artim_timeout_secs == 0
        {
            bail!("dicom: max_associations, idle and ARTIM timeouts must be positive, max_pdu_length at least 4096");
        }
        if self.http.max_upload_bytes < 1024 * 1024 || self.http.request_timeout_secs == 0 {
            bail!("http.max_upload_bytes must be at least 1048576 and http.request_timeout_secs positive");
        }
        if !self.auth.required && !self.http.bind.ip().is_loopback() {
            bail!(
                "HTTP listens on {} but auth.required is false: patient data would be open to the network. \
                 Set auth.required = true (FILMLESS_AUTH__REQUIRED=true) and add users with `filmless user add`, \
                 or listen on 127.0.0.1 behind an authenticating proxy",
                self.http.bind
            );
        }
        if d.tls_bind.is_empty()
            && !(d.tls_cert.is_empty() && d.tls_key.is_empty() && d.tls_client_ca.is_empty())
        {
            bail!("dicom.tls_cert, tls_key and tls_client_ca need dicom.tls_bind (the DICOM TLS port)");
        }
        if !d.tls_bind.is_empty() {
            d.tls_bind
                .parse::<SocketAddr>()
                .with_context(|| format!("dicom.tls_bind {:?} is not ADDR:PORT", d.tls_bind))?;
            if d.tls_cert.is_empty() || d.tls_key.is_empty() {
                bail!("dicom.tls_bind needs dicom.tls_cert and dicom.tls_key");
            }
        }
        for p in &self.http.trusted_proxies {
            crate::http::proxy::parse_net(p)
                .map_err(|e| anyhow::anyhow!("http.trusted_proxies: {e}"))?;
        }
        if self.http.tls_cert.is_empty() != self.http.tls_key.is_empty() {
            bail!("http.tls_cert and http.tls_key go together");
        }
        let o = &self.auth.oidc;
        if !o.issuer.is_empty() {
            if !self.auth.required {
                bail!(
                    "auth.oidc is configured but auth.required is false: set auth.required = true"
                );
            }
            if o.audience.is_empty() {
                bail!("auth.oidc.audience must be set (the client ID tokens are issued for)");
            }
            if o.jwks_url.is_empty() == o.jwks_file.is_empty() {
                bail!("auth.oidc needs exactly one of jwks_url and jwks_file");
            }
            if let Some(rest) = o.jwks_url.strip_prefix("http://") {
                let host = rest.split(['/', ':']).next().unwrap_or("");
                if !["127.0.0.1", "localhost", "[::1]"].contains(&host) {
                    bail!("auth.oidc.jwks_url must be https:// (plain http only on loopback): keys fetched in clear can be forged");
                }
            }
        }
        if !self.audit.syslog.is_empty() && !self.audit.syslog.starts_with("udp://") {
            bail!("audit.syslog must be udp://HOST:PORT or empty");
        }
        let s = &self.storage;
        if !(1..=22).contains(&s.zstd_level) {
            bail!("storage.zstd_level must be 1 to 22, got {}", s.zstd_level);
        }
        if !["file://", "s3://", "memory:"]
            .iter()
            .any(|p| s.object_store_url.starts_with(p))
        {
            bail!(
                "storage.object_store_url must start with file://, s3:// or memory://, got {:?}",
                s.object_store_url
            );
        }
        if !["sqlite:", "postgres:", "postgresql:"]
            .iter()
            .any(|p| s.database_url.starts_with(p))
        {
            bail!("storage.database_url must start with sqlite:// or postgres://");
        }
        if s.max_header_bytes < 64 * 1024 {
            bail!("storage.max_header_bytes must be at least 65536");
        }
        if s.database_max_connections == 0 || s.max_object_store_requests == 0 {
            bail!("storage.database_max_connections and storage.max_object_store_requests must be at least 1");
        }
        Ok(())
    }
}

impl Config {
    /// `[[tenants]]` and the peers bound to them.
    fn validate_print(&self) -> anyhow::Result<()> {
        let p = &self.print;
        if !p.ae_title.is_empty() {
            AeTitle::parse(&p.ae_title).map_err(|e| anyhow::anyhow!("print.ae_title: {e}"))?;
        }
        if !(50..=600).contains(&p.dpi) {
            bail!("print.dpi must be between 50 and 600");
        }
        for size in p.film_sizes.iter().chain([&p.default_film_size]) {
            if film_size_mm(size).is_none() {
                bail!("print: unknown film size {size:?} (PS3.3 C.13.8 Film Size ID, e.g. 14INX17IN or A4)");
            }
        }
        if !p.film_sizes.contains(&p.default_film_size) {
            bail!("print.default_film_size must be one of print.film_sizes");
        }
        Ok(())
    }

    fn validate_routing(&self) -> anyhow::Result<()> {
        let dicom_peer = |ae: &str| {
            self.dicom
                .peers
                .iter()
                .any(|p| p.ae_title.trim() == ae.trim())
        };
        let mut names = std::collections::HashSet::new();
        for p in &self.dicomweb.peers {
            if p.name.trim().is_empty() || !names.insert(p.name.trim()) {
                bail!("dicomweb.peers: every peer needs a name of its own");
            }
            if dicom_peer(&p.name) {
                bail!(
                    "dicomweb.peers {}: the name is also a [[dicom.peers]] AE title; rules could not tell them apart",
                    p.name
                );
            }
            let url = reqwest::Url::parse(&p.url)
                .with_context(|| format!("dicomweb.peers {}: url {:?}", p.name, p.url))?;
            if !matches!(url.scheme(), "http" | "https") {
                bail!("dicomweb.peers {}: url must be http or https", p.name);
            }
            match p.auth {
                DicomwebAuth::Basic if p.user.is_empty() => {
                    bail!(
                        "dicomweb.peers {}: auth = \"basic\" needs user and password",
                        p.name
                    )
                }
                DicomwebAuth::Bearer if p.token.is_empty() && p.token_env.is_empty() => {
                    bail!(
                        "dicomweb.peers {}: auth = \"bearer\" needs token or token_env",
                        p.name
                    )
                }
                _ => {}
            }
            if p.batch == 0 {
                bail!("dicomweb.peers {}: batch must be positive", p.name);
            }
        }
        if self.routing.max_attempts < 1 || self.routing.max_per_peer == 0 {
            bail!("routing.max_attempts and routing.max_per_peer must be positive");
        }
        let mut rule_names = std::collections::HashSet::new();
        for r in &self.routing.rules {
            if r.name.trim().is_empty() {
                bail!("routing.rules: every rule needs a name");
            }
            // Rules are known by name (jobs, the routing journal).
            if !rule_names.insert(r.name.trim()) {
                bail!("routing.rules: two rules are named {:?}", r.name);
            }
            if r.to.is_empty() {
                bail!("routing.rules {}: `to` names no destination", r.name);
            }
            for d in &r.to {
                if !dicom_peer(d) && !names.contains(d.trim()) {
                    bail!(
                        "routing.rules {}: destination {d:?} is neither a [[dicom.peers]] AE title nor a [[dicomweb.peers]] name",
                        r.name
                    );
                }
            }
            if r.on == Trigger::StudyStable && r.stable_secs == 0 {
                bail!("routing.rules {}: stable_secs must be positive", r.name);
            }
        }
        for p in &self.routing.prefetch {
            if p.from.is_empty() || p.max_studies == 0 {
                bail!("routing.prefetch: `from` names no peer, or max_studies is 0");
            }
            for f in &p.from {
                if !dicom_peer(f) {
                    bail!("routing.prefetch: {f:?} is not a [[dicom.peers]] AE title");
                }
            }
        }
        Ok(())
    }

    fn validate_tenants(&self) -> anyhow::Result<()> {
        if !self.tenants.is_empty() {
            // Anonymous access is the platform, and an unknown AE title
            // could store into any hospital under a name of its choosing:
            // with several hospitals on one archive, everyone is named.
            if !self.auth.required {
                bail!("[[tenants]] need auth.required = true: anonymous access would see every hospital");
            }
            if self.dicom.unknown_peers != UnknownPeers::Reject {
                bail!(
                    "[[tenants]] need dicom.unknown_peers = \"reject\": every modality and RIS of \
                     each hospital is listed in [[dicom.peers]] with its tenant"
                );
            }
        }
        let ours = AeTitle::parse(&self.dicom.ae_title).map_err(anyhow::Error::msg)?;
        let mut ids = std::collections::HashSet::new();
        let mut titles = std::collections::HashSet::from([ours.clone()]);
        for t in &self.tenants {
            let id = TenantId::parse(&t.id).map_err(|e| anyhow::anyhow!("tenants: {e}"))?;
            if id.is_implicit() {
                bail!("tenants: every tenant needs an id");
            }
            if !ids.insert(t.id.clone()) {
                bail!("tenants: id {:?} is given twice", t.id);
            }
            let ae = AeTitle::parse(&t.ae_title)
                .map_err(|e| anyhow::anyhow!("tenants {:?}: ae_title: {e}", t.id))?;
            if !titles.insert(ae) {
                bail!(
                    "tenants {:?}: ae_title {:?} is dicom.ae_title or another tenant's; each hospital \
                     needs an AE title of its own",
                    t.id,
                    t.ae_title
                );
            }
        }
        if !self.hl7.bind.is_empty() {
            self.hl7
                .bind
                .parse::<SocketAddr>()
                .with_context(|| format!("hl7.bind {:?} is not ADDR:PORT", self.hl7.bind))?;
            if self.hl7.senders.is_empty() {
                bail!(
                    "hl7.bind is set but [[hl7.senders]] lists no sender: every message would be \
                     refused. Add the RIS (application = MSH-3, facility = MSH-4)"
                );
            }
        }
        if self.hl7.tls_cert.is_empty() != self.hl7.tls_key.is_empty() {
            bail!("hl7.tls_cert and hl7.tls_key go together");
        }
        for s in &self.hl7.senders {
            if s.application.trim().is_empty() {
                bail!("hl7.senders: every sender needs an application (MSH-3)");
            }
            for h in &s.hosts {
                crate::http::proxy::parse_net(h).map_err(|e| {
                    anyhow::anyhow!("hl7.senders {}: host {h:?}: {e}", s.application)
                })?;
            }
            if !s.tenant.is_empty() && !ids.contains(&s.tenant) {
                bail!(
                    "hl7.senders {}: tenant {:?} is not in [[tenants]]",
                    s.application,
                    s.tenant
                );
            }
        }
        let mut seen = std::collections::HashSet::new();
        for p in &self.dicom.peers {
            let ae =
                AeTitle::parse(&p.ae_title).map_err(|e| anyhow::anyhow!("dicom.peers: {e}"))?;
            if !p.tenant.is_empty() && !ids.contains(&p.tenant) {
                bail!(
                    "dicom.peers {}: tenant {:?} is not in [[tenants]]",
                    p.ae_title,
                    p.tenant
                );
            }
            if !seen.insert((ae, p.tenant.clone())) {
                bail!(
                    "dicom.peers: {} is listed twice for the same tenant",
                    p.ae_title
                );
            }
            if !p.tls_subject.is_empty() {
                // The subject itself is checked where it is used
                // (service::peers), as the role names of role_map are
                // (http::oidc), both at start-up.
                if self.dicom.tls_bind.is_empty() || self.dicom.tls_client_ca.is_empty() {
                    bail!(
                        "dicom.peers {}: tls_subject needs the DICOM TLS listener with client \
                         certificates (dicom.tls_bind, dicom.tls_client_ca)",
                        p.ae_title
                    );
                }
            }
        }
        Ok(())
    }
}

/// An absolute form of `path` (which need not exist yet).
fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::load(&ArchiveArgs::default(), Some(&ServeArgs::default())).unwrap();
        assert_eq!(c.dicom.ae_title, "FILMLESS");
        assert_eq!(c.dicom.bind.port(), 11112);
        assert_eq!(c.http.bind, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert!(c.storage.database_url.starts_with("sqlite://"));
        assert!(c.storage.database_url.ends_with("filmless-data/index.db"));
        assert!(c
            .storage
            .object_store_url
            .ends_with("filmless-data/objects"));
    }

    #[test]
    fn file_then_flags_take_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.toml");
        std::fs::write(
            &file,
            "data_dir = \"/srv/pacs\"\n[dicom]\nae_title = \"FROMFILE\"\n[storage]\ncompression = \"none\"\n",
        )
        .unwrap();
        let args = ArchiveArgs {
            config: Some(file.clone()),
            ..Default::default()
        };
        let c = Config::load(&args, None).unwrap();
        assert_eq!(c.dicom.ae_title, "FROMFILE");
        assert_eq!(c.storage.compression, storage::CompressionKind::None);
        assert_eq!(c.storage.database_url, "sqlite:///srv/pacs/index.db");
        let serve = ServeArgs {
            ae_title: Some("FROMFLAG".into()),
            ..Default::default()
        };
        let args = ArchiveArgs {
            config: Some(file),
            database_url: Some("postgres://db/pacs".into()),
            ..Default::default()
        };
        let c = Config::load(&args, Some(&serve)).unwrap();
        assert_eq!(c.dicom.ae_title, "FROMFLAG");
        assert_eq!(c.storage.database_url, "postgres://db/pacs");
    }

    #[test]
    fn routing_rules_have_unique_names() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.toml");
        let rule = "[[routing.rules]]\nname = \"to-province\"\nto = [\"PROVINCE\"]\n";
        std::fs::write(
            &file,
            format!(
                "[[dicom.peers]]\nae_title = \"PROVINCE\"\nhost = \"127.0.0.1\"\nport = 104\n{rule}"
            ),
        )
        .unwrap();
        let args = ArchiveArgs {
            config: Some(file.clone()),
            ..Default::default()
        };
        Config::load(&args, None).unwrap().validate().unwrap();
        std::fs::write(
            &file,
            format!(
                "[[dicom.peers]]\nae_title = \"PROVINCE\"\nhost = \"127.0.0.1\"\nport = 104\n{rule}{rule}"
            ),
        )
        .unwrap();
        let refused = Config::load(&args, None)
            .and_then(|c| c.validate())
            .unwrap_err()
            .to_string();
        assert!(refused.contains("two rules are named"), "{refused}");
    }

    #[test]
    fn the_example_file_is_valid_and_shows_the_defaults() {
        let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
        let args = ArchiveArgs {
            config: Some(example),
            ..Default::default()
        };
        let from_example = Config::load(&args, Some(&ServeArgs::default())).unwrap();
        let defaults = Config::load(&ArchiveArgs::default(), Some(&ServeArgs::default())).unwrap();
        assert_eq!(from_example, defaults);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.toml");
        std::fs::write(&file, "[storage]\ncompresion = \"none\"\n").unwrap();
        let args = ArchiveArgs {
            config: Some(file.clone()),
            ..Default::default()
        };
        let err = format!("{:#}", Config::load(&args, None).unwrap_err());
        assert!(err.contains("compresion"), "{err}");
        std::fs::write(&file, "[dicom]\nae_title = \"MUCH_TOO_LONG_AE_TITLE\"\n").unwrap();
        let err = format!("{:#}", Config::load(&args, None).unwrap_err());
        assert!(err.contains("AE title"), "{err}");
        std::fs::write(
            &file,
            "[dicom]\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n",
        )
        .unwrap();
        let err = format!("{:#}", Config::load(&args, None).unwrap_err());
        assert!(err.contains("need dicom.tls_bind"), "{err}");
        let missing = ArchiveArgs {
            config: Some(dir.path().join("nope.toml")),
            ..Default::default()
        };
        assert!(Config::load(&missing, None).is_err());
    }

    #[test]
    fn tenants_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.toml");
        let args = ArchiveArgs {
            config: Some(file.clone()),
            ..Default::default()
        };
        let load = |text: &str| {
            std::fs::write(&file, text).unwrap();
            Config::load(&args, None).map_err(|e| format!("{e:#}"))
        };
        let tenant = |id: &str, ae: &str| {
            format!("[[tenants]]\nid = \"{id}\"\nname = \"H\"\nae_title = \"{ae}\"\n")
        };
        let err = load(&tenant("h1", "H1")).unwrap_err();
        assert!(err.contains("auth.required"), "{err}");
        let base = "[auth]\nrequired = true\n[dicom]\nunknown_peers = \"reject\"\n";
        let err = load(&format!("[auth]\nrequired = true\n{}", tenant("h1", "H1"))).unwrap_err();
        assert!(err.contains("unknown_peers"), "{err}");
        let load = |text: &str| load(&format!("{base}{text}"));
        let ok = load(&format!("{}{}", tenant("h1", "H1"), tenant("h2", "H2"))).unwrap();
        assert_eq!(ok.tenants.len(), 2);
        let err = load(&format!("{}{}", tenant("h1", "H1"), tenant("h1", "H2"))).unwrap_err();
        assert!(err.contains("given twice"), "{err}");
        let err = load(&format!("{}{}", tenant("h1", "H1"), tenant("h2", "H1"))).unwrap_err();
        assert!(err.contains("AE title of its own"), "{err}");
        let err = load(&tenant("h1", "FILMLESS")).unwrap_err();
        assert!(err.contains("AE title of its own"), "{err}");
        let err = load(&tenant("H 1", "H1")).unwrap_err();
        assert!(err.contains("tenant ID"), "{err}");
        let peer =
            "[[dicom.peers]]\nae_title = \"CT\"\nhost = \"h\"\nport = 104\ntenant = \"h9\"\n";
        let err = load(&format!("{}{peer}", tenant("h1", "H1"))).unwrap_err();
        assert!(err.contains("not in [[tenants]]"), "{err}");
        let err = load("[http]\ntrusted_proxies = [\"10.0.0.0/40\"]\n").unwrap_err();
        assert!(err.contains("trusted_proxies"), "{err}");
        let bad_ae = "[[dicom.peers]]\nae_title = \"A\\\\B\"\nhost = \"h\"\nport = 1\n";
        let err = load(&format!("{}{bad_ae}", tenant("h1", "H1"))).unwrap_err();
        assert!(err.contains("backslash"), "{err}");
    }
}
