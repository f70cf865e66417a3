//! Routing: instances go to other archives by rules (`[[routing.rules]]`)
//! or by hand (`filmless send --to`, `POST /api/studies/{uid}/send`),
//! studies are pulled from other archives (`filmless retrieve`), and a
//! returning patient's priors are fetched (`[[routing.prefetch]]`). All of
//! it is durable jobs in the index (see `jobs`): a restart resumes them, a
//! peer that is away is retried with backoff, and nodes sharing one
//! PostgreSQL never run one job twice.
//!
//! Rules are matched in memory when an instance is stored, after it is
//! durable; the jobs are written by a task of their own, a batch of
//! arrivals at a time (the instances of one study arriving together become
//! one job per destination), so routing never slows a C-STORE.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_net::retrieve::{choose, data_set_as, proposals};
use dicom_net::scu::{Retrieved, ScuAssociation, ScuOptions};
use dicom_net::service::RetrieveItem;
use dicom_net::{Status, StatusClass};
use dicom_object::InMemDicomObject;
use serde::{Deserialize, Serialize};
use storage::index::{jobs::state, Job, NewJob};
use storage::{StoreOutcome, Stored, StoredInstance, TenantId};
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use super::jobs::backoff;
use super::{Context, Error, Protocol, Result, Right, Service};
use crate::audit::Action;
use crate::config::{
    DicomwebAuth, DicomwebConfig, DicomwebPeer, PrefetchRule, RoutingConfig, RoutingRule, Trigger,
};

/// Send instances to a peer.
pub const FORWARD: &str = "forward";
/// Pull a study from a peer (C-MOVE to us).
pub const RETRIEVE: &str = "retrieve";
/// Ask peers for a patient's earlier studies and pull the missing ones.
pub const PREFETCH: &str = "prefetch";
/// Every routing job kind.
pub const KINDS: [&str; 3] = [FORWARD, RETRIEVE, PREFETCH];

/// How long a C-MOVE or C-GET may go without a response (pending
/// responses are optional; the lease is renewed meanwhile).
const RETRIEVE_WAIT: Duration = Duration::from_secs(3600);
/// Attempts a retrieve with failed sub-operations gets before it fails.
const RETRIEVE_TRIES_ON_FAILED: i64 = 3;
/// How long arrivals are gathered into one batch of jobs.
const GATHER: Duration = Duration::from_millis(500);
/// How long an attempt holds its job before another node may take it;
/// renewed while the attempt makes progress.
const LEASE_MS: i64 = 120_000;
/// Study Root Query/Retrieve Information Model – FIND and – MOVE.
const STUDY_ROOT_FIND: &str = "1.2.840.10008.5.1.4.1.2.2.1";
const STUDY_ROOT_MOVE: &str = "1.2.840.10008.5.1.4.1.2.2.2";
const STUDY_ROOT_GET: &str = "1.2.840.10008.5.1.4.1.2.2.3";
/// The storage classes a C-GET proposes to receive (at most 127 with the
/// C-GET context): the images and documents radiology archives hold.
const GET_STORAGE_CLASSES: &[&str] = &[
    "1.2.840.10008.5.1.4.1.1.1",      // CR
    "1.2.840.10008.5.1.4.1.1.1.1",    // DX for presentation
    "1.2.840.10008.5.1.4.1.1.1.1.1",  // DX for processing
    "1.2.840.10008.5.1.4.1.1.1.2",    // MG for presentation
    "1.2.840.10008.5.1.4.1.1.1.2.1",  // MG for processing
    "1.2.840.10008.5.1.4.1.1.2",      // CT
    "1.2.840.10008.5.1.4.1.1.2.1",    // Enhanced CT
    "1.2.840.10008.5.1.4.1.1.4",      // MR
    "1.2.840.10008.5.1.4.1.1.4.1",    // Enhanced MR
    "1.2.840.10008.5.1.4.1.1.6.1",    // US
    "1.2.840.10008.5.1.4.1.1.3.1",    // US multi-frame
    "1.2.840.10008.5.1.4.1.1.7",      // Secondary Capture
    "1.2.840.10008.5.1.4.1.1.7.4",    // SC true colour
    "1.2.840.10008.5.1.4.1.1.12.1",   // XA
    "1.2.840.10008.5.1.4.1.1.12.2",   // RF
    "1.2.840.10008.5.1.4.1.1.20",     // NM
    "1.2.840.10008.5.1.4.1.1.128",    // PET
    "1.2.840.10008.5.1.4.1.1.481.1",  // RT Image
    "1.2.840.10008.5.1.4.1.1.88.11",  // Basic Text SR
    "1.2.840.10008.5.1.4.1.1.88.22",  // Enhanced SR
    "1.2.840.10008.5.1.4.1.1.88.33",  // Comprehensive SR
    "1.2.840.10008.5.1.4.1.1.104.1",  // Encapsulated PDF
    "1.2.840.10008.5.1.4.1.1.11.1",   // Grayscale Softcopy Presentation State
    "1.2.840.10008.5.1.4.1.1.13.1.3", // Breast Tomosynthesis
    "1.2.840.10008.5.1.4.1.1.77.1.4", // VL Photographic
];

/// The presentation contexts a C-GET proposes for the instances coming
/// back: each storage class, in the transfer syntaxes archives store.
fn get_storage_proposals() -> Vec<(String, Vec<String>)> {
    let syntaxes: Vec<String> = [
        EXPLICIT_LE,
        IMPLICIT_LE,
        "1.2.840.10008.1.2.4.70",
        "1.2.840.10008.1.2.4.50",
        "1.2.840.10008.1.2.4.51",
        "1.2.840.10008.1.2.4.57",
        "1.2.840.10008.1.2.4.80",
        "1.2.840.10008.1.2.4.81",
        "1.2.840.10008.1.2.4.90",
        "1.2.840.10008.1.2.4.91",
        "1.2.840.10008.1.2.5",
        "1.2.840.10008.1.2.1.99",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    GET_STORAGE_CLASSES
        .iter()
        .map(|c| (c.to_string(), syntaxes.clone()))
        .collect()
}
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const IMPLICIT_LE: &str = "1.2.840.10008.1.2";

/// A forward job: the instances of a study (all of it when `instances`
/// is empty).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ForwardJob {
    study: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    instances: Vec<String>,
    /// The rule that made it; empty for a manual send.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    rule: String,
}

/// A retrieve job: one study from the job's peer.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RetrieveJob {
    study: String,
}

/// A prefetch job: the priors of a patient whose `study` arrived.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PrefetchJob {
    patient_id: String,
    study: String,
    /// Index of the `[[routing.prefetch]]` entry.
    rule: usize,
}

/// The key of a study's retrieve job: one at a time per study and tenant,
/// whichever peer it comes from.
fn retrieve_key(tenant: &TenantId, study: &str) -> String {
    format!("retrieve|{tenant}|{study}")
}

/// A job payload as JSON.
fn json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Internal(e.to_string()))
}

/// An instance stored that rules or prefetch want.
#[derive(Debug)]
struct Arrival {
    tenant: TenantId,
    study: String,
    sop_instance_uid: String,
    patient_id: String,
    rules: Vec<usize>,
    prefetch: Vec<usize>,
}

/// An arrival as the routing journal keeps it (rules by name: the
/// configuration may change before a restart routes it).
#[derive(Debug, Serialize, Deserialize)]
struct JournaledArrival {
    study: String,
    patient_id: String,
    rules: Vec<String>,
    prefetch: Vec<usize>,
}

/// What an ingest journals for routing with an instance's rows.
pub(super) type ArrivalJournal =
    Box<dyn Fn(&storage::record::InstanceRecord) -> Option<String> + Send + Sync>;

/// The calling AE title of a DIMSE request ('' for the other protocols).
fn calling_ae(ctx: &Context) -> &str {
    if ctx.protocol == Protocol::Dimse {
        ctx.actor.name.as_str()
    } else {
        ""
    }
}

