//! The OHIF viewer's static files at `/`, public (they hold no patient
//! data; the viewer's DICOMweb requests are authenticated). Its index.html
//! answers the viewer's own client-side routes only: every other unknown
//! path is 404, so a mistyped URL, `/metrics` or `/dicom-web/workitems`
//! says so instead of answering 200 with the viewer's page.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use tower::ServiceExt;

use super::error::ApiError;
use super::state::AppState;
use crate::config::Config;

/// The first path segments of the viewer's client-side routes (OHIF's
/// modes and pages; see `routeName` and the router of `@ohif/app`).
pub const CLIENT_ROUTES: &[&str] = &[
    "viewer",
    "segmentation",
    "tmtv",
    "microscopy",
    "longitudinal",
    "preclinical-4d",
    "viewer-cs3d",
    "basic",
    "dynamic-volume",
    "usAnnotation",
    "local",
    "localbasic",
    "datasources",
    "notfoundserver",
    "notfoundstudy",
];

/// Where the viewer's files are: `http.viewer_dir`, else `viewer-web/dist`
/// in the working directory or in the source tree this binary was built
/// from. `None` when there is no viewer.
pub fn viewer_dir(config: &Config) -> Option<std::path::PathBuf> {
    let candidates: Vec<std::path::PathBuf> = if config.http.viewer_dir.is_empty() {
        vec![
            "viewer-web/dist".into(),
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("viewer-web/dist"),
        ]
    } else {
        vec![config.http.viewer_dir.clone().into()]
    };
    candidates
        .into_iter()
        .find(|d| d.join("index.html").is_file())
}

/// Whether `path` is the viewer's: `/` or one of its client-side routes.
pub fn is_client_route(path: &str) -> bool {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    first.is_empty() || CLIENT_ROUTES.contains(&first)
}

/// Every path no route matched: the viewer's page, one of its files, or
/// 404.
pub async fn fallback(State(state): State<AppState>, req: Request) -> Response {
    let Some(dir) = state.viewer.clone() else {
        if req.uri().path() == "/" {
            return no_viewer().into_response();
        }
        return not_found();
    };
    if req.uri().path() == "/app-config.js" {
        return app_config(&dir, &state.config.site.name).await;
    }
    if is_client_route(req.uri().path()) {
        let index = tower_http::services::ServeFile::new(dir.join("index.html"));
        return match index.oneshot(req).await {
            Ok(r) => r.map(Body::new),
            Err(_) => not_found(),
        };
    }
    match tower_http::services::ServeDir::new(dir.as_path())
        .oneshot(req)
        .await
    {
        Ok(r) if r.status() != StatusCode::NOT_FOUND => r.map(Body::new),
        _ => not_found(),
    }
}

/// The viewer's configuration, after the facility it serves: its name
/// (`[site] name`) for the header, as `window.filmlessSite`.
async fn app_config(dir: &std::path::Path, site: &str) -> Response {
    let Ok(config) = tokio::fs::read_to_string(dir.join("app-config.js")).await else {
        return not_found();
    };
    let site = serde_json::json!({ "name": site });
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/javascript; charset=utf-8",
            ),
            (axum::http::header::CACHE_CONTROL, "no-cache"),
        ],
        format!("window.filmlessSite = {site};\n{config}"),
    )
        .into_response()
}

/// `/` when no viewer is installed: how to install one. Public, so it
/// shows nothing of the archive (the counts are at `/status`).
fn no_viewer() -> Html<&'static str> {
    Html(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Filmless</title></head><body>\
         <h1>Filmless</h1><p>The browser viewer is not installed: run <code>viewer-web/setup.sh</code> \
         (needs npm), then restart.</p><p><a href=\"/status\">Archive status</a>. DICOMweb: \
         <code>/dicom-web</code></p></body></html>",
    )
}

fn not_found() -> Response {
    ApiError::not_found("no such page").into_response()
}

#[cfg(test)]
mod tests {
    use super::is_client_route;

    #[test]
    fn only_the_viewers_routes_get_its_page() {
        for p in [
            "/",
            "/viewer",
            "/viewer/dicomweb",
            "/segmentation",
            "/local",
        ] {
            assert!(is_client_route(p), "{p}");
        }
        for p in [
            "/metrics",
            "/admin",
            "/dicom-web/workitems",
            "/index.htm",
            "/status2",
        ] {
            assert!(!is_client_route(p), "{p}");
        }
    }
}
