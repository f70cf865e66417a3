//! What the administration console needs beyond the other modules: the
//! DICOM peers of the caller's tenant, and a C-ECHO to one of them.

use serde::Serialize;

use super::peers::PeerView;
use super::{Context, Error, Result, Right, Service};
use crate::audit::Action;

/// How a C-ECHO went.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EchoResult {
    /// It answered success.
    pub ok: bool,
    /// Round trip, milliseconds.
    pub millis: f64,
    /// What went wrong, if anything.
    pub error: String,
}

impl Service {
    /// The DICOM peers of the caller's tenant (every tenant's for the
    /// platform).
    pub async fn peer_list(&self, ctx: &Context) -> Result<Vec<PeerView>> {
        self.require(ctx, Right::Jobs, Action::Jobs, "peers")
            .await?;
        Ok(self
            .peers()
            .list()
            .into_iter()
            .filter(|p| ctx.tenant().is_none_or(|t| t.as_str() == p.tenant))
            .collect())
    }

    /// C-ECHO to peer `ae_title` of the caller's tenant, from the tenant's
    /// AE title. Not found: no such peer there.
    pub async fn echo_peer(&self, ctx: &Context, ae_title: &str) -> Result<EchoResult> {
        self.require(ctx, Right::Jobs, Action::Jobs, "echo").await?;
        let peer = self
            .peer_list(ctx)
            .await?
            .into_iter()
            .find(|p| p.ae_title == ae_title.trim())
            .ok_or_else(|| Error::not_found(format!("no DICOM peer {ae_title:?} here")))?;
        let tenant = storage::TenantId::parse(&peer.tenant)?;
        let started = std::time::Instant::now();
        let outcome = match self.peers().address_of(&tenant, &peer.ae_title).await {
            None => Err(format!("{} does not resolve", peer.host)),
            Some(addr) => {
                let options = self.job_association(
                    &tenant,
                    &peer.ae_title,
                    addr,
                    std::time::Duration::from_secs(10),
                );
                match dicom_net::scu::echo(&options).await {
                    Ok(r) if !r.status.is_failure() => Ok(()),
                    Ok(r) => Err(format!("answered {}", r.status)),
                    Err(e) => Err(e.to_string()),
                }
            }
        };
        let result = EchoResult {
            ok: outcome.is_ok(),
            millis: started.elapsed().as_secs_f64() * 1e3,
            error: outcome.clone().err().unwrap_or_default(),
        };
        self.record(
            ctx,
            Action::Jobs,
            outcome.err(),
            Some(&tenant),
            Default::default(),
            &format!("C-ECHO to {}", peer.ae_title),
        )
        .await;
        Ok(result)
    }
}

/// Viewer errors logged in the current ten-second window, and when it
/// began (Unix seconds): at most [`VIEWER_ERRORS_PER_WINDOW`] are logged.
static VIEWER_ERRORS: std::sync::Mutex<(u64, u32)> = std::sync::Mutex::new((0, 0));
const VIEWER_ERRORS_PER_WINDOW: u32 = 20;

impl Service {
    /// An error in a viewer's browser (the viewer shows no details to the
    /// radiologist): logged here, for IT, with who saw it. At most 20 in
    /// ten seconds; whether it was logged.
    pub async fn viewer_error(&self, ctx: &Context, message: &str, source: &str) -> Result<bool> {
        self.require(ctx, Right::Search, Action::WadoRs, "viewer error")
            .await?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        {
            let mut w = VIEWER_ERRORS.lock().unwrap_or_else(|e| e.into_inner());
            if now >= w.0 + 10 {
                *w = (now, 0);
            }
            if w.1 >= VIEWER_ERRORS_PER_WINDOW {
                return Ok(false);
            }
            w.1 += 1;
        }
        // One line each, at most 1000 characters: what a browser sends
        // is not trusted to shape the log.
        let clean = |s: &str| -> String {
            s.chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(1000)
                .collect()
        };
        tracing::warn!(
            user = %clean(&ctx.actor.name),
            source = %clean(source),
            "viewer error: {}",
            clean(message)
        );
        Ok(true)
    }
}
