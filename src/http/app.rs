//! The whole HTTP application: public routes, protected routes behind
//! authentication, the viewer as the fallback, and the layers around them
//! (body limit, timeout, compression, CORS).

use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::routing::get;
use axum::Router;
use tower_http::compression::Predicate as _;

use super::state::AppState;
use super::{auth, pages, viewer};

/// Every route that needs an identity: method and path (`{name}` for a
/// path parameter).
pub fn protected_routes() -> Vec<(String, String)> {
    let mut out = vec![
        ("GET".to_owned(), "/status".to_owned()),
        ("GET".to_owned(), "/metrics".to_owned()),
    ];
    for (path, methods) in crate::dicomweb::ROUTES {
        for m in *methods {
            out.push((m.to_ascii_uppercase(), format!("/dicom-web{path}")));
        }
    }
    for (path, methods) in super::worklist::ROUTES
        .iter()
        .chain(super::jobs::ROUTES)
        .chain(super::shares::ROUTES)
        .chain(super::print::ROUTES)
        .chain(super::stats::ROUTES)
        .chain(super::export::ROUTES)
        .chain(super::admin::ROUTES)
        .chain(super::manage::ROUTES)
    {
        for m in *methods {
            out.push((m.to_ascii_uppercase(), (*path).to_owned()));
        }
    }
    out
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    // gzip for JSON (metadata, search results); images and DICOM files go
    // as they are.
    let compression = tower_http::compression::CompressionLayer::new().compress_when(
        tower_http::compression::predicate::SizeAbove::new(1024)
            .and(ContentTypeIs("application/dicom+json")),
    );
    if let Some(dir) = &state.viewer {
        tracing::info!(viewer = %dir.display(), "serving the OHIF viewer");
    } else {
        tracing::info!("no viewer installed (viewer-web/setup.sh installs it)");
    }
    let protected = Router::new()
        .route("/status", get(pages::status))
        .route("/metrics", get(pages::metrics))
        .nest("/dicom-web", crate::dicomweb::router())
        .merge(super::worklist::router())
        .merge(super::jobs::router())
        .merge(super::shares::router())
        .merge(super::print::router())
        .merge(super::stats::router())
        .merge(super::export::router())
        .merge(super::admin::router())
        .merge(super::manage::router())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::middleware,
        ));
    let public = Router::new()
        .route("/healthz", get(pages::health))
        .route("/health", get(pages::live))
        .route("/ready", get(pages::ready))
        .merge(super::shares::public_router());
    public
        .merge(protected)
        .fallback(viewer::fallback)
        .layer(axum::middleware::from_fn(pages::route_tag))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            usize::try_from(state.config.http.max_upload_bytes).unwrap_or(usize::MAX),
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(state.config.http.request_timeout_secs),
        ))
        .layer(compression)
        .layer(crate::dicomweb::cors(&state.config))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            pages::count_request,
        ))
        .with_state(state)
}

/// A compression predicate: this content type only.
#[derive(Clone, Copy)]
struct ContentTypeIs(&'static str);

impl tower_http::compression::Predicate for ContentTypeIs {
    fn should_compress<B: axum::body::HttpBody>(&self, response: &axum::http::Response<B>) -> bool {
        response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(self.0))
    }
}
