//! Retrieve: the instances of a study, series or instance (WADO-RS,
//! rendered images, ZIP downloads, `filmless send --study`), their stored
//! metadata, and the selections of C-MOVE and C-GET; all confined to the
//! caller's tenant.
//!
//! Reading an instance's bytes takes the [`StoredInstance`] that an
//! authorized call returned: access is decided once, where the instance is
//! named.

use std::collections::HashMap;

use bytes::Bytes;
use storage::index::InstanceJson;
use storage::query::Query;
use storage::{StoredInstance, TenantId, Uid};

use super::{action, Context, Error, Result, Right, Service};

/// How long a node trusts what it read of a study's patient patch (another
/// node may correct the patient meanwhile).
const PATCH_TTL: std::time::Duration = std::time::Duration::from_secs(5);
use crate::audit::Action;

/// What a retrieve names, as a WADO-RS path does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A whole study.
    Study(Uid),
    /// A series of a study.
    Series(Uid, Uid),
    /// An instance of a series of a study.
    Instance(Uid, Uid, Uid),
}

impl Target {
    /// The study it is in.
    pub fn study(&self) -> &Uid {
        match self {
            Target::Study(s) | Target::Series(s, _) | Target::Instance(s, _, _) => s,
        }
    }

    /// The error for a target that is not there.
    pub(super) fn not_found(&self) -> Error {
        Error::not_found(match self {
            Target::Study(st) => format!("study {st} not found"),
            Target::Series(st, se) => format!("series {se} not found in study {st}"),
            Target::Instance(_, se, i) => format!("instance {i} not found in series {se}"),
        })
    }
}

impl Service {
    /// The instances `target` names, in study order, for `ctx`. `detail`
    /// (the request) goes to the audit trail.
    pub async fn instances(
        &self,
        ctx: &Context,
        target: &Target,
        detail: &str,
    ) -> Result<Vec<StoredInstance>> {
        let (act, tenant) = self.may_read(ctx, target, detail).await?;
        let found = self.archive_instances(&tenant, target).await?;
        if found.is_empty() {
            return Err(target.not_found());
        }
        self.record_read(ctx, act, &tenant, target.study().as_str(), detail)
            .await;
        Ok(found)
    }

    /// Whether `ctx` may read `target`, and in which tenant it is; the
    /// audit action reads are recorded under.
    async fn may_read(
        &self,
        ctx: &Context,
        target: &Target,
        detail: &str,
    ) -> Result<(Action, TenantId)> {
        let act = action(ctx, Action::CGet, Action::WadoRs, Action::Export);
        self.require(ctx, Right::Retrieve, act, detail).await?;
        match self.tenant_of_study(ctx, target.study().as_str()).await? {
            Some(tenant) => Ok((act, tenant)),
            None => Err(target.not_found()),
        }
    }

    /// The instances `target` names in `tenant`, without access checks
    /// (the caller has decided).
    pub(super) async fn archive_instances(
        &self,
        tenant: &TenantId,
        target: &Target,
    ) -> Result<Vec<StoredInstance>> {
        let index = self.archive().index();
        Ok(match target {
            Target::Study(st) => index.study_instances(tenant, st.as_str()).await?,
            Target::Series(st, se) => index
                .series_instances(tenant, se.as_str())
                .await?
                .into_iter()
                .filter(|i| i.study_instance_uid == st.as_str())
                .collect(),
            Target::Instance(st, se, sop) => index
                .instance(tenant, sop.as_str())
                .await?
                .filter(|i| {
                    i.study_instance_uid == st.as_str() && i.series_instance_uid == se.as_str()
                })
                .into_iter()
                .collect(),
        })
    }

    /// The stored DICOM JSON of what `target` names, in study order.
    pub async fn metadata(
        &self,
        ctx: &Context,
        target: &Target,
        detail: &str,
    ) -> Result<Vec<InstanceJson>> {
        let (act, tenant) = self.may_read(ctx, target, detail).await?;
        let (study, series, sop) = match target {
            Target::Study(st) => (st, None, None),
            Target::Series(st, se) => (st, Some(se.as_str()), None),
            Target::Instance(st, se, i) => (st, Some(se.as_str()), Some(i.as_str())),
        };
        let mut rows = self
            .archive()
            .index()
            .metadata(&tenant, study.as_str(), series)
            .await?;
        if let Some(sop) = sop {
            rows.retain(|r| r.sop_instance_uid == sop);
        }
        if rows.is_empty() {
            return Err(target.not_found());
        }
        self.record_read(ctx, act, &tenant, study.as_str(), detail)
            .await;
        Ok(rows)
    }

