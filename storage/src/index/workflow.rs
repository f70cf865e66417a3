//! The RIS workflow's rows: worklist items, performed procedure steps,
//! and patient corrections and merges from the RIS (HL7 ADT), which touch
//! the archive's patient rows and every stored instance's DICOM JSON.

use serde_json::Value;
use sqlx::Row;

use super::modify::{merge_patch, patch_patient, patient_of, set_patient};
use super::rows::{bind_all, now_millis};
use super::Index;
use crate::error::{Error, Result};
use crate::query::{Query, QueryLevel};
use crate::record::{normalize_person_name, PatientAttributes};
use crate::tenant::TenantId;
use crate::worklist::{
    parse_json, set_step_status, status, to_string, PerformedStep, WorklistItem,
};

const ITEM_COLUMNS: &str = "status, placer_order_number, filler_order_number, patient_id, \
    issuer_of_patient_id, patient_name, patient_name_norm, patient_birth_date, patient_sex, \
    accession_number, requested_procedure_id, requested_procedure_description, \
    study_instance_uid, referring_physician_name, referring_physician_name_norm, \
    scheduled_procedure_step_id, scheduled_station_ae_title, modality, \
    scheduled_procedure_step_start_date, scheduled_procedure_step_start_time, \
    scheduled_procedure_step_description, dicom_json, scheduled_performing_physician_name, \
    scheduled_performing_physician_name_norm";

/// A worklist item as stored: its row id and tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredWorklistItem {
    /// Row id.
    pub id: i64,
    /// Its tenant.
    pub tenant: TenantId,
    /// The item.
    pub item: WorklistItem,
}

/// A worklist item a search found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorklistHit {
    /// Row id.
    pub id: i64,
    /// Its tenant.
    pub tenant: TenantId,
    /// Its status.
    pub status: String,
    /// The item, DICOM JSON.
    pub dicom_json: String,
}

/// What a patient update changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatientChange {
    /// The patient's attributes before, from the archive or else a worklist
    /// item; `None`: the archive held nothing of this patient.
    pub before: Option<PatientAttributes>,
    /// Studies whose patient changed.
    pub studies: Vec<String>,
    /// Worklist items changed.
    pub worklist_items: u64,
    /// Instances whose DICOM JSON was rewritten.
    pub instances: u64,
}

fn item_of(row: &sqlx::any::AnyRow) -> Result<StoredWorklistItem> {
    let g = |n: usize| row.try_get::<String, _>(n);
    Ok(StoredWorklistItem {
        id: row.try_get(0)?,
        tenant: TenantId::parse(&g(1)?)?,
        item: WorklistItem {
            status: g(2)?,
            placer_order_number: g(3)?,
            filler_order_number: g(4)?,
            patient_id: g(5)?,
            issuer_of_patient_id: g(6)?,
            patient_name: g(7)?,
            // 8: the normalized name
            patient_birth_date: g(9)?,
            patient_sex: g(10)?,
            accession_number: g(11)?,
            requested_procedure_id: g(12)?,
            requested_procedure_description: g(13)?,
            study_instance_uid: g(14)?,
            referring_physician_name: g(15)?,
            // 16: the normalized name
            scheduled_procedure_step_id: g(17)?,
            scheduled_station_ae_title: g(18)?,
            modality: g(19)?,
            scheduled_procedure_step_start_date: g(20)?,
            scheduled_procedure_step_start_time: g(21)?,
            scheduled_procedure_step_description: g(22)?,
            dicom_json: g(23)?,
            scheduled_performing_physician_name: g(24)?,
            // 25: the normalized name
        },
    })
}

