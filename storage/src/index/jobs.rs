//! Durable background work: the job table. A job is taken by a worker when
//! due (its state becomes `running` with a lease), then finished, retried
//! later with the error kept, or failed for a person to see. A worker that
//! dies leaves its job `running` until the lease ends; then another takes
//! it again, so a restart resumes every job. On PostgreSQL the claim skips
//! rows another node holds (`FOR UPDATE SKIP LOCKED`).

use sqlx::Row;

use super::rows::now_millis;
use super::Index;
use crate::backend::Backend;
use crate::error::Result;
use crate::tenant::TenantId;

/// Job states.
pub mod state {
    /// Waiting for its next attempt.
    pub const PENDING: &str = "pending";
    /// Taken by a worker (until its lease ends).
    pub const RUNNING: &str = "running";
    /// Done.
    pub const DONE: &str = "done";
    /// Given up; kept for a person to retry.
    pub const FAILED: &str = "failed";
}

/// This process, as a lease holder: `pid:PID:START:BOOT`, START its start
/// time since boot BOOT (/proc's), so that a PID used again by another
/// process, after a reboot too, is not taken for it; `pid:PID` where there
/// is no /proc.
pub fn this_process() -> &'static str {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN.get_or_init(|| process_token(std::process::id()).unwrap_or_default())
}

/// The lease-holder token of process `pid`, if it is running (and /proc
/// says when it started; `pid:PID` for this process without /proc).
pub fn process_token(pid: u32) -> Option<String> {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // Fields after the command name (which may hold spaces and
        // parentheses): state is the 3rd field, starttime the 22nd.
        Ok(stat) => {
            let rest = &stat[stat.rfind(')')? + 1..];
            let start = rest.split_whitespace().nth(19)?;
            Some(format!("pid:{pid}:{start}:{}", boot_id()))
        }
        Err(_) if pid == std::process::id() => Some(format!("pid:{pid}")),
        Err(_) => None,
    }
}

/// This boot of the machine (Linux's boot_id; '' without it).
fn boot_id() -> &'static str {
    static BOOT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BOOT.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|b| b.trim().to_owned())
            .unwrap_or_default()
    })
}

/// Whether the process a lease-holder token names still runs. Without
/// /proc, or for a token from before holders were recorded (''), it is
/// taken as gone, as every lease was before.
fn process_alive(holder: &str) -> bool {
    let Some(pid) = holder
        .strip_prefix("pid:")
        .and_then(|t| t.split(':').next())
        .and_then(|p| p.parse::<u32>().ok())
    else {
        return false;
    };
    holder.matches(':').count() == 3 && process_token(pid).as_deref() == Some(holder)
}

/// A job to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// Whose data it moves.
    pub tenant: TenantId,
    /// What kind of work.
    pub kind: String,
    /// Where it goes.
    pub target: String,
    /// The work (JSON).
    pub payload: String,
    /// One pending job per key ('' for none).
    pub dedup: String,
    /// When it is due (Unix ms); `None`: now.
    pub due_ms: Option<i64>,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Row id.
    pub id: i64,
    /// Whose data it moves.
    pub tenant: TenantId,
    /// What kind of work (`storage-commitment`, …).
    pub kind: String,
    /// Where it goes (an AE title, a peer name).
    pub target: String,
    /// The work, as the kind defines it (JSON).
    pub payload: String,
    /// One of [`state`].
    pub state: String,
    /// Attempts so far (this one included, once taken).
    pub attempts: i64,
    /// The last attempt's error.
    pub last_error: String,
    /// Progress: items done of `total` (0 of 0 when the kind counts none).
    pub done: i64,
    /// Progress: items in all.
    pub total: i64,
    /// When its next attempt is due (or its lease ends), Unix ms.
    pub next_attempt_at: i64,
    /// When it was queued, Unix ms.
    pub created_at: i64,
    /// When it last changed, Unix ms.
    pub updated_at: i64,
    /// `attempts` when it was last retried by hand: attempts since then
    /// are `attempts - attempt_base` (`attempts` itself never goes down,
    /// as it names each attempt's lease).
    pub attempt_base: i64,
    /// The key that keeps one pending job per purpose ('' for none).
    pub dedup: String,
}

