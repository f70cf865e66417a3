//! The modality worklist and the patients behind it: orders scheduled,
//! changed and cancelled (HL7 ORM/OMI, `/api/worklist`, `filmless
//! worklist`), worklist searches (worklist C-FIND, UPS-RS, the API), and
//! patient corrections and merges (HL7 ADT^A08, ADT^A40).

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use storage::index::{PatientChange, StoredWorklistItem};
use storage::query::Query;
use storage::record::PatientAttributes;
use storage::worklist::{status, WorklistItem};
use storage::{TenantId, Uid};

use super::{Context, Error, Result, Right, Service};
use crate::audit::Action;

/// The most worklist items one search returns.
const MAX_ITEMS: u64 = 1000;

/// A scheduled worklist item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    /// Its id (for `/api/worklist/{id}`).
    pub id: i64,
    /// The study the modality's images will go to.
    pub study_instance_uid: String,
}

/// A worklist item found.
#[derive(Debug, Clone, PartialEq)]
pub struct WorklistEntry {
    /// Its id.
    pub id: i64,
    /// Its tenant.
    pub tenant: TenantId,
    /// Its status (SCHEDULED, IN PROGRESS, COMPLETED, DISCONTINUED,
    /// CANCELLED).
    pub status: String,
    /// The item, DICOM JSON.
    pub item: serde_json::Value,
}

/// What a patient correction or merge did, with the values before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientUpdated {
    /// The patient's attributes before.
    pub before: PatientAttributes,
    /// What changed.
    pub change: PatientChange,
}

fn describe(p: &PatientAttributes) -> String {
    format!(
        "id {:?} issuer {:?} name {:?} birth date {:?} sex {:?}",
        p.patient_id, p.issuer_of_patient_id, p.patient_name, p.patient_birth_date, p.patient_sex
    )
}

impl Service {
    /// The tenant a write of `ctx` goes to: its own, or for the platform
    /// the implicit one.
    pub(super) fn write_tenant(ctx: &Context) -> TenantId {
        ctx.tenant().cloned().unwrap_or_else(TenantId::implicit)
    }

