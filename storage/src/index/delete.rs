//! Deleting instances, series and studies, with their counters; rows left
//! empty (a study without series, a patient without studies) go with them.

use sqlx::{AnyConnection, Row};

use super::connection::{write_tx, Index, Tx};
use super::rows::{now_millis, INSTANCE_JOIN};
use crate::error::{Error, Result};
use crate::tenant::TenantId;

impl Index {
    /// Delete an instance's rows; returns its blob key.
    pub async fn delete_instance(
        &self,
        tenant: &TenantId,
        sop_instance_uid: &str,
    ) -> Result<String> {
        write_tx!(self, |conn| {
            match delete_instance_rows(conn, tenant.as_str(), sop_instance_uid).await? {
                Some(key) => Ok(Tx::Commit(key)),
                None => Err(Error::NotFound {
                    level: "instance",
                    uid: sop_instance_uid.to_owned(),
                }),
            }
        })
    }

    /// Delete a series' rows; returns the blob keys of its instances.
    pub async fn delete_series(
        &self,
        tenant: &TenantId,
        series_instance_uid: &str,
    ) -> Result<Vec<String>> {
        write_tx!(self, |conn| {
            let Some(row) = sqlx::query(
                    "SELECT se.id, se.study_ref, st.patient_ref FROM series se JOIN study st ON st.id = se.study_ref \
                     WHERE se.series_instance_uid = $1 AND se.tenant_id = $2",
                )
                .bind(series_instance_uid)
                .bind(tenant.as_str())
                .fetch_optional(&mut *conn)
                .await?
                else {
                    return Err(Error::NotFound {
                        level: "series",
                        uid: series_instance_uid.to_owned(),
                    });
                };
            let (series, study, patient): (i64, i64, i64) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
            // What is deleted is not routed later.
            sqlx::query(
                "DELETE FROM routing_arrival WHERE tenant_id = $1 AND sop_instance_uid IN \
                 (SELECT sop_instance_uid FROM instance WHERE series_ref = $2)",
            )
            .bind(tenant.as_str())
            .bind(series)
            .execute(&mut *conn)
            .await?;
            let rows = sqlx::query(
                "DELETE FROM instance WHERE series_ref = $1 RETURNING blob_key, original_size",
            )
            .bind(series)
            .fetch_all(&mut *conn)
            .await?;
            let size: i64 = rows
                .iter()
                .map(|r| r.try_get::<i64, _>(1))
                .sum::<std::result::Result<_, _>>()?;
            let keys = rows
                .iter()
                .map(|r| r.try_get::<String, _>(0))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            sqlx::query("DELETE FROM series WHERE id = $1")
                .bind(series)
                .execute(&mut *conn)
                .await?;
            sqlx::query(
                    "UPDATE study SET number_of_study_related_series = number_of_study_related_series - 1, \
                     number_of_study_related_instances = number_of_study_related_instances - $1, \
                     study_size = study_size - $2, updated_at = $3 WHERE id = $4",
                )
                .bind(keys.len() as i64)
                .bind(size)
                .bind(now_millis())
                .bind(study)
                .execute(&mut *conn)
                .await?;
            remove_if_empty(conn, study, patient).await?;
            Ok(Tx::Commit(keys))
        })
    }

