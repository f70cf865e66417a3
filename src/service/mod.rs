//! The archive's operations, each once: store, search, retrieve, render,
//! delete, status, the audit trail, users. DIMSE, DICOMweb and the CLI are
//! thin adapters over this layer.
//!
//! Every operation takes a [`Context`] (who, which tenant, which rights,
//! from where, by which protocol), decides access from it, confines itself
//! to the caller's tenant, writes the audit event, and returns a typed
//! result or an [`Error`] whose kind the adapters turn into a DIMSE or HTTP
//! status. A study of another tenant is not found, exactly as one that does
//! not exist.
//!
//! One file per operation:
//! - [`context`]: the request context, roles and rights;
//! - [`peers`]: DICOM peers and tenants (the DIMSE side's access policy);
//! - `store`, `search`, `retrieve`, `render`, `delete`, `status`,
//!   `trail` (the audit trail), `users`;
//! - `worklist` (orders, worklist searches, patient corrections and
//!   merges), `procedure` (MPPS), [`commitment`] (storage commitment and
//!   its durable report jobs);
//! - [`error`]: the error type.

pub mod admin;
pub mod commitment;
pub mod context;
pub mod correct;
pub mod deidentify;
mod deidentify_table;
mod delete;
pub mod error;
mod jobs;
pub mod modify;
pub mod mpps_forward;
pub mod order;
pub mod peers;
pub mod print;
mod procedure;
mod reject;
pub mod render;
mod retention;
mod retrieve;
pub mod routing;
mod search;
pub mod shares;
pub mod stats;
mod status;
mod store;
mod trail;
mod transcode;
pub mod users;
mod worklist;

use std::sync::Arc;

use storage::{Archive, TenantId};

pub use context::{Actor, ActorKind, Context, Protocol, Right, Role, Scope};
pub use error::{Error, ErrorKind, Refusal, Result};
pub use render::RenderParams;
pub use retrieve::Target;
pub use users::{hash_password, verify_password, NewUser};
pub use worklist::{PatientUpdated, Scheduled, WorklistEntry};

use crate::audit::{Access, Action, Audit, PLATFORM_DETAIL};
use peers::Peers;

/// The archive's operations over one archive.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    archive: Archive,
    audit: Audit,
    peers: Peers,
    case_insensitive_names: bool,
    max_commitment_references: usize,
    routing: routing::Routing,
    site_name: String,
    /// Studies' patient patches, as last read.
    #[allow(clippy::type_complexity)]
    patient_patches: std::sync::Mutex<
        std::collections::HashMap<
            (storage::TenantId, String),
            (std::time::Instant, Option<storage::record::ObjectPatch>),
        >,
    >,
    thumbnails: render::Thumbnails,
    /// Wakes the commitment worker (a report to send now).
    jobs_due: tokio::sync::Notify,
    /// Wakes the MPPS forwarding worker.
    mpps_due: tokio::sync::Notify,
    /// `[print]`.
    print: print::PrintSettings,
    /// Film sessions of the associations that print.
    print_sessions: print::PrintSessions,
    /// What `/metrics` shows.
    metrics: crate::metrics::Metrics,
    /// Exports running (each holds a study in memory): one at a time.
    exports: tokio::sync::Semaphore,
    /// Bumped by every change of a user here: credentials checked before
    /// are checked again (a removed user, a new password, other roles).
    users_generation: std::sync::atomic::AtomicU64,
    /// `[retention]`.
    retention: crate::config::RetentionConfig,
}

/// What the service is built from.
pub struct Parts {
    /// The archive.
    pub archive: Archive,
    /// The audit recorder.
    pub audit: Audit,
    /// The DICOM peers and tenants.
    pub peers: Peers,
    /// Person names match case- and accent-insensitively.
    pub case_insensitive_names: bool,
    /// The most instances one storage commitment request may name.
    pub max_commitment_references: usize,
    /// Routing rules, prefetch and DICOMweb destinations.
    pub routing: routing::Routing,
    /// The facility's name (`[site] name`), on share slips.
    pub site_name: String,
    /// The Print SCP's settings.
    pub print: print::PrintSettings,
    /// How long studies are kept.
    pub retention: crate::config::RetentionConfig,
}

