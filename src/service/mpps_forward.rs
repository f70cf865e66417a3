//! MPPS forwarding: each N-CREATE and N-SET a modality sends is passed on,
//! as it came, to the peers of its tenant marked `forward_mpps` (a RIS
//! that follows the procedure steps, IHE SWF's Performed Procedure Step
//! Manager role). A durable job per message and recipient, sent in the
//! order received (an N-SET never overtakes its N-CREATE), retried with
//! backoff while the recipient is away, and surviving a restart.

use std::time::Duration;

use dicom_dictionary_std::uids;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use storage::index::Job;
use storage::TenantId;
use tokio_util::sync::CancellationToken;

use super::jobs::backoff;
use super::{Result, Service};

/// The job kind.
pub const JOB_KIND: &str = "mpps-forward";

/// How long a worker holds a message it is forwarding.
const LEASE_MS: i64 = 60_000;
/// Attempts before a message is given up (about a day with the backoff).
const MAX_ATTEMPTS: i64 = 300;

/// One message to forward.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Forward {
    /// The MPPS SOP Instance UID.
    sop_instance_uid: String,
    /// N-SET (true) or N-CREATE (false).
    set: bool,
    /// The data set the modality sent, DICOM JSON.
    data: Value,
}

impl Service {
    /// Queue `data` (an N-CREATE's attributes or an N-SET's modifications,
    /// DICOM JSON) for every recipient of `tenant`. Returns how many.
    pub(super) async fn forward_performed_step(
        &self,
        tenant: &TenantId,
        sop_instance_uid: &str,
        set: bool,
        data: &Value,
    ) -> Result<usize> {
        let recipients = self.peers().mpps_recipients(tenant);
        if recipients.is_empty() {
            return Ok(0);
        }
        let payload = serde_json::to_string(&Forward {
            sop_instance_uid: sop_instance_uid.to_owned(),
            set,
            data: data.clone(),
        })
        .map_err(|e| super::Error::Internal(format!("mpps forward job: {e}")))?;
        for ae in &recipients {
            self.archive()
                .index()
                .enqueue_job(tenant, JOB_KIND, ae, &payload, None)
                .await?;
        }
        self.inner.mpps_due.notify_one();
        Ok(recipients.len())
    }

    /// Forward queued MPPS messages until `stop`.
    pub async fn run_mpps_forwarding(self, stop: CancellationToken) {
        self.job_loop(
            JOB_KIND,
            LEASE_MS,
            &self.inner.mpps_due,
            stop,
            |this, job| async move { this.forward_one(job).await },
        )
        .await
    }

    async fn forward_one(&self, job: Job) {
        let index = self.archive().index();
        // In order per recipient: an older message still on its way goes
        // first.
        let result = match index.older_job_open(JOB_KIND, &job.target, job.id).await {
            Ok(true) => {
                index
                    .retry_job(
                        job.id,
                        job.attempts,
                        1_000,
                        "waiting for an earlier message",
                    )
                    .await
            }
            Err(e) => Err(e),
            Ok(false) => match self.try_forward_mpps(&job).await {
                Ok(()) => {
                    tracing::info!(job = job.id, recipient = %job.target, "mpps forwarded");
                    index.finish_job(job.id, job.attempts, None).await
                }
                Err((why, permanent)) if permanent || job.attempts >= MAX_ATTEMPTS => {
                    tracing::warn!(job = job.id, recipient = %job.target, reason = %why, "mpps not forwarded; given up");
                    index.finish_job(job.id, job.attempts, Some(&why)).await
                }
                Err((why, _)) => {
                    let delay = backoff(job.attempts);
                    tracing::info!(job = job.id, recipient = %job.target, reason = %why, retry_in_secs = delay / 1000, "mpps not forwarded yet");
                    index.retry_job(job.id, job.attempts, delay, &why).await
                }
            },
        };
        match result {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                job = job.id,
                "mpps forward job was taken over after its lease ended"
            ),
            Err(e) => tracing::warn!(error = %e, job = job.id, "cannot update the job"),
        }
    }

    /// One attempt: `Err((why, permanent))`.
    async fn try_forward_mpps(&self, job: &Job) -> std::result::Result<(), (String, bool)> {
        let forward: Forward = serde_json::from_str(&job.payload)
            .map_err(|e| (format!("unreadable job: {e}"), true))?;
        let data = storage::worklist::json_dataset(&forward.data)
            .map_err(|e| (format!("unreadable data set: {e}"), true))?;
        let Some(addr) = self.peers().address_of(&job.tenant, &job.target).await else {
            return Err((
                format!("{} has no address that resolves now", job.target),
                false,
            ));
        };
        let options = self.job_association(&job.tenant, &job.target, addr, Duration::from_secs(30));
        let response = dicom_net::scu::normalized(
            &options,
            forward.set,
            uids::MODALITY_PERFORMED_PROCEDURE_STEP,
            &forward.sop_instance_uid,
            &data,
        )
        .await
        .map_err(|e| (e.to_string(), false))?;
        match response.status.0 {
            _ if !response.status.is_failure() => Ok(()),
            // It has this step already (our earlier attempt's response was
            // lost): delivered.
            0x0111 if !forward.set => Ok(()),
            s => Err((
                format!(
                    "{} answered {s:04X}H{}",
                    job.target,
                    response
                        .comment
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default()
                ),
                true,
            )),
        }
    }
}
