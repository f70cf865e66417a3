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
    /// Credentials and roles.
    pub auth: Arc<crate::auth::Authenticator>,
    /// The audit trail.
    pub audit: crate::audit::Audit,
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
    audit: crate::audit::AuditWriter,
    archive: Archive,
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
        let (audit, audit_writer) =
            crate::audit::Audit::start(archive.index().clone(), &config.audit.syslog).await?;
        let d = &config.dicom;
        let scp_config = dicom_net::scp::ScpConfig {
            ae_title: d.ae_title.clone(),
            max_associations: d.max_associations,
            max_associations_per_peer: d.max_associations_per_peer,
            max_pdu_length: d.max_pdu_length,
            artim_timeout: Duration::from_secs(d.artim_timeout_secs),
            idle_timeout: Duration::from_secs(d.idle_timeout_secs),
            ..Default::default()
        };
        let services = Arc::new(ArchiveServices::new(
            archive.clone(),
            Arc::new(d.clone()),
            audit.clone(),
        ));
        let dicom_tls = if d.tls_bind.is_empty() {
            None
        } else {
            let tls = crate::tls::dicom_config(
                std::path::Path::new(&d.tls_cert),
                std::path::Path::new(&d.tls_key),
                (!d.tls_client_ca.is_empty()).then(|| std::path::Path::new(&d.tls_client_ca)),
            )
            .context("DICOM TLS")?;
            let listener = TcpListener::bind(&d.tls_bind)
                .await
                .with_context(|| format!("binding DICOM TLS to {}", d.tls_bind))?;
            let config = dicom_net::scp::ScpConfig {
                tls: Some(tls),
                ..scp_config.clone()
            };
            Some((listener, config))
        };
        let dicom_tls_addr = match &dicom_tls {
            Some((l, _)) => Some(l.local_addr()?),
            None => None,
        };
        let stop = shutdown.clone();
        let tls_services = services.clone();
        let dimse = tokio::spawn(async move {
            let plain = dicom_net::scp::serve(dicom, scp_config, services, stop.clone());
            match dicom_tls {
                None => plain.await.context("DICOM listener"),
                Some((listener, config)) => {
                    let tls = dicom_net::scp::serve(listener, config, tls_services, stop);
                    let (a, b) = tokio::join!(plain, tls);
                    a.context("DICOM listener")?;
                    b.context("DICOM TLS listener")
                }
            }
        });
        let oidc = if config.auth.oidc.issuer.is_empty() {
            None
        } else {
            Some(
                crate::oidc::Oidc::new(config.auth.oidc.clone())
                    .await
                    .context("loading the OIDC keys")?,
            )
        };
        let auth = Arc::new(crate::auth::Authenticator::new(
            archive.index().clone(),
            config.auth.required,
            Duration::from_secs(config.auth.cache_secs),
            oidc,
        ));
        let state = AppState {
            archive: archive.clone(),
            config: std::sync::Arc::new(config),
            http_port: http_addr.port(),
            thumbnails: Default::default(),
            auth,
            audit,
        };
        let config_tls_empty = state.config.http.tls_cert.is_empty();
        let tls = if config_tls_empty {
            None
        } else {
            Some(crate::tls::server_config(
                std::path::Path::new(&state.config.http.tls_cert),
                std::path::Path::new(&state.config.http.tls_key),
            )?)
        };
        let app = router(state);
        let stop = shutdown.clone();
        let task = match tls {
            None => tokio::spawn(async move {
                let app = app.into_make_service_with_connect_info::<SocketAddr>();
                axum::serve(http, app)
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await
                    .context("HTTP server")
            }),
            Some(config) => {
                let listener = crate::tls::TlsListener::new(http, config)?;
                let app = app.into_make_service_with_connect_info::<crate::tls::TlsPeer>();
                tokio::spawn(async move {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async move { stop.cancelled().await })
                        .await
                        .context("HTTPS server")
                })
            }
        };
        tracing::info!(
            http = %http_addr,
            dicom = %dicom_addr,
            tls = !config_tls_empty,
            dicom_tls = %dicom_tls_addr.map(|a| a.to_string()).unwrap_or_default(),
            "serving"
        );
        Ok(Server {
            http_addr,
            dicom_addr,
            shutdown,
            task,
            dimse,
            audit: audit_writer,
            archive,
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
        // Every handler is done: write the last audit events, then close.
        if tokio::time::timeout(Duration::from_secs(10), self.audit.finish())
            .await
            .is_err()
        {
            tracing::warn!("the audit trail did not finish writing within 10 s");
        }
        self.archive.index().close().await;
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

/// A database URL without its password (in the user part or a query
/// parameter such as `password=` or `sslpassword=`), for logs.
pub fn redact(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &base[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &base[..s + 3], user, &base[at..])
        }
        _ => base.to_owned(),
    };
    if let Some(q) = query {
        let params: Vec<String> = q
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if k.to_ascii_lowercase().contains("pass") => format!("{k}=***"),
                _ => p.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
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
            app.route("/", get(no_viewer))
        }
    };
    app.layer(axum::middleware::from_fn_with_state(
        state.clone(),
        crate::auth::middleware,
    ))
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

/// `/` when no viewer is installed: how to install one. Open to all, so
/// it shows nothing of the archive (the counts are at `/status`).
async fn no_viewer() -> Html<&'static str> {
    Html(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Filmless</title></head><body>\
         <h1>Filmless</h1><p>The browser viewer is not installed: run <code>viewer-web/setup.sh</code> \
         (needs npm), then restart.</p><p><a href=\"/status\">Archive status</a>. DICOMweb: \
         <code>/dicom-web</code></p></body></html>",
    )
}

/// Liveness and readiness: answers 200 only when the index answers.
async fn health(State(state): State<AppState>) -> Response {
    match state.archive.index().ping().await {
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
        assert_eq!(
            redact("postgres://db/pacs?sslmode=require&password=s3cret"),
            "postgres://db/pacs?sslmode=require&password=***"
        );
    }
}