const COLUMNS: &str = "id, tenant_id, kind, target, payload, state, attempts, last_error, done, \
                       total, next_attempt_at, created_at, updated_at, attempt_base, dedup";

fn job_of(r: &sqlx::any::AnyRow) -> Result<Job> {
    Ok(Job {
        id: r.try_get(0)?,
        tenant: TenantId::parse(&r.try_get::<String, _>(1)?)?,
        kind: r.try_get(2)?,
        target: r.try_get(3)?,
        payload: r.try_get(4)?,
        state: r.try_get(5)?,
        attempts: r.try_get(6)?,
        last_error: r.try_get(7)?,
        done: r.try_get(8)?,
        total: r.try_get(9)?,
        next_attempt_at: r.try_get(10)?,
        created_at: r.try_get(11)?,
        updated_at: r.try_get(12)?,
        attempt_base: r.try_get(13)?,
        dedup: r.try_get(14)?,
    })
}

impl Index {
    /// Queue a job, due at once; or, with `leased_for_ms`, already taken
    /// by the caller for that long (it tries first, holding lease 1; a
    /// worker takes it when the lease ends or the caller puts it back).
    /// Returns its id.
    pub async fn enqueue_job(
        &self,
        tenant: &TenantId,
        kind: &str,
        target: &str,
        payload: &str,
        leased_for_ms: Option<i64>,
    ) -> Result<i64> {
        let now = now_millis();
        let (state, due, attempts) = match leased_for_ms {
            Some(ms) => (state::RUNNING, now + ms, 1i64),
            None => (state::PENDING, now, 0),
        };
        let (_guard, mut tx) = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO job (tenant_id, kind, target, payload, state, attempts, next_attempt_at, \
             created_at, updated_at, lease_holder) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) RETURNING id",
        )
        .bind(tenant.as_str())
        .bind(kind)
        .bind(target)
        .bind(payload)
        .bind(state)
        .bind(attempts)
        .bind(due)
        .bind(now)
        .bind(if leased_for_ms.is_some() {
            this_process()
        } else {
            ""
        })
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// End the leases of processes that are gone: their running jobs are
    /// taken again at once. For a start on SQLite, where every process
    /// sharing the index runs on this machine (a worker killed with the
    /// server held its jobs until their leases ran out); a live process's
    /// lease stays (`filmless send --wait` running its job beside the
    /// server). How many.
    pub async fn expire_leases(&self) -> Result<u64> {
        let now = now_millis();
        let (_guard, mut tx) = self.begin_write().await?;
        let held: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, lease_holder FROM job WHERE state = 'running' AND next_attempt_at > $1",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let mut n = 0;
        for (id, holder) in held {
            if process_alive(&holder) {
                continue;
            }
            n += sqlx::query(
                "UPDATE job SET next_attempt_at = $1, updated_at = $1 \
                 WHERE id = $2 AND state = 'running'",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    /// Take up to `limit` due jobs of `kind`: pending ones whose time has
    /// come, and running ones whose lease ended (their worker died). Each
    /// is leased for `lease_ms` and its attempt counted.
    pub async fn take_jobs(&self, kind: &str, limit: i64, lease_ms: i64) -> Result<Vec<Job>> {
        let now = now_millis();
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        // Most ticks find nothing due: a plain read says so without taking
        // a write turn (on SQLite, every other writer waits for that).
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM job WHERE kind = $1 AND state IN ('pending', 'running') \
             AND next_attempt_at <= $2 LIMIT 1",
        )
        .bind(kind)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        let (_guard, mut tx) = self.begin_write().await?;
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM job WHERE kind = $1 AND state IN ('pending', 'running') \
             AND next_attempt_at <= $2 ORDER BY next_attempt_at, id LIMIT $3{lock}"
        ))
        .bind(kind)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut jobs = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut job = job_of(r)?;
            job.attempts += 1;
            job.state = state::RUNNING.to_owned();
            sqlx::query(
                "UPDATE job SET state = 'running', attempts = $1, next_attempt_at = $2, \
                 updated_at = $3, lease_holder = $5 WHERE id = $4",
            )
            .bind(job.attempts)
            .bind(now + lease_ms)
            .bind(now)
            .bind(job.id)
            .bind(this_process())
            .execute(&mut *tx)
            .await?;
            jobs.push(job);
        }
        tx.commit().await?;
        Ok(jobs)
    }

    /// Take job `id` if it is due (pending and its time has come, or
    /// running with its lease ended), as `take_jobs` would.
    pub async fn take_job(&self, id: i64, lease_ms: i64) -> Result<Option<Job>> {
        let now = now_millis();
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let (_guard, mut tx) = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM job WHERE id = $1 AND state IN ('pending', 'running') \
             AND next_attempt_at <= $2{lock}"
        ))
        .bind(id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut job = job_of(&row)?;
        job.attempts += 1;
        job.state = state::RUNNING.to_owned();
        sqlx::query(
            "UPDATE job SET state = 'running', attempts = $1, next_attempt_at = $2, \
             updated_at = $3, lease_holder = $5 WHERE id = $4",
        )
        .bind(job.attempts)
        .bind(now + lease_ms)
        .bind(now)
        .bind(job.id)
        .bind(this_process())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(job))
    }

    /// End a job: `done`, or `failed` with why. `attempt` is the lease
    /// the caller holds (the job's `attempts` when it was taken; 1 for a
    /// job enqueued already leased): when the lease ended and another
    /// worker took the job, or the job is no longer running, nothing
    /// changes and `false` comes back, so a slow worker never undoes the
    /// work of the one that took over.
    pub async fn finish_job(&self, id: i64, attempt: i64, failure: Option<&str>) -> Result<bool> {
        let (state, error) = match failure {
            None => (state::DONE, ""),
            Some(e) => (state::FAILED, e),
        };
        let (_guard, mut tx) = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE job SET state = $1, last_error = $2, updated_at = $3 \
             WHERE id = $4 AND state = 'running' AND attempts = $5",
        )
        .bind(state)
        .bind(error)
        .bind(now_millis())
        .bind(id)
        .bind(attempt)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(done == 1)
    }

    /// Put a job back to wait `delay_ms`, keeping the error; only while
    /// the caller still holds lease `attempt` (see [`Index::finish_job`]).
    /// A job whose purpose (`dedup`) another pending job has taken over
    /// meanwhile (a study that went on growing while it was being sent)
    /// ends `done`, superseded: that one sends it all.
    pub async fn retry_job(
        &self,
        id: i64,
        attempt: i64,
        delay_ms: i64,
        error: &str,
    ) -> Result<bool> {
        let now = now_millis();
        let (_guard, mut tx) = self.begin_write().await?;
        let superseded: Option<i64> = sqlx::query_scalar(
            "SELECT o.id FROM job j JOIN job o ON o.dedup = j.dedup AND o.id <> j.id \
             WHERE j.id = $1 AND j.dedup <> '' AND o.state = 'pending' LIMIT 1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let done = match superseded {
            Some(other) => sqlx::query(
                "UPDATE job SET state = 'done', last_error = $1, updated_at = $2 \
                 WHERE id = $3 AND state = 'running' AND attempts = $4",
            )
            .bind(format!("superseded by job {other} ({error})"))
            .bind(now)
            .bind(id)
            .bind(attempt),
            None => sqlx::query(
                "UPDATE job SET state = 'pending', next_attempt_at = $1, last_error = $2, \
                 updated_at = $3 WHERE id = $4 AND state = 'running' AND attempts = $5",
            )
            .bind(now + delay_ms)
            .bind(error)
            .bind(now)
            .bind(id)
            .bind(attempt),
        }
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(done == 1)
    }

    /// Extend the lease `attempt` on a running job to `lease_ms` from now,
    /// before a step that may take long (sending what was prepared).
    /// `false` when the lease was already lost: the caller must not go on.
    pub async fn renew_job(&self, id: i64, attempt: i64, lease_ms: i64) -> Result<bool> {
        let now = now_millis();
        let (_guard, mut tx) = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE job SET next_attempt_at = $1, updated_at = $2 \
             WHERE id = $3 AND state = 'running' AND attempts = $4",
        )
        .bind(now + lease_ms)
        .bind(now)
        .bind(id)
        .bind(attempt)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(done == 1)
    }

    /// Whether a job of `kind` to `target` queued before job `id` is not
    /// finished yet: jobs whose order matters (an N-SET after its
    /// N-CREATE) wait for it.
    pub async fn older_job_open(&self, kind: &str, target: &str, id: i64) -> Result<bool> {
        let row: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM job WHERE kind = $1 AND target = $2 AND id < $3 \
             AND state IN ('pending', 'running') LIMIT 1",
        )
        .bind(kind)
        .bind(target)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.is_some())
    }

    /// Queue a job due at `due_ms` (Unix ms) under `dedup`: while a
    /// pending job with that key exists, it is postponed to `due_ms`
    /// instead (a study forwarded once stable: each new instance moves
    /// its time). Returns the job's id.
    pub async fn enqueue_or_postpone(
        &self,
        tenant: &TenantId,
        kind: &str,
        target: &str,
        payload: &str,
        dedup: &str,
        due_ms: i64,
    ) -> Result<i64> {
        let now = now_millis();
        let (_guard, mut tx) = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO job (tenant_id, kind, target, payload, state, attempts, next_attempt_at, \
             created_at, updated_at, dedup) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $6, $7) \
             ON CONFLICT (dedup) WHERE state = 'pending' AND dedup <> '' \
             DO UPDATE SET next_attempt_at = excluded.next_attempt_at, updated_at = excluded.updated_at \
             RETURNING id",
        )
        .bind(tenant.as_str())
        .bind(kind)
        .bind(target)
        .bind(payload)
        .bind(due_ms)
        .bind(now)
        .bind(dedup)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Queue many jobs in one transaction, due at once. Returns their ids.
    pub async fn enqueue_jobs(
        &self,
        jobs: &[(TenantId, String, String, String)],
    ) -> Result<Vec<i64>> {
        let batch: Vec<NewJob> = jobs
            .iter()
            .map(|(tenant, kind, target, payload)| NewJob {
                tenant: tenant.clone(),
                kind: kind.clone(),
                target: target.clone(),
                payload: payload.clone(),
                dedup: String::new(),
                due_ms: None,
            })
            .collect();
        self.enqueue_batch(&batch).await
    }

    /// Queue jobs in one transaction (all or none). A job with a `dedup`
    /// key postpones the pending job of that key to its `due_ms` instead,
    /// when there is one (see [`Index::enqueue_or_postpone`]). Returns
    /// the ids.
    pub async fn enqueue_batch(&self, jobs: &[NewJob]) -> Result<Vec<i64>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let (_guard, mut tx) = self.begin_write().await?;
        let ids = insert_jobs(&mut tx, jobs).await?;
        tx.commit().await?;
        Ok(ids)
    }

    /// Take the `arrivals` (tenant, SOP Instance UID) out of the routing
    /// journal and queue the jobs `jobs` makes of those that were still
    /// there (`claimed`, in order), in one transaction: an arrival another
    /// node routed meanwhile (after a crash) is not routed twice, and one
    /// whose jobs fail to be written stays for the next attempt.
    pub async fn enqueue_from_arrivals<F>(
        &self,
        arrivals: &[(TenantId, String)],
        jobs: F,
    ) -> Result<Vec<i64>>
    where
        F: FnOnce(&[bool]) -> Result<Vec<NewJob>> + Send,
    {
        let (_guard, mut tx) = self.begin_write().await?;
        let mut claimed = Vec::with_capacity(arrivals.len());
        for (tenant, sop) in arrivals {
            let taken = sqlx::query(
                "DELETE FROM routing_arrival WHERE tenant_id = $1 AND sop_instance_uid = $2",
            )
            .bind(tenant.as_str())
            .bind(sop)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            claimed.push(taken > 0);
        }
        let jobs = jobs(&claimed)?;
        let ids = insert_jobs(&mut tx, &jobs).await?;
        tx.commit().await?;
        Ok(ids)
    }

    /// Empty the routing journal (routing is off); how many rows went.
    pub async fn clear_routing_arrivals(&self) -> Result<u64> {
        let (_guard, mut tx) = self.begin_write().await?;
        let n = sqlx::query("DELETE FROM routing_arrival")
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    /// Arrivals the routing journal still holds (their jobs not queued)
    /// from before `before` (Unix ms), oldest first, at most `limit`; with
    /// `after`, those that come after it in that order (the next page: a
    /// backlog is read through at once, each row once, while the rows
    /// already read are still being claimed).
    pub async fn routing_arrivals(
        &self,
        before: i64,
        after: Option<&RoutingArrival>,
        limit: i64,
    ) -> Result<Vec<RoutingArrival>> {
        let (at, tenant, sop) = match after {
            Some(a) => (a.created_at, a.tenant.as_str(), a.sop_instance_uid.as_str()),
            None => (i64::MIN, "", ""),
        };
        let rows = sqlx::query(
            "SELECT tenant_id, sop_instance_uid, payload, created_at FROM routing_arrival \
             WHERE created_at < $1 AND created_at >= $2 AND (created_at > $2 OR \
             tenant_id > $3 OR (tenant_id = $3 AND sop_instance_uid > $4)) \
             ORDER BY created_at, tenant_id, sop_instance_uid LIMIT $5",
        )
        .bind(before)
        .bind(at)
        .bind(tenant)
        .bind(sop)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RoutingArrival {
                    tenant: TenantId::parse(&r.try_get::<String, _>(0)?).unwrap_or_default(),
                    sop_instance_uid: r.try_get(1)?,
                    payload: r.try_get(2)?,
                    created_at: r.try_get(3)?,
                })
            })
            .collect()
    }
}

