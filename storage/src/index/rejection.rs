//! Rejected instances (IOCM): the service's `reject` removes an instance's
//! index rows and records here what brings it back (its object's key).

use sqlx::{AnyConnection, Row};

use super::connection::{write_tx, Tx};
use super::delete::delete_instance_rows;
use super::rows::now_millis;
use super::Index;
use crate::error::Result;
use crate::tenant::TenantId;

/// A rejected instance.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejected {
    /// Whose.
    pub tenant: String,
    /// The instance.
    pub sop_instance_uid: String,
    /// Its study.
    pub study_instance_uid: String,
    /// Its patient.
    pub patient_id: String,
    /// Its object, kept.
    #[serde(skip)]
    pub blob_key: String,
    /// The rejection title's code (CID 7011), e.g. `113001`.
    pub reason_code: String,
    /// Its meaning.
    pub reason: String,
    /// The Key Object Selection that rejected it (empty: by hand).
    pub by_sop_instance_uid: String,
    /// Who.
    pub rejected_by: String,
    /// Unix ms.
    pub rejected_at: i64,
}

const COLUMNS: &str = "tenant_id, sop_instance_uid, study_instance_uid, patient_id, blob_key, \
                       reason_code, reason, by_sop_instance_uid, rejected_by, rejected_at";

fn rejected_of(r: &sqlx::any::AnyRow) -> Result<Rejected> {
    Ok(Rejected {
        tenant: r.try_get(0)?,
        sop_instance_uid: r.try_get(1)?,
        study_instance_uid: r.try_get(2)?,
        patient_id: r.try_get(3)?,
        blob_key: r.try_get(4)?,
        reason_code: r.try_get(5)?,
        reason: r.try_get(6)?,
        by_sop_instance_uid: r.try_get(7)?,
        rejected_by: r.try_get(8)?,
        rejected_at: r.try_get(9)?,
    })
}