    /// Delete a study's rows; returns the blob keys of its instances.
    pub async fn delete_study(
        &self,
        tenant: &TenantId,
        study_instance_uid: &str,
    ) -> Result<Vec<String>> {
        write_tx!(self, |conn| {
            let Some(row) = sqlx::query(
                "SELECT id, patient_ref FROM study WHERE study_instance_uid = $1 AND tenant_id = $2",
            )
            .bind(study_instance_uid)
            .bind(tenant.as_str())
            .fetch_optional(&mut *conn)
            .await?
            else {
                return Err(Error::NotFound {
                    level: "study",
                    uid: study_instance_uid.to_owned(),
                });
            };
            let (study, patient): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
            // What is deleted is not routed later.
            sqlx::query(
                "DELETE FROM routing_arrival WHERE tenant_id = $1 AND sop_instance_uid IN \
                 (SELECT i.sop_instance_uid FROM instance i JOIN series se ON se.id = i.series_ref \
                 WHERE se.study_ref = $2)",
            )
            .bind(tenant.as_str())
            .bind(study)
            .execute(&mut *conn)
            .await?;
            let keys = sqlx::query(
                    "DELETE FROM instance WHERE series_ref IN (SELECT id FROM series WHERE study_ref = $1) \
                     RETURNING blob_key",
                )
                .bind(study)
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>(0))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            sqlx::query("DELETE FROM series WHERE study_ref = $1")
                .bind(study)
                .execute(&mut *conn)
                .await?;
            sqlx::query("DELETE FROM study WHERE id = $1")
                .bind(study)
                .execute(&mut *conn)
                .await?;
            sqlx::query(
                "DELETE FROM patient_patch WHERE tenant_id = $1 AND study_instance_uid = $2",
            )
            .bind(tenant.as_str())
            .bind(study_instance_uid)
            .execute(&mut *conn)
            .await?;
            remove_if_empty(conn, study, patient).await?;
            Ok(Tx::Commit(keys))
        })
    }
}

/// Delete one instance row and fix counters; returns its blob key.
pub(crate) async fn delete_instance_rows(
    conn: &mut AnyConnection,
    tenant: &str,
    sop: &str,
) -> Result<Option<String>> {
    let Some(row) = sqlx::query(&format!(
        "SELECT i.id, i.blob_key, i.original_size, i.series_ref, se.study_ref, st.patient_ref \
         FROM {INSTANCE_JOIN} WHERE i.sop_instance_uid = $1 AND i.tenant_id = $2",
    ))
    .bind(sop)
    .bind(tenant)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let id: i64 = row.try_get(0)?;
    let key: String = row.try_get(1)?;
    let size: i64 = row.try_get(2)?;
    // What is deleted is not routed later (an instance stored again
    // journals its arrival anew).
    sqlx::query("DELETE FROM routing_arrival WHERE tenant_id = $1 AND sop_instance_uid = $2")
        .bind(tenant)
        .bind(sop)
        .execute(&mut *conn)
        .await?;
    let (series, study, patient): (i64, i64, i64) =
        (row.try_get(3)?, row.try_get(4)?, row.try_get(5)?);
    sqlx::query("DELETE FROM instance WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE study SET number_of_study_related_instances = number_of_study_related_instances - 1, \
         study_size = study_size - $1, updated_at = $2 WHERE id = $3",
    )
    .bind(size)
    .bind(now_millis())
    .bind(study)
    .execute(&mut *conn)
    .await?;
    let left: i64 = sqlx::query(
        "UPDATE series SET number_of_series_related_instances = number_of_series_related_instances - 1 \
         WHERE id = $1 RETURNING number_of_series_related_instances",
    )
    .bind(series)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?;
    if left <= 0 {
        sqlx::query("DELETE FROM series WHERE id = $1")
            .bind(series)
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "UPDATE study SET number_of_study_related_series = number_of_study_related_series - 1 WHERE id = $1",
        )
        .bind(study)
        .execute(&mut *conn)
        .await?;
    }
    remove_if_empty(conn, study, patient).await?;
    Ok(Some(key))
}

/// Remove a study without series, then a patient without studies.
async fn remove_if_empty(conn: &mut AnyConnection, study: i64, patient: i64) -> Result<()> {
    // Its patient patch goes with it (a study stored again under the UID
    // starts as received).
    sqlx::query(
        "DELETE FROM patient_patch WHERE EXISTS (SELECT 1 FROM study s WHERE s.id = $1 \
         AND s.tenant_id = patient_patch.tenant_id \
         AND s.study_instance_uid = patient_patch.study_instance_uid \
         AND NOT EXISTS (SELECT 1 FROM series WHERE study_ref = $1))",
    )
    .bind(study)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM study WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM series WHERE study_ref = $1)")
        .bind(study)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM patient WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM study WHERE patient_ref = $1)")
        .bind(patient)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
