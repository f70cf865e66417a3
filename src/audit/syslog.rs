//! Audit events as RFC 5424 syslog over UDP (RFC 5426), with the fields of
//! a DICOM audit message (PS3.15 A.5) as structured data.

use std::net::SocketAddr;

use storage::AuditEvent;

use super::{format_time, Action};

/// RFC 5424 over UDP (RFC 5426).
pub(super) struct Syslog {
    socket: tokio::net::UdpSocket,
    hostname: String,
}

impl Syslog {
    pub(super) async fn open(url: &str) -> anyhow::Result<Option<Syslog>> {
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

    pub(super) async fn send(&self, action: Action, e: &AuditEvent) {
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
    let time = format_time(e.at);
    let sd = format!(
        "[dicom-audit@32473 EventID=\"DCM {event_id} {event_name}\" EventActionCode=\"{action_code}\" \
         EventOutcomeIndicator=\"{outcome}\" UserID=\"{user}\" UserIsRequestor=\"true\" \
         UserTypeCode=\"{kind}\" NetworkAccessPointID=\"{source}\" PatientID=\"{patient}\" \
         StudyInstanceUID=\"{study}\" Tenant=\"{tenant}\" Count=\"{count}\" Action=\"{act}\"]",
        outcome = if failed { 4 } else { 0 },
        user = sd_escape(&e.actor),
        kind = sd_escape(&e.actor_kind),
        source = sd_escape(&e.source),
        patient = sd_escape(&e.patient_id),
        study = sd_escape(&e.study_instance_uid),
        tenant = sd_escape(&e.tenant),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::parse_date_millis;

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
            tenant: "h1".into(),
        };
        let line = format_syslog("pacs1", Action::WadoRs, &e);
        assert!(
            line.starts_with("<85>1 2026-11-23T00:00:01.500Z pacs1 filmless "),
            "{line}"
        );
        assert!(line.contains(" WADO-RS [dicom-audit@32473 EventID=\"DCM 110106 Export\""));
        assert!(line.contains("UserID=\"dr \\\"x\\\"\""));
        assert!(
            line.contains("PatientID=\"P1\" StudyInstanceUID=\"1.2.3\" Tenant=\"h1\" Count=\"12\"")
        );
        let failed = AuditEvent {
            outcome: "failure: wrong password".into(),
            ..e
        };
        assert!(format_syslog("h", Action::Login, &failed).starts_with("<84>1 "));
    }
}
