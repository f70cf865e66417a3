//! Who is asking over HTTP, for every non-public route: the identity (see
//! [`super::authenticator`]) made into a service context.
//!
//! [`middleware`] runs on every route but the few public ones
//! ([`super::PUBLIC_ROUTES`]): it authenticates, turns the identity into a
//! service [`Context`] (roles, tenant, the client's address through
//! trusted proxies) and hands it to the handler. What the identity may do
//! is decided by the service, never here: this module decides only who it
//! is. A refused login is audited here, as it happens before any context.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use storage::TenantId;

use super::authenticator::Refusal;
use super::error::ApiError;
use super::state::AppState;
use crate::audit::{Access, Action};
use crate::service::{Actor, ActorKind, Context, Protocol, Scope};

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
pub(super) fn client_address(state: &AppState, req: &Request) -> String {
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

/// The header by which the share gate tells DICOMweb handlers the share's
/// path prefix (`/s/TOKEN`), so that RetrieveURL and BulkDataURI point
/// within it. Set only by the server: dropped from incoming requests.
pub const SHARE_PREFIX: &str = "x-filmless-share-prefix";

/// The header a platform administrator names one tenant with.
pub const TENANT_HEADER: &str = "x-filmless-tenant";

/// The middleware of every non-public route: authenticate, and hand the
/// handler a [`Caller`]; without an identity, 401 with the challenges.
pub async fn middleware(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    // Only the share gate may say a request runs within a share.
    req.headers_mut().remove(SHARE_PREFIX);
    let source = client_address(&state, &req);
    if !state.auth.required() && !host_is_local(req.headers(), &state.config.http.public_url) {
        return error(
            StatusCode::MISDIRECTED_REQUEST,
            "anonymous access answers only requests addressed to this machine (localhost, 127.0.0.1, [::1] or http.public_url)",
            Vec::new(),
        );
    }
    let detail = match req.uri().query() {
        Some(q) => format!("{} {}?{}", req.method(), req.uri().path(), redact(q)),
        None => format!("{} {}", req.method(), req.uri().path()),
    };
    // A scraper with the scrape token reads /metrics, and nothing else.
    if req.uri().path() == "/metrics" && scrape_token_given(&state, req.headers()) {
        let ctx = Context::scraper(source);
        req.extensions_mut().insert(Caller { ctx, detail });
        return next.run(req).await;
    }
    let identity = match state.auth.authenticate(req.headers()).await {
        // A user or token of a tenant this deployment does not have (a
        // removed hospital, a token for another platform) may do nothing;
        // the refusal goes to the implicit tenant's trail.
        Ok(p) if !state.service.peers().is_tenant(&p.tenant) => {
            let actor = Actor {
                name: printable(&p.name),
                kind: p.kind,
            };
            let why = "its tenant is not in [[tenants]]";
            refused(
                &state,
                request_line(&req),
                actor,
                TenantId::implicit(),
                why,
                source,
            )
            .await;
            return invalid_credentials(&state);
        }
        Ok(p) => p,
        Err(Refusal::Missing) => {
            return error(
                StatusCode::UNAUTHORIZED,
                "credentials required",
                state.auth.challenges(),
            )
        }
        Err(Refusal::Invalid(user, why)) => {
            // The refusal goes to the trail of the local user's tenant (an
            // unknown name: the implicit tenant's).
            let tenant = match state.service.login_user(&user).await {
                Ok(Some(u)) => TenantId::parse(&u.tenant).unwrap_or_default(),
                _ => TenantId::implicit(),
            };
            let actor = Actor {
                name: printable(&user),
                kind: ActorKind::User,
            };
            refused(&state, request_line(&req), actor, tenant, why, source).await;
            return invalid_credentials(&state);
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

/// Whether the request carries `[metrics] token` as its bearer token
/// (compared in constant time).
fn scrape_token_given(state: &AppState, headers: &axum::http::HeaderMap) -> bool {
    use sha2::{Digest, Sha256};
    let token = state.config.metrics.token.as_bytes();
    if token.is_empty() {
        return false;
    }
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    // Digests of equal length, compared in full: the time tells nothing
    // of the token, its length included.
    let (a, b) = (Sha256::digest(given.as_bytes()), Sha256::digest(token));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
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

/// Log and audit a refused login.
async fn refused(
    state: &AppState,
    request: String,
    actor: Actor,
    tenant: TenantId,
    why: &str,
    source: String,
) {
    tracing::warn!(user = %actor.name, %source, "login refused: {why}");
    state
        .service
        .audit()
        .record(Access {
            actor,
            source,
            action: Action::Login,
            failure: Some(why.to_owned()),
            tenant,
            patient_id: String::new(),
            study_instance_uid: String::new(),
            detail: request,
        })
        .await;
}

/// `METHOD /path` of a request (no query: it may carry patient data).
/// A query string as the audit trail keeps it: a share link's token (the
/// `token` parameter of a share's QR code and slip) left out.
fn redact(query: &str) -> String {
    query
        .split('&')
        .map(|p| {
            let key = p.split('=').next().unwrap_or("");
            let decoded: String = url::form_urlencoded::parse(key.as_bytes())
                .map(|(k, _)| k.into_owned())
                .collect();
            match decoded.as_str() {
                "token" | "pin" => format!("{key}=…"),
                _ => p.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn request_line(req: &Request) -> String {
    format!("{} {}", req.method(), req.uri().path())
}

/// 401 for credentials that are not good (the client is not told why).
fn invalid_credentials(state: &AppState) -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "invalid credentials",
        state.auth.challenges(),
    )
}

/// An [`ApiError`] with the authentication challenges.
fn error(status: StatusCode, reason: &str, challenges: Vec<&'static str>) -> Response {
    let mut r = ApiError {
        status,
        reason: reason.to_owned(),
    }
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
