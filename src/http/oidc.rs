//! OIDC bearer tokens: a JWT from the hospital's identity provider,
//! validated against the issuer's JWKS (signature, `iss`, `aud`, `exp`,
//! `nbf`), its roles taken from a claim and mapped by `[auth.oidc]
//! role_map`, its tenant from `[auth.oidc] tenant_claim`.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, DecodingKey, Validation};
use serde_json::Value;

use storage::TenantId;

use super::identity::Identity;
use crate::config::OidcConfig;
use crate::service::{ActorKind, Role};

/// The validator, with the issuer's keys.
pub struct Oidc {
    config: OidcConfig,
    /// Whether `[[tenants]]` are configured: then a token must name one
    /// (or carry the platform-admin role).
    tenants: bool,
    keys: tokio::sync::RwLock<(JwkSet, Option<Instant>)>,
    last_fetch: std::sync::Mutex<Option<Instant>>,
    client: reqwest::Client,
}

impl Oidc {
    /// Load the keys (a file must be readable; a URL that does not answer
    /// now is tried again at the first token).
    pub async fn new(config: OidcConfig, tenants: bool) -> anyhow::Result<Self> {
        for (k, v) in &config.role_map {
            Role::parse_list(v).map_err(|e| anyhow::anyhow!("auth.oidc.role_map {k:?}: {e}"))?;
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let oidc = Oidc {
            config,
            tenants,
            keys: tokio::sync::RwLock::new((JwkSet { keys: Vec::new() }, None)),
            last_fetch: std::sync::Mutex::new(Some(Instant::now())),
            client,
        };
        match oidc.fetch().await {
            Ok(set) => *oidc.keys.write().await = (set, Some(Instant::now())),
            Err(e) if oidc.config.jwks_file.is_empty() => {
                *oidc.last_fetch.lock().expect("last fetch") = None;
                tracing::warn!(error = %e, url = %oidc.config.jwks_url, "OIDC keys not loaded yet; retrying at the first token");
            }
            Err(e) => return Err(e),
        }
        Ok(oidc)
    }

    async fn fetch(&self) -> anyhow::Result<JwkSet> {
        let text = if !self.config.jwks_file.is_empty() {
            tokio::fs::read_to_string(&self.config.jwks_file)
                .await
                .map_err(|e| {
                    anyhow::anyhow!("auth.oidc.jwks_file {}: {e}", self.config.jwks_file)
                })?
        } else {
            self.client
                .get(&self.config.jwks_url)
                .send()
                .await?
                .error_for_status()?
                .text()
                .await?
        };
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("the JWKS is not valid: {e}"))
    }

    /// The key for `kid`, fetching the set again when it is unknown (the
    /// issuer rotated its keys) or older than `jwks_refresh_secs`, at most
    /// once a minute.
    async fn key(&self, kid: Option<&str>) -> Option<DecodingKey> {
        let find = |set: &JwkSet| match kid {
            Some(k) => set.find(k).cloned(),
            None => set.keys.first().cloned(),
        };
        {
            let keys = self.keys.read().await;
            let fresh = keys.1.is_some_and(|at| {
                at.elapsed() < Duration::from_secs(self.config.jwks_refresh_secs)
            });
            if let Some(jwk) = find(&keys.0).filter(|_| fresh) {
                return DecodingKey::from_jwk(&jwk).ok();
            }
        }
        // At most one fetch a minute, whether it works or not, and no lock
        // held while it runs: while the issuer is slow or down, other
        // tokens go on with the keys already known.
        let due = {
            let mut last = self.last_fetch.lock().expect("last fetch");
            let due = last.is_none_or(|at| at.elapsed() > Duration::from_secs(60));
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if due {
            match self.fetch().await {
                Ok(set) => *self.keys.write().await = (set, Some(Instant::now())),
                Err(e) => tracing::warn!(error = %e, "cannot refresh the OIDC keys"),
            }
        }
        let keys = self.keys.read().await;
        find(&keys.0).and_then(|jwk| DecodingKey::from_jwk(&jwk).ok())
    }

    /// The identity behind a bearer token, or why it is refused.
    pub async fn validate(&self, token: &str) -> Result<Identity, &'static str> {
        let header = decode_header(token).map_err(|_| "malformed bearer token")?;
        let key = self
            .key(header.kid.as_deref())
            .await
            .ok_or("token signed with an unknown key")?;
        let mut validation = Validation::new(header.alg);
        // iss and aud must be present, not only right when present.
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.set_issuer(&[self.config.issuer.as_str()]);
        validation.set_audience(&[self.config.audience.as_str()]);
        validation.validate_nbf = true;
        validation.leeway = 60;
        let data = decode::<Value>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::ExpiredSignature => "token expired",
                K::InvalidAudience => "token for another audience",
                K::InvalidIssuer => "token from another issuer",
                K::InvalidSignature => "bad token signature",
                K::ImmatureSignature => "token not valid yet",
                K::MissingRequiredClaim(_) => "token without iss, aud or exp",
                _ => "invalid bearer token",
            }
        })?;
        let claims = data.claims;
        let name = claim(&claims, &self.config.username_claim)
            .and_then(Value::as_str)
            .or_else(|| claims.get("sub").and_then(Value::as_str))
            .ok_or("token without a subject")?
            .to_owned();
        let values: Vec<String> = match claim(&claims, &self.config.roles_claim) {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        let mut roles = Vec::new();
        for v in values {
            // A value that is a role name counts as that role, except
            // platform-admin, which reaches every hospital: only an explicit
            // role_map entry gives it.
            let mapped = match self.config.role_map.get(&v) {
                Some(m) => m.as_str(),
                None if v == Role::PlatformAdmin.as_str() => continue,
                None => v.as_str(),
            };
            if let Ok(rs) = Role::parse_list(mapped) {
                for r in rs {
                    if !roles.contains(&r) {
                        roles.push(r);
                    }
                }
            }
        }
        // Without [[tenants]] everyone is in the one (implicit) tenant,
        // whatever the token says.
        let tenant = match claim(&claims, &self.config.tenant_claim) {
            _ if !self.tenants => TenantId::implicit(),
            None | Some(Value::Null) if self.tenants && !roles.contains(&Role::PlatformAdmin) => {
                return Err("token without a tenant claim");
            }
            None | Some(Value::Null) => TenantId::implicit(),
            Some(Value::String(t)) => {
                TenantId::parse(t).map_err(|_| "token with a malformed tenant claim")?
            }
            Some(_) => return Err("token with a malformed tenant claim"),
        };
        Ok(Identity {
            name,
            kind: ActorKind::Oidc,
            roles,
            tenant,
        })
    }
}

/// A claim by dotted path (`realm_access.roles` for Keycloak).
fn claim<'a>(claims: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(claims, |v, k| v.get(k))
}

#[cfg(test)]
mod tests {
    use super::claim;

    #[test]
    fn claims_by_dotted_path() {
        let v = serde_json::json!({"realm_access": {"roles": ["pacs-viewer"]}, "roles": "a b"});
        assert_eq!(
            claim(&v, "realm_access.roles"),
            Some(&serde_json::json!(["pacs-viewer"]))
        );
        assert_eq!(claim(&v, "roles"), Some(&serde_json::json!("a b")));
        assert_eq!(claim(&v, "nope.roles"), None);
    }
}
