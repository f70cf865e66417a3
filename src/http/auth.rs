//! Who is asking over HTTP: HTTP Basic credentials of a local user
//! (argon2id hashes in the index database), an OIDC bearer token, or, with
//! `[auth] required = false` (allowed only while HTTP listens on loopback),
//! anonymous access from this machine.
//!
//! [`middleware`] runs on every route but the few public ones
//! ([`super::PUBLIC_ROUTES`]): it authenticates, turns the identity into a
//! service [`Context`] (roles, tenant, the client's address through
//! trusted proxies) and hands it to the handler. What the identity may do
//! is decided by the service, never here: this module decides only who it
//! is. A refused login is audited here, as it happens before any context.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use storage::{Index, TenantId};

use super::state::AppState;
use crate::audit::{Access, Action};
use crate::service::{Actor, ActorKind, Context, Protocol, Role, Scope};

/// Who a request comes from, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// User name, OIDC subject, or `anonymous`.
    pub name: String,
    /// What kind.
    pub kind: ActorKind,
    /// What it may do.
    pub roles: Vec<Role>,
    /// The hospital it works for.
    pub tenant: TenantId,
}

impl Identity {
    /// Anyone on this machine while authentication is off: the platform.
    fn anonymous() -> Self {
        Identity {
            name: "anonymous".into(),
            kind: ActorKind::Anonymous,
            roles: vec![Role::PlatformAdmin],
            tenant: TenantId::implicit(),
        }
    }
}

/// Hash a password for storage (argon2id, random salt, PHC string).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))
}

fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Checks credentials, remembering good ones for a while (argon2 costs
/// tens of milliseconds by design; a viewer sends hundreds of requests).
pub struct Authenticator {
    required: bool,
    ttl: Duration,
    index: Index,
    verified: Mutex<HashMap<[u8; 32], (Identity, Instant)>>,
    /// Salt of the cache keys, new in each process.
    salt: [u8; 32],
    /// Password checks at once (each takes ~19 MiB and tens of ms).
    checks: tokio::sync::Semaphore,
    oidc: Option<super::oidc::Oidc>,
}

/// Why credentials were refused.
#[derive(Debug)]
pub enum Refusal {
    /// None were sent.
    Missing,
    /// Malformed header, unknown user or wrong password (the client is
    /// told only "invalid credentials"); the user name tried.
    Invalid(String, &'static str),
}

impl Authenticator {
    /// With `required = false` everyone is anonymous with every role.
    /// `oidc` adds bearer tokens beside local users.
    pub fn new(
        index: Index,
        required: bool,
        ttl: Duration,
        oidc: Option<super::oidc::Oidc>,
    ) -> Self {
        Authenticator {
            required,
            ttl,
            index,
            verified: Mutex::new(HashMap::new()),
            salt: rand::random(),
            checks: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
            oidc,
        }
    }

    /// The `WWW-Authenticate` challenges to send with a 401.
    pub fn challenges(&self) -> Vec<&'static str> {
        let mut c = vec!["Basic realm=\"Filmless\", charset=\"UTF-8\""];
        if self.oidc.is_some() {
            c.push("Bearer realm=\"Filmless\"");
        }
        c
    }

    /// Whether credentials are required.
    pub fn required(&self) -> bool {
        self.required
    }

    /// The identity behind a request's headers.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Identity, Refusal> {
        if !self.required {
            return Ok(Identity::anonymous());
        }
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(Refusal::Missing);
        };
        let value = value
            .to_str()
            .map_err(|_| Refusal::Invalid(String::new(), "Authorization is not ASCII"))?;
        let Some((scheme, token)) = value.split_once(' ') else {
            return Err(Refusal::Invalid(
                String::new(),
                "malformed Authorization header",
            ));
        };
        if scheme.eq_ignore_ascii_case("bearer") {
            return match &self.oidc {
                Some(oidc) => oidc
                    .validate(token.trim())
                    .await
                    .map_err(|why| Refusal::Invalid("(bearer token)".to_owned(), why)),
                None => Err(Refusal::Invalid(
                    String::new(),
                    "bearer tokens are not configured (auth.oidc)",
                )),
            };
        }
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(Refusal::Invalid(
                String::new(),
                "unsupported authorization scheme",
            ));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(Refusal::Invalid(
                String::new(),
                "malformed Basic credentials",
            ))?;
        let Some((user, password)) = decoded.split_once(':') else {
            return Err(Refusal::Invalid(
                String::new(),
                "malformed Basic credentials",
            ));
        };
        let key: [u8; 32] = Sha256::new()
            .chain_update(self.salt)
            .chain_update(decoded.as_bytes())
            .finalize()
            .into();
        if let Some((p, at)) = self.verified.lock().expect("cache").get(&key) {
            if at.elapsed() < self.ttl {
                return Ok(p.clone());
            }
        }
        // A flood of logins waits here instead of exhausting memory and CPU.
        let _permit = self.checks.acquire().await.ok();
        let row = match self.index.user(user).await {
            Ok(Some(row)) => row,
            Ok(None) => {
                // Spend the time a wrong password would, so that probing
                // for user names gains nothing.
                let _ = tokio::task::spawn_blocking(|| {
                    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
                    let hash = DUMMY.get_or_init(|| hash_password("dummy").unwrap_or_default());
                    verify_password(hash, "x")
                })
                .await;
                return Err(Refusal::Invalid(user.to_owned(), "unknown user"));
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read users");
                return Err(Refusal::Invalid(user.to_owned(), "user table unavailable"));
            }
        };
        let hash = row.password_hash.clone();
        let pw = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || verify_password(&hash, &pw))
            .await
            .unwrap_or(false);
        if !ok {
            return Err(Refusal::Invalid(user.to_owned(), "wrong password"));
        }
        let identity = Identity {
            name: row.name,
            kind: ActorKind::User,
            roles: Role::parse_list(&row.roles).unwrap_or_default(),
            tenant: TenantId::parse(&row.tenant).unwrap_or_default(),
        };
        let mut cache = self.verified.lock().expect("cache");
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(key, (identity.clone(), Instant::now()));
        Ok(identity)
    }
}