/// An arrival in the routing journal: an instance stored and acknowledged
/// whose routing jobs are not queued yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingArrival {
    /// Its tenant.
    pub tenant: TenantId,
    /// Its SOP Instance UID.
    pub sop_instance_uid: String,
    /// What routing made of it (JSON).
    pub payload: String,
    /// When it was stored (Unix ms).
    pub created_at: i64,
}

/// Insert `jobs` in `tx` (see [`Index::enqueue_batch`]).
async fn insert_jobs(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    jobs: &[NewJob],
) -> Result<Vec<i64>> {
    let now = now_millis();
    let mut ids = Vec::with_capacity(jobs.len());
    for j in jobs {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO job (tenant_id, kind, target, payload, state, attempts, \
                 next_attempt_at, created_at, updated_at, dedup) \
                 VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $6, $7) \
                 ON CONFLICT (dedup) WHERE state = 'pending' AND dedup <> '' \
                 DO UPDATE SET next_attempt_at = excluded.next_attempt_at, \
                 updated_at = excluded.updated_at RETURNING id",
        )
        .bind(j.tenant.as_str())
        .bind(&j.kind)
        .bind(&j.target)
        .bind(&j.payload)
        .bind(j.due_ms.unwrap_or(now))
        .bind(now)
        .bind(&j.dedup)
        .fetch_one(&mut **tx)
        .await?;
        ids.push(id);
    }
    Ok(ids)
}

