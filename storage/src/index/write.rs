//! Writing new instances: patient, study and series rows as needed, the
//! instance row, and the counters, in one transaction.
//!
//! Invariants kept here:
//! - one patient / study / series row per identity within a tenant,
//!   whatever the concurrency: unique constraints plus `INSERT … ON
//!   CONFLICT DO NOTHING` then `SELECT` (on PostgreSQL the insert waits for
//!   a concurrent inserter to commit);
//! - study and series counters change in the same transaction as the
//!   instance rows they count.

use std::collections::{BTreeMap, HashMap};

use sqlx::{AnyConnection, Row};

use super::connection::{write_tx, Index, Tx};
use super::delete::delete_instance_rows;
use super::rows::{
    encode_frames, now_millis, stored_instance, Insert, NewInstance, StoredInstance,
    INSTANCE_COLUMNS, INSTANCE_JOIN,
};
use crate::error::{Error, Result};
use crate::record::normalize_person_name;

impl Index {
    /// Insert the rows of a new instance in one transaction. When an
    /// instance with the same SOP Instance UID exists, nothing changes and
    /// the existing one is returned.
    pub async fn insert_instance(&self, new: &NewInstance<'_>) -> Result<Insert> {
        write_tx!(self, |conn| {
            // A stored UID makes the instance row's insert do nothing; only
            // then is the existing row read (and the transaction rolled back).
            match insert_rows(conn, new).await? {
                true => Ok(Tx::Commit(Insert::Inserted)),
                false => {
                    let existing = select_instance(conn, new)
                        .await?
                        .ok_or_else(|| Error::Internal("instance vanished during insert".into()))?;
                    Ok(Tx::Rollback(Insert::Exists(Box::new(existing))))
                }
            }
        })
    }

    /// Insert many instances in one transaction, through the same statements
    /// as [`Index::insert_instance`]; those already present are skipped.
    /// Returns how many were inserted. For bulk loaders (building a
    /// million-instance index for the scale benchmark): one commit per batch
    /// instead of one per instance.
    pub async fn insert_batch(&self, batch: &[NewInstance<'_>]) -> Result<u64> {
        write_tx!(self, |conn| {
            let now = now_millis();
            // Parents are looked up once per series, and counters added up
            // and written once per study and series.
            let mut parents: HashMap<(&str, &str), (i64, i64)> = HashMap::new();
            let mut studies: BTreeMap<i64, Counters> = BTreeMap::new();
            let mut series_counts: BTreeMap<i64, i64> = BTreeMap::new();
            let mut inserted = 0;
            for new in batch {
                let uid = (
                    new.tenant.as_str(),
                    new.record.series.series_instance_uid.as_str(),
                );
                let (study, series) = match parents.get(&uid) {
                    Some(ids) => *ids,
                    None => {
                        let (study, series, new_series) = upsert_parents(conn, new, now).await?;
                        studies.entry(study).or_default().new_series += i64::from(new_series);
                        parents.insert(uid, (study, series));
                        (study, series)
                    }
                };
                if insert_instance_row(conn, series, new, now).await? {
                    let c = studies.entry(study).or_default();
                    c.instances += 1;
                    c.size += new.blob.original_size as i64;
                    *series_counts.entry(series).or_default() += 1;
                    inserted += 1;
                }
            }
            for (study, c) in studies {
                bump_study(conn, study, c, now).await?;
            }
            for (series, n) in series_counts {
                bump_series(conn, series, n).await?;
            }
            Ok(Tx::Commit(inserted))
        })
    }

    /// Replace the instance with this SOP Instance UID by `new`, in one
    /// transaction. Returns the blob key of the replaced instance.
    pub async fn replace_instance(&self, new: &NewInstance<'_>) -> Result<Option<String>> {
        write_tx!(self, |conn| {
            let old = delete_instance_rows(
                conn,
                new.tenant.as_str(),
                new.record.instance.sop_instance_uid.as_str(),
            )
            .await?;
            if !insert_rows(conn, new).await? {
                return Err(Error::Internal("instance reappeared during replace".into()));
            }
            Ok(Tx::Commit(old))
        })
    }
}

/// The stored instance `new` collides with.
async fn select_instance(
    conn: &mut AnyConnection,
    new: &NewInstance<'_>,
) -> Result<Option<StoredInstance>> {
    let sql = format!(
        "SELECT {INSTANCE_COLUMNS} FROM {INSTANCE_JOIN} \
         WHERE i.sop_instance_uid = $1 AND i.tenant_id = $2"
    );
    let row = sqlx::query(&sql)
        .bind(new.record.instance.sop_instance_uid.as_str())
        .bind(new.tenant.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| stored_instance(&r)).transpose()
}

/// `INSERT … ON CONFLICT DO NOTHING RETURNING id`, else the existing id.
/// Returns (id, inserted).
async fn upsert_id<'q>(
    conn: &mut AnyConnection,
    insert: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    select: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
) -> Result<(i64, bool)> {
    if let Some(row) = insert.fetch_optional(&mut *conn).await? {
        return Ok((row.try_get(0)?, true));
    }
    let row = select.fetch_one(&mut *conn).await?;
    Ok((row.try_get(0)?, false))
}

