//! `filmless serve`: the long-running process, and opening the archive for
//! every command.
//!
//! Opens the archive and serves DICOM (DIMSE) and HTTP until SIGINT or
//! SIGTERM; one [`CancellationToken`] stops every listener, and requests
//! and associations in flight finish first.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use storage::Archive;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::audit::{Audit, AuditWriter};
use crate::config::Config;
use crate::dimse::Dimse;
use crate::http::state::AppState;
use crate::service::peers::Peers;
use crate::service::{Parts, Service};

/// An open archive and its service, for a command or the server.
pub struct Opened {
    /// The archive's operations.
    pub service: Service,
    audit: AuditWriter,
    archive: Archive,
    /// The task writing routing jobs for what is stored (also in commands:
    /// `filmless import` routes as a C-STORE would).
    arrivals: (CancellationToken, tokio::task::JoinHandle<()>),
}

/// Open the archive (running migrations), start the audit trail's writer
/// and build the service.
pub async fn open(config: &Config) -> anyhow::Result<Opened> {
    let archive = Archive::open(&config.storage)
        .await
        .context("opening the archive")?;
    let (audit, writer): (Audit, AuditWriter) =
        Audit::start(archive.index().clone(), &config.audit.syslog).await?;
    let service = Service::new(Parts {
        archive: archive.clone(),
        audit,
        peers: Peers::new(&config.dicom, &config.tenants)?
            .with_print_ae_title(&config.print.ae_title)?,
        case_insensitive_names: config
            .dicom
            .case_insensitive_names
            .unwrap_or(config.dicom.accent_insensitive_names),
        max_commitment_references: config.dicom.max_commitment_references,
        routing: crate::service::routing::Routing::new(&config.routing, &config.dicomweb),
        site_name: config.site.name.clone(),
        print: (&config.print).into(),
        retention: config.retention.clone(),
    });
    let stop = CancellationToken::new();
    let arrivals = (stop.clone(), service.spawn_arrival_queue(stop));
    Ok(Opened {
        service,
        audit: writer,
        archive,
        arrivals,
    })
}

impl Opened {
    /// Write the last audit events and close the index. Every other clone
    /// of the service must be gone.
    pub async fn close(self) -> anyhow::Result<()> {
        let Opened {
            service,
            audit,
            archive,
            arrivals: (stop, queue),
        } = self;
        // The routes of what was stored are written before the index
        // closes.
        stop.cancel();
        if tokio::time::timeout(Duration::from_secs(30), queue)
            .await
            .is_err()
        {
            tracing::warn!("routing jobs of the last arrivals were not all written within 30 s");
        }
        drop(service);
        // Give uploads from the spool a moment; what is left stays there,
        // durable, for the next start.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while archive.blobs().uploads_pending() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let left = archive.blobs().uploads_pending();
        if left > 0 {
            tracing::warn!(
                objects = left,
                "objects left in the spool; the next start uploads them"
            );
        }
        if tokio::time::timeout(Duration::from_secs(10), audit.finish())
            .await
            .is_err()
        {
            tracing::warn!("the audit trail did not finish writing within 10 s");
        }
        archive.index().close().await;
        Ok(())
    }
}

/// A running server.
pub struct Server {
    /// Where HTTP listens (the real port when the configuration said 0).
    pub http_addr: SocketAddr,
    /// Where DICOM listens.
    pub dicom_addr: SocketAddr,
    /// Where HL7 (MLLP) listens, when `[hl7] bind` is set.
    pub hl7_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    /// The HL7 listener and the job worker.
    workflow: tokio::task::JoinHandle<anyhow::Result<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    dimse: tokio::task::JoinHandle<anyhow::Result<()>>,
    opened: Opened,
}

