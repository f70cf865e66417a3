//! Modifying one study from the console and the command line (`PATCH
//! /api/studies/{uid}`, `filmless study modify`): its accession number and
//! description, the patient it belongs to (a study filed under the wrong
//! patient ID moves; a merge moves all of a patient's studies), and its
//! patient's name, birth date and sex (the patient's, so in each of that
//! patient's studies: `correct`). The index, the metadata and every object
//! served from then on carry the change; the stored objects stay as
//! received; audited with the values before and after.

use serde::{Deserialize, Serialize};
use storage::index::StudyModification;
use storage::record::PatientAttributes;

use super::correct::{fields, PatientPatch};
use super::{Context, Error, Result, Right, Service};
use crate::audit::Action;

/// What to change of a study (absent: unchanged).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyPatch {
    /// (0008,0050) Accession Number (at most 16 characters).
    pub accession_number: Option<String>,
    /// (0008,1030) Study Description (at most 64 characters).
    pub study_description: Option<String>,
    /// (0010,0020) Patient ID: the study moves to this patient.
    pub patient_id: Option<String>,
    /// (0010,0021) Issuer of Patient ID of the patient it moves to.
    pub issuer_of_patient_id: Option<String>,
    /// Patient's Name, DICOM PN (`FAMILY^GIVEN`).
    pub patient_name: Option<String>,
    /// Patient's Birth Date, `YYYYMMDD`.
    pub patient_birth_date: Option<String>,
    /// Patient's Sex: M, F, O.
    pub patient_sex: Option<String>,
}

/// What a modification did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Modified {
    /// The study's patient before: (ID, issuer, name, birth date, sex).
    pub before: [String; 5],
    /// Its patient now.
    pub after: [String; 5],
    /// Accession Number, before and after.
    pub accession_number: [String; 2],
    /// Study Description, before and after.
    pub study_description: [String; 2],
    /// Studies whose patient attributes changed (a patient's name, birth
    /// date or sex is in each of its studies).
    pub studies: usize,
    /// Instances whose metadata changed.
    pub instances: u64,
}

/// A DICOM value of `vr` with at most `max` characters, no backslash (one
/// value) and no control characters.
fn value(name: &str, v: &str, max: usize) -> Result<()> {
    if v.chars().count() > max || v.chars().any(|c| c == '\\' || c.is_control()) {
        return Err(Error::invalid(format!(
            "{name} is one value of at most {max} characters"
        )));
    }
    Ok(())
}

