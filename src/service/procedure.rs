//! Modality Performed Procedure Steps (PS3.4 F.7): what the modality
//! reports it performed. N-CREATE starts one (IN PROGRESS), N-SET changes
//! it until it is COMPLETED or DISCONTINUED; each is stored, linked to its
//! worklist item and study, and moves the item's status along.

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use serde_json::Value;
use storage::worklist::{dataset_json, status, PerformedStep};
use storage::Uid;

use super::{Context, Error, Refusal, Result, Right, Service};
use crate::audit::Action;

const IN_PROGRESS: &str = "IN PROGRESS";
const COMPLETED: &str = "COMPLETED";
const DISCONTINUED: &str = "DISCONTINUED";

/// What an N-SET may not carry (PS3.4 Table F.7.2-1, "Not allowed"): the
/// relationship to the scheduled steps, the patient, and the step's
/// identity, station, start and modality.
const NOT_SETTABLE: &[dicom_core::Tag] = &[
    tags::SCHEDULED_STEP_ATTRIBUTES_SEQUENCE,
    tags::PATIENT_NAME,
    tags::PATIENT_ID,
    tags::ISSUER_OF_PATIENT_ID,
    tags::PATIENT_BIRTH_DATE,
    tags::PATIENT_SEX,
    tags::REFERENCED_PATIENT_SEQUENCE,
    tags::PERFORMED_PROCEDURE_STEP_ID,
    tags::PERFORMED_STATION_AE_TITLE,
    tags::PERFORMED_STATION_NAME,
    tags::PERFORMED_LOCATION,
    tags::PERFORMED_PROCEDURE_STEP_START_DATE,
    tags::PERFORMED_PROCEDURE_STEP_START_TIME,
    tags::MODALITY,
    tags::STUDY_ID,
];

fn text(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<String> {
    obj.get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|v| v.trim_matches(['\0', ' ']).to_owned())
}

fn json_text(json: &Value, tag: &str) -> String {
    let v = &json[tag]["Value"][0];
    v["Alphabetic"]
        .as_str()
        .or(v.as_str())
        .unwrap_or_default()
        .to_owned()
}

