//! The audit trail: append-only (the database refuses UPDATE and DELETE
//! on it); what to record and when is the server's business.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::connection::Index;
use crate::error::Result;
use crate::tenant::TenantId;

/// One access to patient data, or a refused login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Unix milliseconds of the first access the row stands for.
    pub at: i64,
    /// User name, OIDC subject or calling AE title.
    pub actor: String,
    /// `user`, `oidc`, `anonymous` or `ae`.
    pub actor_kind: String,
    /// The peer's address.
    pub source: String,
    /// What was done, e.g. `wado-rs`, `qido-rs`, `stow-rs`, `delete`,
    /// `c-store`, `c-find`, `c-move`, `c-get`, `login`.
    pub action: String,
    /// `success` or `failure: reason`.
    pub outcome: String,
    /// Patient ID of the data, when known.
    pub patient_id: String,
    /// Study Instance UID of the data, when known.
    pub study_instance_uid: String,
    /// The request path and query, the SOP Instance UID, the match count…
    pub detail: String,
    /// Accesses this row stands for (identical ones within a second).
    pub count: i64,
    /// The tenant whose data it was (or whose user acted); '' for the
    /// implicit one.
    #[serde(default)]
    pub tenant: String,
}

/// Which audit events to return.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this patient's.
    pub patient_id: Option<String>,
    /// Only this study's.
    pub study_instance_uid: Option<String>,
    /// From this Unix millisecond on.
    pub since: Option<i64>,
    /// Only this actor's.
    pub actor: Option<String>,
    /// At most this many, oldest first (newest first with
    /// `newest_first`).
    pub limit: Option<i64>,
    /// Only this tenant's.
    pub tenant: Option<String>,
    /// The newest events first (a console shows the last ones).
    pub newest_first: bool,
}

impl Index {
    /// Append audit events, in one transaction.
    pub async fn append_audit(&self, events: &[AuditEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let (_guard, mut tx) = self.begin_write().await?;
        for e in events {
            sqlx::query(
                "INSERT INTO audit_event (at, actor, actor_kind, source, action, outcome, patient_id, \
                 study_instance_uid, detail, count, tenant_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(e.at)
            .bind(&e.actor)
            .bind(&e.actor_kind)
            .bind(&e.source)
            .bind(&e.action)
            .bind(&e.outcome)
            .bind(&e.patient_id)
            .bind(&e.study_instance_uid)
            .bind(&e.detail)
            .bind(e.count)
            .bind(&e.tenant)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Audit events matching `filter`, oldest first.
    pub async fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>> {
        let mut sql = String::from(
            "SELECT at, actor, actor_kind, source, action, outcome, patient_id, study_instance_uid, \
             detail, count, tenant_id FROM audit_event WHERE 1 = 1",
        );
        let mut n = 0;
        let mut arg = |sql: &mut String, clause: &str| {
            n += 1;
            sql.push_str(&clause.replace('?', &format!("${n}")));
        };
        if filter.patient_id.is_some() {
            arg(&mut sql, " AND patient_id = ?");
        }
        if filter.study_instance_uid.is_some() {
            arg(&mut sql, " AND study_instance_uid = ?");
        }
        if filter.since.is_some() {
            arg(&mut sql, " AND at >= ?");
        }
        if filter.actor.is_some() {
            arg(&mut sql, " AND actor = ?");
        }
        if filter.tenant.is_some() {
            arg(&mut sql, " AND tenant_id = ?");
        }
        sql.push_str(if filter.newest_first {
            " ORDER BY at DESC, id DESC"
        } else {
            " ORDER BY at, id"
        });
        if filter.limit.is_some() {
            arg(&mut sql, " LIMIT ?");
        }
        let mut q = sqlx::query(&sql);
        if let Some(p) = &filter.patient_id {
            q = q.bind(p);
        }
        if let Some(s) = &filter.study_instance_uid {
            q = q.bind(s);
        }
        if let Some(t) = filter.since {
            q = q.bind(t);
        }
        if let Some(a) = &filter.actor {
            q = q.bind(a);
        }
        if let Some(t) = &filter.tenant {
            q = q.bind(t);
        }
        if let Some(l) = filter.limit {
            q = q.bind(l);
        }
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEvent {
                    at: r.try_get(0)?,
                    actor: r.try_get(1)?,
                    actor_kind: r.try_get(2)?,
                    source: r.try_get(3)?,
                    action: r.try_get(4)?,
                    outcome: r.try_get(5)?,
                    patient_id: r.try_get(6)?,
                    study_instance_uid: r.try_get(7)?,
                    detail: r.try_get(8)?,
                    count: r.try_get(9)?,
                    tenant: r.try_get(10)?,
                })
            })
            .collect()
    }

    /// The Patient ID of each study UID that is indexed in `tenant`.
    pub async fn patients_of_studies(
        &self,
        tenant: &TenantId,
        studies: &[&str],
    ) -> Result<Vec<(String, String)>> {
        let mut out = Vec::with_capacity(studies.len());
        for s in studies {
            let row = sqlx::query(
                "SELECT p.patient_id FROM study st JOIN patient p ON p.id = st.patient_ref \
                 WHERE st.study_instance_uid = $1 AND st.tenant_id = $2",
            )
            .bind(*s)
            .bind(tenant.as_str())
            .fetch_optional(self.pool())
            .await?;
            if let Some(r) = row {
                out.push(((*s).to_owned(), r.try_get(0)?));
            }
        }
        Ok(out)
    }
}