/// How often arrivals left in the journal are looked for (a crash after
/// the acknowledgment, or routing stopped before it wrote them; on
/// PostgreSQL also another node's).
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The routing configuration and its queues.
pub struct Routing {
    rules: Vec<RoutingRule>,
    prefetch: Vec<PrefetchRule>,
    dicomweb: Vec<DicomwebPeer>,
    max_attempts: i64,
    max_per_peer: usize,
    sweep_after_ms: i64,
    arrivals: mpsc::Sender<Arrival>,
    receiver: Mutex<Option<mpsc::Receiver<Arrival>>>,
    due: Notify,
    slots: Mutex<HashMap<String, Arc<Semaphore>>>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Routing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routing")
            .field("rules", &self.rules.len())
            .field("prefetch", &self.prefetch.len())
            .field("dicomweb", &self.dicomweb.len())
            .finish()
    }
}

impl Routing {
    /// From `[routing]` and `[dicomweb]` (validated by the configuration).
    pub fn new(routing: &RoutingConfig, dicomweb: &DicomwebConfig) -> Self {
        let (arrivals, receiver) = mpsc::channel(65_536);
        Routing {
            rules: routing.rules.clone(),
            prefetch: routing.prefetch.clone(),
            dicomweb: dicomweb.peers.clone(),
            max_attempts: routing.max_attempts.max(1),
            max_per_peer: routing.max_per_peer.max(1),
            sweep_after_ms: i64::try_from(routing.sweep_after_secs.saturating_mul(1000))
                .unwrap_or(i64::MAX),
            arrivals,
            receiver: Mutex::new(Some(receiver)),
            due: Notify::new(),
            slots: Mutex::new(HashMap::new()),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(300))
                .build()
                .unwrap_or_default(),
        }
    }

    fn slot(&self, tenant: &TenantId, target: &str) -> Arc<Semaphore> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots
            .entry(format!("{tenant}|{target}"))
            .or_insert_with(|| Arc::new(Semaphore::new(self.max_per_peer)))
            .clone()
    }
}

/// Whether `value` matches one of `patterns` (`*`, `?`; case-insensitive);
/// an empty list matches anything.
pub fn matches_any(patterns: &[String], value: &str) -> bool {
    patterns.is_empty()
        || patterns
            .iter()
            .any(|p| wildcard(&p.trim().to_uppercase(), &value.trim().to_uppercase()))
}

fn wildcard(pattern: &str, value: &str) -> bool {
    let (p, v): (Vec<char>, Vec<char>) = (pattern.chars().collect(), value.chars().collect());
    let (mut pi, mut vi, mut star, mut mark) = (0, 0, None, 0);
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Where a job's instances go.
enum Destination<'a> {
    Dicom(SocketAddr),
    Web(&'a DicomwebPeer),
}

/// How an attempt ended.
enum Attempt {
    /// Every instance went, except those refused for good (with why).
    Sent { sent: i64, refused: Vec<String> },
    /// Try again later.
    Again(String),
    /// No point trying again.
    Failed(String),
    /// Another node took the job (our lease ended).
    Lost,
}

/// A job as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    /// Its id.
    pub id: i64,
    /// `forward`, `retrieve`, `prefetch`.
    pub kind: String,
    /// `pending`, `running`, `done`, `failed`.
    pub state: String,
    /// The peer it sends to or pulls from.
    pub peer: String,
    /// Its tenant.
    pub tenant: String,
    /// The study it moves.
    pub study: String,
    /// Attempts so far (since the last manual retry).
    pub attempts: i64,
    /// When the next attempt is due (or the running one's lease ends),
    /// RFC 3339.
    pub next_attempt_at: String,
    /// The last attempt's error.
    pub last_error: String,
    /// Instances done.
    pub done: i64,
    /// Instances in all (0 while unknown).
    pub total: i64,
    /// Queued at, RFC 3339.
    pub created_at: String,
    /// Last change, RFC 3339.
    pub updated_at: String,
}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

impl From<Job> for JobView {
    fn from(j: Job) -> Self {
        let study = serde_json::from_str::<serde_json::Value>(&j.payload)
            .ok()
            .and_then(|v| v["study"].as_str().map(str::to_owned))
            .unwrap_or_default();
        JobView {
            id: j.id,
            kind: j.kind,
            state: j.state,
            peer: j.target,
            tenant: j.tenant.to_string(),
            study,
            attempts: j.attempts - j.attempt_base,
            next_attempt_at: rfc3339(j.next_attempt_at),
            last_error: j.last_error,
            done: j.done,
            total: j.total,
            created_at: rfc3339(j.created_at),
            updated_at: rfc3339(j.updated_at),
        }
    }
}

impl Service {
    fn routing(&self) -> &Routing {
        &self.inner.routing
    }

    /// What an ingest journals with an instance's rows for routing (see
    /// [`storage::StoreTarget`]): the rules and prefetches it matches, or
    /// `None` when routing has none.
    pub(super) fn arrival_journal(
        &self,
        ctx: &Context,
        tenant: &TenantId,
    ) -> Option<ArrivalJournal> {
        let r = self.routing();
        if r.rules.is_empty() && r.prefetch.is_empty() {
            return None;
        }
        let this = self.clone();
        let calling = calling_ae(ctx).to_owned();
        let tenant = tenant.clone();
        Some(Box::new(move |record: &storage::record::InstanceRecord| {
            let attributes = storage::RoutingAttributes::of(record);
            let patient_id = record.patient.patient_id.as_str();
            let (rules, prefetch) = this.route_match(&calling, &tenant, &attributes, patient_id)?;
            let r = this.routing();
            serde_json::to_string(&JournaledArrival {
                study: record.study.study_instance_uid.to_string(),
                patient_id: patient_id.to_owned(),
                rules: rules.iter().map(|&n| r.rules[n].name.clone()).collect(),
                prefetch,
            })
            .ok()
        }))
    }

    /// After a store: hand the instance to routing when a rule or a
    /// prefetch wants it (its arrival is in the journal already). Never
    /// fails the store.
    pub(super) async fn route_stored(&self, ctx: &Context, tenant: &TenantId, stored: &Stored) {
        let r = self.routing();
        if (r.rules.is_empty() && r.prefetch.is_empty())
            || !matches!(
                stored.outcome,
                StoreOutcome::Stored | StoreOutcome::Replaced
            )
        {
            return;
        }
        let Some((rules, prefetch)) =
            self.route_match(calling_ae(ctx), tenant, &stored.routing, &stored.patient_id)
        else {
            return;
        };
        let arrival = Arrival {
            tenant: tenant.clone(),
            study: stored.study_instance_uid.clone(),
            sop_instance_uid: stored.sop_instance_uid.clone(),
            patient_id: stored.patient_id.clone(),
            rules,
            prefetch,
        };
        if r.arrivals.send(arrival).await.is_err() {
            tracing::warn!(sop_instance_uid = %stored.sop_instance_uid, "routing has stopped: the instance is routed at the next start");
        }
    }

