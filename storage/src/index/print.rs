//! Printed film sheets (the service's `print`): where each sheet was filed
//! and how its study was found, and what a station stored last (the study
//! a print that names none belongs to).

use sqlx::Row;

use super::rows::now_millis;
use super::Index;
use crate::error::Result;
use crate::tenant::TenantId;

/// A printed sheet as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintSheet {
    /// Its id.
    pub id: i64,
    /// Whose.
    pub tenant: TenantId,
    /// The Secondary Capture of the sheet.
    pub sop_instance_uid: String,
    /// The encapsulated PDF of the sheet; empty: none.
    pub pdf_sop_instance_uid: String,
    /// The study it was filed into.
    pub study_instance_uid: String,
    /// The patient, when known.
    pub patient_id: String,
    /// The station (calling AE title) that printed it.
    pub calling_ae_title: String,
    /// How the study was found: `reference` (an image the print named),
    /// `attributes` (patient and study attributes it sent), `station` (what
    /// the station stored last), `none` (a new study, to reconcile).
    pub matched_by: String,
    /// Image Display Format, e.g. `STANDARD\3,4`.
    pub film_format: String,
    /// Images on the sheet.
    pub images: i64,
    /// Unix ms.
    pub printed_at: i64,
}

const COLUMNS: &str = "id, tenant_id, sop_instance_uid, pdf_sop_instance_uid, study_instance_uid, \
                       patient_id, calling_ae_title, matched_by, film_format, images, printed_at";

fn sheet_of(r: &sqlx::any::AnyRow) -> Result<PrintSheet> {
    Ok(PrintSheet {
        id: r.try_get(0)?,
        tenant: TenantId::parse(&r.try_get::<String, _>(1)?)?,
        sop_instance_uid: r.try_get(2)?,
        pdf_sop_instance_uid: r.try_get(3)?,
        study_instance_uid: r.try_get(4)?,
        patient_id: r.try_get(5)?,
        calling_ae_title: r.try_get(6)?,
        matched_by: r.try_get(7)?,
        film_format: r.try_get(8)?,
        images: r.try_get(9)?,
        printed_at: r.try_get(10)?,
    })
}

impl Index {
    /// Record a printed sheet (`id` and `printed_at` are set here); its id.
    pub async fn insert_print_sheet(&self, sheet: &PrintSheet) -> Result<i64> {
        let (_guard, mut tx) = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO print_sheet (tenant_id, sop_instance_uid, pdf_sop_instance_uid, \
             study_instance_uid, patient_id, calling_ae_title, matched_by, film_format, images, \
             printed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(sheet.tenant.as_str())
        .bind(&sheet.sop_instance_uid)
        .bind(&sheet.pdf_sop_instance_uid)
        .bind(&sheet.study_instance_uid)
        .bind(&sheet.patient_id)
        .bind(&sheet.calling_ae_title)
        .bind(&sheet.matched_by)
        .bind(&sheet.film_format)
        .bind(sheet.images)
        .bind(now_millis())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The sheets of `tenant` (`None`: every tenant), of one study or all,
    /// only those waiting for reconciliation if `unmatched`, newest first.
    pub async fn print_sheets(
        &self,
        tenant: Option<&TenantId>,
        study_instance_uid: Option<&str>,
        unmatched: bool,
        limit: i64,
    ) -> Result<Vec<PrintSheet>> {
        let mut sql = format!("SELECT {COLUMNS} FROM print_sheet WHERE 1 = 1");
        if unmatched {
            sql.push_str(" AND matched_by = 'none'");
        }
        let rows = self
            .newest_of(sql, tenant, study_instance_uid, limit)
            .await?;
        rows.iter().map(sheet_of).collect()
    }

    /// The studies `calling_ae_title` stored into since `since` (Unix
    /// ms), most recent first, each with its patient: (study, patient),
    /// from the audit trail's successful C-STOREs (at most 100).
    pub async fn station_recent_studies(
        &self,
        tenant: &TenantId,
        calling_ae_title: &str,
        since: i64,
    ) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT study_instance_uid, patient_id, MAX(at) AS last FROM audit_event \
             WHERE actor = $1 AND action = 'c-store' AND outcome = 'success' \
             AND tenant_id = $2 AND at >= $3 AND study_instance_uid <> '' \
             GROUP BY study_instance_uid, patient_id ORDER BY last DESC LIMIT 100",
        )
        .bind(calling_ae_title)
        .bind(tenant.as_str())
        .bind(since)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// The rows of `select` (`… WHERE …`, without parameters) of one
    /// tenant and one study when given, newest (highest id) first.
    pub(super) async fn newest_of(
        &self,
        mut select: String,
        tenant: Option<&TenantId>,
        study_instance_uid: Option<&str>,
        limit: i64,
    ) -> Result<Vec<sqlx::any::AnyRow>> {
        let mut n = 0;
        if tenant.is_some() {
            n += 1;
            select.push_str(&format!(" AND tenant_id = ${n}"));
        }
        if study_instance_uid.is_some() {
            n += 1;
            select.push_str(&format!(" AND study_instance_uid = ${n}"));
        }
        select.push_str(&format!(" ORDER BY id DESC LIMIT ${}", n + 1));
        let mut q = sqlx::query(&select);
        if let Some(t) = tenant {
            q = q.bind(t.as_str());
        }
        if let Some(s) = study_instance_uid {
            q = q.bind(s);
        }
        Ok(q.bind(limit).fetch_all(self.pool()).await?)
    }
}