    /// Audit a read of `study` in `tenant` that succeeded.
    async fn record_read(
        &self,
        ctx: &Context,
        act: Action,
        tenant: &TenantId,
        study: &str,
        detail: &str,
    ) {
        self.record(
            ctx,
            act,
            None,
            Some(tenant),
            (String::new(), study.to_owned()),
            detail,
        )
        .await;
    }

    /// The bytes of an instance as they leave the archive: as received,
    /// with what later corrections changed put in (the patient of HL7
    /// ADT^A08, A40 and the console; a study's accession number and
    /// description).
    pub async fn read(&self, instance: &StoredInstance) -> Result<Bytes> {
        let bytes = self.archive().blobs().read(&instance.blob).await?;
        match self
            .object_patch(&instance.tenant, &instance.study_instance_uid)
            .await?
        {
            None => Ok(bytes),
            Some(p) => tokio::task::spawn_blocking(move || {
                storage::part10::with_patch(&bytes, &p).map(Bytes::from)
            })
            .await
            .map_err(|e| Error::Internal(e.to_string()))?
            .map_err(Error::from),
        }
    }

    /// The patient patch of a study, remembered for a few seconds (a
    /// retrieve reads many instances of one study).
    async fn object_patch(
        &self,
        tenant: &TenantId,
        study: &str,
    ) -> Result<Option<storage::record::ObjectPatch>> {
        let key = (tenant.clone(), study.to_owned());
        if let Some((at, p)) = self
            .inner
            .patient_patches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            if at.elapsed() < PATCH_TTL {
                return Ok(p.clone());
            }
        }
        let p = self.archive().index().object_patch(tenant, study).await?;
        let mut cache = self
            .inner
            .patient_patches
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(key, (std::time::Instant::now(), p.clone()));
        Ok(p)
    }

    /// Frame `number` (1-based) of an instance: native pixel data, or an
    /// encapsulated frame's fragments; one ranged read.
    pub async fn read_frame(&self, instance: &StoredInstance, number: usize) -> Result<Bytes> {
        Ok(self.archive().read_frame(instance, number).await?)
    }

    /// The instances a C-MOVE (`destination` given) or C-GET identifier
    /// selects, with one audit row per study.
    pub async fn select(
        &self,
        ctx: &Context,
        mut query: Query,
        destination: Option<&str>,
    ) -> Result<Vec<StoredInstance>> {
        let (right, act) = match destination {
            Some(_) => (Right::Move, Action::CMove),
            None => (Right::Retrieve, Action::CGet),
        };
        self.require(ctx, right, act, "retrieve").await?;
        if query.filters.is_empty() {
            return Err(Error::invalid(
                "a retrieve needs at least one unique key (PatientID, StudyInstanceUID, \
                 SeriesInstanceUID or SOPInstanceUID)",
            ));
        }
        query.tenant = ctx.tenant().cloned();
        let instances = self.archive().index().query_instances(&query).await?;
        let mut counts: HashMap<(&TenantId, &str), usize> = HashMap::new();
        let mut studies: Vec<(&TenantId, &str)> = Vec::new();
        for i in &instances {
            let key = (&i.tenant, i.study_instance_uid.as_str());
            let n = counts.entry(key).or_insert(0);
            if *n == 0 {
                studies.push(key);
            }
            *n += 1;
        }
        for (tenant, study) in studies {
            let n = counts[&(tenant, study)];
            let detail = match destination {
                Some(ae) => format!("{n} instances selected, sent to {ae}"),
                None => format!("{n} instances selected"),
            };
            self.record_read(ctx, act, tenant, study, &detail).await;
        }
        Ok(instances)
    }

    /// Where a C-MOVE of `ctx` may send to `ae_title`: `None` when that is
    /// not a peer of the caller's tenant.
    pub async fn move_destination(
        &self,
        ctx: &Context,
        ae_title: &str,
    ) -> Result<Option<std::net::SocketAddr>> {
        self.require(ctx, Right::Move, Action::CMove, "retrieve")
            .await?;
        Ok(self.peers().move_destination(ctx, ae_title).await)
    }

    /// An instance a C-MOVE or C-GET of `ctx` selected, read to send (the
    /// selection was audited).
    pub async fn load(&self, ctx: &Context, sop_instance_uid: &str) -> Result<Bytes> {
        let tenant = match ctx.tenant() {
            Some(t) if ctx.may(Right::Retrieve) || ctx.may(Right::Move) => t,
            _ => return Err(Error::Forbidden(ctx.refusal(Right::Retrieve))),
        };
        let instance = self.archive().instance(tenant, sop_instance_uid).await?;
        self.read(&instance).await
    }
}
