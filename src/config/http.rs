//! `[http]`, `[auth]`, `[audit]` and `[log]`.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

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
    /// Reverse proxies (addresses or CIDR ranges, e.g. `10.0.0.0/8`) whose
    /// `X-Forwarded-For` names the client in the audit trail; ignored from
    /// anyone else.
    pub trusted_proxies: Vec<String>,
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
            trusted_proxies: Vec::new(),
        }
    }
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
    /// Claim value → role (`viewer`, `uploader`, `admin`, `platform-admin`,
    /// or a comma list). Values that are role names themselves need no
    /// entry, except `platform-admin`, which only an entry gives.
    pub role_map: std::collections::BTreeMap<String, String>,
    /// The claim holding the user's tenant (`id` of a `[[tenants]]` entry).
    /// With `[[tenants]]`, a token without it is refused (platform-admin
    /// tokens excepted); without `[[tenants]]` it is ignored.
    pub tenant_claim: String,
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
            tenant_claim: "tenant".to_owned(),
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

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}