/// Record `r` (`rejected_at` set here); a rejection of the instance
/// recorded before takes the new record. With `keep`, one recorded before
/// stays as it is.
async fn upsert(conn: &mut AnyConnection, r: &Rejected, keep: bool) -> Result<()> {
    let conflict = if keep {
        "DO NOTHING"
    } else {
        "DO UPDATE SET \
         study_instance_uid = excluded.study_instance_uid, patient_id = excluded.patient_id, \
         blob_key = excluded.blob_key, reason_code = excluded.reason_code, \
         reason = excluded.reason, by_sop_instance_uid = excluded.by_sop_instance_uid, \
         rejected_by = excluded.rejected_by, rejected_at = excluded.rejected_at"
    };
    sqlx::query(&format!(
        "INSERT INTO rejection ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (tenant_id, sop_instance_uid) {conflict}"
    ))
    .bind(&r.tenant)
    .bind(&r.sop_instance_uid)
    .bind(&r.study_instance_uid)
    .bind(&r.patient_id)
    .bind(&r.blob_key)
    .bind(&r.reason_code)
    .bind(&r.reason)
    .bind(&r.by_sop_instance_uid)
    .bind(&r.rejected_by)
    .bind(now_millis())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Index {
    /// Hide an instance, in one transaction: its index rows (and a routing
    /// arrival of it) go, and its rejection is recorded as `r` says, with
    /// its object's key. Returns the keys of other objects of it that an
    /// earlier rejection kept (sent again meanwhile: they go now), or
    /// `None` when the instance is not here.
    pub async fn reject_instance(&self, r: &Rejected) -> Result<Option<Vec<String>>> {
        write_tx!(self, |conn| {
            let earlier: Vec<String> = sqlx::query_scalar(
                "SELECT blob_key FROM rejection WHERE tenant_id = $1 AND sop_instance_uid = $2",
            )
            .bind(&r.tenant)
            .bind(&r.sop_instance_uid)
            .fetch_all(&mut *conn)
            .await?;
            // The study's corrections stay for a restore, even when its
            // last instance goes now.
            let patch: Option<(String, i64)> = sqlx::query_as(
                "SELECT patient_json, updated_at FROM patient_patch WHERE tenant_id = $1 \
                 AND study_instance_uid = $2",
            )
            .bind(&r.tenant)
            .bind(&r.study_instance_uid)
            .fetch_optional(&mut *conn)
            .await?;
            let Some(key) = delete_instance_rows(conn, &r.tenant, &r.sop_instance_uid).await?
            else {
                return Ok(Tx::Rollback(None));
            };
            if let Some((json, at)) = patch {
                sqlx::query(
                    "INSERT INTO patient_patch (tenant_id, study_instance_uid, patient_json, \
                     updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (tenant_id, study_instance_uid) DO NOTHING",
                )
                .bind(&r.tenant)
                .bind(&r.study_instance_uid)
                .bind(json)
                .bind(at)
                .execute(&mut *conn)
                .await?;
            }
            sqlx::query(
                "DELETE FROM routing_arrival WHERE tenant_id = $1 AND sop_instance_uid = $2",
            )
            .bind(&r.tenant)
            .bind(&r.sop_instance_uid)
            .execute(&mut *conn)
            .await?;
            let mut kept = r.clone();
            kept.blob_key = key.clone();
            upsert(conn, &kept, false).await?;
            Ok(Tx::Commit(Some(
                earlier
                    .into_iter()
                    .filter(|k| *k != key && !k.is_empty())
                    .collect(),
            )))
        })
    }

    /// Record that an instance not here yet is rejected (a rejection note
    /// that came first): it is hidden when it arrives. Its record has no
    /// object (`blob_key` empty). One recorded before stays.
    pub async fn reject_in_advance(&self, r: &Rejected) -> Result<()> {
        let mut pending = r.clone();
        pending.blob_key = String::new();
        write_tx!(self, |conn| {
            upsert(conn, &pending, true).await?;
            Ok(Tx::Commit(()))
        })
    }

    /// Record a rejection (`rejected_at` set here). An instance rejected
    /// again (sent again meanwhile) takes the new record: its newest object.
    pub async fn insert_rejection(&self, r: &Rejected) -> Result<()> {
        write_tx!(self, |conn| {
            upsert(conn, r, false).await?;
            Ok(Tx::Commit(()))
        })
    }

    /// Rejected instances of `tenant` (`None`: all), of one study or all,
    /// newest first.
    pub async fn rejected(
        &self,
        tenant: Option<&TenantId>,
        study_instance_uid: Option<&str>,
    ) -> Result<Vec<Rejected>> {
        let mut sql = format!("SELECT {COLUMNS} FROM rejection WHERE 1 = 1");
        let mut n = 0;
        if tenant.is_some() {
            n += 1;
            sql.push_str(&format!(" AND tenant_id = ${n}"));
        }
        if study_instance_uid.is_some() {
            n += 1;
            sql.push_str(&format!(" AND study_instance_uid = ${n}"));
        }
        sql.push_str(" ORDER BY rejected_at DESC LIMIT 10000");
        let mut q = sqlx::query(&sql);
        if let Some(t) = tenant {
            q = q.bind(t.as_str());
        }
        if let Some(s) = study_instance_uid {
            q = q.bind(s);
        }
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter().map(rejected_of).collect()
    }

    /// The rejection of `sop_instance_uid` in `tenant` (`None`: in any
    /// tenant: one per tenant that rejected such a UID).
    pub async fn rejection_of(
        &self,
        tenant: Option<&TenantId>,
        sop_instance_uid: &str,
    ) -> Result<Vec<Rejected>> {
        let mut sql = format!("SELECT {COLUMNS} FROM rejection WHERE sop_instance_uid = $1");
        if tenant.is_some() {
            sql.push_str(" AND tenant_id = $2");
        }
        let mut q = sqlx::query(&sql).bind(sop_instance_uid);
        if let Some(t) = tenant {
            q = q.bind(t.as_str());
        }
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter().map(rejected_of).collect()
    }

    /// Forget a rejection (restored or purged); whether there was one.
    pub async fn remove_rejection(
        &self,
        tenant: &TenantId,
        sop_instance_uid: &str,
    ) -> Result<bool> {
        let (_guard, mut tx) = self.begin_write().await?;
        let n = sqlx::query("DELETE FROM rejection WHERE tenant_id = $1 AND sop_instance_uid = $2")
            .bind(tenant.as_str())
            .bind(sop_instance_uid)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Forget the corrections of a study that has neither instances nor
    /// rejected instances left (its last rejected one purged).
    pub async fn drop_unused_patch(&self, tenant: &TenantId, study: &str) -> Result<()> {
        write_tx!(self, |conn| {
            sqlx::query(
                "DELETE FROM patient_patch WHERE tenant_id = $1 AND study_instance_uid = $2 \
                 AND NOT EXISTS (SELECT 1 FROM study WHERE tenant_id = $1 \
                 AND study_instance_uid = $2) AND NOT EXISTS (SELECT 1 FROM rejection \
                 WHERE tenant_id = $1 AND study_instance_uid = $2)",
            )
            .bind(tenant.as_str())
            .bind(study)
            .execute(&mut *conn)
            .await?;
            Ok(Tx::Commit(()))
        })
    }

    /// The object keys of every rejected instance (kept on purpose: not
    /// orphans for `check`).
    pub async fn rejected_keys(&self) -> Result<std::collections::HashSet<String>> {
        let rows = sqlx::query("SELECT blob_key FROM rejection")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>(0)?))
            .collect()
    }
}
