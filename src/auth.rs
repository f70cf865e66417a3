//! Who may use the HTTP side, and as what.
//!
//! With `[auth] required = false` (allowed only while HTTP listens on
//! loopback) every request is anonymous with every role. Otherwise each
//! request to DICOMweb or `/status` carries HTTP Basic credentials of a
//! local user (`filmless user add`, argon2id hashes in the index
//! database). The static viewer files and `/healthz` hold no patient data
//! and stay open, so the browser can load the viewer and then answer the
//! login prompt that a 401 on its first DICOMweb request brings up.
//!
//! Roles: `viewer` (QIDO-RS, WADO-RS), `uploader` (STOW-RS), `admin`
//! (DELETE, and everything else).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use storage::Index;

use crate::audit::{Access, Action, Actor, AuditStudies};
use crate::server::AppState;

/// A role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Search and retrieve (QIDO-RS, WADO-RS, the status page).
    Viewer,
    /// Store (STOW-RS).
    Uploader,
    /// Delete, and everything the others may.
    Admin,
}

impl Role {
    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Uploader => "uploader",
            Role::Admin => "admin",
        }
    }

    /// A comma-separated list of role names.
    pub fn parse_list(s: &str) -> anyhow::Result<Vec<Role>> {
        let mut out = Vec::new();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let r = match name {
                "viewer" => Role::Viewer,
                "uploader" => Role::Uploader,
                "admin" => Role::Admin,
                other => anyhow::bail!("unknown role {other:?} (viewer, uploader, admin)"),
            };
            if !out.contains(&r) {
                out.push(r);
            }
        }
        if out.is_empty() {
            anyhow::bail!("no role given (viewer, uploader, admin)");
        }
        Ok(out)
    }

    /// Roles as stored.
    pub fn join(roles: &[Role]) -> String {
        roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Who a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// User name (or `anonymous`).
    pub name: String,
    /// `user` or `anonymous`.
    pub kind: &'static str,
    /// What it may do.
    pub roles: Vec<Role>,
}

impl Principal {
    fn anonymous() -> Self {
        Principal {
            name: "anonymous".into(),
            kind: "anonymous",
            roles: vec![Role::Admin],
        }
    }

