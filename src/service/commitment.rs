//! Storage commitment (Push Model, PS3.4 J.3): a modality asks whether the
//! archive keeps every instance it sent before deleting its own copies.
//!
//! The request becomes a durable job at once, so a restart between the
//! N-ACTION and the N-EVENT-REPORT still sends the report. The DIMSE
//! adapter first tries to send it on the requesting association (leased
//! to it for a while); when that association is gone, the worker here
//! sends it on an association of its own to the requester's
//! `[[dicom.peers]]` entry (PS3.4 J.3.3), retrying with backoff while the
//! requester is not listening.

use std::time::Duration;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use serde::{Deserialize, Serialize};
use storage::index::Job;
use tokio_util::sync::CancellationToken;

use super::jobs::backoff;
use super::{Context, Error, Result, Right, Service};
use crate::audit::{Access, Action};
use crate::service::{Actor, ActorKind};

/// The job kind of a storage commitment report.
pub const JOB_KIND: &str = "storage-commitment";

/// The well-known SOP Instance UID of Storage Commitment Push Model.
pub const COMMITMENT_INSTANCE: &str = "1.2.840.10008.1.20.1.1";

/// How long the requesting association has to deliver a report before a
/// worker sends it on its own.
const SAME_ASSOCIATION_LEASE_MS: i64 = 60_000;
/// How long a worker holds a job it is sending (renewed once the report
/// is built, so checking a long list of instances cannot outlast it).
const WORKER_LEASE_MS: i64 = 120_000;
/// The lease the requesting association holds: a job enqueued already
/// leased has made its first attempt.
const ASSOCIATION_LEASE: i64 = 1;
/// Attempts on new associations before the job is failed (about a day
/// with the backoff below).
const MAX_ATTEMPTS: i64 = 300;

/// A commitment request as its job keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Request {
    transaction_uid: String,
    /// (SOP Class UID, SOP Instance UID) of each referenced instance.
    references: Vec<(String, String)>,
    /// The requester's AE title (where a report on a new association goes).
    calling_ae: String,
    /// The AE title it called (ours, or its tenant's).
    called_ae: String,
}

/// A commitment result: what the N-EVENT-REPORT carries.
#[derive(Debug, Clone)]
pub struct CommitmentReport {
    /// 1: all committed; 2: some failed (PS3.4 J.3.3.1).
    pub event_type_id: u16,
    /// Transaction UID, Referenced SOP Sequence, Failed SOP Sequence.
    pub event_information: InMemDicomObject,
    /// How many committed and failed.
    pub counts: (usize, usize),
}

fn sequence(items: Vec<InMemDicomObject>) -> dicom_core::value::DataSetSequence<InMemDicomObject> {
    dicom_core::value::DataSetSequence::from(items)
}

fn reference(class: &str, instance: &str) -> InMemDicomObject {
    let mut item = InMemDicomObject::new_empty();
    item.put(DataElement::new(
        tags::REFERENCED_SOP_CLASS_UID,
        VR::UI,
        PrimitiveValue::from(class),
    ));
    item.put(DataElement::new(
        tags::REFERENCED_SOP_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from(instance),
    ));
    item
}

