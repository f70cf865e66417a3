//! HTTP plumbing: the router, who is asking (authentication into a service
//! context), the server's own pages, the viewer's files, HTTPS.
//!
//! Access is denied by default. The public routes are listed here, in
//! [`PUBLIC_ROUTES`], and nowhere else: the viewer's static files and its
//! client-side routes, and `/healthz`. Every other route sits behind the
//! authentication middleware, whose [`auth::Caller`] its handler needs, and
//! the service decides what that caller may do. Paths that match no route
//! answer 404.
//!
//! - [`state`]: what handlers share; [`error`]: JSON errors;
//! - [`auth`]: identity → context; [`oidc`]: bearer tokens; [`proxy`]:
//!   clients behind trusted reverse proxies;
//! - [`pages`]: `/status`, `/healthz`; [`viewer`]: the OHIF viewer;
//! - [`tls`]: HTTPS and the DICOM TLS settings.

pub mod auth;
pub mod error;
pub mod oidc;
pub mod pages;
pub mod proxy;
pub mod state;
pub mod tls;
pub mod viewer;

use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::routing::get;
use axum::Router;
use tower_http::compression::Predicate as _;

use state::AppState;

/// The routes anyone may use, with what they are. Nothing else is public.
pub const PUBLIC_ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/healthz", "liveness and readiness, no data"),
    (
        "GET",
        "/ (fallback)",
        "the viewer's static files and client-side routes, no data",
    ),
];

/// Declares a module's routes once: its axum router and its route table
/// (each path and its methods), which the access-matrix test holds against
/// its expectations, so no route is added without deciding who may use it.
macro_rules! routes {
    ($( $path:literal => { $($method:ident: $handler:path),+ $(,)? } )*) => {
        /// Every route here: path and methods.
        pub const ROUTES: &[(&str, &[&str])] = &[ $( ($path, &[$(stringify!($method)),+]) ),* ];

        /// The routes.
        pub fn router() -> axum::Router<$crate::http::state::AppState> {
            axum::Router::new()
                $( .route($path, axum::routing::MethodRouter::new() $( .$method($handler) )+ ) )*
        }
    };
}
pub(crate) use routes;

/// Every route that needs an identity: method and path (`{name}` for a
/// path parameter).
pub fn protected_routes() -> Vec<(String, String)> {
    let mut out = vec![("GET".to_owned(), "/status".to_owned())];
    for (path, methods) in crate::dicomweb::ROUTES {
        for m in *methods {
            out.push((m.to_ascii_uppercase(), format!("/dicom-web{path}")));
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
    if let Some(dir) = viewer::viewer_dir(&state.config) {
        tracing::info!(viewer = %dir.display(), "serving the OHIF viewer");
    } else {
        tracing::info!("no viewer installed (viewer-web/setup.sh installs it)");
    }
    let protected = Router::new()
        .route("/status", get(pages::status))
        .nest("/dicom-web", crate::dicomweb::router())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::middleware,
        ));
    let public = Router::new().route("/healthz", get(pages::health));
    public
        .merge(protected)
        .fallback(viewer::fallback)
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            usize::try_from(state.config.http.max_upload_bytes).unwrap_or(usize::MAX),
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(state.config.http.request_timeout_secs),
        ))
        .layer(compression)
        .layer(crate::dicomweb::cors(&state.config))
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