    /// Schedule a worklist item from its data set (PS3.4 Table K.6-1), or
    /// replace the one of the same study and step. A Study Instance UID is
    /// generated when the order has none, so the images that come back
    /// match the order; a Scheduled Procedure Step ID defaults to the
    /// Requested Procedure ID (or the accession number).
    pub async fn schedule(
        &self,
        ctx: &Context,
        mut item: InMemDicomObject,
        detail: &str,
    ) -> Result<Scheduled> {
        self.require(ctx, Right::Orders, Action::Order, detail)
            .await?;
        let text = |o: &InMemDicomObject, tag| {
            o.get(tag)
                .and_then(|e| e.to_str().ok())
                .map(|v| v.trim_matches(['\0', ' ']).to_owned())
                .unwrap_or_default()
        };
        if text(&item, tags::STUDY_INSTANCE_UID).is_empty() {
            item.put(DataElement::new(
                tags::STUDY_INSTANCE_UID,
                VR::UI,
                PrimitiveValue::from(Uid::generate()),
            ));
        }
        let fallback_step_id = [
            text(&item, tags::REQUESTED_PROCEDURE_ID),
            text(&item, tags::ACCESSION_NUMBER),
        ]
        .into_iter()
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| "1".to_owned());
        if let Some(step) = item
            .get(tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE)
            .and_then(|e| e.items())
            .and_then(|items| items.first())
            .cloned()
        {
            if text(&step, tags::SCHEDULED_PROCEDURE_STEP_ID).is_empty() {
                let mut step = step;
                step.put(DataElement::new(
                    tags::SCHEDULED_PROCEDURE_STEP_ID,
                    VR::SH,
                    PrimitiveValue::from(fallback_step_id),
                ));
                item.put(DataElement::new(
                    tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE,
                    VR::SQ,
                    dicom_core::value::DataSetSequence::from(vec![step]),
                ));
            }
        }
        let tenant = Self::write_tenant(ctx);
        let row = WorklistItem::from_dataset(&item)?;
        let id = self
            .archive()
            .index()
            .put_worklist_item(&tenant, &row)
            .await?;
        tracing::info!(
            worklist_item = id,
            accession_number = %row.accession_number,
            station = %row.scheduled_station_ae_title,
            "worklist item scheduled"
        );
        self.record(
            ctx,
            Action::Order,
            None,
            Some(&tenant),
            (row.patient_id.clone(), row.study_instance_uid.clone()),
            &format!(
                "{detail}: scheduled item {id}, accession {:?}, step {:?} on {:?}",
                row.accession_number,
                row.scheduled_procedure_step_id,
                row.scheduled_station_ae_title
            ),
        )
        .await;
        self.prefetch_for_order(
            &tenant,
            &row.patient_id,
            &row.study_instance_uid,
            &row.modality,
        )
        .await;
        Ok(Scheduled {
            id,
            study_instance_uid: row.study_instance_uid,
        })
    }

    /// The items of an order (placer order number, else accession number)
    /// in the caller's tenant.
    pub async fn order_items(
        &self,
        ctx: &Context,
        placer_order_number: &str,
        accession_number: &str,
    ) -> Result<Vec<StoredWorklistItem>> {
        self.require(ctx, Right::Orders, Action::Order, "order lookup")
            .await?;
        Ok(self
            .archive()
            .index()
            .worklist_items_of_order(
                &Self::write_tenant(ctx),
                placer_order_number,
                accession_number,
            )
            .await?)
    }

    /// Cancel worklist items (the order was cancelled: HL7 CA, `DELETE
    /// /api/worklist/{id}`). They stay, CANCELLED, and leave the worklist.
    pub async fn cancel_items(&self, ctx: &Context, ids: &[i64], detail: &str) -> Result<()> {
        self.require(ctx, Right::Orders, Action::Order, detail)
            .await?;
        for id in ids {
            let item = self
                .archive()
                .index()
                .worklist_item(ctx.tenant(), *id)
                .await?
                .ok_or_else(|| Error::NotFound(format!("no worklist item {id}").into()))?;
            self.archive()
                .index()
                .set_worklist_status(*id, status::CANCELLED)
                .await?;
            self.record(
                ctx,
                Action::Order,
                None,
                Some(&item.tenant),
                (item.item.patient_id, item.item.study_instance_uid),
                &format!("{detail}: cancelled item {id}"),
            )
            .await;
        }
        Ok(())
    }

    /// Search the worklist: each selected item, whole (DICOM JSON), in the
    /// caller's tenant. One audit row per study disclosed.
    pub async fn search_worklist(
        &self,
        ctx: &Context,
        mut query: Query,
        detail: &str,
    ) -> Result<Vec<WorklistEntry>> {
        self.require(ctx, Right::Worklist, Action::WorklistQuery, detail)
            .await?;
        query.tenant = ctx.tenant().cloned();
        query.case_insensitive_names = self.inner.case_insensitive_names;
        // Bounded: a day's worklist of a station is tens of items, a
        // search without keys must not load the whole history.
        query.limit = Some(query.limit.unwrap_or(MAX_ITEMS).min(MAX_ITEMS));
        let hits = self.archive().index().worklist_query(&query).await?;
        // Up to MAX_ITEMS data sets to parse: off the async runtime.
        let out = tokio::task::spawn_blocking(move || {
            hits.into_iter()
                .map(|hit| {
                    let item = serde_json::from_str::<serde_json::Value>(&hit.dicom_json)
                        .map_err(|e| Error::Internal(format!("stored worklist item: {e}")))?;
                    Ok(WorklistEntry {
                        id: hit.id,
                        tenant: hit.tenant,
                        status: hit.status,
                        item,
                    })
                })
                .collect::<Result<Vec<_>>>()
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
        let detail = format!("{detail}; {} items", out.len());
        if out.is_empty() {
            self.record(
                ctx,
                Action::WorklistQuery,
                None,
                None,
                Default::default(),
                &detail,
            )
            .await;
        }
        let mut seen = std::collections::HashSet::new();
        for e in &out {
            let study = e.item["0020000D"]["Value"][0].as_str().unwrap_or_default();
            let patient = e.item["00100020"]["Value"][0].as_str().unwrap_or_default();
            if seen.insert((e.tenant.clone(), study.to_owned())) {
                self.record(
                    ctx,
                    Action::WorklistQuery,
                    None,
                    Some(&e.tenant),
                    (patient.to_owned(), study.to_owned()),
                    &detail,
                )
                .await;
            }
        }
        Ok(out)
    }

    /// One worklist item, whole (DICOM JSON), with its status.
    pub async fn worklist_item(&self, ctx: &Context, id: i64) -> Result<StoredWorklistItem> {
        self.require(ctx, Right::Worklist, Action::WorklistQuery, "worklist item")
            .await?;
        let item = self
            .archive()
            .index()
            .worklist_item(ctx.tenant(), id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no worklist item {id}").into()))?;
        self.record(
            ctx,
            Action::WorklistQuery,
            None,
            Some(&item.tenant),
            (
                item.item.patient_id.clone(),
                item.item.study_instance_uid.clone(),
            ),
            &format!("worklist item {id}"),
        )
        .await;
        Ok(item)
    }

    /// Correct a patient (HL7 ADT^A08): the archive's patient rows, the
    /// patient of every stored instance's metadata, and the pending
    /// worklist items take `new`'s name, birth date and sex. Audited with
    /// the values before and after. Not found: nothing of this patient in
    /// the caller's tenant.
    pub async fn update_patient(
        &self,
        ctx: &Context,
        new: &PatientAttributes,
        detail: &str,
    ) -> Result<PatientUpdated> {
        self.require(ctx, Right::Orders, Action::PatientRecord, detail)
            .await?;
        let tenant = Self::write_tenant(ctx);
        let change = self.archive().index().update_patient(&tenant, new).await?;
        self.patient_changed(ctx, &tenant, new, change, detail, "updated")
            .await
    }

    /// Merge a patient into another (HL7 ADT^A40): the merged patient's
    /// studies and worklist items move to `surviving`.
    pub async fn merge_patient(
        &self,
        ctx: &Context,
        merged_id: &str,
        merged_issuer: &str,
        surviving: &PatientAttributes,
        detail: &str,
    ) -> Result<PatientUpdated> {
        self.require(ctx, Right::Orders, Action::PatientRecord, detail)
            .await?;
        let tenant = Self::write_tenant(ctx);
        let change = self
            .archive()
            .index()
            .merge_patient(&tenant, merged_id, merged_issuer, surviving)
            .await?;
        self.patient_changed(ctx, &tenant, surviving, change, detail, "merged")
            .await
    }

    /// What this node remembers of studies' patches is stale now.
    pub(super) fn patches_changed(&self) {
        self.inner
            .patient_patches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    async fn patient_changed(
        &self,
        ctx: &Context,
        tenant: &TenantId,
        new: &PatientAttributes,
        change: PatientChange,
        detail: &str,
        verb: &str,
    ) -> Result<PatientUpdated> {
        self.patches_changed();
        let Some(before) = change.before.clone() else {
            self.record(
                ctx,
                Action::PatientRecord,
                Some("unknown patient".into()),
                Some(tenant),
                (new.patient_id.clone(), String::new()),
                detail,
            )
            .await;
            return Err(Error::NotFound("no such patient".into()));
        };
        tracing::info!(
            studies = change.studies.len(),
            instances = change.instances,
            worklist_items = change.worklist_items,
            "patient {verb}"
        );
        let what = format!(
            "{detail}: patient {verb}: before {}; after {}; {} studies, {} instances, {} worklist items",
            describe(&before),
            describe(new),
            change.studies.len(),
            change.instances,
            change.worklist_items
        );
        if change.studies.is_empty() {
            self.record(
                ctx,
                Action::PatientRecord,
                None,
                Some(tenant),
                (new.patient_id.clone(), String::new()),
                &what,
            )
            .await;
        }
        for study in &change.studies {
            self.record(
                ctx,
                Action::PatientRecord,
                None,
                Some(tenant),
                (new.patient_id.clone(), study.clone()),
                &what,
            )
            .await;
        }
        Ok(PatientUpdated { before, change })
    }
}