impl Service {
    /// The service over `parts`.
    pub fn new(parts: Parts) -> Self {
        Service {
            inner: Arc::new(Inner {
                archive: parts.archive,
                audit: parts.audit,
                peers: parts.peers,
                case_insensitive_names: parts.case_insensitive_names,
                max_commitment_references: parts.max_commitment_references.max(1),
                routing: parts.routing,
                site_name: parts.site_name,
                print: parts.print,
                print_sessions: Default::default(),
                metrics: crate::metrics::Metrics::new(),
                exports: tokio::sync::Semaphore::new(1),
                users_generation: Default::default(),
                retention: parts.retention,
                patient_patches: Default::default(),
                thumbnails: render::Thumbnails::default(),
                jobs_due: tokio::sync::Notify::new(),
                mpps_due: tokio::sync::Notify::new(),
            }),
        }
    }

    /// The DICOM peers and tenants.
    pub fn peers(&self) -> &Peers {
        &self.inner.peers
    }

    /// The audit recorder (for what happens before a context exists: a
    /// refused login).
    pub fn audit(&self) -> &Audit {
        &self.inner.audit
    }

    /// Whether the index answers (health checks; no patient data).
    pub async fn ready(&self) -> Result<()> {
        self.inner.archive.index().ping().await?;
        Ok(())
    }

    /// Whether the index and the object store answer (`/ready`).
    pub async fn ready_to_serve(&self) -> Result<()> {
        self.ready().await?;
        let blobs = self.inner.archive.blobs();
        // A local store whose volume is gone answers "not found" like any
        // missing object: its folder must be there.
        if let Some(root) = blobs.local_root() {
            if !root.is_dir() {
                return Err(Error::Unavailable(format!(
                    "the storage folder {} is missing (volume not mounted?)",
                    root.display()
                )));
            }
        }
        blobs.stored_size("filmless-readiness-probe").await?;
        Ok(())
    }

