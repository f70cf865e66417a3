//! The audit trail: who did what to which patient's data, in which
//! tenant, from where, and how it ended.
//!
//! The service layer records every operation on patient data with
//! [`Audit::record`]; a background task collects the events of each
//! second, folds identical ones (same actor, source, action, outcome and
//! study: the hundreds of frame requests of one study view) into one row
//! with a count, fills in Patient IDs from the index, appends the rows to
//! the `audit_event` table (append-only) and, when `[audit] syslog` is set,
//! sends each as an RFC 5424 message carrying the fields of a DICOM audit
//! message (PS3.15 A.5) (`syslog`).
//!
//! Audit rows are written within about a second, not with the access: a
//! crash can lose the last second of them, never the images.

mod syslog;

use std::collections::HashMap;
use std::time::Duration;

use storage::{AuditEvent, Index, TenantId};
use tokio::sync::mpsc;

use crate::service::context::Actor;
use syslog::Syslog;

/// What is audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// QIDO-RS search.
    QidoRs,
    /// WADO-RS / rendered / thumbnail retrieve.
    WadoRs,
    /// STOW-RS store.
    StowRs,
    /// Delete (DICOMweb or CLI).
    Delete,
    /// C-STORE received.
    CStore,
    /// C-FIND answered.
    CFind,
    /// C-MOVE sub-operations.
    CMove,
    /// C-GET sub-operations.
    CGet,
    /// A refused login.
    Login,
    /// `filmless import`.
    Import,
    /// Instances read by the CLI (`filmless send --study`).
    Export,
    /// The audit trail read.
    AuditRead,
    /// A user added, changed or removed.
    Users,
    /// A worklist item scheduled, changed or cancelled (an order).
    Order,
    /// The worklist searched (worklist C-FIND, UPS-RS, `/api/worklist`).
    WorklistQuery,
    /// A patient corrected (ADT^A08) or merged (ADT^A40).
    PatientRecord,
    /// A performed procedure step reported (MPPS N-CREATE, N-SET).
    ProcedureStep,
    /// A storage commitment requested, or its result sent.
    Commitment,
    /// Instances sent to another archive by a routing job (rule, manual
    /// send), or pulled from one (retrieve, prefetch).
    Transfer,
    /// Routing jobs listed, retried or cancelled.
    Jobs,
    /// A share link made, revoked, opened, or given a wrong PIN.
    Share,
    /// A film sheet printed (filed into a study) by a modality.
    Print,
    /// The metrics read (refusals only are recorded).
    Metrics,
}

impl Action {
    /// The name stored in `audit_event.action`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::QidoRs => "qido-rs",
            Action::WadoRs => "wado-rs",
            Action::StowRs => "stow-rs",
            Action::Delete => "delete",
            Action::CStore => "c-store",
            Action::CFind => "c-find",
            Action::CMove => "c-move",
            Action::CGet => "c-get",
            Action::Login => "login",
            Action::Import => "import",
            Action::Export => "export",
            Action::AuditRead => "audit-read",
            Action::Users => "users",
            Action::Order => "order",
            Action::WorklistQuery => "worklist-query",
            Action::PatientRecord => "patient-record",
            Action::ProcedureStep => "procedure-step",
            Action::Commitment => "storage-commitment",
            Action::Transfer => "transfer",
            Action::Jobs => "jobs",
            Action::Share => "share",
            Action::Print => "print",
            Action::Metrics => "metrics",
        }
    }

    /// DICOM audit message Event ID (PS3.15 A.5.3, DCM codes) and the
    /// action code (C create, R read, D delete, E execute).
    fn dicom_event(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Action::QidoRs | Action::CFind => ("110112", "Query", "E"),
            Action::WadoRs | Action::CMove | Action::CGet | Action::Export => {
                ("110106", "Export", "R")
            }
            Action::StowRs | Action::CStore | Action::Import => ("110107", "Import", "C"),
            Action::Delete => ("110103", "DICOM Instances Accessed", "D"),
            Action::Login => ("110114", "User Authentication", "E"),
            Action::AuditRead => ("110101", "Audit Log Used", "R"),
            Action::Users => ("110136", "Security Roles Changed", "U"),
            Action::Order => ("110109", "Order Record", "U"),
            Action::WorklistQuery => ("110112", "Query", "E"),
            Action::PatientRecord => ("110110", "Patient Record", "U"),
            Action::ProcedureStep => ("110111", "Procedure Record", "U"),
            Action::Commitment => ("110104", "DICOM Instances Transferred", "E"),
            Action::Transfer => ("110104", "DICOM Instances Transferred", "R"),
            Action::Jobs => ("110100", "Application Activity", "E"),
            Action::Share => ("110106", "Export", "R"),
            Action::Print => ("110107", "Import", "C"),
            Action::Metrics => ("110100", "Application Activity", "R"),
        }
    }
}