impl Service {
    /// Modify `study` as `patch` says: its own attributes and patient
    /// first (one transaction), then the demographics of the patient it
    /// then belongs to.
    pub async fn modify_study(
        &self,
        ctx: &Context,
        study: &str,
        patch: &StudyPatch,
    ) -> Result<Modified> {
        if let Some(v) = &patch.accession_number {
            value("Accession Number", v, 16)?;
        }
        if let Some(v) = &patch.study_description {
            value("Study Description", v, 64)?;
        }
        if let Some(v) = &patch.patient_id {
            if v.trim().is_empty() {
                return Err(Error::invalid("a study's patient ID cannot be emptied"));
            }
            value("Patient ID", v, 64)?;
        }
        if let Some(v) = &patch.issuer_of_patient_id {
            value("Issuer of Patient ID", v, 64)?;
        }
        let demographics = PatientPatch {
            patient_name: patch.patient_name.clone(),
            patient_birth_date: patch.patient_birth_date.clone(),
            patient_sex: patch.patient_sex.clone(),
        };
        let own = patch.accession_number.is_some()
            || patch.study_description.is_some()
            || patch.patient_id.is_some();
        let demographic = demographics.patient_name.is_some()
            || demographics.patient_birth_date.is_some()
            || demographics.patient_sex.is_some();
        if !own && !demographic {
            return Err(Error::invalid("nothing to change"));
        }
        // The right first: no answer tells a caller without it what exists.
        self.require(
            ctx,
            Right::Orders,
            Action::PatientRecord,
            "study modification",
        )
        .await?;
        let (uid, tenant) = self.stored_study(ctx, study).await?;
        let index = self.archive().index();
        let mut out = None;
        if own {
            // The patient it moves to: as the archive knows it, else with
            // what the modification says, else the study's own attributes.
            let moved_to = match &patch.patient_id {
                None => None,
                Some(id) => {
                    let current = self.study_patient(&tenant, uid.as_str()).await?;
                    // Without an issuer: the one the archive knows this ID
                    // under (several: the caller must say which; none:
                    // the study's own issuer). A study must never land on
                    // another hospital's patient who shares the number.
                    let issuer = match &patch.issuer_of_patient_id {
                        Some(i) => i.trim().to_owned(),
                        None => {
                            let mut known = index.patient_issuers(&tenant, id.trim()).await?;
                            match known.len() {
                                0 => current.issuer_of_patient_id.clone(),
                                1 => known.remove(0),
                                _ => {
                                    return Err(Error::invalid(format!(
                                        "patient ID {:?} is known under several issuers ({}): \
                                         name the issuer",
                                        id.trim(),
                                        known.join(", ")
                                    )))
                                }
                            }
                        }
                    };
                    let known = index
                        .patient_attributes(&tenant, id.trim(), &issuer)
                        .await?
                        .filter(|k| k.issuer_of_patient_id == issuer);
                    let base = known.unwrap_or(current);
                    Some(PatientAttributes {
                        patient_id: id.trim().to_owned(),
                        issuer_of_patient_id: issuer,
                        patient_name: base.patient_name,
                        patient_birth_date: base.patient_birth_date,
                        patient_sex: base.patient_sex,
                    })
                }
            };
            let change = StudyModification {
                accession_number: patch.accession_number.clone(),
                study_description: patch.study_description.clone(),
                patient: moved_to,
            };
            let before = index
                .modify_study(&tenant, uid.as_str(), &change)
                .await?
                .ok_or_else(|| Error::not_found(format!("study {uid} not found")))?;
            self.patches_changed();
            let after_patient = self.study_patient(&tenant, uid.as_str()).await?;
            let modified = Modified {
                before: fields(&before.patient),
                after: fields(&after_patient),
                accession_number: [
                    before.accession_number.clone(),
                    change
                        .accession_number
                        .clone()
                        .unwrap_or(before.accession_number.clone()),
                ],
                study_description: [
                    before.study_description.clone(),
                    change
                        .study_description
                        .clone()
                        .unwrap_or(before.study_description.clone()),
                ],
                studies: 1,
                instances: before.instances,
            };
            self.record(
                ctx,
                Action::PatientRecord,
                None,
                Some(&tenant),
                (after_patient.patient_id.clone(), uid.as_str().to_owned()),
                &format!(
                    "study modified: accession {:?} → {:?}; description {:?} → {:?}; patient \
                     {:?} → {:?}; {} instances",
                    modified.accession_number[0],
                    modified.accession_number[1],
                    modified.study_description[0],
                    modified.study_description[1],
                    before.patient.patient_id,
                    after_patient.patient_id,
                    before.instances
                ),
            )
            .await;
            out = Some(modified);
        }
        if demographic {
            let corrected = self
                .correct_study_patient(ctx, uid.as_str(), &demographics)
                .await?;
            out = Some(match out {
                None => Modified {
                    accession_number: Default::default(),
                    study_description: Default::default(),
                    before: corrected.before,
                    after: corrected.after,
                    studies: corrected.studies,
                    instances: corrected.instances,
                },
                Some(m) => Modified {
                    after: corrected.after,
                    studies: corrected.studies.max(m.studies),
                    instances: m.instances.max(corrected.instances),
                    ..m
                },
            });
        }
        out.ok_or_else(|| Error::invalid("nothing to change"))
    }

    /// The patient a study of `tenant` belongs to, as its row says.
    async fn study_patient(
        &self,
        tenant: &storage::TenantId,
        study: &str,
    ) -> Result<PatientAttributes> {
        self.archive()
            .index()
            .study_patient(tenant, study)
            .await?
            .ok_or_else(|| Error::not_found(format!("study {study} not found")))
    }
}