impl Index {
    /// The newest job with this `dedup` key.
    pub async fn job_by_dedup(&self, dedup: &str) -> Result<Option<Job>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM job WHERE dedup = $1 ORDER BY id DESC LIMIT 1"
        ))
        .bind(dedup)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(job_of).transpose()
    }

    /// Record progress of a running job (lease `attempt`) and extend its
    /// lease by `lease_ms`: `false` when the lease was lost.
    pub async fn job_progress(
        &self,
        id: i64,
        attempt: i64,
        done: i64,
        total: i64,
        lease_ms: i64,
    ) -> Result<bool> {
        let now = now_millis();
        let (_guard, mut tx) = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE job SET done = $1, total = $2, next_attempt_at = $3, updated_at = $4 \
             WHERE id = $5 AND state = 'running' AND attempts = $6",
        )
        .bind(done)
        .bind(total)
        .bind(now + lease_ms)
        .bind(now)
        .bind(id)
        .bind(attempt)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Put a failed (or finished) job back to be tried again now, its
    /// attempts counted from here (`attempt_base`); `false` when it is
    /// pending or running.
    pub async fn requeue_job(&self, id: i64) -> Result<bool> {
        let now = now_millis();
        let (_guard, mut tx) = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE job SET state = 'pending', attempt_base = attempts, next_attempt_at = $1, \
             updated_at = $1, last_error = '' WHERE id = $2 AND state IN ('failed', 'done') \
             AND NOT EXISTS (SELECT 1 FROM job o WHERE o.dedup = job.dedup AND o.dedup <> '' \
             AND o.state = 'pending')",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Cancel a job that is not finished: failed, with `why`. A running
    /// attempt notices when it next reports progress or ends (its lease
    /// is gone). `false` when it was finished already.
    pub async fn cancel_job(&self, id: i64, why: &str) -> Result<bool> {
        let now = now_millis();
        let (_guard, mut tx) = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE job SET state = 'failed', last_error = $1, updated_at = $2 \
             WHERE id = $3 AND state IN ('pending', 'running')",
        )
        .bind(why)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Jobs, newest first: of `kinds` (empty: every kind), in `state`
    /// (`None`: every state), of `tenant` (`None`: every tenant).
    pub async fn list_jobs(
        &self,
        kinds: &[&str],
        state: Option<&str>,
        tenant: Option<&TenantId>,
        limit: i64,
    ) -> Result<Vec<Job>> {
        let mut sql = format!("SELECT {COLUMNS} FROM job WHERE 1 = 1");
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        let kind_params: Vec<String> = kinds.iter().map(|_| format!("${}", next())).collect();
        if !kinds.is_empty() {
            sql.push_str(&format!(" AND kind IN ({})", kind_params.join(", ")));
        }
        if state.is_some() {
            sql.push_str(&format!(" AND state = ${}", next()));
        }
        if tenant.is_some() {
            sql.push_str(&format!(" AND tenant_id = ${}", next()));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", next()));
        let mut q = sqlx::query(&sql);
        for k in kinds {
            q = q.bind(*k);
        }
        if let Some(s) = state {
            q = q.bind(s);
        }
        if let Some(t) = tenant {
            q = q.bind(t.as_str());
        }
        let rows = q.bind(limit).fetch_all(self.pool()).await?;
        rows.iter().map(job_of).collect()
    }

    /// A job by id.
    pub async fn job(&self, id: i64) -> Result<Option<Job>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM job WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(job_of).transpose()
    }

    /// The jobs of `kind` in a state, oldest first.
    pub async fn jobs(&self, kind: &str, state: &str) -> Result<Vec<Job>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM job WHERE kind = $1 AND state = $2 ORDER BY id"
        ))
        .bind(kind)
        .bind(state)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(job_of).collect()
    }
}
