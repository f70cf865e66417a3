//! Corrections of stored studies as the objects carry them when they
//! leave: the per-study patch (table `patient_patch`: the patient, the
//! accession number, the study description), and the correction of one
//! study — its accession number and description, or its move to another
//! patient. The index and the metadata change at once; the stored objects
//! stay as received and get the patch on the way out.

use serde_json::{Map, Value};
use sqlx::Row;

use super::rows::now_millis;
use super::Index;
use crate::error::Result;
use crate::record::{normalize_person_name, ObjectPatch, PatientAttributes};
use crate::tenant::TenantId;
use crate::worklist::{element, parse_json, to_string};

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// What to change of one study (absent: unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StudyModification {
    /// (0008,0050) Accession Number.
    pub accession_number: Option<String>,
    /// (0008,1030) Study Description.
    pub study_description: Option<String>,
    /// The patient the study belongs to instead (found by ID and issuer,
    /// or created with these attributes).
    pub patient: Option<PatientAttributes>,
}

/// What a study was before its modification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudyModified {
    /// Its accession number.
    pub accession_number: String,
    /// Its description.
    pub study_description: String,
    /// Its patient.
    pub patient: PatientAttributes,
    /// Instances whose metadata changed.
    pub instances: u64,
}

/// Set the patient attributes of a DICOM JSON data set.
pub(super) fn set_patient(json: &mut Value, p: &PatientAttributes) {
    if let Some(map) = json.as_object_mut() {
        map.insert("00100010".into(), element("PN", &p.patient_name));
        map.insert("00100020".into(), element("LO", &p.patient_id));
        if !p.issuer_of_patient_id.is_empty() || map.contains_key("00100021") {
            map.insert("00100021".into(), element("LO", &p.issuer_of_patient_id));
        }
        map.insert("00100030".into(), element("DA", &p.patient_birth_date));
        map.insert("00100040".into(), element("CS", &p.patient_sex));
    }
}

/// Patient attributes from a row's first five columns: ID, issuer, name,
/// birth date, sex.
pub(super) fn patient_of(r: &sqlx::any::AnyRow) -> Result<PatientAttributes> {
    Ok(PatientAttributes {
        patient_id: r.try_get(0)?,
        issuer_of_patient_id: r.try_get(1)?,
        patient_name: r.try_get(2)?,
        patient_birth_date: r.try_get(3)?,
        patient_sex: r.try_get(4)?,
    })
}

/// An arriving instance of a study corrected before: its record takes the
/// correction (the patient it was moved to, the accession number, the
/// description), so its rows and metadata agree with the rest of the
/// study; the stored object stays as received (it leaves patched).
pub fn apply_to_record(
    record: &mut crate::record::InstanceRecord,
    patch: &ObjectPatch,
) -> Result<()> {
    let mut json = parse_json(&record.dicom_json)?;
    if let Some(p) = &patch.patient {
        record.patient = p.clone();
        set_patient(&mut json, p);
    }
    if let Some(map) = json.as_object_mut() {
        if let Some(a) = &patch.accession_number {
            record.study.accession_number = a.clone();
            map.insert("00080050".into(), element("SH", a));
        }
        if let Some(d) = &patch.study_description {
            record.study.study_description = d.clone();
            map.insert("00081030".into(), element("LO", d));
        }
    }
    record.dicom_json = to_string(&json)?;
    Ok(())
}

