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
