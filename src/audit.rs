//! The audit trail: who did what to which patient's data, from where, and
//! how it ended.
//!
//! Handlers and DIMSE services call [`Audit::record`]; a background task
//! collects the events of each second, folds identical ones (same actor,
//! source, action, outcome and study: the hundreds of frame requests of
//! one study view) into one row with a count, fills in Patient IDs from
//! the index, appends the rows to the `audit_event` table (append-only)
//! and, when `[audit] syslog` is set, sends each as an RFC 5424 message
//! carrying the fields of a DICOM audit message (PS3.15 A.5).
//!
//! Audit rows are written within about a second, not with the access: a
//! crash can lose the last second of them, never the images.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use storage::{AuditEvent, Index};
use tokio::sync::mpsc;

/// What is audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// QIDO-RS search.
    QidoRs,
    /// WADO-RS / rendered / thumbnail retrieve.
    WadoRs,
    /// STOW-RS store.
    StowRs,
    /// DICOMweb DELETE.
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
        }
    }

    /// DICOM audit message Event ID (PS3.15 A.5.3, DCM codes) and the
    /// action code (C create, R read, D delete, E execute).
    fn dicom_event(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Action::QidoRs | Action::CFind => ("110112", "Query", "E"),
            Action::WadoRs | Action::CMove | Action::CGet => ("110106", "Export", "R"),
            Action::StowRs | Action::CStore => ("110107", "Import", "C"),
            Action::Delete => ("110103", "DICOM Instances Accessed", "D"),
            Action::Login => ("110114", "User Authentication", "E"),
        }
    }
}

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Actor {
    /// User name, OIDC subject or calling AE title.
    pub name: String,
    /// `user`, `oidc`, `anonymous` or `ae`.
    pub kind: &'static str,
    /// The peer's address.
    pub source: String,
}

impl Actor {
    /// A DICOM peer.
    pub fn ae(calling_ae: &str, peer: SocketAddr) -> Self {
        Actor {
            name: calling_ae.trim().to_owned(),
            kind: "ae",
            source: peer.ip().to_string(),
        }
    }
}

/// One access, as recorded by a handler.
#[derive(Debug, Clone)]
pub struct Access {
    /// Who.
    pub actor: Actor,
    /// What.
    pub action: Action,
    /// `None` for success, else why it failed.
    pub failure: Option<String>,
    /// The patient, when the handler knows it (else looked up by study).
    pub patient_id: String,
    /// The study, when there is one.
    pub study_instance_uid: String,
    /// Request path and query, destination, … (no more than 512 bytes kept).
    pub detail: String,
}

/// Set by a handler on its response: the (Patient ID, Study Instance UID)
/// pairs it disclosed or stored, when the path does not name the study.
/// An empty Patient ID is looked up from the study.
#[derive(Debug, Clone, Default)]
pub struct AuditStudies(pub Vec<(String, String)>);