/// Merge into the patch of `study` what `change` sets.
pub(super) async fn merge_patch(
    tx: &mut Tx,
    tenant: &TenantId,
    study: &str,
    now: i64,
    change: impl FnOnce(&mut Map<String, Value>),
) -> Result<()> {
    let old: Option<String> = sqlx::query_scalar(
        "SELECT patient_json FROM patient_patch WHERE tenant_id = $1 AND study_instance_uid = $2",
    )
    .bind(tenant.as_str())
    .bind(study)
    .fetch_optional(&mut **tx)
    .await?;
    let mut patch = match old {
        Some(text) => match parse_json(&text)? {
            Value::Object(map) => map,
            _ => Map::new(),
        },
        None => Map::new(),
    };
    change(&mut patch);
    sqlx::query(
        "INSERT INTO patient_patch (tenant_id, study_instance_uid, patient_json, updated_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, study_instance_uid) \
         DO UPDATE SET patient_json = excluded.patient_json, updated_at = excluded.updated_at",
    )
    .bind(tenant.as_str())
    .bind(study)
    .bind(to_string(&Value::Object(patch))?)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Set the patient keys of a patch.
pub(super) fn patch_patient(patch: &mut Map<String, Value>, p: &PatientAttributes) {
    for (k, v) in [
        ("id", &p.patient_id),
        ("issuer", &p.issuer_of_patient_id),
        ("name", &p.patient_name),
        ("birth_date", &p.patient_birth_date),
        ("sex", &p.patient_sex),
    ] {
        patch.insert(k.into(), Value::String(v.clone()));
    }
}

fn patch_of(v: &Value, modified_at: i64) -> ObjectPatch {
    let g = |k: &str| v[k].as_str().map(str::to_owned);
    ObjectPatch {
        patient: g("id").map(|patient_id| PatientAttributes {
            patient_id,
            issuer_of_patient_id: g("issuer").unwrap_or_default(),
            patient_name: g("name").unwrap_or_default(),
            patient_birth_date: g("birth_date").unwrap_or_default(),
            patient_sex: g("sex").unwrap_or_default(),
        }),
        accession_number: g("accession_number"),
        study_description: g("study_description"),
        modified_at,
    }
}

impl Index {
    /// The issuers under which `tenant` has a patient `patient_id`.
    pub async fn patient_issuers(
        &self,
        tenant: &TenantId,
        patient_id: &str,
    ) -> Result<Vec<String>> {
        let mut issuers: Vec<String> = sqlx::query_scalar(
            "SELECT issuer_of_patient_id FROM patient WHERE tenant_id = $1 AND patient_id = $2",
        )
        .bind(tenant.as_str())
        .bind(patient_id)
        .fetch_all(self.pool())
        .await?;
        issuers.sort();
        issuers.dedup();
        Ok(issuers)
    }

    /// The patient a study of `tenant` belongs to, as its row says.
    pub async fn study_patient(
        &self,
        tenant: &TenantId,
        study_instance_uid: &str,
    ) -> Result<Option<PatientAttributes>> {
        let row = sqlx::query(
            "SELECT p.patient_id, p.issuer_of_patient_id, p.patient_name, p.patient_birth_date, \
             p.patient_sex FROM study s JOIN patient p ON p.id = s.patient_ref \
             WHERE s.tenant_id = $1 AND s.study_instance_uid = $2",
        )
        .bind(tenant.as_str())
        .bind(study_instance_uid)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(patient_of).transpose()
    }

    /// What the instances of `study` must carry when they leave (it was
    /// corrected); `None`: as stored.
    pub async fn object_patch(
        &self,
        tenant: &TenantId,
        study_instance_uid: &str,
    ) -> Result<Option<ObjectPatch>> {
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT patient_json, updated_at FROM patient_patch WHERE tenant_id = $1 \
             AND study_instance_uid = $2",
        )
        .bind(tenant.as_str())
        .bind(study_instance_uid)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some((json, at)) => Some(patch_of(&parse_json(&json)?, at)),
            None => None,
        })
    }

    /// Change one study of `tenant`: its accession number, its description,
    /// its patient (the study moves; a patient left without studies goes),
    /// in the index, every instance's metadata and the study's patch, in
    /// one transaction. `None`: no such study.
    pub async fn modify_study(
        &self,
        tenant: &TenantId,
        study_instance_uid: &str,
        change: &StudyModification,
    ) -> Result<Option<StudyModified>> {
        let now = now_millis();
        let (_guard, mut tx) = self.begin_write().await?;
        let Some(row) = sqlx::query(
            "SELECT s.id, s.patient_ref, s.accession_number, s.study_description, p.patient_id, \
             p.issuer_of_patient_id, p.patient_name, p.patient_birth_date, p.patient_sex \
             FROM study s JOIN patient p ON p.id = s.patient_ref \
             WHERE s.tenant_id = $1 AND s.study_instance_uid = $2",
        )
        .bind(tenant.as_str())
        .bind(study_instance_uid)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let study: i64 = row.try_get(0)?;
        let old_patient: i64 = row.try_get(1)?;
        let mut before = StudyModified {
            accession_number: row.try_get(2)?,
            study_description: row.try_get(3)?,
            patient: PatientAttributes {
                patient_id: row.try_get(4)?,
                issuer_of_patient_id: row.try_get(5)?,
                patient_name: row.try_get(6)?,
                patient_birth_date: row.try_get(7)?,
                patient_sex: row.try_get(8)?,
            },
            instances: 0,
        };
        let accession = change
            .accession_number
            .clone()
            .unwrap_or_else(|| before.accession_number.clone());
        let description = change
            .study_description
            .clone()
            .unwrap_or_else(|| before.study_description.clone());
        sqlx::query(
            "UPDATE study SET accession_number = $1, study_description = $2, updated_at = $3 \
             WHERE id = $4",
        )
        .bind(&accession)
        .bind(&description)
        .bind(now)
        .bind(study)
        .execute(&mut *tx)
        .await?;
        if let Some(to) = &change.patient {
            let found: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM patient WHERE tenant_id = $1 AND patient_id = $2 \
                 AND issuer_of_patient_id = $3",
            )
            .bind(tenant.as_str())
            .bind(&to.patient_id)
            .bind(&to.issuer_of_patient_id)
            .fetch_optional(&mut *tx)
            .await?;
            let patient = match found {
                Some(id) => id,
                None => {
                    sqlx::query_scalar(
                        "INSERT INTO patient (patient_id, issuer_of_patient_id, patient_name, \
                         patient_name_norm, patient_birth_date, patient_sex, created_at, tenant_id) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                    )
                    .bind(&to.patient_id)
                    .bind(&to.issuer_of_patient_id)
                    .bind(&to.patient_name)
                    .bind(normalize_person_name(&to.patient_name))
                    .bind(&to.patient_birth_date)
                    .bind(&to.patient_sex)
                    .bind(now)
                    .bind(tenant.as_str())
                    .fetch_one(&mut *tx)
                    .await?
                }
            };
            if patient != old_patient {
                sqlx::query("UPDATE study SET patient_ref = $1 WHERE id = $2")
                    .bind(patient)
                    .bind(study)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "DELETE FROM patient WHERE id = $1 AND NOT EXISTS \
                     (SELECT 1 FROM study WHERE patient_ref = $1)",
                )
                .bind(old_patient)
                .execute(&mut *tx)
                .await?;
            }
        }
        // The patient the study belongs to now, as its row says.
        let patient = match &change.patient {
            None => None,
            Some(_) => {
                let r = sqlx::query(
                    "SELECT p.patient_id, p.issuer_of_patient_id, p.patient_name, \
                     p.patient_birth_date, p.patient_sex FROM study s \
                     JOIN patient p ON p.id = s.patient_ref WHERE s.id = $1",
                )
                .bind(study)
                .fetch_one(&mut *tx)
                .await?;
                Some(patient_of(&r)?)
            }
        };
        let instances = sqlx::query(
            "SELECT i.id, i.dicom_json FROM instance i JOIN series se ON se.id = i.series_ref \
             WHERE se.study_ref = $1",
        )
        .bind(study)
        .fetch_all(&mut *tx)
        .await?;
        for i in &instances {
            let mut json = parse_json(&i.try_get::<String, _>(1)?)?;
            if let Some(map) = json.as_object_mut() {
                map.insert("00080050".into(), element("SH", &accession));
                map.insert("00081030".into(), element("LO", &description));
            }
            if let Some(p) = &patient {
                set_patient(&mut json, p);
            }
            sqlx::query("UPDATE instance SET dicom_json = $1 WHERE id = $2")
                .bind(to_string(&json)?)
                .bind(i.try_get::<i64, _>(0)?)
                .execute(&mut *tx)
                .await?;
            before.instances += 1;
        }
        merge_patch(&mut tx, tenant, study_instance_uid, now, |patch| {
            if change.accession_number.is_some() {
                patch.insert("accession_number".into(), Value::String(accession.clone()));
            }
            if change.study_description.is_some() {
                patch.insert(
                    "study_description".into(),
                    Value::String(description.clone()),
                );
            }
            if let Some(p) = &patient {
                patch_patient(patch, p);
            }
        })
        .await?;
        tx.commit().await?;
        Ok(Some(before))
    }
}
