//! `filmless serve`: the long-running process.
//!
//! Opens the archive and serves DICOM (DIMSE) and HTTP until SIGINT or
//! SIGTERM; one [`CancellationToken`] stops every listener, and requests
//! and associations in flight finish first.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use storage::Archive;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::compression::Predicate as _;

use crate::config::Config;
use crate::dimse::ArchiveServices;

/// State shared by the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    /// The archive.
    pub archive: Archive,
    /// The configuration the server runs with.
    pub config: std::sync::Arc<Config>,
    /// The port HTTP listens on.
    pub http_port: u16,
    /// Rendered thumbnails.
    pub thumbnails: crate::dicomweb::rendered::ThumbnailCache,
}

/// A running server.
pub struct Server {
    /// Where HTTP listens (the real port when the configuration said 0).
    pub http_addr: SocketAddr,
    /// Where DICOM listens.
    pub dicom_addr: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    dimse: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Server {
    /// Open the archive and bind the listeners.
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        let archive = Archive::open(&config.storage)
            .await
            .context("opening the archive")?;
        let http = TcpListener::bind(config.http.bind)
            .await
            .with_context(|| format!("binding HTTP to {}", config.http.bind))?;
        let http_addr = http.local_addr()?;
        let dicom = TcpListener::bind(config.dicom.bind)
            .await
            .with_context(|| format!("binding DICOM to {}", config.dicom.bind))?;
        let dicom_addr = dicom.local_addr()?;
        let shutdown = CancellationToken::new();
        let d = &config.dicom;
        let scp_config = dicom_net::scp::ScpConfig {
            ae_title: d.ae_title.clone(),
            max_associations: d.max_associations,
            max_pdu_length: d.max_pdu_length,
            artim_timeout: Duration::from_secs(d.artim_timeout_secs),
            idle_timeout: Duration::from_secs(d.idle_timeout_secs),
            ..Default::default()
        };
        let services = Arc::new(ArchiveServices::new(archive.clone(), Arc::new(d.clone())));
        let stop = shutdown.clone();
        let dimse = tokio::spawn(async move {
            dicom_net::scp::serve(dicom, scp_config, services, stop)
                .await
                .context("DICOM listener")
        });
        let state = AppState {
            archive: archive.clone(),
            config: std::sync::Arc::new(config),
            http_port: http_addr.port(),
            thumbnails: Default::default(),
        };
        let app = router(state);
        let stop = shutdown.clone();
        let task = tokio::spawn(async move {
            axum::serve(http, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
                .context("HTTP server")?;
            archive.index().close().await;
            Ok(())
        });
        tracing::info!(http = %http_addr, dicom = %dicom_addr, "serving");
        Ok(Server {
            http_addr,
            dicom_addr,
            shutdown,
            task,
            dimse,
        })
    }

    /// A token that stops the server when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Wait until the server has stopped.
    pub async fn wait(self) -> anyhow::Result<()> {
        let dimse = self.dimse.await.context("DICOM task")?;
        let http = self.task.await.context("server task")?;
        dimse.and(http)
    }
}

/// Run until SIGINT or SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    tracing::info!(
        data_dir = %config.data_dir.display(),
        database = %redact(&config.storage.database_url),
        object_store = %config.storage.object_store_url,
        ae_title = %config.dicom.ae_title,
        "starting filmless {}",
        env!("CARGO_PKG_VERSION")
    );
    let server = Server::start(config).await?;
    let stop = server.shutdown_token();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing requests in flight");
        stop.cancel();
    });
    server.wait().await?;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// A database URL without its password, for logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..s + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}

fn router(state: AppState) -> Router {
    // gzip for JSON (metadata, search results); images and DICOM files go
    // as they are.
    let compression = tower_http::compression::CompressionLayer::new().compress_when(
        tower_http::compression::predicate::SizeAbove::new(1024)
            .and(ContentTypeIs("application/dicom+json")),
    );
    let viewer = viewer_dir(&state.config);
    let mut app = Router::new()
        .route("/status", get(home))
        .route("/healthz", get(health))
        .nest("/dicom-web", crate::dicomweb::router());
    app = match &viewer {
        // The viewer at `/`, with single-page fallback for its routes.
        Some(dir) => {
            tracing::info!(viewer = %dir.display(), "serving the OHIF viewer");
            let index = tower_http::services::ServeFile::new(dir.join("index.html"));
            app.fallback_service(tower_http::services::ServeDir::new(dir).fallback(index))
        }
        None => {
            tracing::info!(
                "no viewer installed (viewer-web/setup.sh installs it); / shows the status page"
            );
            app.route("/", get(home))
        }
    };
    app.layer(compression)
        .layer(crate::dicomweb::cors())
        .with_state(state)
}

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

/// The home page: what this server is and holds.
async fn home(State(state): State<AppState>) -> Response {
    match state.archive.index().counts().await {
        Ok(c) => Html(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Filmless</title></head><body>\
             <h1>Filmless {version}</h1>\
             <p>Medical imaging archive. AE title <code>{ae}</code>.</p>\
             <table><tr><th>patients</th><td>{p}</td></tr><tr><th>studies</th><td>{st}</td></tr>\
             <tr><th>series</th><td>{se}</td></tr><tr><th>instances</th><td>{i}</td></tr></table>\
             <p>{viewer}</p><p>DICOMweb: <code>/dicom-web</code></p></body></html>",
            viewer = if viewer_dir(&state.config).is_some() {
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
        .into_response(),
        Err(e) => unavailable(e),
    }
}

/// Liveness and readiness: answers 200 only when the index answers.
async fn health(State(state): State<AppState>) -> Response {
    match state.archive.index().counts().await {
        Ok(_) => ([(header::CONTENT_TYPE, "text/plain")], "ok\n").into_response(),
        Err(e) => unavailable(e),
    }
}

fn unavailable(e: storage::Error) -> Response {
    tracing::warn!(error = %e, "index unavailable");
    (StatusCode::SERVICE_UNAVAILABLE, "index unavailable\n").into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(
            redact("postgres://pacs:s3cret@db/pacs"),
            "postgres://pacs:***@db/pacs"
        );
        assert_eq!(redact("sqlite:///srv/index.db"), "sqlite:///srv/index.db");
    }
}
