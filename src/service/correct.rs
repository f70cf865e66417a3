//! Corrections from the console and the command line: a study's patient
//! (name, birth date, sex) and merging two patients, over the same
//! operations the RIS's HL7 ADT^A08 and ADT^A40 use (`worklist`): the
//! index, the stored metadata and every object served from then on carry
//! the correction; the stored objects stay as received; audited with the
//! values before and after.

use serde::{Deserialize, Serialize};
use storage::record::PatientAttributes;

use super::worklist::PatientUpdated;
use super::{Context, Result, Service};

/// What to change of a study's patient (absent: unchanged).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientPatch {
    /// Patient's Name, DICOM PN (`FAMILY^GIVEN`).
    pub patient_name: Option<String>,
    /// Patient's Birth Date, `YYYYMMDD`.
    pub patient_birth_date: Option<String>,
    /// Patient's Sex: M, F, O.
    pub patient_sex: Option<String>,
}

/// What a correction did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Corrected {
    /// The patient as it was: (ID, issuer, name, birth date, sex).
    pub before: [String; 5],
    /// The patient now.
    pub after: [String; 5],
    /// Studies and instances that changed.
    pub studies: usize,
    /// Instances whose metadata changed.
    pub instances: u64,
}

/// Sex and birth date as DICOM has them (empty: unknown).
fn check(sex: &str, birth_date: &str) -> Result<()> {
    if !matches!(sex, "M" | "F" | "O" | "") {
        return Err(super::Error::invalid("Patient's Sex is M, F, O or empty"));
    }
    if !(birth_date.is_empty()
        || (birth_date.len() == 8 && birth_date.bytes().all(|b| b.is_ascii_digit())))
    {
        return Err(super::Error::invalid("a birth date is YYYYMMDD"));
    }
    Ok(())
}

/// A patient as (ID, issuer, name, birth date, sex), as corrections
/// report it.
pub(super) fn fields(p: &PatientAttributes) -> [String; 5] {
    [
        p.patient_id.clone(),
        p.issuer_of_patient_id.clone(),
        p.patient_name.clone(),
        p.patient_birth_date.clone(),
        p.patient_sex.clone(),
    ]
}

fn corrected(done: PatientUpdated, after: &PatientAttributes) -> Corrected {
    Corrected {
        before: fields(&done.before),
        after: fields(after),
        studies: done.change.studies.len(),
        instances: done.change.instances,
    }
}

impl Service {
    /// Correct the patient of `study`: its name, birth date or sex, in every
    /// study of that patient (they are the patient's, not the study's).
    pub async fn correct_study_patient(
        &self,
        ctx: &Context,
        study: &str,
        patch: &PatientPatch,
    ) -> Result<Corrected> {
        check(
            patch.patient_sex.as_deref().unwrap_or_default(),
            patch.patient_birth_date.as_deref().unwrap_or_default(),
        )?;
        if patch
            .patient_name
            .as_deref()
            .is_some_and(|n| n.trim().is_empty())
        {
            return Err(super::Error::invalid("a patient's name cannot be emptied"));
        }
        // The right first: no answer tells a caller without it what exists.
        if !ctx.may(super::Right::Orders) {
            self.require(
                ctx,
                super::Right::Orders,
                crate::audit::Action::PatientRecord,
                "correction",
            )
            .await?;
        }
        let (uid, tenant) = self.stored_study(ctx, study).await?;
        // The patient as the index has it now (after earlier corrections
        // or a move), not as the stored objects were received.
        let current = self
            .archive()
            .index()
            .study_patient(&tenant, uid.as_str())
            .await?
            .ok_or_else(|| super::Error::not_found(format!("study {uid} not found")))?;
        let new = PatientAttributes {
            patient_name: patch
                .patient_name
                .clone()
                .unwrap_or_else(|| current.patient_name.clone()),
            patient_birth_date: patch
                .patient_birth_date
                .clone()
                .unwrap_or_else(|| current.patient_birth_date.clone()),
            patient_sex: patch
                .patient_sex
                .clone()
                .unwrap_or_else(|| current.patient_sex.clone()),
            ..current
        };
        let scoped = match ctx.tenant() {
            Some(_) => ctx.clone(),
            None => ctx.clone().within(tenant),
        };
        let done = self
            .update_patient(&scoped, &new, "correction of a study's patient")
            .await?;
        Ok(corrected(done, &new))
    }

    /// Merge patient `from` (ID, issuer) into `into`: its studies and
    /// worklist items become `into`'s, with `into`'s attributes.
    pub async fn merge_patients(
        &self,
        ctx: &Context,
        from: (&str, &str),
        into: &PatientAttributes,
    ) -> Result<Corrected> {
        check(&into.patient_sex, &into.patient_birth_date)?;
        if into.patient_id.trim().is_empty() {
            return Err(super::Error::invalid("the surviving patient needs an ID"));
        }
        // What the merge does not say of the survivor stays as it is; of
        // a survivor not here yet (a new ID renames the patient), as the
        // merged patient has it (but its issuer, which goes with its ID).
        let tenant = Self::write_tenant(ctx);
        let index = self.archive().index();
        let mut into = into.clone();
        let known = match index
            .patient_attributes(&tenant, &into.patient_id, &into.issuer_of_patient_id)
            .await?
        {
            Some(known) => Some(known),
            None => index
                .patient_attributes(&tenant, from.0, from.1)
                .await?
                .map(|merged| PatientAttributes {
                    issuer_of_patient_id: String::new(),
                    ..merged
                }),
        };
        if let Some(known) = known {
            for (mine, theirs) in [
                (&mut into.issuer_of_patient_id, known.issuer_of_patient_id),
                (&mut into.patient_name, known.patient_name),
                (&mut into.patient_birth_date, known.patient_birth_date),
                (&mut into.patient_sex, known.patient_sex),
            ] {
                if mine.is_empty() {
                    *mine = theirs;
                }
            }
        }
        let done = self
            .merge_patient(ctx, from.0, from.1, &into, "merge of two patients")
            .await?;
        Ok(corrected(done, &into))
    }
}