impl Server {
    /// Open the archive and bind the listeners.
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        let opened = open(&config).await?;
        // Objects a stop or a crash left in the spool go to S3 now (the
        // server's job, not every CLI command's).
        let resumed = opened
            .archive
            .blobs()
            .resume_uploads()
            .await
            .context("reading the spool")?;
        if resumed > 0 {
            tracing::info!(objects = resumed, "uploading what the spool still holds");
        }
        let http = TcpListener::bind(config.http.bind)
            .await
            .with_context(|| format!("binding HTTP to {}", config.http.bind))?;
        let http_addr = http.local_addr()?;
        let dicom = TcpListener::bind(config.dicom.bind)
            .await
            .with_context(|| format!("binding DICOM to {}", config.dicom.bind))?;
        let dicom_addr = dicom.local_addr()?;
        let hl7 = if config.hl7.bind.is_empty() {
            None
        } else {
            Some(
                TcpListener::bind(&config.hl7.bind)
                    .await
                    .with_context(|| format!("binding HL7 to {}", config.hl7.bind))?,
            )
        };
        let hl7_addr = match &hl7 {
            Some(l) => Some(l.local_addr()?),
            None => None,
        };
        let hl7_config = config.hl7.clone();
        // Checked before anything starts.
        crate::hl7::Senders::new(&hl7_config)?;
        let shutdown = CancellationToken::new();
        let d = &config.dicom;
        let scp_config = crate::dimse::scp_config(d);
        let services = Arc::new(Dimse::new(opened.service.clone()));
        let dicom_tls = if d.tls_bind.is_empty() {
            None
        } else {
            let tls = crate::http::tls::dicom_config(
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
        let oidc = if config.auth.oidc.issuer.is_empty() {
            None
        } else {
            Some(
                crate::http::oidc::Oidc::new(config.auth.oidc.clone(), !config.tenants.is_empty())
                    .await
                    .context("loading the OIDC keys")?,
            )
        };
        let auth = Arc::new(crate::http::authenticator::Authenticator::new(
            opened.service.clone(),
            config.auth.required,
            Duration::from_secs(config.auth.cache_secs),
            oidc,
        ));
        let proxies = Arc::new(crate::http::proxy::TrustedProxies::new(
            &config.http.trusted_proxies,
        )?);
        let viewer = crate::http::viewer::viewer_dir(&config).map(Arc::new);
        let state = AppState {
            service: opened.service.clone(),
            config: Arc::new(config),
            http_port: http_addr.port(),
            auth,
            proxies,
            viewer,
        };
        let tls = if state.config.http.tls_cert.is_empty() {
            None
        } else {
            Some(crate::http::tls::server_config(
                std::path::Path::new(&state.config.http.tls_cert),
                std::path::Path::new(&state.config.http.tls_key),
            )?)
        };
        let https = tls.is_some();
        let http = match tls {
            None => HttpListener::Plain(http),
            Some(config) => HttpListener::Tls(crate::http::tls::TlsListener::new(http, config)?),
        };
        let app = crate::http::router(state);
        // Everything that can fail is set up: the listeners start now.
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
        // On SQLite no other node holds a job: what a stop or a crash left
        // running resumes now, not when its lease runs out.
        let index = opened.archive.index();
        if index.backend() == storage::Backend::Sqlite {
            match index.expire_leases().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(jobs = n, "jobs left running resume now"),
                Err(e) => tracing::warn!(error = %e, "cannot resume the jobs left running"),
            }
        }
        let stop = shutdown.clone();
        let service = opened.service.clone();
        let workflow = tokio::spawn(async move {
            let commitment = service.clone().run_commitment_jobs(stop.clone());
            let forwarding = service.clone().run_mpps_forwarding(stop.clone());
            let routing = service.clone().run_routing(stop.clone());
            let retention = service.clone().run_retention(stop.clone());
            let worker = async move {
                tokio::join!(commitment, forwarding, routing, retention);
            };
            match hl7 {
                None => {
                    worker.await;
                    Ok(())
                }
                Some(listener) => {
                    let (_, hl7) = tokio::join!(
                        worker,
                        crate::hl7::serve(listener, &hl7_config, service, stop)
                    );
                    hl7.context("HL7 listener")
                }
            }
        });
        let stop = shutdown.clone();
        let task = match http {
            HttpListener::Tls(listener) => {
                let app = app.into_make_service_with_connect_info::<crate::http::tls::TlsPeer>();
                tokio::spawn(async move {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async move { stop.cancelled().await })
                        .await
                        .context("HTTPS server")
                })
            }
            HttpListener::Plain(http) => tokio::spawn(async move {
                let app = app.into_make_service_with_connect_info::<SocketAddr>();
                axum::serve(http, app)
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await
                    .context("HTTP server")
            }),
        };
        tracing::info!(
            http = %http_addr,
            dicom = %dicom_addr,
            tls = https,
            dicom_tls = %dicom_tls_addr.map(|a| a.to_string()).unwrap_or_default(),
            hl7 = %hl7_addr.map(|a| a.to_string()).unwrap_or_default(),
            "serving"
        );
        Ok(Server {
            http_addr,
            dicom_addr,
            hl7_addr,
            workflow,
            shutdown,
            task,
            dimse,
            opened,
        })
    }

    /// A token that stops the server when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Wait until the server has stopped.
    pub async fn wait(self) -> anyhow::Result<()> {
        // When one listener ends (a failure), the other stops too, so the
        // process exits and a supervisor restarts it, rather than serve
        // half.
        let ended = |task: tokio::task::JoinHandle<anyhow::Result<()>>, what: &'static str| {
            let stop = self.shutdown.clone();
            async move {
                let r = task.await.context(what);
                stop.cancel();
                r
            }
        };
        let (dimse, http, workflow) = tokio::join!(
            ended(self.dimse, "DICOM task"),
            ended(self.task, "server task"),
            ended(self.workflow, "HL7 and job task")
        );
        let (dimse, http, workflow) = (dimse?, http?, workflow?);
        // Every handler is done: write the last audit events, then close.
        self.opened.close().await?;
        dimse.and(http).and(workflow)
    }
}

/// The HTTP listener: plain, or HTTPS.
enum HttpListener {
    Plain(TcpListener),
    Tls(crate::http::tls::TlsListener),
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
    // Listen before serving: a signal that comes right after "serving" is
    // a graceful stop, not the default action that kills the process.
    let signal = stop_signal()?;
    let server = Server::start(config).await?;
    let stop = server.shutdown_token();
    tokio::spawn(async move {
        signal.await;
        tracing::info!("shutting down: finishing requests in flight");
        stop.cancel();
    });
    server.wait().await?;
    tracing::info!("stopped");
    Ok(())
}

/// Start listening for SIGINT and SIGTERM now; the future ends at the
/// first of them.
fn stop_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
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
