//! Reading the audit trail (`filmless audit`, later the admin console):
//! the caller's tenant's events, every tenant's for the platform. Reading
//! it is itself audited (DICOM "Audit Log Used").

use storage::{AuditEvent, AuditFilter};

use super::{Context, Result, Right, Service};
use crate::audit::Action;

impl Service {
    /// May `ctx` use the administration console; the facility's name to
    /// show in it.
    pub async fn admin_console(&self, ctx: &Context) -> Result<String> {
        self.require(ctx, Right::AuditTrail, Action::AuditRead, "admin console")
            .await?;
        Ok(self.facility_name(&ctx.tenant().cloned().unwrap_or_default()))
    }

    /// The events matching `filter`, oldest first.
    pub async fn audit_events(
        &self,
        ctx: &Context,
        mut filter: AuditFilter,
    ) -> Result<Vec<AuditEvent>> {
        self.require(ctx, Right::AuditTrail, Action::AuditRead, "audit trail")
            .await?;
        if let Some(t) = ctx.tenant() {
            filter.tenant = Some(t.as_str().to_owned());
        }
        let events = self.archive().index().audit(&filter).await?;
        let detail = format!("{} events", events.len());
        self.record(
            ctx,
            Action::AuditRead,
            None,
            None,
            Default::default(),
            &detail,
        )
        .await;
        Ok(events)
    }
}