/// The recorder handed to handlers; cheap to clone.
#[derive(Clone)]
pub struct Audit {
    tx: mpsc::Sender<(i64, Access)>,
    index: Index,
    patients: std::sync::Arc<std::sync::Mutex<HashMap<String, String>>>,
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
                patients: Default::default(),
            },
            AuditWriter { task },
        ))
    }

    /// The Patient ID of an indexed study ("" when unknown), remembered.
    /// Call it before a study is deleted to record whose it was.
    pub async fn patient_of(&self, study_instance_uid: &str) -> String {
        if study_instance_uid.is_empty() {
            return String::new();
        }
        if let Some(p) = self
            .patients
            .lock()
            .expect("patients")
            .get(study_instance_uid)
        {
            return p.clone();
        }
        match self.index.patients_of_studies(&[study_instance_uid]).await {
            Ok(found) => {
                let mut cache = self.patients.lock().expect("patients");
                if cache.len() > 100_000 {
                    cache.clear();
                }
                let mut out = String::new();
                for (study, patient) in found {
                    out = patient.clone();
                    cache.insert(study, patient);
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
            access.patient_id = self.patient_of(&access.study_instance_uid).await;
        }
        let now = now_millis();
        if self.tx.send((now, access)).await.is_err() {
            tracing::error!("audit trail writer has stopped; an access was not recorded");
        }
    }
}

impl Audit {
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

/// Now, in Unix milliseconds.
pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

type Key = (Actor, Action, Option<String>, String);

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
            let key = (
                a.actor.clone(),
                a.action,
                a.failure.clone(),
                a.study_instance_uid.clone(),
            );
            match folded.get_mut(&key) {
                Some(e) => {
                    e.count += 1;
                    if e.patient_id.is_empty() {
                        e.patient_id = a.patient_id;
                    }
                }
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
                            actor_kind: a.actor.kind.to_owned(),
                            source: a.actor.source,
                            action: a.action.as_str().to_owned(),
                            outcome: match &a.failure {
                                None => "success".to_owned(),
                                Some(why) => format!("failure: {why}"),
                            },
                            patient_id: a.patient_id,
                            study_instance_uid: a.study_instance_uid,
                            detail,
                            count: 1,
                        },
                    );
                    order.push(key);
                }
            }
        }
        let events: Vec<(Action, AuditEvent)> = order
            .into_iter()
            .filter_map(|k| {
                let action = k.1;
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

/// RFC 5424 over UDP (RFC 5426).
struct Syslog {
    socket: tokio::net::UdpSocket,
    hostname: String,
}

impl Syslog {
    async fn open(url: &str) -> anyhow::Result<Option<Syslog>> {
        if url.is_empty() {
            return Ok(None);
        }
        let Some(addr) = url.strip_prefix("udp://") else {
            anyhow::bail!("audit.syslog {url:?}: only udp://HOST:PORT is supported");
        };
        let target = tokio::net::lookup_host(addr)
            .await
            .map_err(|e| anyhow::anyhow!("audit.syslog {url:?}: {e}"))?
            .next()
            .ok_or_else(|| anyhow::anyhow!("audit.syslog {url:?}: no address"))?;
        let local: SocketAddr = if target.is_ipv4() {
            "0.0.0.0:0".parse()?
        } else {
            "[::]:0".parse()?
        };
        let socket = tokio::net::UdpSocket::bind(local).await?;
        socket.connect(target).await?;
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "-".to_owned());
        Ok(Some(Syslog { socket, hostname }))
    }

    async fn send(&self, action: Action, e: &AuditEvent) {
        if let Err(err) = self
            .socket
            .send(format_syslog(&self.hostname, action, e).as_bytes())
            .await
        {
            tracing::warn!(error = %err, "audit: cannot send to syslog");
        }
    }
}

/// One audit event as an RFC 5424 message: facility 10 (security/
/// authorization), severity notice (warning for failures), MSGID the DICOM
/// event, structured data with the DICOM audit message fields. The detail
/// (a query string may hold a patient's name) stays in the database: syslog
/// over UDP is not encrypted.
fn format_syslog(hostname: &str, action: Action, e: &AuditEvent) -> String {
    let (event_id, event_name, action_code) = action.dicom_event();
    let failed = e.outcome != "success";
    let pri = 10 * 8 + if failed { 4 } else { 5 };
    let time = chrono_rfc3339(e.at);
    let sd = format!(
        "[dicom-audit@32473 EventID=\"DCM {event_id} {event_name}\" EventActionCode=\"{action_code}\" \
         EventOutcomeIndicator=\"{outcome}\" UserID=\"{user}\" UserIsRequestor=\"true\" \
         UserTypeCode=\"{kind}\" NetworkAccessPointID=\"{source}\" PatientID=\"{patient}\" \
         StudyInstanceUID=\"{study}\" Count=\"{count}\" Action=\"{act}\"]",
        outcome = if failed { 4 } else { 0 },
        user = sd_escape(&e.actor),
        kind = sd_escape(&e.actor_kind),
        source = sd_escape(&e.source),
        patient = sd_escape(&e.patient_id),
        study = sd_escape(&e.study_instance_uid),
        count = e.count,
        act = e.action,
    );
    format!(
        "<{pri}>1 {time} {hostname} filmless {pid} {msgid} {sd} {outcome}",
        pid = std::process::id(),
        msgid = e.action.to_ascii_uppercase(),
        outcome = e.outcome,
    )
}

/// PARAM-VALUE escaping of RFC 5424 §6.3.3.
fn sd_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace(']', "\\]")
}

/// Unix milliseconds as RFC 3339 UTC.
fn chrono_rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A civil date (`YYYY-MM-DD` or `YYYYMMDD`) to Unix milliseconds at 00:00 UTC.
pub fn parse_date_millis(s: &str) -> Option<i64> {
    let digits: String = s.chars().filter(|c| *c != '-').collect();
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y: i64 = digits[..4].parse().ok()?;
    let m: i64 = digits[4..6].parse().ok()?;
    let d: i64 = digits[6..].parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Inverse of civil_from_days.
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * 86_400_000)
}

/// An event's time as RFC 3339 UTC, for people.
pub fn format_time(ms: i64) -> String {
    chrono_rfc3339(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(parse_date_millis("1970-01-01"), Some(0));
        let ms = parse_date_millis("2026-11-23").unwrap();
        assert_eq!(chrono_rfc3339(ms), "2026-11-23T00:00:00.000Z");
        assert_eq!(
            parse_date_millis("20240229").map(chrono_rfc3339).unwrap(),
            "2024-02-29T00:00:00.000Z"
        );
        assert_eq!(parse_date_millis("2026-13-01"), None);
        assert_eq!(parse_date_millis("yesterday"), None);
    }

    #[test]
    fn syslog_lines_follow_rfc_5424() {
        let e = AuditEvent {
            at: parse_date_millis("2026-11-23").unwrap() + 1_500,
            actor: "dr \"x\"".into(),
            actor_kind: "user".into(),
            source: "10.0.0.7".into(),
            action: "wado-rs".into(),
            outcome: "success".into(),
            patient_id: "P1".into(),
            study_instance_uid: "1.2.3".into(),
            detail: "GET /dicom-web/studies/1.2.3".into(),
            count: 12,
        };
        let line = format_syslog("pacs1", Action::WadoRs, &e);
        assert!(
            line.starts_with("<85>1 2026-11-23T00:00:01.500Z pacs1 filmless "),
            "{line}"
        );
        assert!(line.contains(" WADO-RS [dicom-audit@32473 EventID=\"DCM 110106 Export\""));
        assert!(line.contains("UserID=\"dr \\\"x\\\"\""));
        assert!(line.contains("PatientID=\"P1\" StudyInstanceUID=\"1.2.3\" Count=\"12\""));
        let failed = AuditEvent {
            outcome: "failure: wrong password".into(),
            ..e
        };
        assert!(format_syslog("h", Action::Login, &failed).starts_with("<84>1 "));
    }
}
