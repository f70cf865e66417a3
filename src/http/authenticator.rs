//! Checking credentials: HTTP Basic of a local user (argon2id hashes in
//! the index database), OIDC bearer tokens, or, with `[auth] required =
//! false` (allowed only while HTTP listens on loopback), anonymous access
//! from this machine.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use storage::TenantId;

use super::identity::Identity;
use crate::service::{hash_password, verify_password, ActorKind, Role};

/// Checks credentials, remembering good ones for a while (argon2 costs
/// tens of milliseconds by design; a viewer sends hundreds of requests).
pub struct Authenticator {
    required: bool,
    ttl: Duration,
    service: crate::service::Service,
    /// Good credentials: who, when, and under which users generation (a
    /// change of users here makes them be checked again).
    verified: Mutex<HashMap<[u8; 32], (Identity, Instant, u64)>>,
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
        service: crate::service::Service,
        required: bool,
        ttl: Duration,
        oidc: Option<super::oidc::Oidc>,
    ) -> Self {
        Authenticator {
            required,
            ttl,
            service,
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
        let generation = self.service.users_generation();
        if let Some((p, at, seen)) = self.verified.lock().expect("cache").get(&key) {
            if at.elapsed() < self.ttl && *seen == generation {
                return Ok(p.clone());
            }
        }
        // A flood of logins waits here instead of exhausting memory and CPU.
        let _permit = self.checks.acquire().await.ok();
        let row = match self.service.login_user(user).await {
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
        // After the password, as long as a wrong one takes: a disabled
        // account is not told apart by its speed.
        if row.disabled {
            return Err(Refusal::Invalid(user.to_owned(), "user disabled"));
        }
        let Ok(tenant) = TenantId::parse(&row.tenant) else {
            return Err(Refusal::Invalid(
                user.to_owned(),
                "the user's tenant is malformed",
            ));
        };
        let identity = Identity {
            name: row.name,
            kind: ActorKind::User,
            roles: Role::parse_list(&row.roles).unwrap_or_default(),
            tenant,
        };
        let mut cache = self.verified.lock().expect("cache");
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(key, (identity.clone(), Instant::now(), generation));
        Ok(identity)
    }
}