/// Insert patient/study/series as needed and the instance row, and bump
/// counters. Returns false (and changes nothing visible) when the instance
/// row exists already.
async fn insert_rows(conn: &mut AnyConnection, new: &NewInstance<'_>) -> Result<bool> {
    let now = now_millis();
    let (study, series, new_series) = upsert_parents(conn, new, now).await?;
    if !insert_instance_row(conn, series, new, now).await? {
        return Ok(false);
    }
    bump_counters(
        conn,
        study,
        series,
        Counters {
            instances: 1,
            new_series: i64::from(new_series),
            size: new.blob.original_size as i64,
        },
        now,
    )
    .await?;
    Ok(true)
}

/// What one or more new instances add to their study's and series' counters.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counters {
    pub instances: i64,
    pub new_series: i64,
    pub size: i64,
}

/// Insert the patient, study and series rows as needed: their ids (study,
/// series) and whether the series row is new.
pub(super) async fn upsert_parents(
    conn: &mut AnyConnection,
    new: &NewInstance<'_>,
    now: i64,
) -> Result<(i64, i64, bool)> {
    let r = new.record;
    let tenant = new.tenant.as_str();
    let (patient, _) = upsert_id(
        conn,
        sqlx::query(
            "INSERT INTO patient (patient_id, issuer_of_patient_id, patient_name, patient_name_norm, \
             patient_birth_date, patient_sex, created_at, tenant_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (patient_id, issuer_of_patient_id, tenant_id) DO NOTHING RETURNING id",
        )
        .bind(&r.patient.patient_id)
        .bind(&r.patient.issuer_of_patient_id)
        .bind(&r.patient.patient_name)
        .bind(normalize_person_name(&r.patient.patient_name))
        .bind(&r.patient.patient_birth_date)
        .bind(&r.patient.patient_sex)
        .bind(now)
        .bind(tenant),
        sqlx::query(
            "SELECT id FROM patient WHERE patient_id = $1 AND issuer_of_patient_id = $2 AND tenant_id = $3",
        )
        .bind(&r.patient.patient_id)
        .bind(&r.patient.issuer_of_patient_id)
        .bind(tenant),
    )
    .await?;
    let s = &r.study;
    let (study, _) = upsert_id(
        conn,
        sqlx::query(
            "INSERT INTO study (patient_ref, study_instance_uid, study_date, study_time, accession_number, \
             referring_physician_name, referring_physician_name_norm, study_description, study_id, \
             institution_name, created_at, updated_at, tenant_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (study_instance_uid, tenant_id) DO NOTHING RETURNING id",
        )
        .bind(patient)
        .bind(s.study_instance_uid.as_str())
        .bind(&s.study_date)
        .bind(&s.study_time)
        .bind(&s.accession_number)
        .bind(&s.referring_physician_name)
        .bind(normalize_person_name(&s.referring_physician_name))
        .bind(&s.study_description)
        .bind(&s.study_id)
        .bind(&s.institution_name)
        .bind(now)
        .bind(now)
        .bind(tenant),
        sqlx::query("SELECT id FROM study WHERE study_instance_uid = $1 AND tenant_id = $2")
            .bind(s.study_instance_uid.as_str())
            .bind(tenant),
    )
    .await?;
    let se = &r.series;
    let (series, new_series) = upsert_id(
        conn,
        sqlx::query(
            "INSERT INTO series (study_ref, series_instance_uid, modality, series_number, series_description, \
             body_part_examined, series_date, series_time, station_name, created_at, tenant_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (series_instance_uid, tenant_id) DO NOTHING RETURNING id",
        )
        .bind(study)
        .bind(se.series_instance_uid.as_str())
        .bind(&se.modality)
        .bind(se.series_number.map(i64::from))
        .bind(&se.series_description)
        .bind(&se.body_part_examined)
        .bind(&se.series_date)
        .bind(&se.series_time)
        .bind(&se.station_name)
        .bind(now)
        .bind(tenant),
        sqlx::query("SELECT id FROM series WHERE series_instance_uid = $1 AND tenant_id = $2")
            .bind(se.series_instance_uid.as_str())
            .bind(tenant),
    )
    .await?;
    Ok((study, series, new_series))
}

