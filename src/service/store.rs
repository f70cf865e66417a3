//! Store: C-STORE, STOW-RS and `filmless import`, one path into the
//! archive's ingest, in the caller's tenant.

use bytes::Bytes;
use futures::Stream;
use storage::{Prepared, StoreOutcome, Stored, TenantId};

use super::{action, Context, Error, Result, Right, Service};
use crate::audit::Action;

impl Service {
    /// Store one instance arriving as a stream of Part 10 bytes. With
    /// `only_study` (STOW-RS to `/studies/{uid}`), an instance of another
    /// study is refused before anything of it is written.
    pub async fn store<S>(
        &self,
        ctx: &Context,
        stream: S,
        only_study: Option<&str>,
    ) -> Result<Stored>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Unpin + Send,
    {
        let act = action(ctx, Action::CStore, Action::StowRs, Action::Import);
        self.require(ctx, Right::Store, act, "store").await?;
        let tenant = storing_tenant(ctx);
        let journal = self.arrival_journal(ctx, &tenant);
        let result = self
            .archive()
            .store_stream(target(&tenant, &journal), stream, only_study)
            .await;
        self.stored(ctx, act, &tenant, result).await
    }

    /// Store a file parsed already (bulk import parses on a rayon pool).
    pub async fn store_prepared(&self, ctx: &Context, prepared: Prepared) -> Result<Stored> {
        let act = action(ctx, Action::CStore, Action::StowRs, Action::Import);
        self.require(ctx, Right::Store, act, "store").await?;
        let tenant = storing_tenant(ctx);
        let journal = self.arrival_journal(ctx, &tenant);
        let result = self
            .archive()
            .store_prepared(target(&tenant, &journal), prepared)
            .await;
        self.stored(ctx, act, &tenant, result).await
    }

    /// Audit a store's outcome.
    pub(super) async fn stored(
        &self,
        ctx: &Context,
        act: Action,
        tenant: &TenantId,
        result: storage::Result<Stored>,
    ) -> Result<Stored> {
        let stored = match result {
            Ok(s) => s,
            Err(e) => {
                let e = match e {
                    wrong @ storage::Error::WrongStudy { .. } => Error::Mismatch(wrong.to_string()),
                    other => Error::from(other),
                };
                self.record(
                    ctx,
                    act,
                    Some(e.public_message()),
                    Some(tenant),
                    (String::new(), String::new()),
                    "store",
                )
                .await;
                return Err(e);
            }
        };
        let detail = format!("SOP Instance {}", stored.sop_instance_uid);
        if stored.outcome == StoreOutcome::KeptExisting {
            tracing::warn!(
                sop_instance_uid = %stored.sop_instance_uid,
                "received other content for a stored SOP Instance UID; kept the stored instance \
                 (storage.duplicate_policy = \"keep-first\")"
            );
        }
        tracing::debug!(sop_instance_uid = %stored.sop_instance_uid, outcome = ?stored.outcome, "stored");
        self.record(
            ctx,
            act,
            None,
            Some(tenant),
            (stored.patient_id.clone(), stored.study_instance_uid.clone()),
            &detail,
        )
        .await;
        if matches!(
            stored.outcome,
            StoreOutcome::Stored | StoreOutcome::Replaced
        ) {
            self.metrics()
                .received(&stored.routing.modality, stored.size);
        }
        self.rejection_note(ctx, tenant, &stored).await;
        let fresh = matches!(
            stored.outcome,
            StoreOutcome::Stored | StoreOutcome::Replaced
        );
        // A rejected instance is hidden again, and not routed.
        if !(fresh && self.still_rejected(ctx, tenant, &stored).await) {
            self.route_stored(ctx, tenant, &stored).await;
        }
        Ok(stored)
    }
}

/// Where an instance goes: `tenant`, with routing's arrival journaled in
/// the transaction of its rows (so a crash after the acknowledgment loses
/// no routing).
pub(super) fn target<'a>(
    tenant: &'a TenantId,
    journal: &'a Option<super::routing::ArrivalJournal>,
) -> storage::StoreTarget<'a> {
    storage::StoreTarget {
        tenant,
        journal: journal.as_deref().map(|j| j as storage::Journal<'a>),
    }
}

/// Where a caller's stores go: its tenant; the platform's go to the
/// implicit tenant (a platform operator stores for a hospital with
/// `--tenant`).
fn storing_tenant(ctx: &Context) -> TenantId {
    ctx.tenant().cloned().unwrap_or_else(TenantId::implicit)
}