impl Service {
    /// N-CREATE: a new performed procedure step, IN PROGRESS. Returns its
    /// SOP Instance UID (generated when the modality gave none).
    pub async fn create_performed_step(
        &self,
        ctx: &Context,
        sop_instance_uid: Option<String>,
        attributes: &InMemDicomObject,
    ) -> Result<String> {
        self.require(
            ctx,
            Right::Procedure,
            Action::ProcedureStep,
            "mpps n-create",
        )
        .await?;
        let uid = match sop_instance_uid {
            Some(u) => Uid::parse("Affected SOP Instance UID", &u)?
                .as_str()
                .to_owned(),
            None => Uid::generate(),
        };
        match text(attributes, tags::PERFORMED_PROCEDURE_STEP_STATUS).as_deref() {
            None | Some("") => {
                return Err(Error::procedure(
                    Refusal::MissingAttribute(tags::PERFORMED_PROCEDURE_STEP_STATUS),
                    "Performed Procedure Step Status (0040,0252) is required",
                ))
            }
            Some(IN_PROGRESS) => {}
            Some(other) => {
                return Err(Error::procedure(
                    Refusal::InvalidValue(tags::PERFORMED_PROCEDURE_STEP_STATUS),
                    format!("an N-CREATE must be IN PROGRESS, not {other:?} (PS3.4 F.7.2.1)"),
                ))
            }
        }
        // The other Type 1 attributes of an N-CREATE (PS3.4 Table F.7.2-1).
        for (tag, name) in [
            (
                tags::PERFORMED_PROCEDURE_STEP_ID,
                "Performed Procedure Step ID (0040,0253)",
            ),
            (
                tags::PERFORMED_STATION_AE_TITLE,
                "Performed Station AE Title (0040,0241)",
            ),
            (
                tags::PERFORMED_PROCEDURE_STEP_START_DATE,
                "Performed Procedure Step Start Date (0040,0244)",
            ),
            (
                tags::PERFORMED_PROCEDURE_STEP_START_TIME,
                "Performed Procedure Step Start Time (0040,0245)",
            ),
            (tags::MODALITY, "Modality (0008,0060)"),
        ] {
            match attributes.get(tag) {
                None => {
                    return Err(Error::procedure(
                        Refusal::MissingAttribute(tag),
                        format!("{name} is required (PS3.4 Table F.7.2-1)"),
                    ))
                }
                Some(_) if text(attributes, tag).unwrap_or_default().is_empty() => {
                    return Err(Error::procedure(
                        Refusal::MissingValue(tag),
                        format!("{name} needs a value (PS3.4 Table F.7.2-1)"),
                    ))
                }
                Some(_) => {}
            }
        }
        let scheduled = attributes
            .get(tags::SCHEDULED_STEP_ATTRIBUTES_SEQUENCE)
            .and_then(|e| e.items())
            .and_then(|items| items.first())
            .ok_or_else(|| {
                Error::procedure(
                    Refusal::MissingAttribute(tags::SCHEDULED_STEP_ATTRIBUTES_SEQUENCE),
                    "Scheduled Step Attributes Sequence (0040,0270) is required",
                )
            })?;
        let study = text(scheduled, tags::STUDY_INSTANCE_UID).unwrap_or_default();
        if Uid::parse("Study Instance UID", &study).is_err() {
            return Err(Error::procedure(
                Refusal::MissingAttribute(tags::STUDY_INSTANCE_UID),
                "the Scheduled Step Attributes Sequence needs a Study Instance UID",
            ));
        }
        let step = PerformedStep {
            sop_instance_uid: uid.clone(),
            status: IN_PROGRESS.to_owned(),
            calling_ae_title: ctx.actor.name.clone(),
            study_instance_uid: study.clone(),
            accession_number: text(scheduled, tags::ACCESSION_NUMBER).unwrap_or_default(),
            scheduled_procedure_step_id: text(scheduled, tags::SCHEDULED_PROCEDURE_STEP_ID)
                .unwrap_or_default(),
            patient_id: text(attributes, tags::PATIENT_ID).unwrap_or_default(),
            dicom_json: storage_json(&dataset_json(attributes)?)?,
        };
        let tenant = Self::write_tenant(ctx);
        if !self
            .archive()
            .index()
            .insert_performed_step(&tenant, &step)
            .await?
        {
            return Err(Error::procedure(
                Refusal::Duplicate,
                format!("performed procedure step {uid} exists already"),
            ));
        }
        let created = dataset_json(attributes)?;
        let items = self
            .follow_worklist(&tenant, &created, status::IN_PROGRESS)
            .await?;
        self.forward_step(&tenant, &uid, false, &created).await;
        tracing::info!(mpps = %uid, worklist_items = items, "performed procedure step in progress");
        self.record(
            ctx,
            Action::ProcedureStep,
            None,
            Some(&tenant),
            (step.patient_id.clone(), study),
            &format!("mpps {uid} IN PROGRESS; {items} worklist items in progress"),
        )
        .await;
        Ok(uid)
    }