    /// The counters the protocols update.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.inner.metrics
    }

    /// `/metrics`: the Prometheus text exposition. The numbers cover every
    /// tenant, so with tenants only a platform administrator (or the scrape
    /// token) may read them.
    pub async fn metrics_text(&self, ctx: &Context) -> Result<String> {
        self.require(ctx, Right::Metrics, Action::Metrics, "metrics")
            .await?;
        if ctx.scope != context::Scope::Platform && !self.peers().tenants().is_empty() {
            return Err(Error::Forbidden(
                "metrics cover every tenant: platform administrators, or the scrape token \
                 ([metrics] token)"
                    .into(),
            ));
        }
        let index = self.inner.archive.index();
        let size = u64::from(index.pool().size());
        let idle = index.pool().num_idle() as u64;
        let counts = self.inner.archive.blobs().counts();
        use std::sync::atomic::Ordering::Relaxed;
        // The index down: the counters still show, and say so.
        let (jobs, stored) = match (index.job_states().await, index.stored_totals().await) {
            (Ok(j), Ok(s)) => (Some(j), Some(s)),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "metrics: the index does not answer");
                (None, None)
            }
        };
        let snapshot = crate::metrics::Snapshot {
            pool: (size.saturating_sub(idle), idle),
            jobs,
            stored,
            object_store: [
                counts.reads.load(Relaxed),
                counts.writes.load(Relaxed),
                counts.deletes.load(Relaxed),
                counts.errors.load(Relaxed),
            ],
        };
        Ok(self.inner.metrics.encode(snapshot).await)
    }

    fn archive(&self) -> &Archive {
        &self.inner.archive
    }

    /// Refuse unless `ctx` holds `right`; a refusal is audited as `action`.
    async fn require(
        &self,
        ctx: &Context,
        right: Right,
        action: Action,
        detail: &str,
    ) -> Result<()> {
        if ctx.may(right) {
            return Ok(());
        }
        let why = ctx.refusal(right);
        let fix = match ctx.actor.kind {
            ActorKind::Ae => "add it to [[dicom.peers]] with the permission, for its tenant",
            _ => "give the user the role (filmless user add)",
        };
        tracing::warn!(
            actor = %ctx.actor,
            ?right,
            "refused: {} may not do this ({why}); {fix}",
            ctx.actor.name
        );
        self.record(
            ctx,
            action,
            Some(format!("forbidden: {why}")),
            None,
            (String::new(), String::new()),
            detail,
        )
        .await;
        Err(Error::Forbidden(why))
    }

    /// Write an audit event for `ctx`. `tenant` is the data's tenant (the
    /// caller's own unless a platform request resolved another).
    async fn record(
        &self,
        ctx: &Context,
        action: Action,
        failure: Option<String>,
        tenant: Option<&TenantId>,
        (patient_id, study_instance_uid): (String, String),
        detail: &str,
    ) {
        let tenant = tenant
            .or(ctx.tenant())
            .cloned()
            .unwrap_or_else(TenantId::implicit);
        // A platform administrator's accesses say so, and which tenant a
        // request of theirs was narrowed to.
        let detail = match (ctx.is_platform_admin(), &ctx.scope) {
            (false, _) => detail.to_owned(),
            (true, Scope::Platform) => format!("{PLATFORM_DETAIL}: {detail}"),
            (true, Scope::Tenant(t)) => {
                format!("{PLATFORM_DETAIL}, within tenant {t}: {detail}")
            }
        };
        self.inner
            .audit
            .record(Access {
                actor: ctx.actor.clone(),
                source: ctx.source.clone(),
                action,
                failure,
                tenant,
                patient_id,
                study_instance_uid,
                detail,
            })
            .await;
    }

    /// The tenant a study of `ctx` is in: the caller's own, or for the
    /// platform the one tenant holding a study with this UID. `None`: no
    /// such study for this caller. A UID several tenants hold is ambiguous
    /// for the platform: it must name the tenant (`X-Filmless-Tenant`,
    /// `--tenant`), so nothing acts on one hospital's study in place of
    /// another's.
    /// A study `ctx` reaches that holds instances: its UID and tenant; or
    /// not found.
    async fn stored_study(&self, ctx: &Context, study: &str) -> Result<(storage::Uid, TenantId)> {
        let uid = storage::Uid::parse("StudyInstanceUID", study)?;
        let not_found = || Error::not_found(format!("study {uid} not found"));
        let tenant = self
            .tenant_of_study(ctx, uid.as_str())
            .await?
            .ok_or_else(not_found)?;
        if self
            .archive()
            .index()
            .study_instances(&tenant, uid.as_str())
            .await?
            .is_empty()
        {
            return Err(not_found());
        }
        Ok((uid, tenant))
    }

    async fn tenant_of_study(&self, ctx: &Context, study: &str) -> Result<Option<TenantId>> {
        if let Some(t) = ctx.tenant() {
            return Ok(Some(t.clone()));
        }
        let mut holders = self.archive().index().tenants_of_study(study).await?;
        match holders.len() {
            0 | 1 => Ok(holders.pop()),
            n => Err(Error::Ambiguous(format!(
                "study {study} is held by {n} tenants: name one (X-Filmless-Tenant, or --tenant)"
            ))),
        }
    }
}

/// The audit action of an operation over a protocol.
fn action(ctx: &Context, dimse: Action, http: Action, cli: Action) -> Action {
    match ctx.protocol {
        Protocol::Dimse => dimse,
        Protocol::Http => http,
        Protocol::Cli | Protocol::Hl7 => cli,
    }
}