/// A user name as logged and audited: no control characters (a newline
/// could forge a log line), at most 128 characters.
fn printable(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(128)
        .collect()
}

/// While access is anonymous, only requests addressed to this machine by
/// name are served: a web page elsewhere could otherwise point its own host
/// name at 127.0.0.1 (DNS rebinding) and use the archive through a
/// browser.
fn host_is_local(headers: &HeaderMap, public_url: &str) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return true; // HTTP/1.0 without Host: not from a browser
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    let public = url::Url::parse(public_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned));
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
        || public.is_some_and(|p| p.trim_matches(['[', ']']).eq_ignore_ascii_case(name))
}

/// The client's address: the connection's peer, or what a trusted proxy
/// says it forwarded.
fn client_address(state: &AppState, req: &Request) -> String {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .or_else(|| {
            req.extensions()
                .get::<ConnectInfo<super::tls::TlsPeer>>()
                .map(|c| c.0 .0)
        })
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    state.proxies.client(peer, req.headers()).to_string()
}

/// The header a platform administrator names one tenant with.
pub const TENANT_HEADER: &str = "x-filmless-tenant";

/// The middleware of every non-public route: authenticate, and hand the
/// handler a [`Caller`]; without an identity, 401 with the challenges.
pub async fn middleware(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let source = client_address(&state, &req);
    if !state.auth.required() && !host_is_local(req.headers(), &state.config.http.public_url) {
        return error(
            StatusCode::MISDIRECTED_REQUEST,
            "anonymous access answers only requests addressed to this machine (localhost, 127.0.0.1, [::1] or http.public_url)",
            Vec::new(),
        );
    }
    let detail = match req.uri().query() {
        Some(q) => format!("{} {}?{q}", req.method(), req.uri().path()),
        None => format!("{} {}", req.method(), req.uri().path()),
    };
    let identity = match state.auth.authenticate(req.headers()).await {
        Ok(p) => p,
        Err(refusal) => {
            let reason = match &refusal {
                Refusal::Missing => "credentials required",
                Refusal::Invalid(user, why) => {
                    let user = printable(user);
                    tracing::warn!(user = %user, %source, "login refused: {why}");
                    state
                        .service
                        .audit()
                        .record(Access {
                            actor: Actor {
                                name: user,
                                kind: ActorKind::User,
                            },
                            source,
                            action: Action::Login,
                            failure: Some((*why).to_owned()),
                            tenant: TenantId::implicit(),
                            patient_id: String::new(),
                            study_instance_uid: String::new(),
                            detail: format!("{} {}", req.method(), req.uri().path()),
                        })
                        .await;
                    "invalid credentials"
                }
            };
            return error(StatusCode::UNAUTHORIZED, reason, state.auth.challenges());
        }
    };
    let mut ctx = Context::person(
        Actor {
            name: identity.name,
            kind: identity.kind,
        },
        identity.roles,
        identity.tenant,
        source,
        Protocol::Http,
    );
    // A platform administrator may act within one tenant.
    if let Some(t) = req.headers().get(TENANT_HEADER) {
        let tenant = t.to_str().ok().and_then(|t| TenantId::parse(t).ok());
        match tenant {
            Some(t) if ctx.scope == Scope::Platform && state.service.peers().is_tenant(&t) => {
                ctx.scope = Scope::Tenant(t)
            }
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "X-Filmless-Tenant names a tenant, for platform administrators",
                    Vec::new(),
                )
            }
        }
    }
    req.extensions_mut().insert(Caller { ctx, detail });
    next.run(req).await
}

/// An authenticated request's context and what it asked (for the audit
/// trail): what every non-public handler takes. Without the middleware in
/// front (a route left out of the protected router) it cannot be
/// extracted, and the request is refused: access is denied by default.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who, which tenant, from where.
    pub ctx: Context,
    /// `METHOD /path?query`.
    pub detail: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| error(StatusCode::UNAUTHORIZED, "credentials required", Vec::new()))
    }
}

fn error(status: StatusCode, reason: &str, challenges: Vec<&'static str>) -> Response {
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "error": reason }).to_string(),
    )
        .into_response();
    for c in challenges {
        r.headers_mut().append(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static(c),
        );
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "Correct horse"));
        assert!(!verify_password("not a hash", "x"));
    }

    #[test]
    fn anonymous_access_is_local_only() {
        let mut h = HeaderMap::new();
        for (host, local) in [
            ("localhost:8080", true),
            ("127.0.0.1", true),
            ("[::1]:8080", true),
            ("pacs.example", false),
            ("evil.example:8080", false),
        ] {
            h.insert(header::HOST, host.parse().unwrap());
            assert_eq!(host_is_local(&h, ""), local, "{host}");
        }
        h.insert(header::HOST, "pacs.example".parse().unwrap());
        assert!(host_is_local(&h, "https://pacs.example"));
    }
}