impl Service {
    /// Accept a storage commitment request: a job, leased to the caller
    /// when it will try to deliver the report itself (`on_association`).
    pub async fn request_commitment(
        &self,
        ctx: &Context,
        action_information: &InMemDicomObject,
        called_ae: &str,
        on_association: bool,
    ) -> Result<i64> {
        self.require(
            ctx,
            Right::Commitment,
            Action::Commitment,
            "storage commitment",
        )
        .await?;
        let transaction_uid = action_information
            .get(tags::TRANSACTION_UID)
            .and_then(|e| e.to_str().ok())
            .map(|v| v.trim_matches(['\0', ' ']).to_owned())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                Error::procedure(
                    super::Refusal::MissingAttribute(tags::TRANSACTION_UID),
                    "Transaction UID (0008,1195) is required",
                )
            })?;
        let items = action_information
            .get(tags::REFERENCED_SOP_SEQUENCE)
            .and_then(|e| e.items())
            .unwrap_or_default();
        let max = self.inner.max_commitment_references;
        if items.len() > max {
            return Err(Error::procedure(
                super::Refusal::TooLarge,
                format!(
                    "{} instances in one request; at most {max} (dicom.max_commitment_references)",
                    items.len()
                ),
            ));
        }
        let mut references = Vec::with_capacity(items.len());
        for item in items {
            let get = |tag| {
                item.get(tag)
                    .and_then(|e| e.to_str().ok())
                    .map(|v| v.trim_matches(['\0', ' ']).to_owned())
                    .unwrap_or_default()
            };
            references.push((
                get(tags::REFERENCED_SOP_CLASS_UID),
                get(tags::REFERENCED_SOP_INSTANCE_UID),
            ));
        }
        if references.is_empty() {
            return Err(Error::procedure(
                super::Refusal::MissingAttribute(tags::REFERENCED_SOP_SEQUENCE),
                "Referenced SOP Sequence (0008,1199) lists no instance",
            ));
        }
        let tenant = Self::write_tenant(ctx);
        let request = Request {
            transaction_uid: transaction_uid.clone(),
            references,
            calling_ae: ctx.actor.name.clone(),
            called_ae: called_ae.to_owned(),
        };
        let payload = serde_json::to_string(&request)
            .map_err(|e| Error::Internal(format!("commitment job: {e}")))?;
        let id = self
            .archive()
            .index()
            .enqueue_job(
                &tenant,
                JOB_KIND,
                &ctx.actor.name,
                &payload,
                on_association.then_some(SAME_ASSOCIATION_LEASE_MS),
            )
            .await?;
        tracing::info!(
            job = id,
            transaction_uid = %transaction_uid,
            instances = request.references.len(),
            "storage commitment requested"
        );
        self.record(
            ctx,
            Action::Commitment,
            None,
            Some(&tenant),
            Default::default(),
            &format!(
                "requested: transaction {transaction_uid}, {} instances, job {id}",
                request.references.len()
            ),
        )
        .await;
        if !on_association {
            self.inner.jobs_due.notify_one();
        }
        Ok(id)
    }

    /// The result of commitment job `id`: each referenced instance checked
    /// against the archive (stored in the job's tenant, of the class
    /// named, its object intact).
    ///
    /// For the requesting association: its lease is renewed once the
    /// report is built; when the lease already ended (a worker took the
    /// job), the report is the worker's to send and this fails.
    pub async fn commitment_report(&self, id: i64) -> Result<CommitmentReport> {
        let index = self.archive().index();
        let job = index
            .job(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no job {id}").into()))?;
        let report = self.report_of(&job).await?;
        if !index
            .renew_job(id, ASSOCIATION_LEASE, SAME_ASSOCIATION_LEASE_MS)
            .await?
        {
            return Err(Error::Internal(format!(
                "the report of job {id} is already with the worker"
            )));
        }
        Ok(report)
    }

    async fn report_of(&self, job: &Job) -> Result<CommitmentReport> {
        let request: Request = serde_json::from_str(&job.payload)
            .map_err(|e| Error::Internal(format!("commitment job {}: {e}", job.id)))?;
        let mut committed = Vec::new();
        let mut failed = Vec::new();
        for (class, instance) in &request.references {
            let reason = if storage::Uid::parse("SOP Instance UID", instance).is_err() {
                Some(0x0112)
            } else {
                match self.archive().verify_instance(&job.tenant, instance).await {
                    Ok(None) => Some(0x0112u16),
                    Ok(Some((stored, _))) if &stored.sop_class_uid != class => Some(0x0119),
                    Ok(Some((_, true))) => None,
                    Ok(Some((_, false))) => Some(0x0110),
                    Err(e) => {
                        tracing::warn!(error = %e, sop_instance_uid = %instance, "cannot verify an instance for storage commitment");
                        Some(0x0110)
                    }
                }
            };
            match reason {
                None => committed.push(reference(class, instance)),
                Some(r) => {
                    let mut item = reference(class, instance);
                    item.put(DataElement::new(
                        tags::FAILURE_REASON,
                        VR::US,
                        PrimitiveValue::from(r),
                    ));
                    failed.push(item);
                }
            }
        }
        let counts = (committed.len(), failed.len());
        let mut info = InMemDicomObject::new_empty();
        info.put(DataElement::new(
            tags::TRANSACTION_UID,
            VR::UI,
            PrimitiveValue::from(request.transaction_uid.as_str()),
        ));
        if !committed.is_empty() {
            info.put(DataElement::new(
                tags::REFERENCED_SOP_SEQUENCE,
                VR::SQ,
                sequence(committed),
            ));
        }
        let event_type_id = if failed.is_empty() { 1 } else { 2 };
        if !failed.is_empty() {
            info.put(DataElement::new(
                tags::FAILED_SOP_SEQUENCE,
                VR::SQ,
                sequence(failed),
            ));
        }
        Ok(CommitmentReport {
            event_type_id,
            event_information: info,
            counts,
        })
    }

    /// How sending the report of job `id` ended: done, or back to the
    /// worker (at once: the requester is still likely to listen).
    pub async fn commitment_reported(
        &self,
        id: i64,
        outcome: std::result::Result<(), String>,
    ) -> Result<()> {
        let index = self.archive().index();
        let Some(job) = index.job(id).await? else {
            return Ok(());
        };
        match outcome {
            Ok(()) => {
                if index.finish_job(id, ASSOCIATION_LEASE, None).await? {
                    self.audit_report(&job, None).await;
                } else {
                    tracing::warn!(job = id, "storage commitment report sent after its lease ended; a worker may send it again");
                }
            }
            Err(why) => {
                if index.retry_job(id, ASSOCIATION_LEASE, 0, &why).await? {
                    tracing::info!(job = id, reason = %why, "storage commitment report goes on a new association");
                    self.inner.jobs_due.notify_one();
                }
            }
        }
        Ok(())
    }

    async fn audit_report(&self, job: &Job, failure: Option<String>) {
        let request: Option<Request> = serde_json::from_str(&job.payload).ok();
        self.inner
            .audit
            .record(Access {
                actor: Actor {
                    name: job.target.clone(),
                    kind: ActorKind::Ae,
                },
                source: String::new(),
                action: Action::Commitment,
                failure,
                tenant: job.tenant.clone(),
                patient_id: String::new(),
                study_instance_uid: String::new(),
                detail: format!(
                    "report of transaction {} sent (job {}, attempt {})",
                    request.map(|r| r.transaction_uid).unwrap_or_default(),
                    job.id,
                    job.attempts
                ),
            })
            .await;
    }

    /// Send due commitment reports on new associations until `stop`.
    pub async fn run_commitment_jobs(self, stop: CancellationToken) {
        self.job_loop(
            JOB_KIND,
            WORKER_LEASE_MS,
            &self.inner.jobs_due,
            stop,
            |this, job| async move { this.send_report(job).await },
        )
        .await
    }

    async fn send_report(&self, job: Job) {
        let index = self.archive().index();
        let outcome = self.try_send_report(&job).await;
        let result = match outcome {
            Ok(true) => {
                tracing::info!(job = job.id, requester = %job.target, "storage commitment report sent on a new association");
                match index.finish_job(job.id, job.attempts, None).await {
                    Ok(true) => {
                        self.audit_report(&job, None).await;
                        Ok(true)
                    }
                    other => other,
                }
            }
            Ok(false) => Ok(true),
            Err((why, permanent)) if permanent || job.attempts >= MAX_ATTEMPTS => {
                tracing::warn!(job = job.id, requester = %job.target, reason = %why, "storage commitment report failed; given up");
                match index.finish_job(job.id, job.attempts, Some(&why)).await {
                    Ok(true) => {
                        self.audit_report(&job, Some(why.clone())).await;
                        Ok(true)
                    }
                    other => other,
                }
            }
            Err((why, _)) => {
                let delay = backoff(job.attempts);
                tracing::info!(job = job.id, requester = %job.target, reason = %why, retry_in_secs = delay / 1000, "storage commitment report not delivered yet");
                index.retry_job(job.id, job.attempts, delay, &why).await
            }
        };
        match result {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(
                    job = job.id,
                    "storage commitment job was taken over after its lease ended"
                )
            }
            Err(e) => tracing::warn!(error = %e, job = job.id, "cannot update the job"),
        }
    }

    /// Send one report: `Ok(true)` when sent, `Ok(false)` when the lease
    /// ended while the report was built (another worker has the job);
    /// `Err((why, permanent))`.
    async fn try_send_report(&self, job: &Job) -> std::result::Result<bool, (String, bool)> {
        let request: Request = serde_json::from_str(&job.payload)
            .map_err(|e| (format!("unreadable job: {e}"), true))?;
        let report = self
            .report_of(job)
            .await
            .map_err(|e| (e.to_string(), false))?;
        match self
            .archive()
            .index()
            .renew_job(job.id, job.attempts, WORKER_LEASE_MS)
            .await
        {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(e) => return Err((e.to_string(), false)),
        }
        let Some(addr) = self
            .peers()
            .address_of(&job.tenant, &request.calling_ae)
            .await
        else {
            return Err((
                format!(
                    "the report could not go on the requesting association ({}), and {} is not a \
                     peer with a host and port to send it to (add it to [[dicom.peers]])",
                    if job.last_error.is_empty() {
                        "it ended"
                    } else {
                        &job.last_error
                    },
                    request.calling_ae
                ),
                true,
            ));
        };
        let mut options = self.job_association(
            &job.tenant,
            &request.calling_ae,
            addr,
            Duration::from_secs(30),
        );
        // From the AE title the requester called (PS3.4 J.3.3).
        if !request.called_ae.is_empty() {
            options.calling_ae = request.called_ae.clone();
        }
        let event = dicom_net::service::EventReport {
            sop_class_uid: uids::STORAGE_COMMITMENT_PUSH_MODEL.to_owned(),
            sop_instance_uid: COMMITMENT_INSTANCE.to_owned(),
            event_type_id: report.event_type_id,
            data_set: report.event_information,
        };
        match dicom_net::scu::event_report(&options, &event).await {
            Ok(r) if !r.status.is_failure() => Ok(true),
            Ok(r) => Err((format!("the requester answered {}", r.status), false)),
            Err(e) => Err((e.to_string(), false)),
        }
    }
}