    /// N-SET: change a performed procedure step still IN PROGRESS; its
    /// attributes take the modification list's values. COMPLETED and
    /// DISCONTINUED end it and complete or discontinue its worklist items.
    pub async fn set_performed_step(
        &self,
        ctx: &Context,
        sop_instance_uid: &str,
        modifications: &InMemDicomObject,
    ) -> Result<()> {
        self.require(ctx, Right::Procedure, Action::ProcedureStep, "mpps n-set")
            .await?;
        let tenant = Self::write_tenant(ctx);
        let Some(mut step) = self
            .archive()
            .index()
            .performed_step(&tenant, sop_instance_uid)
            .await?
        else {
            return Err(Error::procedure(
                Refusal::NoSuchInstance,
                format!("no performed procedure step {sop_instance_uid}"),
            ));
        };
        if step.status != IN_PROGRESS {
            return Err(Error::procedure(
                Refusal::NoLongerUpdatable,
                format!(
                    "performed procedure step {sop_instance_uid} is {} and may no longer be updated",
                    step.status
                ),
            ));
        }
        // What the N-CREATE fixed may not change (PS3.4 Table F.7.2-1,
        // "Not allowed" in an N-SET): which steps were performed, the
        // patient, where and when it began.
        let fixed: Vec<dicom_core::Tag> = modifications
            .iter()
            .map(|e| e.header().tag)
            .filter(|t| NOT_SETTABLE.contains(t))
            .collect();
        if !fixed.is_empty() {
            return Err(Error::procedure(
                Refusal::NotAllowed(fixed.clone()),
                format!(
                    "an N-SET may not change {} (set by the N-CREATE, PS3.4 Table F.7.2-1)",
                    fixed
                        .iter()
                        .map(|t| format!("({:04X},{:04X})", t.group(), t.element()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let mut json: Value = serde_json::from_str(&step.dicom_json)
            .map_err(|e| Error::Internal(format!("stored mpps: {e}")))?;
        let changes = dataset_json(modifications)?;
        if let (Some(map), Some(changes)) = (json.as_object_mut(), changes.as_object()) {
            for (k, v) in changes {
                map.insert(k.clone(), v.clone());
            }
        }
        let new_status = json_text(&json, "00400252");
        if ![IN_PROGRESS, COMPLETED, DISCONTINUED].contains(&new_status.as_str()) {
            return Err(Error::procedure(
                Refusal::InvalidValue(tags::PERFORMED_PROCEDURE_STEP_STATUS),
                format!("{new_status:?} is not IN PROGRESS, COMPLETED or DISCONTINUED"),
            ));
        }
        if new_status != IN_PROGRESS {
            // Type 1 once the step ends (PS3.4 Table F.7.2-1).
            for (tag, key, name) in [
                (
                    tags::PERFORMED_PROCEDURE_STEP_END_DATE,
                    "00400250",
                    "Performed Procedure Step End Date",
                ),
                (
                    tags::PERFORMED_PROCEDURE_STEP_END_TIME,
                    "00400251",
                    "Performed Procedure Step End Time",
                ),
            ] {
                if json_text(&json, key).is_empty() {
                    return Err(Error::procedure(
                        Refusal::MissingValue(tag),
                        format!("{name} is required to end the step"),
                    ));
                }
            }
        }
        step.status = new_status.clone();
        step.dicom_json = storage_json(&json)?;
        if !self
            .archive()
            .index()
            .update_performed_step(&tenant, &step)
            .await?
        {
            // Another N-SET ended it meanwhile.
            return Err(Error::procedure(
                Refusal::NoLongerUpdatable,
                format!("performed procedure step {sop_instance_uid} may no longer be updated"),
            ));
        }
        let item_status = match new_status.as_str() {
            COMPLETED => status::COMPLETED,
            DISCONTINUED => status::DISCONTINUED,
            _ => status::IN_PROGRESS,
        };
        let items = self.follow_worklist(&tenant, &json, item_status).await?;
        self.forward_step(&tenant, sop_instance_uid, true, &changes)
            .await;
        tracing::info!(mpps = %sop_instance_uid, status = %new_status, worklist_items = items, "performed procedure step set");
        self.record(
            ctx,
            Action::ProcedureStep,
            None,
            Some(&tenant),
            (step.patient_id.clone(), step.study_instance_uid.clone()),
            &format!("mpps {sop_instance_uid} {new_status}; {items} worklist items"),
        )
        .await;
        Ok(())
    }

    /// Queue a step's message for the peers that follow the tenant's steps;
    /// the step is stored already, so a failure here is logged, not
    /// answered.
    async fn forward_step(&self, tenant: &storage::TenantId, uid: &str, set: bool, data: &Value) {
        if let Err(e) = self.forward_performed_step(tenant, uid, set, data).await {
            tracing::error!(error = %e, mpps = %uid, "cannot queue the MPPS for forwarding");
        }
    }

    /// Move the worklist items a step performs to `item_status`: for each
    /// item of its Scheduled Step Attributes Sequence (one step can
    /// perform several, PS3.4 F.7.2.1 and IHE SWF's grouped procedures),
    /// those of that study with that scheduled step ID (all of the study's
    /// when it names none). Returns how many.
    async fn follow_worklist(
        &self,
        tenant: &storage::TenantId,
        step_json: &Value,
        item_status: &str,
    ) -> Result<usize> {
        let index = self.archive().index();
        let mut n = 0;
        let mut done = std::collections::HashSet::new();
        for (study, step_id) in scheduled_steps(step_json) {
            if study.is_empty() || !done.insert((study.clone(), step_id.clone())) {
                continue;
            }
            let items = index.worklist_items_of_study(tenant, &study).await?;
            for item in items
                .iter()
                .filter(|i| step_id.is_empty() || i.item.scheduled_procedure_step_id == step_id)
            {
                if item.item.status == status::CANCELLED || item.item.status == item_status {
                    continue;
                }
                index.set_worklist_status(item.id, item_status).await?;
                n += 1;
            }
        }
        Ok(n)
    }
}

/// (Study Instance UID, Scheduled Procedure Step ID) of each item of a
/// step's Scheduled Step Attributes Sequence, in DICOM JSON.
fn scheduled_steps(json: &Value) -> Vec<(String, String)> {
    json.get("00400270")
        .and_then(|e| e.get("Value"))
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|item| (json_text(item, "0020000D"), json_text(item, "00400009")))
                .collect()
        })
        .unwrap_or_default()
}

fn storage_json(json: &Value) -> Result<String> {
    serde_json::to_string(json).map_err(|e| Error::Internal(format!("mpps json: {e}")))
}