/// How the details of a platform administrator's accesses begin.
pub const PLATFORM_DETAIL: &str = "as platform administrator";

/// One access, as recorded by the service layer.
#[derive(Debug, Clone)]
pub struct Access {
    /// Who.
    pub actor: Actor,
    /// From where (the client's address).
    pub source: String,
    /// What.
    pub action: Action,
    /// `None` for success, else why it failed.
    pub failure: Option<String>,
    /// Whose data: the tenant.
    pub tenant: TenantId,
    /// The patient, when known (else looked up by study in the tenant).
    pub patient_id: String,
    /// The study, when there is one.
    pub study_instance_uid: String,
    /// Request path and query, destination, … (no more than 512 bytes kept).
    pub detail: String,
}

/// The recorder handed to the service; cheap to clone.
#[derive(Clone)]
pub struct Audit {
    tx: mpsc::Sender<(i64, Access)>,
    index: Index,
    /// (tenant, study) → Patient ID, for events that name only the study.
    patients: std::sync::Arc<quick_cache::sync::Cache<(TenantId, String), String>>,
}

/// The task that writes the trail; [`AuditWriter::finish`] flushes it.
pub struct AuditWriter {
    task: tokio::task::JoinHandle<()>,
}

impl Audit {
    /// Start the writer over `index`, sending also to `syslog` (`udp://HOST:PORT`,
    /// empty for none).
    pub async fn start(index: Index, syslog: &str) -> anyhow::Result<(Audit, AuditWriter)> {
        let syslog = Syslog::open(syslog).await?;
        let (tx, rx) = mpsc::channel(65_536);
        let task = tokio::spawn(write_loop(index.clone(), syslog, rx));
        Ok((
            Audit {
                tx,
                index,
                patients: std::sync::Arc::new(quick_cache::sync::Cache::new(100_000)),
            },
            AuditWriter { task },
        ))
    }

    /// The Patient ID of an indexed study ("" when unknown), remembered.
    /// Call it before a study is deleted to record whose it was.
    pub async fn patient_of(&self, tenant: &TenantId, study_instance_uid: &str) -> String {
        if study_instance_uid.is_empty() {
            return String::new();
        }
        let key = (tenant.clone(), study_instance_uid.to_owned());
        if let Some(p) = self.patients.get(&key) {
            return p;
        }
        match self
            .index
            .patients_of_studies(tenant, &[study_instance_uid])
            .await
        {
            Ok(found) => {
                let mut out = String::new();
                for (study, patient) in found {
                    out = patient.clone();
                    self.patients.insert((tenant.clone(), study), patient);
                }
                out
            }
            Err(e) => {
                tracing::warn!(error = %e, "audit: cannot look up the patient of a study");
                String::new()
            }
        }
    }

    /// Record an access (waits only when 65 536 events are queued). A
    /// missing Patient ID is looked up from the study now.
    pub async fn record(&self, mut access: Access) {
        if access.patient_id.is_empty() {
            access.patient_id = self
                .patient_of(&access.tenant, &access.study_instance_uid)
                .await;
        }
        let now = now_millis();
        if self.tx.send((now, access)).await.is_err() {
            tracing::error!("audit trail writer has stopped; an access was not recorded");
        }
    }

    /// Record an access from code that cannot wait (a refusal decided
    /// synchronously); dropped with an error log only if 65 536 events are
    /// queued.
    pub fn record_now(&self, access: Access) {
        if self.tx.try_send((now_millis(), access)).is_err() {
            tracing::error!("audit trail queue full or stopped; an access was not recorded");
        }
    }
}

impl AuditWriter {
    /// Write what is queued and stop; call after every [`Audit`] handle is
    /// dropped.
    pub async fn finish(self) {
        let _ = self.task.await;
    }
}

pub use storage::now_millis;

/// What makes two events the same access: who, from where, what, how it
/// ended, whose data (tenant, study, patient), and for the accesses that
/// are not repeated in bulk (moves, deletes, user changes, a platform
/// administrator's requests) what exactly was asked.
type Key = (
    Actor,
    String,
    Action,
    Option<String>,
    TenantId,
    String,
    String,
    Option<String>,
);

