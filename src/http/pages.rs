//! The server's own pages: `/status` (the archive's counts, for whoever
//! may see them, within their tenant) and `/healthz` (public, no data).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::auth::Caller;
use super::error::ApiResult;
use super::state::AppState;

/// `/status`: what this server is and holds (the caller's tenant).
pub async fn status(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let c = state.service.counts(&caller.ctx).await?;
    let tenant = match caller.ctx.tenant() {
        None => "every tenant".to_owned(),
        Some(t) => match state.service.peers().tenant(t) {
            Some(t) => html_escape(&t.name),
            None => "this archive".to_owned(),
        },
    };
    Ok(Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Filmless</title></head><body>\
         <h1>Filmless {version}</h1>\
         <p>Medical imaging archive. AE title <code>{ae}</code>. Counts for {tenant}.</p>\
         <table><tr><th>patients</th><td>{p}</td></tr><tr><th>studies</th><td>{st}</td></tr>\
         <tr><th>series</th><td>{se}</td></tr><tr><th>instances</th><td>{i}</td></tr></table>\
         <p>{viewer}</p><p>DICOMweb: <code>/dicom-web</code></p></body></html>",
        viewer = if state.viewer.is_some() {
            "Viewer: <a href=\"/\">open the study list</a>."
        } else {
            "The browser viewer is not installed: run <code>viewer-web/setup.sh</code> (needs npm), \
             then restart."
        },
        version = env!("CARGO_PKG_VERSION"),
        ae = html_escape(&state.config.dicom.ae_title),
        p = c.patients,
        st = c.studies,
        se = c.series,
        i = c.instances,
    ))
    .into_response())
}

/// `/healthz`: liveness and readiness, 200 only when the index answers.
/// Public, and carries no data.
pub async fn health(State(state): State<AppState>) -> Response {
    match state.service.ready().await {
        Ok(()) => ([(header::CONTENT_TYPE, "text/plain")], "ok\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "index unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "index unavailable\n").into_response()
        }
    }
}

/// `/health`: liveness. Public, no data: the process answers.
pub async fn live() -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], "ok\n").into_response()
}

/// `/ready`: readiness, 200 only when the index and the object store
/// answer. Public, no data.
pub async fn ready(State(state): State<AppState>) -> Response {
    match state.service.ready_to_serve().await {
        Ok(()) => ([(header::CONTENT_TYPE, "text/plain")], "ready\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
        }
    }
}

/// `GET /metrics`: Prometheus text format, for administrators and the
/// scrape token.
pub async fn metrics(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let text = state.service.metrics_text(&caller.ctx).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// Hand the route template on to [`count_request`], which runs outside
/// routing (so it also sees timeouts and refused bodies).
pub async fn route_tag(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .cloned();
    let mut response = next.run(req).await;
    if let Some(r) = route {
        response.extensions_mut().insert(r);
    }
    response
}

/// Count every HTTP request by method, route template and status, with its
/// latency (to the response's headers). The outermost layer.
pub async fn count_request(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let started = std::time::Instant::now();
    let method = match req.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => m,
        _ => "OTHER",
    }
    .to_owned();
    let response = next.run(req).await;
    let route = response
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "other".to_owned(), |p| p.as_str().to_owned());
    state.service.metrics().http(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