    /// Whether it holds `role` (admins hold every role).
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&Role::Admin) || self.roles.contains(&role)
    }

    /// As the audit trail names it, from `source`.
    pub fn actor(&self, source: SocketAddr) -> Actor {
        Actor {
            name: self.name.clone(),
            kind: self.kind,
            source: source.ip().to_string(),
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
    verified: Mutex<HashMap<[u8; 32], (Principal, Instant)>>,
    /// Salt of the cache keys, new in each process.
    salt: [u8; 32],
    /// Password checks at once (each takes ~19 MiB and tens of ms).
    checks: tokio::sync::Semaphore,
    oidc: Option<crate::oidc::Oidc>,
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
        oidc: Option<crate::oidc::Oidc>,
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
    fn challenges(&self) -> Vec<&'static str> {
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

    /// The principal behind a request's headers.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, Refusal> {
        if !self.required {
            return Ok(Principal::anonymous());
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
        let principal = Principal {
            name: row.name,
            kind: "user",
            roles: Role::parse_list(&row.roles).unwrap_or_default(),
        };
        let mut cache = self.verified.lock().expect("cache");
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(key, (principal.clone(), Instant::now()));
        Ok(principal)
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

/// The role a request needs, `None` for open paths.
pub fn required_role(method: &Method, path: &str) -> Option<Role> {
    if path == "/status" {
        return Some(Role::Viewer);
    }
    if path != "/dicom-web" && !path.starts_with("/dicom-web/") {
        return None; // the viewer's static files, /healthz
    }
    match *method {
        Method::GET | Method::HEAD => Some(Role::Viewer),
        Method::OPTIONS => None,
        Method::POST => Some(Role::Uploader),
        _ => Some(Role::Admin),
    }
}

/// The middleware: authenticate, check the role, and hand the principal
/// to handlers (as a request extension) for the audit trail.
pub async fn middleware(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let need = required_role(req.method(), req.uri().path());
    let source = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .or_else(|| {
            req.extensions()
                .get::<ConnectInfo<crate::tls::TlsPeer>>()
                .map(|c| c.0 .0)
        })
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let Some(need) = need else {
        return next.run(req).await;
    };
    if !state.auth.required() && !host_is_local(req.headers(), &state.config.http.public_url) {
        return error(
            StatusCode::MISDIRECTED_REQUEST,
            "anonymous access answers only requests addressed to this machine (localhost, 127.0.0.1, [::1] or http.public_url)",
            Vec::new(),
        );
    }
    let principal = match state.auth.authenticate(req.headers()).await {
        Ok(p) => p,
        Err(refusal) => {
            let reason = match &refusal {
                Refusal::Missing => "credentials required",
                Refusal::Invalid(user, why) => {
                    let user = printable(user);
                    tracing::warn!(user = %user, %source, "login refused: {why}");
                    state
                        .audit
                        .record(Access {
                            actor: Actor {
                                name: user,
                                kind: "user",
                                source: source.ip().to_string(),
                            },
                            action: Action::Login,
                            failure: Some((*why).to_owned()),
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
    if !principal.has(need) {
        if let Some(action) = audited_action(req.method(), req.uri().path()) {
            let path = req.uri().path().to_owned();
            let study = study_in_path(&path).unwrap_or_default();
            state
                .audit
                .record(Access {
                    actor: principal.actor(source),
                    action,
                    failure: Some(format!("forbidden: needs the {} role", need.as_str())),
                    patient_id: String::new(),
                    study_instance_uid: study,
                    detail: format!("{} {path}", req.method()),
                })
                .await;
        }
        return error(
            StatusCode::FORBIDDEN,
            &format!("this needs the {} role", need.as_str()),
            Vec::new(),
        );
    }
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let detail = match req.uri().query() {
        Some(q) => format!("{method} {path}?{q}"),
        None => format!("{method} {path}"),
    };
    let actor = principal.actor(source);
    req.extensions_mut().insert(principal);
    let action = audited_action(&method, &path);
    // Whose study this is, asked before a delete can remove the answer.
    let path_study = study_in_path(&path).unwrap_or_default();
    let path_patient = match action {
        Some(_) => state.audit.patient_of(&path_study).await,
        None => String::new(),
    };
    let response = next.run(req).await;
    if let Some(action) = action {
        let failure = (response.status().is_client_error() || response.status().is_server_error())
            .then(|| response.status().to_string());
        let studies = match response.extensions().get::<AuditStudies>() {
            Some(s) if !s.0.is_empty() => s.0.clone(),
            _ => vec![(path_patient, path_study)],
        };
        for (patient_id, study_instance_uid) in studies {
            state
                .audit
                .record(Access {
                    actor: actor.clone(),
                    action,
                    failure: failure.clone(),
                    patient_id,
                    study_instance_uid,
                    detail: detail.clone(),
                })
                .await;
        }
    }
    response
}

/// What a DICOMweb request does to patient data.
fn audited_action(method: &Method, path: &str) -> Option<Action> {
    let rest = path.strip_prefix("/dicom-web/")?;
    let last = rest.rsplit('/').next().unwrap_or("");
    Some(match *method {
        Method::GET | Method::HEAD => match last {
            "studies" | "series" | "instances" => Action::QidoRs,
            _ => Action::WadoRs,
        },
        Method::POST => Action::StowRs,
        Method::DELETE => Action::Delete,
        _ => return None,
    })
}

/// The Study Instance UID a DICOMweb path names.
fn study_in_path(path: &str) -> Option<String> {
    let mut it = path.split('/');
    it.find(|s| *s == "studies")?;
    it.next().filter(|s| !s.is_empty()).map(str::to_owned)
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
    fn roles_by_route() {
        assert_eq!(
            required_role(&Method::GET, "/dicom-web/studies"),
            Some(Role::Viewer)
        );
        assert_eq!(
            required_role(&Method::POST, "/dicom-web/studies"),
            Some(Role::Uploader)
        );
        assert_eq!(
            required_role(&Method::DELETE, "/dicom-web/studies/1.2"),
            Some(Role::Admin)
        );
        assert_eq!(required_role(&Method::GET, "/status"), Some(Role::Viewer));
        assert_eq!(required_role(&Method::GET, "/healthz"), None);
        assert_eq!(required_role(&Method::GET, "/index.html"), None);
        assert_eq!(
            required_role(&Method::GET, "/dicom-webx/studies"),
            None,
            "only the DICOMweb prefix itself"
        );
        assert_eq!(required_role(&Method::OPTIONS, "/dicom-web/studies"), None);
    }

    #[test]
    fn audited_actions_by_route() {
        assert_eq!(
            audited_action(&Method::GET, "/dicom-web/studies"),
            Some(Action::QidoRs)
        );
        assert_eq!(
            audited_action(&Method::GET, "/dicom-web/studies/1.2/series"),
            Some(Action::QidoRs)
        );
        assert_eq!(
            audited_action(&Method::GET, "/dicom-web/studies/1.2/series/3/metadata"),
            Some(Action::WadoRs)
        );
        assert_eq!(
            audited_action(&Method::POST, "/dicom-web/studies"),
            Some(Action::StowRs)
        );
        assert_eq!(
            audited_action(&Method::DELETE, "/dicom-web/studies/1.2"),
            Some(Action::Delete)
        );
        assert_eq!(
            study_in_path("/dicom-web/studies/1.2/series/3").as_deref(),
            Some("1.2")
        );
        assert_eq!(study_in_path("/dicom-web/studies"), None);
    }

    #[test]
    fn admins_hold_every_role() {
        let p = |roles: &[Role]| Principal {
            name: "u".into(),
            kind: "user",
            roles: roles.to_vec(),
        };
        assert!(p(&[Role::Admin]).has(Role::Uploader));
        assert!(!p(&[Role::Viewer]).has(Role::Uploader));
        assert!(!p(&[Role::Uploader]).has(Role::Viewer));
        assert_eq!(
            Role::parse_list("viewer, uploader,viewer").unwrap(),
            vec![Role::Viewer, Role::Uploader]
        );
        assert!(Role::parse_list("root").is_err());
        assert!(Role::parse_list("").is_err());
    }

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "Correct horse"));
        assert!(!verify_password("not a hash", "x"));
    }
}
