//! DICOMweb (PS3.18) under `/dicom-web`, over the service layer: every
//! route is declared once below, each handler in the module of its
//! service, every one of them behind authentication.
//!
//! - [`qido`]: QIDO-RS search, parsed into the archive's one query model;
//! - [`wado`]: WADO-RS instances, metadata, frames, bulk data, DELETE;
//! - [`stow`]: STOW-RS, multipart bodies streamed into the store;
//! - [`rendered`]: rendered images and thumbnails;
//! - [`zip`]: a study or series as one ZIP file;
//! - [`workitems`]: UPS-RS search of the modality worklist (read-only);
//! - [`extract`]: paths, query parameters and Accept, parsed once;
//! - [`multipart`]: the one multipart/related writer;
//! - [`accept`]: Accept header parsing; [`json`]: DICOM JSON (Annex F).
//!
//! Errors are JSON objects with a reason; CORS headers go on every
//! response, errors included.

pub mod accept;
pub mod extract;
pub mod json;
pub mod multipart;
pub mod qido;
pub mod rendered;
pub mod stow;
pub mod wado;
pub mod workitems;
pub mod zip;

use axum::http::{header, HeaderMap, HeaderValue, Method};
use tower_http::cors::{Any, CorsLayer};

use crate::http::routes::routes;
use crate::http::state::AppState;

routes! {
    "/studies" => { get: qido::studies, post: stow::store_studies, delete: qido::no_delete_all }
    "/series" => { get: qido::series }
    "/workitems" => { get: workitems::search }
    "/instances" => { get: qido::instances }
    "/studies/{study}" => { get: wado::retrieve, post: stow::store_study, delete: wado::delete }
    "/studies/{study}/metadata" => { get: wado::metadata }
    "/studies/{study}/series" => { get: qido::series }
    "/studies/{study}/instances" => { get: qido::instances }
    "/studies/{study}/rendered" => { get: rendered::rendered }
    "/studies/{study}/thumbnail" => { get: rendered::thumbnail }
    "/studies/{study}/series/{series}" => { get: wado::retrieve, delete: wado::delete }
    "/studies/{study}/series/{series}/metadata" => { get: wado::metadata }
    "/studies/{study}/series/{series}/instances" => { get: qido::instances }
    "/studies/{study}/series/{series}/rendered" => { get: rendered::rendered }
    "/studies/{study}/series/{series}/thumbnail" => { get: rendered::thumbnail }
    "/studies/{study}/series/{series}/instances/{instance}" => {
        get: wado::retrieve, delete: wado::delete
    }
    "/studies/{study}/series/{series}/instances/{instance}/metadata" => { get: wado::metadata }
    "/studies/{study}/series/{series}/instances/{instance}/rendered" => {
        get: rendered::rendered
    }
    "/studies/{study}/series/{series}/instances/{instance}/thumbnail" => {
        get: rendered::thumbnail
    }
    "/studies/{study}/series/{series}/instances/{instance}/frames/{frames}" => {
        get: wado::frames
    }
    "/studies/{study}/series/{series}/instances/{instance}/frames/{frames}/rendered" => {
        get: rendered::frame_rendered
    }
    "/studies/{study}/series/{series}/instances/{instance}/frames/{frames}/thumbnail" => {
        get: rendered::frame_thumbnail
    }
    "/studies/{study}/series/{series}/instances/{instance}/bulkdata/{*path}" => {
        get: wado::bulkdata
    }
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
            header::HeaderName::from_static(crate::http::auth::TENANT_HEADER),
        ])
        .expose_headers([header::CONTENT_TYPE, header::WARNING])
}

/// The base URL of this server's DICOMweb service: `http.public_url` when
/// set, else as the client reached it (Host, or X-Forwarded-Host/Proto from
/// a proxy). A Host without a port (some clients send that) gets the port
/// this server listens on.
pub fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    // Through a share, the URLs stay within the share's prefix (the server
    // sets this header itself; incoming copies are dropped).
    let prefix = headers
        .get(crate::http::auth::SHARE_PREFIX)
        .and_then(|h| h.to_str().ok())
        .filter(|p| {
            p.starts_with("/s/")
                && p[3..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .unwrap_or("");
    let public = state.config.http.public_url.trim_end_matches('/');
    if !public.is_empty() {
        return format!("{public}{prefix}/dicom-web");
    }
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|h| h.to_str().ok())
            .map(|v| v.split(',').next().unwrap_or("").trim().to_owned())
            // A host and port only: the value goes into URLs and JSON text.
            .filter(|h| {
                !h.is_empty()
                    && h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._:[]".contains(&b))
            })
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
    format!("{scheme}://{host}{prefix}/dicom-web")
}

/// A `Warning` header value (PS3.18 §8.4.3).
pub fn warning(text: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("299 filmless: \"{text}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("299 filmless"))
}
