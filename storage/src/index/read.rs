//! Reading the archive's rows: instances by UID, studies and series whole,
//! stored metadata, aggregates, and the query model's results.
//!
//! Every read of a study, series or instance names the tenant it reads in:
//! the same UID may exist in two tenants. Searches take a [`Query`] whose
//! `tenant` is `None` only for the platform (every tenant); counts take a
//! [`TenantScope`].

use sqlx::Row;

use super::connection::Index;
use super::rows::{
    bind_all, stored_instance, Counts, InstanceJson, StoredInstance, StudySummary,
    INSTANCE_COLUMNS, INSTANCE_JOIN,
};
use crate::backend::Backend;
use crate::error::Result;
use crate::query::{Match, Query};
use crate::tenant::{TenantId, TenantScope};

impl Index {
    /// The stored instance with this SOP Instance UID in `tenant`.
    pub async fn instance(
        &self,
        tenant: &TenantId,
        sop_instance_uid: &str,
    ) -> Result<Option<StoredInstance>> {
        let sql = format!(
            "SELECT {INSTANCE_COLUMNS} FROM {INSTANCE_JOIN} \
             WHERE i.sop_instance_uid = $1 AND i.tenant_id = $2"
        );
        let row = sqlx::query(&sql)
            .bind(sop_instance_uid)
            .bind(tenant.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| stored_instance(&r)).transpose()
    }

