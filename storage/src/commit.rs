//! Group commit: the index rows of instances whose blobs are written, from
//! every association and request at once, in one transaction.
//!
//! One task takes whatever queued while the previous transaction ran, makes
//! the new blobs' directory entries durable (one fsync per directory, not
//! one per instance), then commits all their rows in one transaction: one
//! WAL fsync on SQLite, one commit on PostgreSQL. Only then does each
//! caller get its answer, so an instance is still acknowledged only once
//! its bytes and its rows would survive a power cut; the work is grouped,
//! not weakened. Nothing waits for company: a lone instance is committed at
//! once, and a batch forms only from what arrived while the database was
//! busy.
//!
//! A batch that fails as a whole (the same UID twice in one batch, an
//! instance another process stored meanwhile, a series deleted under a
//! remembered row id, a database error) is retried one instance per
//! transaction, so each caller gets the answer it would have had alone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, oneshot};

use crate::blob::{BlobRef, BlobStore};
use crate::error::{Error, Result};
use crate::index::{Index, Insert, NewInstance, ParentCache};
use crate::record::InstanceRecord;
use crate::scan::FrameRange;
use crate::tenant::TenantId;

/// Most instances in one transaction.
const MAX_BATCH: usize = 256;

/// An instance whose blob is written (its data fsynced), waiting for its
/// directory entry to be made durable and its index rows.
#[derive(Debug)]
pub(crate) struct Pending {
    pub tenant: TenantId,
    pub record: InstanceRecord,
    pub blob: BlobRef,
    pub sha256: String,
    pub frames: Vec<FrameRange>,
    pub encapsulated: bool,
    pub journal: Option<String>,
}

impl Pending {
    pub fn new_instance(&self) -> NewInstance<'_> {
        NewInstance {
            tenant: &self.tenant,
            record: &self.record,
            blob: &self.blob,
            sha256: &self.sha256,
            frames: &self.frames,
            frames_encapsulated: self.encapsulated,
            journal: self.journal.as_deref(),
        }
    }
}

struct Job {
    pending: Arc<Pending>,
    done: oneshot::Sender<Result<Insert>>,
}

/// How many transactions and instances group commit has done (for the
/// benchmarks' batch size, and tests).
#[derive(Debug, Default)]
pub struct CommitStats {
    /// Transactions committed for new instances.
    pub transactions: AtomicU64,
    /// Instances those transactions inserted.
    pub instances: AtomicU64,
    /// Batches that failed as a whole and were retried one by one.
    pub retried_batches: AtomicU64,
}

/// The queue into the one committing task (started on first use, on the
/// runtime of the first caller).
#[derive(Debug)]
pub(crate) struct GroupCommit {
    blobs: BlobStore,
    index: Index,
    queue: OnceLock<mpsc::UnboundedSender<Job>>,
    stats: Arc<CommitStats>,
}

impl GroupCommit {
    pub fn new(blobs: BlobStore, index: Index) -> Self {
        GroupCommit {
            blobs,
            index,
            queue: OnceLock::new(),
            stats: Arc::default(),
        }
    }

    pub fn stats(&self) -> &CommitStats {
        &self.stats
    }

    /// Make `pending`'s blob durable in its directory and insert its rows,
    /// together with whatever else is waiting.
    pub async fn insert(&self, pending: Arc<Pending>) -> Result<Insert> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(run(
                self.blobs.clone(),
                self.index.clone(),
                self.stats.clone(),
                rx,
            ));
            tx
        });
        let (done, answer) = oneshot::channel();
        let job = Job {
            pending: pending.clone(),
            done,
        };
        if queue.send(job).is_ok() {
            if let Ok(result) = answer.await {
                return result;
            }
        }
        // The task is gone with the runtime that started it (an archive
        // used from a second runtime): commit alone, here. A job the task
        // took before it stopped was not answered, so it was not committed,
        // or it was and the insert finds it (the same blob: its own row).
        commit_alone(&self.blobs, &self.index, &pending).await
    }
}

async fn run(
    blobs: BlobStore,
    index: Index,
    stats: Arc<CommitStats>,
    mut rx: mpsc::UnboundedReceiver<Job>,
) {
    let mut parents = ParentCache::default();
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let results = commit(&blobs, &index, &stats, &mut parents, &jobs).await;
        for (job, result) in jobs.into_iter().zip(results) {
            // Committed: now to S3 when there is a spool. Here, not by the
            // caller, who may be gone (a client that hung up).
            if matches!(result, Ok(Insert::Inserted)) {
                blobs.upload_later(&job.pending.blob.key);
            }
            // A caller that gave up (its association closed) is not an
            // error: its instance is committed, as a resend would find.
            let _ = job.done.send(result);
        }
    }
}

async fn commit(
    blobs: &BlobStore,
    index: &Index,
    stats: &CommitStats,
    parents: &mut ParentCache,
    jobs: &[Job],
) -> Vec<Result<Insert>> {
    let keys: Vec<&str> = jobs.iter().map(|j| j.pending.blob.key.as_str()).collect();
    if let Err(e) = blobs.sync_dirs(&keys).await {
        let reason = e.to_string();
        return jobs
            .iter()
            .map(|_| Err(Error::Internal(reason.clone().into())))
            .collect();
    }
    let news: Vec<NewInstance<'_>> = jobs.iter().map(|j| j.pending.new_instance()).collect();
    match index.insert_group(&news, parents).await {
        Ok(()) => {
            stats.transactions.fetch_add(1, Ordering::Relaxed);
            stats
                .instances
                .fetch_add(news.len() as u64, Ordering::Relaxed);
            news.iter().map(|_| Ok(Insert::Inserted)).collect()
        }
        Err(e) => {
            tracing::debug!(error = %e, batch = news.len(), "group commit failed; one by one");
            stats.retried_batches.fetch_add(1, Ordering::Relaxed);
            let mut out = Vec::with_capacity(news.len());
            for new in &news {
                out.push(index.insert_instance(new).await);
            }
            out
        }
    }
}

/// Commit one instance without the task.
async fn commit_alone(blobs: &BlobStore, index: &Index, pending: &Pending) -> Result<Insert> {
    blobs.sync_dirs(&[pending.blob.key.as_str()]).await?;
    let inserted = index.insert_instance(&pending.new_instance()).await?;
    if matches!(inserted, Insert::Inserted) {
        blobs.upload_later(&pending.blob.key);
    }
    Ok(inserted)
}