    /// The rules and prefetches (their indexes) an arriving instance
    /// matches; `None`: none.
    fn route_match(
        &self,
        calling: &str,
        tenant: &TenantId,
        a: &storage::RoutingAttributes,
        patient_id: &str,
    ) -> Option<(Vec<usize>, Vec<usize>)> {
        let r = self.routing();
        let called = self.peers().our_ae_title(tenant);
        let rules: Vec<usize> = r
            .rules
            .iter()
            .enumerate()
            .filter(|(_, rule)| {
                (rule.calling_ae.is_empty() || matches_any(&rule.calling_ae, calling))
                    && matches_any(&rule.called_ae, called)
                    && matches_any(&rule.modality, &a.modality)
                    && matches_any(&rule.body_part, &a.body_part_examined)
                    && matches_any(&rule.institution, &a.institution_name)
                    && matches_any(&rule.station, &a.station_name)
            })
            .map(|(n, _)| n)
            .collect();
        let prefetch: Vec<usize> = r
            .prefetch
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                !patient_id.is_empty()
                    && !p.from.iter().any(|f| f.trim() == calling)
                    && matches_any(&p.when_modality, &a.modality)
            })
            .map(|(n, _)| n)
            .collect();
        if rules.is_empty() && prefetch.is_empty() {
            return None;
        }
        Some((rules, prefetch))
    }

    /// Start the task that writes the jobs arrivals call for, a batch at a
    /// time, until `stop` (then it writes what is left and ends). Started
    /// once, where the archive is opened.
    pub fn spawn_arrival_queue(&self, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        let receiver = self
            .routing()
            .receiver
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let this = self.clone();
        tokio::spawn(async move {
            if let Some(rx) = receiver {
                this.queue_arrivals(rx, stop).await
            }
        })
    }

    /// Run the routing jobs until `stop`.
    pub async fn run_routing(self, stop: CancellationToken) {
        let due = &self.routing().due;
        let forward = self.job_loop(
            FORWARD,
            LEASE_MS,
            due,
            stop.clone(),
            |this, job| async move { this.forward_job(job).await },
        );
        let retrieve = self.job_loop(
            RETRIEVE,
            LEASE_MS,
            due,
            stop.clone(),
            |this, job| async move { this.retrieve_job(job).await },
        );
        let prefetch = self.job_loop(
            PREFETCH,
            LEASE_MS,
            due,
            stop.clone(),
            |this, job| async move { this.prefetch_job(job).await },
        );
        let sweep = self.sweep_arrivals(stop);
        tokio::join!(forward, retrieve, prefetch, sweep);
    }

    /// Route again what the journal holds of arrivals whose jobs were never
    /// written (a crash after the acknowledgment, a stop while the index
    /// was down): at start, then every minute. On SQLite (one node) all
    /// that was journaled before this start is left over; otherwise what
    /// is older than `routing.sweep_after_secs` (another node's live
    /// arrivals are not).
    /// Each goes through the same queue; the journal row is claimed in
    /// the transaction of its jobs, so nothing is routed twice.
    async fn sweep_arrivals(&self, stop: CancellationToken) {
        let r = self.routing();
        let index = self.archive().index();
        if r.rules.is_empty() && r.prefetch.is_empty() {
            // Routing is off: what it journaled before is not routed
            // months later when rules come back.
            match index.clear_routing_arrivals().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(arrivals = n, "routing is off: its journal is cleared"),
                Err(e) => tracing::warn!(error = %e, "cannot clear the routing journal"),
            }
            return;
        }
        let mut before = match index.backend() {
            storage::Backend::Sqlite => storage::index::now_millis(),
            _ => storage::index::now_millis().saturating_sub(r.sweep_after_ms),
        };
        const PAGE: i64 = 1000;
        loop {
            // The whole backlog, a page at a time (a crash during a night's
            // ingest can leave many thousands); the queue's bound paces it.
            let mut after = None;
            let mut swept = 0usize;
            loop {
                // Live arrivals share the queue: a page waits for room.
                while r.arrivals.capacity() < r.arrivals.max_capacity() / 2 {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    }
                }
                match index.routing_arrivals(before, after.as_ref(), PAGE).await {
                    Ok(mut page) => {
                        let full = page.len() as i64 == PAGE;
                        swept += page.len();
                        after = page.last().cloned();
                        for a in page.drain(..) {
                            let arrival = self.journaled_arrival(a);
                            if r.arrivals.send(arrival).await.is_err() {
                                return;
                            }
                        }
                        if !full {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the routing journal");
                        break;
                    }
                }
            }
            if swept > 0 {
                tracing::info!(
                    arrivals = swept,
                    "routing arrivals left in the journal: routed again"
                );
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(SWEEP_EVERY) => {}
            }
            before = storage::index::now_millis().saturating_sub(r.sweep_after_ms);
        }
    }

    /// An arrival from the journal, with the rules it named that still
    /// exist.
    fn journaled_arrival(&self, a: storage::index::RoutingArrival) -> Arrival {
        let r = self.routing();
        let j: JournaledArrival = serde_json::from_str(&a.payload).unwrap_or(JournaledArrival {
            study: String::new(),
            patient_id: String::new(),
            rules: Vec::new(),
            prefetch: Vec::new(),
        });
        Arrival {
            tenant: a.tenant,
            study: j.study,
            sop_instance_uid: a.sop_instance_uid,
            patient_id: j.patient_id,
            rules: j
                .rules
                .iter()
                .filter_map(|name| r.rules.iter().position(|rule| &rule.name == name))
                .collect(),
            prefetch: j
                .prefetch
                .into_iter()
                .filter(|&n| n < r.prefetch.len())
                .collect(),
        }
    }

    async fn queue_arrivals(&self, mut rx: mpsc::Receiver<Arrival>, stop: CancellationToken) {
        let mut seen_studies: HashSet<(TenantId, String)> = HashSet::new();
        let mut stopping = false;
        loop {
            let first = if stopping {
                rx.try_recv().ok()
            } else {
                tokio::select! {
                    _ = stop.cancelled() => {
                        // No more arrivals; write what is queued, then end.
                        rx.close();
                        stopping = true;
                        rx.try_recv().ok()
                    }
                    a = rx.recv() => a,
                }
            };
            let Some(first) = first else { return };
            // The rest of what arrives together (a modality sends a series
            // in a burst): a job per study and destination, not per
            // instance.
            let mut batch = vec![first];
            let until = tokio::time::Instant::now() + GATHER;
            while batch.len() < 2000 {
                let next = if stopping {
                    rx.try_recv().ok()
                } else {
                    tokio::select! {
                        _ = stop.cancelled() => None,
                        a = tokio::time::timeout_at(until, rx.recv()) => a.ok().flatten(),
                    }
                };
                match next {
                    Some(a) => batch.push(a),
                    None => break,
                }
            }
            if seen_studies.len() > 100_000 {
                seen_studies.clear();
            }
            let mut tries = 0;
            loop {
                match self.queue_batch(&batch, &mut seen_studies).await {
                    Ok(()) => break,
                    Err(e) => {
                        tries += 1;
                        tracing::error!(error = %e, arrivals = batch.len(), "cannot write routing jobs; trying again");
                        if stopping && tries >= 3 {
                            tracing::error!(arrivals = batch.len(), "routing jobs not written (stopping): the server routes them from its journal at its next start");
                            break;
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
            self.routing().due.notify_waiters();
        }
    }

    /// Queue the jobs of a batch of arrivals, taking them out of the
    /// routing journal in the same transaction.
    async fn queue_batch(
        &self,
        batch: &[Arrival],
        seen_studies: &mut HashSet<(TenantId, String)>,
    ) -> Result<()> {
        let keys: Vec<(TenantId, String)> = batch
            .iter()
            .map(|a| (a.tenant.clone(), a.sop_instance_uid.clone()))
            .collect();
        let mut new_studies = Vec::new();
        let seen: &HashSet<(TenantId, String)> = seen_studies;
        self.archive()
            .index()
            .enqueue_from_arrivals(&keys, |claimed| {
                let mine: Vec<&Arrival> = batch
                    .iter()
                    .zip(claimed)
                    .filter(|(_, c)| **c)
                    .map(|(a, _)| a)
                    .collect();
                let (jobs, studies) = self
                    .arrival_jobs(&mine, seen)
                    .map_err(|e| storage::Error::Internal(e.to_string().into()))?;
                new_studies = studies;
                Ok(jobs)
            })
            .await?;
        seen_studies.extend(new_studies);
        Ok(())
    }

    /// The jobs a batch of arrivals calls for, and the studies it saw new.
    #[allow(clippy::type_complexity)]
    fn arrival_jobs(
        &self,
        batch: &[&Arrival],
        seen_studies: &HashSet<(TenantId, String)>,
    ) -> Result<(Vec<NewJob>, Vec<(TenantId, String)>)> {
        let r = self.routing();
        let now = storage::index::now_millis();
        // Instance rules: one job per (tenant, destination, study, rule).
        let mut grouped: HashMap<(TenantId, String, String, usize), Vec<String>> = HashMap::new();
        let mut order = Vec::new();
        let mut stable = Vec::new();
        let mut prefetch = Vec::new();
        let mut new_studies = Vec::new();
        for a in batch {
            for &n in &a.rules {
                let rule = &r.rules[n];
                for dest in rule.to.iter().filter(|d| self.is_destination(&a.tenant, d)) {
                    match rule.on {
                        Trigger::Instance => {
                            let key = (a.tenant.clone(), dest.clone(), a.study.clone(), n);
                            let list = grouped.entry(key.clone()).or_default();
                            if list.is_empty() {
                                order.push(key);
                            }
                            list.push(a.sop_instance_uid.clone());
                        }
                        Trigger::StudyStable => {
                            let key = (a.tenant.clone(), dest.clone(), a.study.clone(), n);
                            if !stable.contains(&key) {
                                stable.push(key);
                            }
                        }
                    }
                }
            }
            let study = (a.tenant.clone(), a.study.clone());
            if !seen_studies.contains(&study) && !new_studies.contains(&study) {
                new_studies.push(study);
                for &n in &a.prefetch {
                    let key = (a.tenant.clone(), a.patient_id.clone(), a.study.clone(), n);
                    if !prefetch
                        .iter()
                        .any(|(t, p, _, m)| (t, p, m) == (&key.0, &key.1, &key.3))
                    {
                        prefetch.push(key);
                    }
                }
            }
        }
        let mut jobs = Vec::new();
        for key in order {
            let instances = grouped.remove(&key).unwrap_or_default();
            let (tenant, dest, study, n) = key;
            jobs.push(NewJob {
                tenant,
                kind: FORWARD.to_owned(),
                target: dest,
                payload: json(&ForwardJob {
                    study,
                    instances,
                    rule: r.rules[n].name.clone(),
                })?,
                dedup: String::new(),
                due_ms: None,
            });
        }
        for (tenant, dest, study, n) in stable {
            let rule = &r.rules[n];
            jobs.push(NewJob {
                dedup: format!("stable|{}|{dest}|{tenant}|{study}", rule.name),
                tenant,
                kind: FORWARD.to_owned(),
                target: dest,
                payload: json(&ForwardJob {
                    study,
                    instances: Vec::new(),
                    rule: rule.name.clone(),
                })?,
                due_ms: Some(now + rule.stable_secs as i64 * 1000),
            });
        }
        for (tenant, patient_id, study, n) in prefetch {
            // A moment for the study to settle; one pending per patient.
            jobs.push(NewJob {
                dedup: format!("prefetch|{n}|{tenant}|{patient_id}"),
                tenant,
                kind: PREFETCH.to_owned(),
                target: String::new(),
                payload: json(&PrefetchJob {
                    patient_id,
                    study,
                    rule: n,
                })?,
                due_ms: Some(now + 2_000),
            });
        }
        Ok((jobs, new_studies))
    }

    /// A worklist item was scheduled (an order): fetch the patient's
    /// priors as prefetch rules say, before the modality even starts.
    /// Never fails the order.
    pub(super) async fn prefetch_for_order(
        &self,
        tenant: &TenantId,
        patient_id: &str,
        study: &str,
        modality: &str,
    ) {
        let r = self.routing();
        if patient_id.is_empty() {
            return;
        }
        for (n, p) in r.prefetch.iter().enumerate() {
            if !matches_any(&p.when_modality, modality) {
                continue;
            }
            let payload = match serde_json::to_string(&PrefetchJob {
                patient_id: patient_id.to_owned(),
                study: study.to_owned(),
                rule: n,
            }) {
                Ok(p) => p,
                Err(_) => continue,
            };
            let queued = self
                .archive()
                .index()
                .enqueue_or_postpone(
                    tenant,
                    PREFETCH,
                    "",
                    &payload,
                    &format!("prefetch|{n}|{tenant}|{patient_id}"),
                    storage::index::now_millis(),
                )
                .await;
            if let Err(e) = queued {
                tracing::warn!(error = %e, "cannot queue the prefetch of an order's priors");
            }
        }
        r.due.notify_waiters();
    }

    // ---------------------------------------------------------- by hand

    /// Queue sending `study` to `to` (a DICOM peer's AE title or a
    /// DICOMweb peer's name). Returns the job's id.
    pub async fn send_study(&self, ctx: &Context, study: &str, to: &str) -> Result<i64> {
        self.send_part(ctx, study, None, to).await
    }

    /// Queue sending `study`, or only its series `series`, to `to`.
    /// Returns the job's id.
    pub async fn send_part(
        &self,
        ctx: &Context,
        study: &str,
        series: Option<&str>,
        to: &str,
    ) -> Result<i64> {
        self.require(ctx, Right::Jobs, Action::Transfer, "send")
            .await?;
        let (study, tenant) = self.stored_study(ctx, study).await?;
        if self.destination(&tenant, to).await.is_none() {
            return Err(Error::Invalid(
                format!(
                    "{to:?} is not a destination of tenant {tenant}: neither a [[dicom.peers]] AE \
                     title with a reachable host nor a [[dicomweb.peers]] name"
                )
                .into(),
            ));
        }
        // One series: its instances, named.
        let instances = match series {
            None => Vec::new(),
            Some(se) => {
                let sops: Vec<String> = self
                    .archive()
                    .index()
                    .study_instances(&tenant, study.as_str())
                    .await?
                    .into_iter()
                    .filter(|i| i.series_instance_uid == se)
                    .map(|i| i.sop_instance_uid)
                    .collect();
                if sops.is_empty() {
                    return Err(Error::not_found(format!("no series {se} in study {study}")));
                }
                sops
            }
        };
        let payload = serde_json::to_string(&ForwardJob {
            study: study.as_str().to_owned(),
            instances,
            rule: String::new(),
        })
        .map_err(|e| Error::Internal(e.to_string()))?;
        let id = self
            .archive()
            .index()
            .enqueue_job(&tenant, FORWARD, to, &payload, None)
            .await?;
        self.record(
            ctx,
            Action::Transfer,
            None,
            Some(&tenant),
            (String::new(), study.as_str().to_owned()),
            &match series {
                Some(se) => format!("send of series {se} to {to} queued as job {id}"),
                None => format!("send to {to} queued as job {id}"),
            },
        )
        .await;
        self.routing().due.notify_waiters();
        Ok(id)
    }

    /// Queue pulling each of `studies` from the DICOM peer `from` (C-MOVE
    /// to our AE title, or C-GET), into the caller's tenant. A study with a
    /// retrieve job pending, running or done already is not queued again
    /// (so a migration's list can be run again after an interruption).
    /// Returns, per study, its job and whether it is new.
    pub async fn retrieve_studies(
        &self,
        ctx: &Context,
        from: &str,
        studies: &[String],
    ) -> Result<Vec<(String, i64, bool)>> {
        self.require(ctx, Right::Jobs, Action::Transfer, "retrieve")
            .await?;
        let tenant = Self::write_tenant(ctx);
        if self.peers().address_of(&tenant, from).await.is_none() {
            return Err(Error::Invalid(
                format!("{from:?} is not a [[dicom.peers]] AE title of tenant {tenant} with a reachable host").into(),
            ));
        }
        let index = self.archive().index();
        let mut out = Vec::with_capacity(studies.len());
        let mut jobs = Vec::new();
        for s in studies {
            let uid = storage::Uid::parse("StudyInstanceUID", s)?;
            let dedup = retrieve_key(&tenant, uid.as_str());
            if let Some(j) = index.job_by_dedup(&dedup).await? {
                if j.state != state::FAILED {
                    out.push((uid.as_str().to_owned(), j.id, false));
                    continue;
                }
            }
            jobs.push(NewJob {
                tenant: tenant.clone(),
                kind: RETRIEVE.to_owned(),
                target: from.to_owned(),
                payload: json(&RetrieveJob {
                    study: uid.as_str().to_owned(),
                })?,
                dedup,
                due_ms: None,
            });
            out.push((uid.as_str().to_owned(), 0, true));
        }
        let ids = index.enqueue_batch(&jobs).await?;
        let mut ids = ids.into_iter();
        for entry in out.iter_mut().filter(|e| e.2) {
            entry.1 = ids.next().unwrap_or_default();
        }
        self.record(
            ctx,
            Action::Transfer,
            None,
            Some(&tenant),
            Default::default(),
            &format!("retrieve of {} studies from {from} queued", jobs.len()),
        )
        .await;
        self.routing().due.notify_waiters();
        Ok(out)
    }

    /// C-FIND on the DICOM peer `peer` (Study Root) with `identifier`:
    /// the matches.
    pub async fn query_peer(
        &self,
        ctx: &Context,
        peer: &str,
        identifier: &InMemDicomObject,
    ) -> Result<Vec<InMemDicomObject>> {
        self.require(ctx, Right::Jobs, Action::CFind, "query a peer")
            .await?;
        let tenant = Self::write_tenant(ctx);
        let addr = self
            .peers()
            .address_of(&tenant, peer)
            .await
            .ok_or_else(|| {
                Error::Invalid(
                    format!("{peer:?} is not a [[dicom.peers]] AE title with a reachable host")
                        .into(),
                )
            })?;
        let found = self
            .find_on(&tenant, peer, addr, identifier)
            .await
            .map_err(|e| Error::Unavailable(format!("C-FIND on {peer}: {e}")))?;
        self.record(
            ctx,
            Action::CFind,
            None,
            Some(&tenant),
            Default::default(),
            &format!("query of {peer}: {} matches", found.len()),
        )
        .await;
        Ok(found)
    }

    async fn find_on(
        &self,
        tenant: &TenantId,
        peer: &str,
        addr: SocketAddr,
        identifier: &InMemDicomObject,
    ) -> std::result::Result<Vec<InMemDicomObject>, String> {
        let options = self.scu_options(tenant, peer, addr);
        let mut assoc = ScuAssociation::connect(
            &options,
            &[(
                STUDY_ROOT_FIND.to_owned(),
                vec![EXPLICIT_LE.to_owned(), IMPLICIT_LE.to_owned()],
            )],
        )
        .await
        .map_err(|e| e.to_string())?;
        let result = async {
            let pc = assoc
                .accepted()
                .into_iter()
                .find(|c| c.abstract_syntax == STUDY_ROOT_FIND)
                .ok_or("the peer does not take Study Root C-FIND")?;
            let data = dicom_net::dataset::encode(identifier, &pc.transfer_syntax)
                .map_err(|e| e.to_string())?;
            let (matches, response) = assoc.find(&pc, &data).await.map_err(|e| e.to_string())?;
            if response.status.is_failure() {
                return Err(format!("the peer answered {}", response.status));
            }
            matches
                .iter()
                .map(|m| {
                    dicom_net::dataset::decode(m, &pc.transfer_syntax).map_err(|e| e.to_string())
                })
                .collect()
        }
        .await;
        let _ = assoc.release().await;
        result
    }

    /// Routing jobs for `ctx` (its tenant's; the platform's: all), newest
    /// first.
    pub async fn list_jobs(
        &self,
        ctx: &Context,
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<JobView>> {
        self.require(ctx, Right::Jobs, Action::Jobs, "list jobs")
            .await?;
        if let Some(s) = state {
            if ![state::PENDING, state::RUNNING, state::DONE, state::FAILED].contains(&s) {
                return Err(Error::Invalid(
                    format!("state {s:?}: one of pending, running, done, failed").into(),
                ));
            }
        }
        let jobs = self
            .archive()
            .index()
            .list_jobs(&KINDS, state, ctx.tenant(), limit.clamp(1, 10_000))
            .await?;
        Ok(jobs.into_iter().map(JobView::from).collect())
    }

    /// One routing job.
    pub async fn job(&self, ctx: &Context, id: i64) -> Result<JobView> {
        self.require(ctx, Right::Jobs, Action::Jobs, "show job")
            .await?;
        self.own_job(ctx, id).await.map(JobView::from)
    }

    async fn own_job(&self, ctx: &Context, id: i64) -> Result<Job> {
        self.archive()
            .index()
            .job(id)
            .await?
            .filter(|j| KINDS.contains(&j.kind.as_str()))
            .filter(|j| ctx.tenant().is_none_or(|t| t == &j.tenant))
            .ok_or_else(|| Error::not_found(format!("no job {id}")))
    }

    /// Try a failed (or finished) job again, from its first attempt.
    pub async fn retry_job(&self, ctx: &Context, id: i64) -> Result<()> {
        self.require(ctx, Right::Jobs, Action::Jobs, "retry job")
            .await?;
        let job = self.own_job(ctx, id).await?;
        if !self.archive().index().requeue_job(id).await? {
            return Err(Error::Invalid(
                format!(
                    "job {id} is {}: only a failed or done job is retried",
                    job.state
                )
                .into(),
            ));
        }
        self.record(
            ctx,
            Action::Jobs,
            None,
            Some(&job.tenant),
            Default::default(),
            &format!("job {id} retried"),
        )
        .await;
        self.routing().due.notify_waiters();
        Ok(())
    }

    /// Cancel a job that is not finished.
    pub async fn cancel_job(&self, ctx: &Context, id: i64) -> Result<()> {
        self.require(ctx, Right::Jobs, Action::Jobs, "cancel job")
            .await?;
        let job = self.own_job(ctx, id).await?;
        let why = format!("cancelled by {}", ctx.actor.name);
        if !self.archive().index().cancel_job(id, &why).await? {
            return Err(Error::Invalid(
                format!("job {id} is {} already", job.state).into(),
            ));
        }
        self.record(
            ctx,
            Action::Jobs,
            None,
            Some(&job.tenant),
            Default::default(),
            &format!("job {id} cancelled"),
        )
        .await;
        Ok(())
    }

    /// Run job `id` here until it is done or failed (taking it whenever
    /// it is due, so it works with or without a server running; a server
    /// that takes it first runs it instead). Its final state.
    pub async fn run_job(&self, ctx: &Context, id: i64) -> Result<JobView> {
        self.require(ctx, Right::Jobs, Action::Jobs, "run job")
            .await?;
        let index = self.archive().index();
        loop {
            let job = self.own_job(ctx, id).await?;
            if job.state == state::DONE || job.state == state::FAILED {
                return Ok(JobView::from(job));
            }
            match index.take_job(id, LEASE_MS).await? {
                Some(job) => match job.kind.as_str() {
                    FORWARD => self.forward_job(job).await,
                    RETRIEVE => self.retrieve_job(job).await,
                    _ => self.prefetch_job(job).await,
                },
                None => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }

    // ---------------------------------------------------------- workers

    fn scu_options(&self, tenant: &TenantId, peer: &str, addr: SocketAddr) -> ScuOptions {
        self.job_association(tenant, peer, addr, Duration::from_secs(120))
    }

    /// Whether `name` is configured as a destination of `tenant`.
    fn is_destination(&self, tenant: &TenantId, name: &str) -> bool {
        self.web_peer(tenant, name).is_some() || self.peers().is_peer(tenant, name)
    }

    fn web_peer(&self, tenant: &TenantId, name: &str) -> Option<&DicomwebPeer> {
        self.routing().dicomweb.iter().find(|p| {
            p.name == name
                && (p.tenant.is_empty() && tenant.is_implicit() || p.tenant == tenant.as_str())
        })
    }

    async fn destination<'a>(&'a self, tenant: &TenantId, name: &str) -> Option<Destination<'a>> {
        if let Some(p) = self.web_peer(tenant, name) {
            return Some(Destination::Web(p));
        }
        self.peers()
            .address_of(tenant, name)
            .await
            .map(Destination::Dicom)
    }

    /// End an attempt: done, failed, or again after a backoff.
    async fn end_attempt(&self, job: &Job, attempt: Attempt, what: &str) {
        let index = self.archive().index();
        let result = match attempt {
            Attempt::Lost => {
                tracing::warn!(job = job.id, "routing job taken over after its lease ended");
                return;
            }
            Attempt::Sent { sent, refused } if refused.is_empty() => {
                tracing::info!(job = job.id, kind = %job.kind, peer = %job.target, instances = sent, "routing job done");
                self.audit_job(job, None, &format!("{what}: {sent} instances"))
                    .await;
                index.finish_job(job.id, job.attempts, None).await
            }
            Attempt::Sent { sent, refused } => {
                let why = format!(
                    "{} instances refused for good ({sent} sent): {}",
                    refused.len(),
                    refused
                        .iter()
                        .take(5)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("; ")
                );
                tracing::warn!(job = job.id, peer = %job.target, reason = %why, "routing job failed");
                self.audit_job(job, Some(why.clone()), what).await;
                index.finish_job(job.id, job.attempts, Some(&why)).await
            }
            Attempt::Failed(why) => {
                tracing::warn!(job = job.id, peer = %job.target, reason = %why, "routing job failed");
                self.audit_job(job, Some(why.clone()), what).await;
                index.finish_job(job.id, job.attempts, Some(&why)).await
            }
            Attempt::Again(why)
                if job.attempts - job.attempt_base >= self.routing().max_attempts =>
            {
                let why = format!(
                    "given up after {} attempts: {why}",
                    job.attempts - job.attempt_base
                );
                tracing::warn!(job = job.id, peer = %job.target, reason = %why, "routing job failed");
                self.audit_job(job, Some(why.clone()), what).await;
                index.finish_job(job.id, job.attempts, Some(&why)).await
            }
            Attempt::Again(why) => {
                // Counted from a manual retry: it starts again from 1 s.
                let delay = backoff(job.attempts - job.attempt_base);
                tracing::info!(job = job.id, peer = %job.target, reason = %why, retry_in_secs = delay / 1000, "routing job will be tried again");
                index.retry_job(job.id, job.attempts, delay, &why).await
            }
        };
        match result {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                job = job.id,
                "routing job changed meanwhile (cancelled, or taken over)"
            ),
            Err(e) => tracing::warn!(error = %e, job = job.id, "cannot update the job"),
        }
    }

    async fn audit_job(&self, job: &Job, failure: Option<String>, detail: &str) {
        let study = serde_json::from_str::<serde_json::Value>(&job.payload)
            .ok()
            .and_then(|v| v["study"].as_str().map(str::to_owned))
            .unwrap_or_default();
        self.inner
            .audit
            .record(crate::audit::Access {
                actor: super::Actor {
                    name: job.target.clone(),
                    kind: super::ActorKind::Ae,
                },
                source: String::new(),
                action: Action::Transfer,
                failure,
                tenant: job.tenant.clone(),
                patient_id: String::new(),
                study_instance_uid: study,
                detail: format!("job {} ({}): {detail}", job.id, job.kind),
            })
            .await;
    }

    /// Renew a job's lease (and its progress) every 30 s while `work`
    /// runs; `Lost` when the lease ended meanwhile.
    async fn leased<F, T>(&self, job: &Job, progress: Arc<Mutex<(i64, i64)>>, work: F) -> Option<T>
    where
        F: std::future::Future<Output = T>,
    {
        let index = self.archive().index();
        let keeper = async {
            loop {
                tokio::time::sleep(Duration::from_secs(30)).await;
                let (done, total) = *progress.lock().unwrap_or_else(|e| e.into_inner());
                match index
                    .job_progress(job.id, job.attempts, done, total, LEASE_MS)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, job = job.id, "cannot renew the job's lease")
                    }
                }
            }
        };
        tokio::select! {
            out = work => {
                let (done, total) = *progress.lock().unwrap_or_else(|e| e.into_inner());
                match index.job_progress(job.id, job.attempts, done, total, LEASE_MS).await {
                    Ok(false) => None,
                    _ => Some(out),
                }
            }
            _ = keeper => None,
        }
    }

    async fn forward_job(&self, job: Job) {
        let attempt = self.try_forward(&job).await;
        self.end_attempt(&job, attempt, &format!("sent to {}", job.target))
            .await;
    }

    async fn try_forward(&self, job: &Job) -> Attempt {
        let Ok(payload) = serde_json::from_str::<ForwardJob>(&job.payload) else {
            return Attempt::Failed("unreadable job".into());
        };
        let mut instances = match self
            .archive()
            .index()
            .study_instances(&job.tenant, &payload.study)
            .await
        {
            Ok(i) => i,
            Err(e) => return Attempt::Again(e.to_string()),
        };
        if !payload.instances.is_empty() {
            let wanted: HashSet<&str> = payload.instances.iter().map(String::as_str).collect();
            instances.retain(|i| wanted.contains(i.sop_instance_uid.as_str()));
        }
        if instances.is_empty() {
            return Attempt::Failed(format!(
                "nothing of study {} is stored (deleted since?)",
                payload.study
            ));
        }
        if !self.is_destination(&job.tenant, &job.target) {
            return Attempt::Failed(format!(
                "{} is not a destination of tenant {} ([[dicom.peers]] or [[dicomweb.peers]])",
                job.target, job.tenant
            ));
        }
        let Some(destination) = self.destination(&job.tenant, &job.target).await else {
            return Attempt::Again(format!("{}: its host does not resolve", job.target));
        };
        let slot = self.routing().slot(&job.tenant, &job.target);
        let progress = Arc::new(Mutex::new((0i64, instances.len() as i64)));
        let work = async {
            // Waiting for a free association to the peer, the lease is
            // renewed all the same.
            let Ok(_permit) = slot.acquire().await else {
                return Attempt::Again("shutting down".into());
            };
            match destination {
                Destination::Dicom(addr) => {
                    self.forward_dimse(job, addr, &instances, progress.clone())
                        .await
                }
                Destination::Web(peer) => {
                    self.forward_stow(peer, &instances, progress.clone()).await
                }
            }
        };
        self.leased(job, progress.clone(), work)
            .await
            .unwrap_or(Attempt::Lost)
    }

    async fn forward_dimse(
        &self,
        job: &Job,
        addr: SocketAddr,
        instances: &[StoredInstance],
        progress: Arc<Mutex<(i64, i64)>>,
    ) -> Attempt {
        let items: Vec<RetrieveItem> = instances
            .iter()
            .map(|i| RetrieveItem {
                sop_class_uid: i.sop_class_uid.clone(),
                sop_instance_uid: i.sop_instance_uid.clone(),
                transfer_syntax: i.transfer_syntax_uid.clone(),
            })
            .collect();
        let options = self.scu_options(&job.tenant, &job.target, addr);
        let mut assoc = match ScuAssociation::connect(&options, &proposals(&items)).await {
            Ok(a) => a,
            Err(e) => return Attempt::Again(format!("association with {}: {e}", job.target)),
        };
        let accepted = assoc.accepted();
        let (mut sent, mut refused) = (0i64, Vec::new());
        for (item, instance) in items.iter().zip(instances) {
            let ctx = match choose(item, &accepted) {
                Ok(c) => c,
                Err(why) => {
                    refused.push(format!("{}: {why}", item.sop_instance_uid));
                    continue;
                }
            };
            let bytes = match self.read(instance).await {
                Ok(b) => b,
                Err(e) => {
                    let _ = assoc.release().await;
                    return Attempt::Again(format!("reading {}: {e}", item.sop_instance_uid));
                }
            };
            let data: Bytes = match data_set_as(bytes, &ctx.transfer_syntax).await {
                Ok(d) => d,
                Err(why) => {
                    refused.push(format!("{}: {why}", item.sop_instance_uid));
                    continue;
                }
            };
            match assoc.store(&ctx, &item.sop_instance_uid, &data, None).await {
                Ok(r) => match r.status.class() {
                    StatusClass::Success | StatusClass::Warning => sent += 1,
                    // It has it already (an earlier attempt got that far).
                    _ if r.status.0 == 0x0111 => sent += 1,
                    _ if is_transient(r.status) => {
                        let _ = assoc.release().await;
                        return Attempt::Again(format!(
                            "{} answered {} for {}",
                            job.target, r.status, item.sop_instance_uid
                        ));
                    }
                    _ => refused.push(format!(
                        "{}: {}{}",
                        item.sop_instance_uid,
                        r.status,
                        r.comment.map(|c| format!(" ({c})")).unwrap_or_default()
                    )),
                },
                Err(e) => return Attempt::Again(format!("C-STORE to {}: {e}", job.target)),
            }
            progress.lock().unwrap_or_else(|e| e.into_inner()).0 = sent + refused.len() as i64;
        }
        let _ = assoc.release().await;
        Attempt::Sent { sent, refused }
    }

    async fn forward_stow(
        &self,
        peer: &DicomwebPeer,
        instances: &[StoredInstance],
        progress: Arc<Mutex<(i64, i64)>>,
    ) -> Attempt {
        let url = format!("{}/studies", peer.url.trim_end_matches('/'));
        let (mut sent, mut refused) = (0i64, Vec::new());
        for chunk in instances.chunks(peer.batch.max(1)) {
            let boundary = format!("filmless-{}", storage::Uid::generate());
            let mut body = Vec::new();
            for i in chunk {
                let bytes = match self.read(i).await {
                    Ok(b) => b,
                    Err(e) => {
                        return Attempt::Again(format!("reading {}: {e}", i.sop_instance_uid))
                    }
                };
                body.extend_from_slice(
                    format!("--{boundary}\r\nContent-Type: application/dicom\r\n\r\n").as_bytes(),
                );
                body.extend_from_slice(&bytes);
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            let mut request = self
                .routing()
                .http
                .post(&url)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    format!("multipart/related; type=\"application/dicom\"; boundary={boundary}"),
                )
                .header(reqwest::header::ACCEPT, "application/dicom+json")
                .body(body);
            match peer.auth {
                DicomwebAuth::None => {}
                DicomwebAuth::Basic => {
                    request = request.basic_auth(&peer.user, Some(&peer.password));
                }
                DicomwebAuth::Bearer => {
                    let token = if peer.token_env.is_empty() {
                        peer.token.clone()
                    } else {
                        std::env::var(&peer.token_env).unwrap_or_default()
                    };
                    request = request.bearer_auth(token);
                }
            }
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) => return Attempt::Again(format!("STOW-RS to {}: {e}", peer.name)),
            };
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            // 0111H: the peer has the instance already (an earlier
            // attempt): delivered.
            let reported = failed_sops(&text);
            let duplicates_only =
                !reported.is_empty() && reported.iter().all(|(_, r)| *r == 0x0111);
            let failed: Vec<(String, u16)> = reported
                .into_iter()
                .filter(|(_, reason)| *reason != 0x0111)
                .collect();
            match status.as_u16() {
                200 => sent += chunk.len() as i64,
                202 | 409 => {
                    let failed_set: HashSet<&str> =
                        failed.iter().map(|(u, _)| u.as_str()).collect();
                    for i in chunk {
                        if failed_set.contains(i.sop_instance_uid.as_str())
                            || (failed.is_empty() && status.as_u16() == 409 && !duplicates_only)
                        {
                            let reason = failed
                                .iter()
                                .find(|(u, _)| u == &i.sop_instance_uid)
                                .map(|(_, r)| format!("failure reason {r:04X}H"))
                                .unwrap_or_else(|| format!("HTTP {status}"));
                            refused.push(format!("{}: {reason}", i.sop_instance_uid));
                        } else {
                            sent += 1;
                        }
                    }
                }
                408 | 429 | 500..=599 => {
                    return Attempt::Again(format!("STOW-RS to {} answered {status}", peer.name))
                }
                401 | 403 => {
                    return Attempt::Again(format!(
                        "STOW-RS to {} answered {status}: check [[dicomweb.peers]] auth",
                        peer.name
                    ))
                }
                _ => {
                    for i in chunk {
                        refused.push(format!("{}: HTTP {status}", i.sop_instance_uid));
                    }
                }
            }
            progress.lock().unwrap_or_else(|e| e.into_inner()).0 = sent + refused.len() as i64;
        }
        Attempt::Sent { sent, refused }
    }

    async fn retrieve_job(&self, job: Job) {
        let attempt = self.try_retrieve(&job).await;
        self.end_attempt(&job, attempt, &format!("retrieved from {}", job.target))
            .await;
    }

    async fn try_retrieve(&self, job: &Job) -> Attempt {
        let Ok(payload) = serde_json::from_str::<RetrieveJob>(&job.payload) else {
            return Attempt::Failed("unreadable job".into());
        };
        let Some(addr) = self.peers().address_of(&job.tenant, &job.target).await else {
            return Attempt::Again(format!(
                "{} is not a peer with a reachable host now",
                job.target
            ));
        };
        let slot = self.routing().slot(&job.tenant, &job.target);
        let by_get = self.peers().retrieves_by_get(&job.tenant, &job.target);
        let progress = Arc::new(Mutex::new((0i64, 0i64)));
        let work = async {
            let Ok(_permit) = slot.acquire().await else {
                return Attempt::Again("shutting down".into());
            };
            let options = self.scu_options(&job.tenant, &job.target, addr);
            let class = if by_get {
                STUDY_ROOT_GET
            } else {
                STUDY_ROOT_MOVE
            };
            let mut proposals = vec![(
                class.to_owned(),
                vec![EXPLICIT_LE.to_owned(), IMPLICIT_LE.to_owned()],
            )];
            if by_get {
                proposals.extend(get_storage_proposals());
            }
            let scp_of: Vec<&str> = if by_get {
                GET_STORAGE_CLASSES.to_vec()
            } else {
                Vec::new()
            };
            let mut assoc =
                match ScuAssociation::connect_waiting(&options, &proposals, &scp_of, RETRIEVE_WAIT)
                    .await
                {
                    Ok(a) => a,
                    Err(e) => {
                        return Attempt::Again(format!("association with {}: {e}", job.target))
                    }
                };
            let Some(pc) = assoc
                .accepted()
                .into_iter()
                .find(|c| c.abstract_syntax == class)
            else {
                let _ = assoc.release().await;
                return Attempt::Failed(format!(
                    "{} does not take Study Root C-{}",
                    job.target,
                    if by_get { "GET" } else { "MOVE" }
                ));
            };
            let mut id = InMemDicomObject::new_empty();
            id.put(DataElement::new(
                tags::QUERY_RETRIEVE_LEVEL,
                VR::CS,
                PrimitiveValue::from("STUDY"),
            ));
            id.put(DataElement::new(
                tags::STUDY_INSTANCE_UID,
                VR::UI,
                PrimitiveValue::from(payload.study.as_str()),
            ));
            let data = match dicom_net::dataset::encode(&id, &pc.transfer_syntax) {
                Ok(d) => d,
                Err(e) => return Attempt::Failed(e.to_string()),
            };
            let ours = self.peers().our_ae_title(&job.tenant).to_owned();
            let p = progress.clone();
            let on_pending = move |c: dicom_net::command::SubOperations| {
                let done = i64::from(c.completed) + i64::from(c.failed) + i64::from(c.warning);
                *p.lock().unwrap_or_else(|e| e.into_inner()) =
                    (done, done + i64::from(c.remaining));
            };
            let result = if by_get {
                // The instances arrive on this association: stored as the
                // peer's C-STOREs would be.
                let ctx = Context::ae(
                    &job.target,
                    vec![Right::Store],
                    job.tenant.clone(),
                    addr.ip().to_string(),
                );
                let store = |request: dicom_net::service::StoreRequest, bytes: Vec<u8>| {
                    let (service, ctx) = (self.clone(), ctx.clone());
                    async move {
                        let meta = storage::part10::file_meta(
                            &request.transfer_syntax,
                            &request.sop_class_uid,
                            &request.sop_instance_uid,
                            Some(&ctx.actor.name),
                        );
                        let chunks = futures::stream::iter([
                            Ok::<Bytes, std::io::Error>(Bytes::from(meta)),
                            Ok(Bytes::from(bytes)),
                        ]);
                        match service.store(&ctx, chunks, None).await {
                            Ok(_) => dicom_net::service::Response::success(),
                            // As the C-STORE SCP answers (the service
                            // layer does not reach into the adapters).
                            Err(e) => dicom_net::service::Response::with(
                                if e.kind() == super::ErrorKind::Invalid {
                                    Status::CANNOT_UNDERSTAND
                                } else {
                                    Status::PROCESSING_FAILURE
                                },
                                e.public_message(),
                            ),
                        }
                    }
                };
                assoc.get(&pc, &data, store, on_pending).await
            } else {
                assoc.move_to(&pc, &ours, &data, on_pending).await
            };
            let _ = assoc.release().await;
            match result {
                Err(e) => Attempt::Again(format!("C-MOVE or C-GET from {}: {e}", job.target)),
                Ok(Retrieved {
                    response: r,
                    counts: c,
                    failed,
                }) => {
                    let done = i64::from(c.completed) + i64::from(c.warning);
                    *progress.lock().unwrap_or_else(|e| e.into_inner()) =
                        (done, done + i64::from(c.failed));
                    let failed_list = if failed.is_empty() {
                        String::new()
                    } else {
                        format!(
                            ": {}{}",
                            failed
                                .iter()
                                .take(5)
                                .cloned()
                                .collect::<Vec<_>>()
                                .join(", "),
                            if failed.len() > 5 { ", …" } else { "" }
                        )
                    };
                    match r.status.class() {
                        StatusClass::Success => Attempt::Sent {
                            sent: done,
                            refused: Vec::new(),
                        },
                        StatusClass::Warning if c.failed == 0 && failed.is_empty() => {
                            Attempt::Sent {
                                sent: done,
                                refused: Vec::new(),
                            }
                        }
                        _ if is_transient(r.status) => Attempt::Again(format!(
                            "{} answered {}{}",
                            job.target,
                            r.status,
                            r.comment.map(|c| format!(" ({c})")).unwrap_or_default()
                        )),
                        // Failed sub-operations: tried again a few times
                        // (we may have been out of resources), then failed
                        // with the instances named.
                        _ if c.failed > 0 || !failed.is_empty() => {
                            let why = format!(
                                "{} sub-operations failed ({} answered {}){failed_list}",
                                c.failed.max(failed.len() as u16),
                                job.target,
                                r.status,
                            );
                            if job.attempts - job.attempt_base < RETRIEVE_TRIES_ON_FAILED {
                                Attempt::Again(why)
                            } else {
                                Attempt::Failed(why)
                            }
                        }
                        _ if by_get => Attempt::Failed(format!(
                            "{} answered {}{}",
                            job.target,
                            r.status,
                            r.comment.map(|c| format!(": {c}")).unwrap_or_default()
                        )),
                        _ => Attempt::Failed(format!(
                            "{} answered {}{} (is {ours} among its destinations?)",
                            job.target,
                            r.status,
                            r.comment.map(|c| format!(": {c}")).unwrap_or_default()
                        )),
                    }
                }
            }
        };
        self.leased(job, progress.clone(), work)
            .await
            .unwrap_or(Attempt::Lost)
    }

    async fn prefetch_job(&self, job: Job) {
        let attempt = self.try_prefetch(&job).await;
        self.end_attempt(&job, attempt, "prefetch").await;
    }

    async fn try_prefetch(&self, job: &Job) -> Attempt {
        let Ok(payload) = serde_json::from_str::<PrefetchJob>(&job.payload) else {
            return Attempt::Failed("unreadable job".into());
        };
        let Some(rule) = self.routing().prefetch.get(payload.rule) else {
            return Attempt::Failed("its [[routing.prefetch]] entry is gone".into());
        };
        let index = self.archive().index();
        let mut identifier = InMemDicomObject::new_empty();
        for (tag, vr, v) in [
            (tags::QUERY_RETRIEVE_LEVEL, VR::CS, "STUDY"),
            (tags::PATIENT_ID, VR::LO, payload.patient_id.as_str()),
            (tags::STUDY_INSTANCE_UID, VR::UI, ""),
            (tags::STUDY_DATE, VR::DA, ""),
            (tags::MODALITIES_IN_STUDY, VR::CS, ""),
        ] {
            identifier.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
        }
        let text = |o: &InMemDicomObject, tag| {
            o.get(tag)
                .and_then(|e| e.to_multi_str().ok().map(|v| v.join("\\")))
                .map(|v| v.trim_matches(['\0', ' ']).to_owned())
                .unwrap_or_default()
        };
        let mut wanted: Vec<(String, String, String)> = Vec::new();
        let mut errors = Vec::new();
        for peer in &rule.from {
            let Some(addr) = self.peers().address_of(&job.tenant, peer).await else {
                errors.push(format!("{peer}: no reachable host"));
                continue;
            };
            let found = match self.find_on(&job.tenant, peer, addr, &identifier).await {
                Ok(f) => f,
                Err(e) => {
                    errors.push(format!("{peer}: {e}"));
                    continue;
                }
            };
            for m in found {
                let study = text(&m, tags::STUDY_INSTANCE_UID);
                let modalities = text(&m, tags::MODALITIES_IN_STUDY);
                if study.is_empty()
                    || study == payload.study
                    || wanted.iter().any(|(s, _, _)| s == &study)
                    || !(rule.modality.is_empty()
                        || modalities
                            .split('\\')
                            .any(|m| matches_any(&rule.modality, m)))
                {
                    continue;
                }
                wanted.push((study, text(&m, tags::STUDY_DATE), peer.clone()));
            }
        }
        if wanted.is_empty() && !errors.is_empty() {
            return Attempt::Again(errors.join("; "));
        }
        // The most recent priors; those here already, or on their way,
        // count too.
        wanted.sort_by(|a, b| b.1.cmp(&a.1));
        wanted.truncate(rule.max_studies);
        let mut jobs = Vec::new();
        for (study, _, peer) in wanted {
            match index.study_instances(&job.tenant, &study).await {
                Ok(have) if !have.is_empty() => continue,
                Ok(_) => {}
                Err(e) => return Attempt::Again(e.to_string()),
            }
            let dedup = retrieve_key(&job.tenant, &study);
            match index.job_by_dedup(&dedup).await {
                Ok(Some(j)) if j.state != state::FAILED => continue,
                Ok(_) => {}
                Err(e) => return Attempt::Again(e.to_string()),
            }
            let payload = match json(&RetrieveJob {
                study: study.clone(),
            }) {
                Ok(p) => p,
                Err(e) => return Attempt::Failed(e.to_string()),
            };
            jobs.push(NewJob {
                tenant: job.tenant.clone(),
                kind: RETRIEVE.to_owned(),
                target: peer,
                payload,
                dedup,
                due_ms: None,
            });
        }
        let n = jobs.len() as i64;
        if let Err(e) = index.enqueue_batch(&jobs).await {
            return Attempt::Again(e.to_string());
        }
        if n > 0 {
            self.routing().due.notify_waiters();
        }
        tracing::info!(
            job = job.id,
            priors = n,
            "prefetch queued the patient's missing priors"
        );
        Attempt::Sent {
            sent: n,
            refused: Vec::new(),
        }
    }
}