    /// A page of stored instances of every tenant in row order, after row
    /// id `after` (`filmless check`).
    pub async fn instances_after(&self, after: i64, limit: i64) -> Result<Vec<StoredInstance>> {
        let sql = format!(
            "SELECT {INSTANCE_COLUMNS} FROM {INSTANCE_JOIN} WHERE i.id > $1 ORDER BY i.id LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(after)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(stored_instance).collect()
    }

    /// The instances of a series, by instance number.
    pub async fn series_instances(
        &self,
        tenant: &TenantId,
        series_instance_uid: &str,
    ) -> Result<Vec<StoredInstance>> {
        let sql = format!(
            "SELECT {INSTANCE_COLUMNS} FROM {INSTANCE_JOIN} \
             WHERE se.series_instance_uid = $1 AND se.tenant_id = $2 \
             ORDER BY i.instance_number, i.id"
        );
        let rows = sqlx::query(&sql)
            .bind(series_instance_uid)
            .bind(tenant.as_str())
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(stored_instance).collect()
    }

    /// The instances of a study.
    pub async fn study_instances(
        &self,
        tenant: &TenantId,
        study_instance_uid: &str,
    ) -> Result<Vec<StoredInstance>> {
        let sql = format!(
            "SELECT {INSTANCE_COLUMNS} FROM {INSTANCE_JOIN} \
             WHERE st.study_instance_uid = $1 AND st.tenant_id = $2 \
             ORDER BY se.series_number, se.id, i.instance_number, i.id"
        );
        let rows = sqlx::query(&sql)
            .bind(study_instance_uid)
            .bind(tenant.as_str())
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(stored_instance).collect()
    }

    /// The tenants that hold a study with this UID, oldest first.
    pub async fn tenants_of_study(&self, study_instance_uid: &str) -> Result<Vec<TenantId>> {
        let rows =
            sqlx::query("SELECT tenant_id FROM study WHERE study_instance_uid = $1 ORDER BY id")
                .bind(study_instance_uid)
                .fetch_all(self.pool())
                .await?;
        rows.iter()
            .map(|r| TenantId::parse(&r.try_get::<String, _>(0)?))
            .collect()
    }

    /// The stored DICOM JSON of an instance.
    pub async fn instance_json(
        &self,
        tenant: &TenantId,
        sop_instance_uid: &str,
    ) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT dicom_json FROM instance WHERE sop_instance_uid = $1 AND tenant_id = $2",
        )
        .bind(sop_instance_uid)
        .bind(tenant.as_str())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| r.try_get::<String, _>(0)).transpose()?)
    }

    /// The stored DICOM JSON of every instance of a series (or of a whole
    /// study when `series_instance_uid` is `None`), in instance order.
    pub async fn metadata(
        &self,
        tenant: &TenantId,
        study_instance_uid: &str,
        series_instance_uid: Option<&str>,
    ) -> Result<Vec<InstanceJson>> {
        let select = format!(
            "SELECT se.series_instance_uid, i.sop_instance_uid, i.dicom_json FROM {INSTANCE_JOIN} \
             WHERE st.study_instance_uid = $1 AND st.tenant_id = $2"
        );
        let rows = match series_instance_uid {
            Some(series) => {
                sqlx::query(&format!(
                    "{select} AND se.series_instance_uid = $3 ORDER BY i.instance_number, i.id"
                ))
                .bind(study_instance_uid)
                .bind(tenant.as_str())
                .bind(series)
                .fetch_all(self.pool())
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "{select} ORDER BY se.series_number, se.id, i.instance_number, i.id"
                ))
                .bind(study_instance_uid)
                .bind(tenant.as_str())
                .fetch_all(self.pool())
                .await?
            }
        };
        rows.iter()
            .map(|r| {
                Ok(InstanceJson {
                    series_instance_uid: r.try_get(0)?,
                    sop_instance_uid: r.try_get(1)?,
                    dicom_json: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// Aggregates of a study.
    pub async fn study_summary(
        &self,
        tenant: &TenantId,
        study_instance_uid: &str,
    ) -> Result<Option<StudySummary>> {
        let row = sqlx::query(
            "SELECT id, number_of_study_related_series, number_of_study_related_instances, study_size \
             FROM study WHERE study_instance_uid = $1 AND tenant_id = $2",
        )
        .bind(study_instance_uid)
        .bind(tenant.as_str())
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id: i64 = row.try_get(0)?;
        let modalities = sqlx::query(
            "SELECT DISTINCT modality FROM series WHERE study_ref = $1 AND modality <> '' ORDER BY modality",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<std::result::Result<_, _>>()?;
        Ok(Some(StudySummary {
            series: row.try_get(1)?,
            instances: row.try_get(2)?,
            size: row.try_get(3)?,
            modalities,
        }))
    }

    /// Number of series-related instances of a series.
    pub async fn series_instance_count(
        &self,
        tenant: &TenantId,
        series_instance_uid: &str,
    ) -> Result<Option<i64>> {
        let row = sqlx::query(
            "SELECT number_of_series_related_instances FROM series \
             WHERE series_instance_uid = $1 AND tenant_id = $2",
        )
        .bind(series_instance_uid)
        .bind(tenant.as_str())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| r.try_get::<i64, _>(0)).transpose()?)
    }

    /// Run a query: one [`Match`] per patient, study, series or instance,
    /// within the query's tenant scope.
    pub async fn query(&self, query: &Query) -> Result<Vec<Match>> {
        let (sql, binds) = query.select_sql(self.backend());
        let rows = bind_all(sqlx::query(&sql), binds)
            .fetch_all(self.pool())
            .await?;
        let returned = query.returned();
        rows.iter()
            .map(|row| {
                let values = returned
                    .iter()
                    .enumerate()
                    .map(|(n, a)| Ok((*a, row.try_get::<Option<String>, _>(n)?)))
                    .collect::<Result<Vec<_>>>()?;
                let tenant = TenantId::parse(&row.try_get::<String, _>(returned.len())?)?;
                Ok(Match { values, tenant })
            })
            .collect()
    }

    /// The instances a query selects, whatever its level (C-MOVE, C-GET).
    pub async fn query_instances(&self, query: &Query) -> Result<Vec<StoredInstance>> {
        let (sql, binds) = query.instances_sql(INSTANCE_COLUMNS, self.backend());
        let rows = bind_all(sqlx::query(&sql), binds)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(stored_instance).collect()
    }

    /// Rows per level, in one tenant or all.
    pub async fn counts(&self, scope: TenantScope<'_>) -> Result<Counts> {
        let sql = match scope {
            TenantScope::All => {
                "SELECT (SELECT COUNT(*) FROM patient), (SELECT COUNT(*) FROM study), \
                 (SELECT COUNT(*) FROM series), (SELECT COUNT(*) FROM instance)"
            }
            TenantScope::One(_) => {
                "SELECT (SELECT COUNT(*) FROM patient WHERE tenant_id = $1), \
                 (SELECT COUNT(*) FROM study WHERE tenant_id = $1), \
                 (SELECT COUNT(*) FROM series WHERE tenant_id = $1), \
                 (SELECT COUNT(*) FROM instance WHERE tenant_id = $1)"
            }
        };
        let mut q = sqlx::query(sql);
        if let TenantScope::One(t) = scope {
            q = q.bind(t.as_str());
        }
        let row = q.fetch_one(self.pool()).await?;
        Ok(Counts {
            patients: row.try_get(0)?,
            studies: row.try_get(1)?,
            series: row.try_get(2)?,
            instances: row.try_get(3)?,
        })
    }

    /// Instances and their original bytes stored, in every tenant (from
    /// the studies' aggregates, cheap enough for every metrics scrape).
    pub async fn stored_totals(&self) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(number_of_study_related_instances), 0) AS BIGINT), \
             CAST(COALESCE(SUM(study_size), 0) AS BIGINT) FROM study",
        )
        .fetch_one(self.pool())
        .await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    /// Routing jobs by state, in every tenant.
    pub async fn job_states(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT state, COUNT(*) FROM job GROUP BY state")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// What was stored each day (Unix day number of arrival) by modality:
    /// (day, modality, instances, original bytes, stored bytes), of one
    /// tenant or all. Days, not months, so both databases group alike; the
    /// caller makes months.
    pub async fn volume_by_day(
        &self,
        scope: TenantScope<'_>,
    ) -> Result<Vec<(i64, String, i64, i64, i64)>> {
        let filter = match scope {
            TenantScope::All => "",
            TenantScope::One(_) => "WHERE i.tenant_id = $1",
        };
        let sql = format!(
            "SELECT i.created_at / 86400000 AS day, se.modality, COUNT(*), \
             CAST(SUM(i.original_size) AS BIGINT), CAST(SUM(i.stored_size) AS BIGINT) \
             FROM instance i JOIN series se ON se.id = i.series_ref {filter} \
             GROUP BY i.created_at / 86400000, se.modality ORDER BY day, se.modality"
        );
        let mut q = sqlx::query(&sql);
        if let TenantScope::One(t) = scope {
            q = q.bind(t.as_str());
        }
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                    r.try_get(4)?,
                ))
            })
            .collect()
    }

    /// Studies with a Study Date (eight digits) before `date`
    /// (`YYYYMMDD`), or without a well-formed one and stored before
    /// `millis`: (tenant, study, study date, stored at, original bytes,
    /// modalities), of every tenant. Dates compare byte by byte on both
    /// databases (not by PostgreSQL's collation).
    pub async fn studies_before(
        &self,
        date: &str,
        millis: i64,
    ) -> Result<Vec<(TenantId, String, String, i64, i64, Vec<String>)>> {
        let (well_formed, before) = match self.backend() {
            Backend::Postgres => (
                "st.study_date ~ '^[0-9]{8}$'",
                "st.study_date COLLATE \"C\" < $1",
            ),
            Backend::Sqlite => (
                "st.study_date GLOB '[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]'",
                "st.study_date < $1",
            ),
        };
        let sql = format!(
            "SELECT st.tenant_id, st.study_instance_uid, st.study_date, st.created_at, \
             st.study_size, se.modality FROM study st JOIN series se ON se.study_ref = st.id \
             WHERE ({well_formed} AND {before}) \
             OR (NOT ({well_formed}) AND st.created_at < $2) \
             ORDER BY st.id"
        );
        let rows = sqlx::query(&sql)
            .bind(date)
            .bind(millis)
            .fetch_all(self.pool())
            .await?;
        let mut out: Vec<(TenantId, String, String, i64, i64, Vec<String>)> = Vec::new();
        for r in &rows {
            let tenant = TenantId::parse(&r.try_get::<String, _>(0)?)?;
            let study: String = r.try_get(1)?;
            let modality: String = r.try_get(5)?;
            match out.last_mut() {
                Some(last) if last.0 == tenant && last.1 == study => {
                    if !last.5.contains(&modality) {
                        last.5.push(modality);
                    }
                }
                _ => out.push((
                    tenant,
                    study,
                    r.try_get(2)?,
                    r.try_get(3)?,
                    r.try_get(4)?,
                    vec![modality],
                )),
            }
        }
        Ok(out)
    }
}
