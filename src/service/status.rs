//! The archive's counts, within the caller's tenant (`/status`, later the
//! admin console and `/metrics`), and its consistency check.

use std::time::Duration;

use storage::{CheckReport, Counts};

use super::{Context, Error, Result, Right, Service};
use crate::audit::Action;

impl Service {
    /// Patients, studies, series and instances the caller's tenant holds
    /// (every tenant's for the platform).
    pub async fn counts(&self, ctx: &Context) -> Result<Counts> {
        // A refusal is audited like a search: it names no patient.
        self.require(ctx, Right::Status, Action::QidoRs, "status")
            .await?;
        Ok(self.archive().index().counts(ctx.tenant_scope()).await?)
    }

    /// The index against the object store (`filmless check`): the
    /// platform's, as it spans every tenant; `repair` re-indexes orphans.
    pub async fn check(
        &self,
        ctx: &Context,
        verify: bool,
        repair: bool,
        grace: Duration,
    ) -> Result<CheckReport> {
        if ctx.tenant().is_some() || !ctx.may(Right::Delete) {
            return Err(Error::Forbidden(
                "the archive check spans every tenant: it is the platform's".into(),
            ));
        }
        Ok(self.archive().check(verify, repair, grace).await?)
    }
}
