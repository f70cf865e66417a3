//! Rows beside the archive's: local users and the audit trail.
//!
//! The audit trail is append-only (the database refuses UPDATE and
//! DELETE on it); what to record and when is the server's business.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::error::Result;
use crate::index::Index;

/// A local user (HTTP Basic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserRow {
    /// Login name.
    pub name: String,
    /// PHC string (argon2id).
    pub password_hash: String,
    /// Role names, comma-separated.
    pub roles: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

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
    /// At most this many, oldest first.
    pub limit: Option<i64>,
}

impl Index {
    /// The user with this name.
    pub async fn user(&self, name: &str) -> Result<Option<UserRow>> {
        let row = sqlx::query(
            "SELECT name, password_hash, roles, created_at FROM app_user WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| user_row(&r)).transpose()?)
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<UserRow>> {
        let rows = sqlx::query(
            "SELECT name, password_hash, roles, created_at FROM app_user ORDER BY name",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(user_row).collect::<sqlx::Result<_>>()?)
    }

    /// Add a user or replace its password and roles.
    pub async fn put_user(&self, user: &UserRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO app_user (name, password_hash, roles, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, roles = excluded.roles",
        )
        .bind(&user.name)
        .bind(&user.password_hash)
        .bind(&user.roles)
        .bind(user.created_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Remove a user; false when there was none.
    pub async fn remove_user(&self, name: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM app_user WHERE name = $1")
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Append audit events, in one transaction.
    pub async fn append_audit(&self, events: &[AuditEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool().begin().await?;
        for e in events {
            sqlx::query(
                "INSERT INTO audit_event (at, actor, actor_kind, source, action, outcome, patient_id, \
                 study_instance_uid, detail, count) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
             detail, count FROM audit_event WHERE 1 = 1",
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
        sql.push_str(" ORDER BY at, id");
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
                })
            })
            .collect()
    }

    /// The Patient ID of each study UID that is indexed.
    pub async fn patients_of_studies(&self, studies: &[&str]) -> Result<Vec<(String, String)>> {
        let mut out = Vec::with_capacity(studies.len());
        for s in studies {
            let row = sqlx::query(
                "SELECT p.patient_id FROM study st JOIN patient p ON p.id = st.patient_ref \
                 WHERE st.study_instance_uid = $1",
            )
            .bind(*s)
            .fetch_optional(self.pool())
            .await?;
            if let Some(r) = row {
                out.push(((*s).to_owned(), r.try_get(0)?));
            }
        }
        Ok(out)
    }
}

fn user_row(r: &sqlx::any::AnyRow) -> sqlx::Result<UserRow> {
    Ok(UserRow {
        name: r.try_get(0)?,
        password_hash: r.try_get(1)?,
        roles: r.try_get(2)?,
        created_at: r.try_get(3)?,
    })
}
