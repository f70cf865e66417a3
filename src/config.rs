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

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use storage::ArchiveConfig;

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
}

/// `[auth]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Require credentials (HTTP Basic of a local user) for DICOMweb and
    /// `/status`. Must be true unless HTTP listens on loopback only.
    pub required: bool,
    /// Seconds a verified password is remembered (argon2 is slow by
    /// design); also how long a removed user may go on.
    pub cache_secs: u64,
    /// Bearer tokens from an OpenID Connect provider.
    pub oidc: OidcConfig,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            required: false,
            cache_secs: 60,
            oidc: OidcConfig::default(),
        }
    }
}

/// `[auth.oidc]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    /// The `iss` tokens must carry; empty: OIDC off.
    pub issuer: String,
    /// The `aud` tokens must carry (the client ID of the viewer).
    pub audience: String,
    /// Where the issuer publishes its keys (JWKS).
    pub jwks_url: String,
    /// Or a JWKS file (for networks that cannot reach the issuer's URL).
    pub jwks_file: String,
    /// Seconds before the keys are fetched again (also at once for an
    /// unknown key ID, at most once a minute).
    pub jwks_refresh_secs: u64,
    /// The claim holding the user's name (falls back to `sub`).
    pub username_claim: String,
    /// The claim holding roles or groups: an array or a space-separated
    /// string; a dotted path reaches into objects (`realm_access.roles`).
    pub roles_claim: String,
    /// Claim value → role (`viewer`, `uploader`, `admin`, or a comma list).
    /// Values that are role names themselves need no entry.
    pub role_map: std::collections::BTreeMap<String, String>,
}

impl Default for OidcConfig {
    fn default() -> Self {
        OidcConfig {
            issuer: String::new(),
            audience: String::new(),
            jwks_url: String::new(),
            jwks_file: String::new(),
            jwks_refresh_secs: 3600,
            username_claim: "preferred_username".to_owned(),
            roles_claim: "roles".to_owned(),
            role_map: Default::default(),
        }
    }
}

/// `[audit]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Also send each audit event as RFC 5424 syslog to `udp://HOST:PORT`;
    /// empty: the index database only.
    pub syslog: String,
}

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
    /// C-FIND matches person names case-insensitively.
    pub case_insensitive_names: bool,
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
}

fn all_permissions() -> Vec<Permission> {
    vec![
        Permission::Store,
        Permission::Find,
        Permission::Move,
        Permission::Get,
    ]
}

impl std::str::FromStr for Peer {
    type Err = String;

    /// `AET@HOST:PORT`, allowed everything.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (ae, rest) = s.split_once('@').ok_or("expected AET@HOST:PORT")?;
        let (host, port) = rest.rsplit_once(':').ok_or("expected AET@HOST:PORT")?;
        let port = port.parse().map_err(|_| format!("bad port {port:?}"))?;
        if ae.is_empty() || host.is_empty() {
            return Err("expected AET@HOST:PORT".into());
        }
        Ok(Peer {
            ae_title: ae.to_owned(),
            host: host.trim_matches(['[', ']']).to_owned(),
            port,
            permissions: all_permissions(),
            check_host: false,
        })
    }
}

/// `[http]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address and port of the HTTP listener.
    pub bind: SocketAddr,
    /// The URL clients reach this server at (e.g. behind a reverse proxy:
    /// `https://pacs.hospital.vn`); empty: taken from each request.
    pub public_url: String,
    /// The viewer's static files (OHIF), served at `/`; empty: the
    /// `viewer-web/dist` folder beside the binary's source, if present.
    pub viewer_dir: String,
    /// Largest request body (a STOW-RS upload), in bytes; larger ones get
    /// 413.
    pub max_upload_bytes: u64,
    /// Seconds a request may take until its response starts.
    pub request_timeout_secs: u64,
    /// Origins allowed by CORS (`*`: any); empty: any when auth is
    /// required, none while access is anonymous.
    pub cors_origins: Vec<String>,
    /// HTTPS: the certificate chain (PEM, leaf first); with `tls_key`.
    pub tls_cert: String,
    /// HTTPS: the certificate's private key (PEM).
    pub tls_key: String,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter, e.g. `info` or `info,filmless_storage=debug`.
    /// `RUST_LOG` overrides it.
    pub level: String,
    /// `text` for people, `json` for log collectors.
    pub format: LogFormat,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
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
        }
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
            case_insensitive_names: true,
            peers: Vec::new(),
            tls_bind: String::new(),
            tls_cert: String::new(),
            tls_key: String::new(),
            tls_client_ca: String::new(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: String::new(),
            viewer_dir: String::new(),
            max_upload_bytes: 4 * 1024 * 1024 * 1024,
            request_timeout_secs: 600,
            cors_origins: Vec::new(),
            tls_cert: String::new(),
            tls_key: String::new(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_owned(),
            format: LogFormat::Text,
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
                config.dicom.peers.retain(|q| q.ae_title != p.ae_title);
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
        Ok(())
    }

    /// Check values that parse but make no sense.
    pub fn validate(&self) -> anyhow::Result<()> {
        let ae = self.dicom.ae_title.trim();
        if ae.is_empty()
            || ae.len() > 16
            || !ae.bytes().all(|b| (0x20..0x7F).contains(&b) && b != b'\\')
        {
            bail!(
                "dicom.ae_title {:?} is not a valid AE title (1 to 16 printable ASCII characters, no backslash)",
                self.dicom.ae_title
            );
        }
        for p in &self.dicom.peers {
            let ae = p.ae_title.trim();
            if ae.is_empty() || ae.len() > 16 {
                bail!(
                    "dicom.peers: AE title {:?} must be 1 to 16 characters",
                    p.ae_title
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
        if !d.tls_bind.is_empty() {
            d.tls_bind
                .parse::<SocketAddr>()
                .with_context(|| format!("dicom.tls_bind {:?} is not ADDR:PORT", d.tls_bind))?;
            if d.tls_cert.is_empty() || d.tls_key.is_empty() {
                bail!("dicom.tls_bind needs dicom.tls_cert and dicom.tls_key");
            }
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
            for (k, v) in &o.role_map {
                crate::auth::Role::parse_list(v)
                    .with_context(|| format!("auth.oidc.role_map {k:?}"))?;
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
        let missing = ArchiveArgs {
            config: Some(dir.path().join("nope.toml")),
            ..Default::default()
        };
        assert!(Config::load(&missing, None).is_err());
    }
}