/// Whether a failure status may go away by itself (the peer is out of
/// resources, busy): retried; anything else is refused for good.
fn is_transient(status: Status) -> bool {
    matches!(status.0, 0xA700..=0xA7FF | 0x0213 | 0xFE00)
}

/// (SOP Instance UID, Failure Reason) of a STOW-RS response's Failed SOP
/// Sequence (DICOM JSON).
fn failed_sops(text: &str) -> Vec<(String, u16)> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        return Vec::new();
    };
    v["00081198"]["Value"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    (
                        i["00081155"]["Value"][0].as_str().unwrap_or("").to_owned(),
                        i["00081197"]["Value"][0].as_u64().unwrap_or(0) as u16,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_rules_say() {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(matches_any(&[], "anything"));
        assert!(matches_any(&p(&["CT", "MR"]), "mr"));
        assert!(!matches_any(&p(&["CT"]), "CR"));
        assert!(matches_any(&p(&["CT*"]), "CT_SCANNER_2"));
        assert!(matches_any(&p(&["*CHEST*"]), "ct chest w/o"));
        assert!(matches_any(&p(&["C?"]), "CR"));
        assert!(!matches_any(&p(&["C?"]), "CTX"));
        assert!(!matches_any(&p(&["CT"]), ""));
        assert!(matches_any(&p(&["*"]), ""));
    }

    #[test]
    fn stow_failures_are_read_from_the_response() {
        let body = r#"{"00081198":{"vr":"SQ","Value":[{"00081155":{"vr":"UI","Value":["1.2.3"]},"00081197":{"vr":"US","Value":[272]}}]}}"#;
        assert_eq!(failed_sops(body), [("1.2.3".to_owned(), 0x0110)]);
        assert!(failed_sops("not json").is_empty());
        assert!(is_transient(Status(0xA700)) && !is_transient(Status(0x0122)));
    }
}