/// The patient of a DICOM JSON data set's values.
fn patient_in(json: &Value) -> PatientAttributes {
    let text = |tag: &str| {
        let v = &json[tag]["Value"][0];
        v["Alphabetic"]
            .as_str()
            .or(v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    PatientAttributes {
        patient_id: text("00100020"),
        issuer_of_patient_id: text("00100021"),
        patient_name: text("00100010"),
        patient_birth_date: text("00100030"),
        patient_sex: text("00100040"),
    }
}

impl Index {
    /// Add a worklist item, or replace the one of the same study and step
    /// (an order changed; its status stays unless it is still SCHEDULED).
    /// Returns its row id.
    pub async fn put_worklist_item(&self, tenant: &TenantId, item: &WorklistItem) -> Result<i64> {
        let now = now_millis();
        let updates = ITEM_COLUMNS
            .split(", ")
            .map(|c| c.trim())
            .filter(|c| *c != "study_instance_uid" && *c != "scheduled_procedure_step_id")
            .map(|c| format!("{c} = excluded.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO worklist_item (tenant_id, {ITEM_COLUMNS}, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
             $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $26) \
             ON CONFLICT (study_instance_uid, scheduled_procedure_step_id, tenant_id) \
             DO UPDATE SET {updates}, updated_at = excluded.updated_at RETURNING id"
        );
        let (_guard, mut tx) = self.begin_write().await?;
        // A changed order (a resend, HL7 XO or SC) replaces the item's
        // content but not how far the modality got: a step in progress,
        // done or cancelled keeps that status.
        let stored: Option<String> = sqlx::query_scalar(
            "SELECT status FROM worklist_item WHERE study_instance_uid = $1 \
             AND scheduled_procedure_step_id = $2 AND tenant_id = $3",
        )
        .bind(&item.study_instance_uid)
        .bind(&item.scheduled_procedure_step_id)
        .bind(tenant.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let kept;
        let item = match stored {
            Some(s) if s != status::SCHEDULED && item.status == status::SCHEDULED => {
                let mut json = parse_json(&item.dicom_json)?;
                set_step_status(&mut json, &s);
                kept = WorklistItem {
                    status: s,
                    dicom_json: to_string(&json)?,
                    ..item.clone()
                };
                &kept
            }
            _ => item,
        };
        let id: i64 = sqlx::query_scalar(&sql)
            .bind(tenant.as_str())
            .bind(&item.status)
            .bind(&item.placer_order_number)
            .bind(&item.filler_order_number)
            .bind(&item.patient_id)
            .bind(&item.issuer_of_patient_id)
            .bind(&item.patient_name)
            .bind(normalize_person_name(&item.patient_name))
            .bind(&item.patient_birth_date)
            .bind(&item.patient_sex)
            .bind(&item.accession_number)
            .bind(&item.requested_procedure_id)
            .bind(&item.requested_procedure_description)
            .bind(&item.study_instance_uid)
            .bind(&item.referring_physician_name)
            .bind(normalize_person_name(&item.referring_physician_name))
            .bind(&item.scheduled_procedure_step_id)
            .bind(&item.scheduled_station_ae_title)
            .bind(&item.modality)
            .bind(&item.scheduled_procedure_step_start_date)
            .bind(&item.scheduled_procedure_step_start_time)
            .bind(&item.scheduled_procedure_step_description)
            .bind(&item.dicom_json)
            .bind(&item.scheduled_performing_physician_name)
            .bind(normalize_person_name(
                &item.scheduled_performing_physician_name,
            ))
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// One worklist item by row id, within `tenant` (every tenant: `None`).
    pub async fn worklist_item(
        &self,
        tenant: Option<&TenantId>,
        id: i64,
    ) -> Result<Option<StoredWorklistItem>> {
        let row = sqlx::query(&format!(
            "SELECT id, tenant_id, {ITEM_COLUMNS} FROM worklist_item \
             WHERE id = $1 AND ($2 = '*' OR tenant_id = $2)"
        ))
        .bind(id)
        .bind(tenant.map(|t| t.as_str()).unwrap_or("*"))
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(item_of).transpose()
    }

    /// The items of an order in `tenant`: by placer order number when
    /// given, else by accession number.
    pub async fn worklist_items_of_order(
        &self,
        tenant: &TenantId,
        placer_order_number: &str,
        accession_number: &str,
    ) -> Result<Vec<StoredWorklistItem>> {
        let (column, value) = if !placer_order_number.is_empty() {
            ("placer_order_number", placer_order_number)
        } else if !accession_number.is_empty() {
            ("accession_number", accession_number)
        } else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(&format!(
            "SELECT id, tenant_id, {ITEM_COLUMNS} FROM worklist_item \
             WHERE {column} = $1 AND tenant_id = $2 ORDER BY id"
        ))
        .bind(value)
        .bind(tenant.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(item_of).collect()
    }

    /// The items of a study in `tenant`.
    pub async fn worklist_items_of_study(
        &self,
        tenant: &TenantId,
        study_instance_uid: &str,
    ) -> Result<Vec<StoredWorklistItem>> {
        let rows = sqlx::query(&format!(
            "SELECT id, tenant_id, {ITEM_COLUMNS} FROM worklist_item \
             WHERE study_instance_uid = $1 AND tenant_id = $2 ORDER BY id"
        ))
        .bind(study_instance_uid)
        .bind(tenant.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(item_of).collect()
    }

    /// Set a worklist item's status (in its row and its DICOM JSON).
    pub async fn set_worklist_status(&self, id: i64, status: &str) -> Result<bool> {
        let (_guard, mut tx) = self.begin_write().await?;
        let Some(json): Option<String> =
            sqlx::query_scalar("SELECT dicom_json FROM worklist_item WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
        else {
            return Ok(false);
        };
        let mut json = parse_json(&json)?;
        set_step_status(&mut json, status);
        sqlx::query(
            "UPDATE worklist_item SET status = $1, dicom_json = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(status)
        .bind(to_string(&json)?)
        .bind(now_millis())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The worklist items a query selects.
    pub async fn worklist_query(&self, query: &Query) -> Result<Vec<WorklistHit>> {
        if query.level != QueryLevel::Worklist {
            return Err(Error::invalid("not a worklist query"));
        }
        let (sql, binds) = query.worklist_sql(self.backend());
        let rows = bind_all(sqlx::query(&sql), binds)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(WorklistHit {
                    dicom_json: r.try_get(0)?,
                    tenant: TenantId::parse(&r.try_get::<String, _>(1)?)?,
                    id: r.try_get(2)?,
                    status: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// Correct a patient's attributes in `tenant` (HL7 ADT^A08): the
    /// patient rows with this ID (of this issuer, or of none), the patient
    /// of every stored instance's DICOM JSON, and the items of the worklist
    /// not yet done. The ID and issuer stay; the rest becomes `new`'s.
    pub async fn update_patient(
        &self,
        tenant: &TenantId,
        new: &PatientAttributes,
    ) -> Result<PatientChange> {
        self.rewrite_patient(tenant, &new.patient_id, &new.issuer_of_patient_id, new)
            .await
    }

    /// Merge patient `merged_id` into `surviving` in `tenant` (HL7
    /// ADT^A40): the merged patient's studies and worklist items become the
    /// surviving patient's, with its ID and attributes. `before` is the
    /// merged patient's; `None` when the archive knows no such patient.
    pub async fn merge_patient(
        &self,
        tenant: &TenantId,
        merged_id: &str,
        merged_issuer: &str,
        surviving: &PatientAttributes,
    ) -> Result<PatientChange> {
        self.rewrite_patient(tenant, merged_id, merged_issuer, surviving)
            .await
    }

    /// Give the patient (`patient_id`, `issuer`) of `tenant` the identity
    /// and attributes `to`: an update when the ID stays, a merge when it
    /// changes (the surviving patient's own studies then take `to`'s
    /// attributes too). One transaction.
    async fn rewrite_patient(
        &self,
        tenant: &TenantId,
        patient_id: &str,
        issuer: &str,
        to: &PatientAttributes,
    ) -> Result<PatientChange> {
        if patient_id.is_empty() {
            return Err(Error::invalid("no patient ID"));
        }
        let (_guard, mut tx) = self.begin_write().await?;
        let now = now_millis();
        let mut change = PatientChange::default();
        let issuer = resolve_issuer(&mut tx, tenant, patient_id, issuer).await?;
        let rows = patient_rows(&mut tx, tenant, patient_id, &issuer).await?;
        let merging = patient_id != to.patient_id;
        // Where a merge puts the studies: the surviving patient's row when
        // the archive has one.
        let survivors = if merging {
            let i =
                resolve_issuer(&mut tx, tenant, &to.patient_id, &to.issuer_of_patient_id).await?;
            patient_rows(&mut tx, tenant, &to.patient_id, &i).await?
        } else {
            Vec::new()
        };
        let survivor: Option<i64> = survivors.first().map(|r| r.try_get(0)).transpose()?;
        for row in &rows {
            if change.before.is_none() {
                change.before = Some(PatientAttributes {
                    patient_id: row.try_get(1)?,
                    issuer_of_patient_id: row.try_get(2)?,
                    patient_name: row.try_get(3)?,
                    patient_birth_date: row.try_get(4)?,
                    patient_sex: row.try_get(5)?,
                });
            }
            rewrite_patient_row(
                &mut tx,
                tenant,
                row.try_get(0)?,
                survivor,
                to,
                now,
                &mut change,
            )
            .await?;
        }
        if !rows.is_empty() {
            // The survivor's own rows and studies: its attributes are the
            // message's now.
            let mut unchanged = PatientChange::default();
            for row in &survivors {
                rewrite_patient_row(
                    &mut tx,
                    tenant,
                    row.try_get(0)?,
                    None,
                    to,
                    now,
                    &mut unchanged,
                )
                .await?;
            }
        }
        // The worklist: every item of a merge, the pending ones of an update.
        let items = sqlx::query(
            "SELECT id, dicom_json FROM worklist_item WHERE tenant_id = $1 AND patient_id = $2 \
             AND (issuer_of_patient_id = $3 OR issuer_of_patient_id = '') \
             AND ($4 = 1 OR status IN ('SCHEDULED', 'IN PROGRESS')) ORDER BY id",
        )
        .bind(tenant.as_str())
        .bind(patient_id)
        .bind(&issuer)
        .bind(i64::from(merging))
        .fetch_all(&mut *tx)
        .await?;
        for i in &items {
            let mut json = parse_json(&i.try_get::<String, _>(1)?)?;
            if change.before.is_none() {
                change.before = Some(patient_in(&json));
            }
            let mut to = to.clone();
            if to.issuer_of_patient_id.is_empty() {
                to.issuer_of_patient_id = patient_in(&json).issuer_of_patient_id;
            }
            set_patient(&mut json, &to);
            sqlx::query(
                "UPDATE worklist_item SET patient_id = $1, issuer_of_patient_id = $2, \
                 patient_name = $3, patient_name_norm = $4, patient_birth_date = $5, \
                 patient_sex = $6, dicom_json = $7, updated_at = $8 WHERE id = $9",
            )
            .bind(&to.patient_id)
            .bind(&to.issuer_of_patient_id)
            .bind(&to.patient_name)
            .bind(normalize_person_name(&to.patient_name))
            .bind(&to.patient_birth_date)
            .bind(&to.patient_sex)
            .bind(to_string(&json)?)
            .bind(now)
            .bind(i.try_get::<i64, _>(0)?)
            .execute(&mut *tx)
            .await?;
            change.worklist_items += 1;
        }
        tx.commit().await?;
        Ok(change)
    }

    /// Record a new performed procedure step; `false` when one with this
    /// UID exists already in `tenant`.
    pub async fn insert_performed_step(
        &self,
        tenant: &TenantId,
        step: &PerformedStep,
    ) -> Result<bool> {
        let now = now_millis();
        let (_guard, mut tx) = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO mpps (tenant_id, sop_instance_uid, status, calling_ae_title, \
             study_instance_uid, accession_number, scheduled_procedure_step_id, patient_id, \
             dicom_json, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
             ON CONFLICT (sop_instance_uid, tenant_id) DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(&step.sop_instance_uid)
        .bind(&step.status)
        .bind(&step.calling_ae_title)
        .bind(&step.study_instance_uid)
        .bind(&step.accession_number)
        .bind(&step.scheduled_procedure_step_id)
        .bind(&step.patient_id)
        .bind(&step.dicom_json)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// A performed procedure step by UID.
    pub async fn performed_step(
        &self,
        tenant: &TenantId,
        sop_instance_uid: &str,
    ) -> Result<Option<PerformedStep>> {
        let row = sqlx::query(
            "SELECT sop_instance_uid, status, calling_ae_title, study_instance_uid, \
             accession_number, scheduled_procedure_step_id, patient_id, dicom_json FROM mpps \
             WHERE sop_instance_uid = $1 AND tenant_id = $2",
        )
        .bind(sop_instance_uid)
        .bind(tenant.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(PerformedStep {
                sop_instance_uid: r.try_get(0)?,
                status: r.try_get(1)?,
                calling_ae_title: r.try_get(2)?,
                study_instance_uid: r.try_get(3)?,
                accession_number: r.try_get(4)?,
                scheduled_procedure_step_id: r.try_get(5)?,
                patient_id: r.try_get(6)?,
                dicom_json: r.try_get(7)?,
            })
        })
        .transpose()
    }

    /// Replace a performed procedure step's status and attributes, unless
    /// it is no longer IN PROGRESS (`false`: nothing changed).
    pub async fn update_performed_step(
        &self,
        tenant: &TenantId,
        step: &PerformedStep,
    ) -> Result<bool> {
        let (_guard, mut tx) = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE mpps SET status = $1, dicom_json = $2, updated_at = $3 \
             WHERE sop_instance_uid = $4 AND tenant_id = $5 AND status = 'IN PROGRESS'",
        )
        .bind(&step.status)
        .bind(&step.dicom_json)
        .bind(now_millis())
        .bind(&step.sop_instance_uid)
        .bind(tenant.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// The issuer a patient message means: the one it names; or, when it
/// names none, the one issuer under which the archive knows this ID (rows
/// without an issuer match any). An ID known under several issuers needs
/// the message to say which: a correction must never reach another
/// hospital's patient who happens to share the number.
async fn resolve_issuer(
    tx: &mut Tx,
    tenant: &TenantId,
    patient_id: &str,
    issuer: &str,
) -> Result<String> {
    if !issuer.is_empty() {
        return Ok(issuer.to_owned());
    }
    let mut issuers: Vec<String> = sqlx::query_scalar(
        "SELECT issuer_of_patient_id FROM patient WHERE tenant_id = $1 AND patient_id = $2 \
         AND issuer_of_patient_id <> '' UNION SELECT issuer_of_patient_id FROM worklist_item \
         WHERE tenant_id = $1 AND patient_id = $2 AND issuer_of_patient_id <> ''",
    )
    .bind(tenant.as_str())
    .bind(patient_id)
    .fetch_all(&mut **tx)
    .await?;
    issuers.sort();
    issuers.dedup();
    match issuers.len() {
        0 => Ok(String::new()),
        1 => Ok(issuers.remove(0)),
        _ => Err(Error::invalid(format!(
            "patient ID {patient_id:?} is known under several issuers ({}); the message must \
             name the assigning authority (PID-3.4, MRG-1.4)",
            issuers.join(", ")
        ))),
    }
}

/// The patient rows of (`patient_id`, `issuer`), and those of that ID
/// without an issuer: id, patient_id, issuer, name, birth date, sex.
impl Index {
    /// The attributes of patient `patient_id` of `tenant` (any issuer when
    /// `issuer` is empty), if the archive has them.
    pub async fn patient_attributes(
        &self,
        tenant: &TenantId,
        patient_id: &str,
        issuer: &str,
    ) -> Result<Option<PatientAttributes>> {
        let row = sqlx::query(
            "SELECT patient_id, issuer_of_patient_id, patient_name, patient_birth_date, \
             patient_sex FROM patient WHERE tenant_id = $1 AND patient_id = $2 \
             AND (issuer_of_patient_id = $3 OR $3 = '') ORDER BY id LIMIT 1",
        )
        .bind(tenant.as_str())
        .bind(patient_id)
        .bind(issuer)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(patient_of).transpose()
    }
}

async fn patient_rows(
    tx: &mut Tx,
    tenant: &TenantId,
    patient_id: &str,
    issuer: &str,
) -> Result<Vec<sqlx::any::AnyRow>> {
    Ok(sqlx::query(
        "SELECT id, patient_id, issuer_of_patient_id, patient_name, patient_birth_date, \
         patient_sex FROM patient WHERE tenant_id = $1 AND patient_id = $2 \
         AND (issuer_of_patient_id = $3 OR issuer_of_patient_id = '') ORDER BY id",
    )
    .bind(tenant.as_str())
    .bind(patient_id)
    .bind(issuer)
    .fetch_all(&mut **tx)
    .await?)
}

/// Give patient row `id` and every instance of its studies `to`'s
/// attributes; with a `survivor` (another row), move its studies there
/// and delete it.
async fn rewrite_patient_row(
    tx: &mut Tx,
    tenant: &TenantId,
    id: i64,
    survivor: Option<i64>,
    to: &PatientAttributes,
    now: i64,
    change: &mut PatientChange,
) -> Result<()> {
    let studies = sqlx::query("SELECT id, study_instance_uid FROM study WHERE patient_ref = $1")
        .bind(id)
        .fetch_all(&mut **tx)
        .await?;
    for s in &studies {
        let study_uid: String = s.try_get(1)?;
        // What its instances carry when they leave the archive.
        merge_patch(tx, tenant, &study_uid, now, |patch| {
            patch_patient(patch, to)
        })
        .await?;
        change.studies.push(study_uid);
        let study_ref: i64 = s.try_get(0)?;
        let instances = sqlx::query(
            "SELECT i.id, i.dicom_json FROM instance i JOIN series se ON se.id = i.series_ref \
             WHERE se.study_ref = $1",
        )
        .bind(study_ref)
        .fetch_all(&mut **tx)
        .await?;
        for i in &instances {
            let mut json = parse_json(&i.try_get::<String, _>(1)?)?;
            set_patient(&mut json, to);
            sqlx::query("UPDATE instance SET dicom_json = $1 WHERE id = $2")
                .bind(to_string(&json)?)
                .bind(i.try_get::<i64, _>(0)?)
                .execute(&mut **tx)
                .await?;
            change.instances += 1;
        }
    }
    match survivor.filter(|s| *s != id) {
        Some(survivor) => {
            sqlx::query(
                "UPDATE study SET patient_ref = $1, updated_at = $2 WHERE patient_ref = $3",
            )
            .bind(survivor)
            .bind(now)
            .bind(id)
            .execute(&mut **tx)
            .await?;
            sqlx::query("DELETE FROM patient WHERE id = $1")
                .bind(id)
                .execute(&mut **tx)
                .await?;
        }
        None => {
            // Update in place (the issuer of a row that had none stays
            // none, so a later store of the same images finds it again).
            sqlx::query(
                "UPDATE patient SET patient_id = $1, patient_name = $2, patient_name_norm = $3, \
                 patient_birth_date = $4, patient_sex = $5 WHERE id = $6",
            )
            .bind(&to.patient_id)
            .bind(&to.patient_name)
            .bind(normalize_person_name(&to.patient_name))
            .bind(&to.patient_birth_date)
            .bind(&to.patient_sex)
            .bind(id)
            .execute(&mut **tx)
            .await?;
            sqlx::query("UPDATE study SET updated_at = $1 WHERE patient_ref = $2")
                .bind(now)
                .bind(id)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}