impl Action {
    /// Whether repeats within a second fold into one row: the reads and
    /// stores a viewer or a modality makes by the hundred.
    fn folds(self) -> bool {
        matches!(
            self,
            Action::QidoRs
                | Action::WadoRs
                | Action::StowRs
                | Action::CStore
                | Action::CFind
                | Action::Import
                | Action::Export
                | Action::Login
        )
    }
}

async fn write_loop(index: Index, syslog: Option<Syslog>, mut rx: mpsc::Receiver<(i64, Access)>) {
    while let Some(first) = rx.recv().await {
        // Everything that arrives within a second of the first event.
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while let Ok(Some(e)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            batch.push(e);
            if batch.len() >= 10_000 {
                break;
            }
        }
        let mut order: Vec<Key> = Vec::new();
        let mut folded: HashMap<Key, AuditEvent> = HashMap::new();
        for (at, a) in batch {
            let exact = !a.action.folds() || a.detail.starts_with(PLATFORM_DETAIL);
            let key = (
                a.actor.clone(),
                a.source.clone(),
                a.action,
                a.failure.clone(),
                a.tenant.clone(),
                a.study_instance_uid.clone(),
                a.patient_id.clone(),
                exact.then(|| a.detail.clone()),
            );
            match folded.get_mut(&key) {
                Some(e) => e.count += 1,
                None => {
                    let mut detail = a.detail;
                    if detail.len() > 512 {
                        let mut cut = 512;
                        while !detail.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        detail.truncate(cut);
                    }
                    folded.insert(
                        key.clone(),
                        AuditEvent {
                            at,
                            actor: a.actor.name,
                            actor_kind: a.actor.kind.as_str().to_owned(),
                            source: a.source,
                            action: a.action.as_str().to_owned(),
                            outcome: match &a.failure {
                                None => "success".to_owned(),
                                Some(why) => format!("failure: {why}"),
                            },
                            patient_id: a.patient_id,
                            study_instance_uid: a.study_instance_uid,
                            detail,
                            count: 1,
                            tenant: a.tenant.as_str().to_owned(),
                        },
                    );
                    order.push(key);
                }
            }
        }
        let events: Vec<(Action, AuditEvent)> = order
            .into_iter()
            .filter_map(|k| {
                let action = k.2;
                folded.remove(&k).map(|e| (action, e))
            })
            .collect();
        let rows: Vec<AuditEvent> = events.iter().map(|(_, e)| e.clone()).collect();
        let mut attempt = 0;
        loop {
            match index.append_audit(&rows).await {
                Ok(()) => break,
                Err(e) if attempt < 5 => {
                    attempt += 1;
                    tracing::warn!(error = %e, attempt, "audit: cannot write the trail; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, lost = rows.len(), "audit: cannot write the trail; events lost");
                    break;
                }
            }
        }
        if let Some(s) = &syslog {
            for (action, e) in &events {
                s.send(*action, e).await;
            }
        }
    }
}

/// A date (`YYYY-MM-DD`) or a number of days back (`7d`) as Unix
/// milliseconds: where an audit search starts.
pub fn parse_since(s: &str) -> Option<i64> {
    if let Some(days) = s.strip_suffix('d').and_then(|d| d.parse::<i64>().ok()) {
        return Some(now_millis() - days.clamp(0, 365_000) * 86_400_000);
    }
    parse_date_millis(s)
}

/// Unix milliseconds as RFC 3339 UTC, milliseconds shown.
pub fn format_time(ms: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// A civil date (`YYYY-MM-DD` or `YYYYMMDD`) to Unix milliseconds at 00:00 UTC.
pub fn parse_date_millis(s: &str) -> Option<i64> {
    let dashed = time::macros::format_description!("[year]-[month]-[day]");
    let compact = time::macros::format_description!("[year][month][day]");
    let date = time::Date::parse(s, &dashed)
        .or_else(|_| time::Date::parse(s, &compact))
        .ok()?;
    let t = date.midnight().assume_utc();
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(parse_date_millis("1970-01-01"), Some(0));
        let ms = parse_date_millis("2026-11-23").unwrap();
        assert_eq!(format_time(ms), "2026-11-23T00:00:00.000Z");
        assert_eq!(format_time(ms + 1_500), "2026-11-23T00:00:01.500Z");
        assert_eq!(
            parse_date_millis("20240229").map(format_time).unwrap(),
            "2024-02-29T00:00:00.000Z"
        );
        assert_eq!(parse_date_millis("2026-13-01"), None);
        assert_eq!(parse_date_millis("2025-02-29"), None);
        assert_eq!(parse_date_millis("yesterday"), None);
    }
}