/// Insert the instance row; false when one with its SOP Instance UID exists
/// in its tenant.
pub(super) async fn insert_instance_row(
    conn: &mut AnyConnection,
    series: i64,
    new: &NewInstance<'_>,
    now: i64,
) -> Result<bool> {
    let r = new.record;
    let i = &r.instance;
    let inserted = sqlx::query(
        "INSERT INTO instance (series_ref, sop_instance_uid, sop_class_uid, instance_number, number_of_frames, \
         rows, columns, transfer_syntax_uid, content_date, content_time, blob_key, compression, original_size, \
         stored_size, sha256, chunk_table, frames, frames_encapsulated, dicom_json, created_at, tenant_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) \
         ON CONFLICT (sop_instance_uid, tenant_id) DO NOTHING RETURNING id",
    )
    .bind(series)
    .bind(i.sop_instance_uid.as_str())
    .bind(i.sop_class_uid.as_str())
    .bind(i.instance_number.map(i64::from))
    .bind(i64::from(i.number_of_frames))
    .bind(i.rows.map(i64::from))
    .bind(i.columns.map(i64::from))
    .bind(&i.transfer_syntax_uid)
    .bind(&i.content_date)
    .bind(&i.content_time)
    .bind(&new.blob.key)
    .bind(new.blob.compression.as_str())
    .bind(new.blob.original_size as i64)
    .bind(new.blob.stored_size as i64)
    .bind(new.sha256)
    .bind(new.blob.chunk_table.clone())
    .bind(encode_frames(new.frames))
    .bind(i64::from(new.frames_encapsulated))
    .bind(&r.dicom_json)
    .bind(now)
    .bind(new.tenant.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    if let (Some(_), Some(payload)) = (&inserted, new.journal) {
        sqlx::query(
            "INSERT INTO routing_arrival (tenant_id, sop_instance_uid, payload, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, sop_instance_uid) \
             DO UPDATE SET payload = excluded.payload, created_at = excluded.created_at",
        )
        .bind(new.tenant.as_str())
        .bind(i.sop_instance_uid.as_str())
        .bind(payload)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(inserted.is_some())
}

/// Add `c` to a study's and a series' counters. Lock order: study, then
/// series (deletes take the same order).
async fn bump_counters(
    conn: &mut AnyConnection,
    study: i64,
    series: i64,
    c: Counters,
    now: i64,
) -> Result<()> {
    bump_study(conn, study, c, now).await?;
    bump_series(conn, series, c.instances).await
}

pub(super) async fn bump_study(
    conn: &mut AnyConnection,
    study: i64,
    c: Counters,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE study SET number_of_study_related_instances = number_of_study_related_instances + $1, \
         number_of_study_related_series = number_of_study_related_series + $2, \
         study_size = study_size + $3, updated_at = $4 WHERE id = $5",
    )
    .bind(c.instances)
    .bind(c.new_series)
    .bind(c.size)
    .bind(now)
    .bind(study)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn bump_series(
    conn: &mut AnyConnection,
    series: i64,
    instances: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE series SET number_of_series_related_instances = number_of_series_related_instances + $1 WHERE id = $2",
    )
    .bind(instances)
    .bind(series)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
