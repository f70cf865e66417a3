//! DICOMweb (PS3.18) under `/dicom-web`: one module per service, each with
//! its `router()`, sharing [`crate::server::AppState`].
//!
//! - [`qido`]: QIDO-RS search, parsed into the archive's one query model;
//! - [`wado`]: WADO-RS instances, metadata (from the index, never from
//!   blobs), frames (ranged reads), bulk data;
//! - [`stow`]: STOW-RS, multipart bodies streamed into the archive (its
//!   handlers hang on the `/studies` routes of [`qido`] and [`wado`]);
//! - [`rendered`]: rendered images and cached thumbnails;
//! - [`accept`]: Accept header parsing;
//! - [`json`]: index rows as DICOM JSON (PS3.18 Annex F).
//!
//! Errors are JSON objects with a reason; CORS headers go on every
//! response, errors included.

pub mod accept;
pub mod json;
pub mod qido;
pub mod rendered;
pub mod stow;
pub mod wado;
pub mod zip;

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use storage::Uid;
use tower_http::cors::{Any, CorsLayer};

use crate::server::AppState;

/// Every DICOMweb route, to be nested under `/dicom-web`.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(qido::router())
        .merge(wado::router())
        .merge(rendered::router())
}

/// CORS (PS3.18 §8.9: browsers on another origin). `http.cors_origins`
/// lists the origins allowed (`*` for any). Empty: any origin when
/// credentials are required (a page elsewhere must hold them itself), none
/// while access is anonymous, so that no web page a user opens can use the
/// archive through their browser.
pub fn cors(config: &crate::config::Config) -> CorsLayer {
    let origins = &config.http.cors_origins;
    let allow: tower_http::cors::AllowOrigin =
        if origins.iter().any(|o| o == "*") || (origins.is_empty() && config.auth.required) {
            Any.into()
        } else {
            origins
                .iter()
                .filter_map(|o| o.parse::<axum::http::HeaderValue>().ok())
                .collect::<Vec<_>>()
                .into()
        };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::ACCEPT,
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::RANGE,
        ])
        .expose_headers([header::CONTENT_TYPE, header::WARNING])
}

/// An error answered as JSON with a reason.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Why, fit for any client (no internals, no patient data).
    pub reason: String,
}

impl ApiError {
    /// 400 Bad Request.
    pub fn bad_request(reason: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            reason: reason.into(),
        }
    }

    /// 404 Not Found.
    pub fn not_found(reason: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            reason: reason.into(),
        }
    }

    /// 406 Not Acceptable.
    pub fn not_acceptable(reason: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_ACCEPTABLE,
            reason: reason.into(),
        }
    }
}

impl From<storage::Error> for ApiError {
    fn from(e: storage::Error) -> Self {
        ApiError {
            status: crate::errors::http_status(e.kind()),
            reason: crate::errors::public_message(&e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, reason = %self.reason, "request failed");
        }
        let body = serde_json::json!({ "error": self.reason, "status": self.status.as_u16() });
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}

/// Result of a DICOMweb handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// Validate a UID from the path.
pub fn uid(attribute: &'static str, value: &str) -> ApiResult<String> {
    Uid::parse(attribute, value)
        .map(|u| u.to_string())
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// The base URL of this server's DICOMweb service: `http.public_url` when
/// set, else as the client reached it (Host, or X-Forwarded-Host/Proto from
/// a proxy). A Host without a port (some clients send that) gets the port
/// this server listens on.
pub fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    let public = state.config.http.public_url.trim_end_matches('/');
    if !public.is_empty() {
        return format!("{public}/dicom-web");
    }
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|h| h.to_str().ok())
            .map(|v| v.split(',').next().unwrap_or("").trim().to_owned())
            .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
    };
    let proxied = get("x-forwarded-host");
    let own = if state.config.http.tls_cert.is_empty() {
        "http"
    } else {
        "https"
    };
    let scheme = get("x-forwarded-proto")
        .filter(|p| p == "https")
        .unwrap_or_else(|| own.to_owned());
    let host = match (proxied, get("host")) {
        (Some(h), _) => h,
        (None, Some(h)) if h.contains(':') || state.http_port == 80 || state.http_port == 443 => h,
        (None, Some(h)) => format!("{h}:{}", state.http_port),
        (None, None) => format!("localhost:{}", state.http_port),
    };
    format!("{scheme}://{host}/dicom-web")
}

/// The Accept values of a request: `accept=` query parameters win over the
/// header (PS3.18 §8.3.3.1).
pub fn accepts(headers: &HeaderMap, params: &[(String, String)]) -> Vec<accept::MediaRange> {
    let from_query: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "accept")
        .map(|(_, v)| v.as_str())
        .collect();
    if !from_query.is_empty() {
        return accept::parse(from_query);
    }
    accept::parse(
        headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

/// A `Warning` header value (PS3.18 §8.4.3).
pub fn warning(text: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("299 filmless: \"{text}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("299 filmless"))
}

/// Parse a whole Part 10 file (with or without its 128-byte preamble).
pub(crate) fn open_part10(part10: &[u8]) -> Result<dicom_object::DefaultDicomObject, String> {
    dicom_check::read_part10(part10).map_err(|e| format!("unreadable instance: {e}"))
}
