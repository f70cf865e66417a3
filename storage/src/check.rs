//! `filmless check`: the index against the object store.
//!
//! Ingest writes the blob before the index row, so a crash can leave a
//! blob without a row (an orphan), never the reverse; a row without its
//! blob means the object store lost data. `check` finds both, and with
//! `verify` re-hashes every blob against the SHA-256 in its row. `repair`
//! re-indexes orphans through the normal ingest (they were acknowledged to
//! nobody, but they are valid instances) and removes the ones that are not.

use std::collections::HashMap;
use std::time::Duration;

use futures::TryStreamExt;
use sha2::{Digest, Sha256};

use crate::archive::{Archive, StoreOutcome};
use crate::error::Result;

/// What a check found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// Index rows looked at.
    pub instances: u64,
    /// Blobs looked at.
    pub blobs: u64,
    /// Rows whose blob is gone: (SOP Instance UID, key).
    pub missing: Vec<(String, String)>,
    /// Blobs without a row (older than the grace period).
    pub orphans: Vec<String>,
    /// Rows whose blob does not hash to the recorded SHA-256: (SOP Instance UID, reason).
    pub corrupt: Vec<(String, String)>,
    /// Orphans put back in the index (repair).
    pub reindexed: u64,
    /// Orphans removed: copies of indexed instances, or not DICOM (repair).
    pub removed: u64,
    /// Objects in the spool not yet uploaded to the object store (S3).
    pub spooled: u64,
}

impl CheckReport {
    /// The report for people: the counts, then every problem on a line.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "{} instances, {} blobs: {} missing, {} orphaned, {} damaged; re-indexed {}, removed {}\n",
            self.instances,
            self.blobs,
            self.missing.len(),
            self.orphans.len(),
            self.corrupt.len(),
            self.reindexed,
            self.removed
        );
        if self.spooled > 0 {
            out.push_str(&format!(
                "{} objects in the spool, not yet uploaded (the server uploads them)\n",
                self.spooled
            ));
        }
        for (sop, key) in &self.missing {
            out.push_str(&format!("missing blob: instance {sop} (object {key})\n"));
        }
        for key in &self.orphans {
            out.push_str(&format!("orphaned blob: {key}\n"));
        }
        for (sop, why) in &self.corrupt {
            out.push_str(&format!("damaged: instance {sop}: {why}\n"));
        }
        out
    }

    /// Whether anything is still wrong.
    pub fn clean(&self) -> bool {
        self.missing.is_empty()
            && self.corrupt.is_empty()
            && self.orphans.len() as u64 == self.reindexed + self.removed
    }
}

impl Archive {
    /// Compare the index with the object store. Blobs modified within
    /// `grace` are skipped: they may belong to an ingest in progress.
    pub async fn check(&self, verify: bool, repair: bool, grace: Duration) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        let mut rows: HashMap<String, (String, String)> = HashMap::new();
        let mut after = 0;
        loop {
            let page = self.index().instances_after(after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            for i in page {
                report.instances += 1;
                if verify {
                    match self.blobs().read(&i.blob).await {
                        Ok(bytes) if hex::encode(Sha256::digest(&bytes)) != i.sha256 => {
                            report.corrupt.push((
                                i.sop_instance_uid.clone(),
                                "SHA-256 differs from the index".into(),
                            ))
                        }
                        Err(e) if e.kind() != crate::ErrorKind::NotFound => report
                            .corrupt
                            .push((i.sop_instance_uid.clone(), e.to_string())),
                        _ => {}
                    }
                }
                rows.insert(i.blob.key.clone(), (i.sop_instance_uid, i.sha256));
            }
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let listed: Vec<(String, u64, i64)> = self.blobs().list_with_times().try_collect().await?;
        // Rejected instances keep their objects on purpose.
        let rejected = self.index().rejected_keys().await?;
        let mut present = std::collections::HashSet::with_capacity(listed.len());
        for (key, _, modified) in listed {
            report.blobs += 1;
            present.insert(key.clone());
            if !rows.contains_key(&key)
                && !rejected.contains(&key)
                && now - modified >= grace.as_secs() as i64
            {
                report.orphans.push(key);
            }
        }
        for (key, (sop, _)) in &rows {
            if !present.contains(key) {
                report.missing.push((sop.clone(), key.clone()));
            }
        }
        report.missing.sort();
        report.orphans.sort();
        report.spooled = self.blobs().spooled_objects().await?.len() as u64;
        if repair {
            for key in report.orphans.clone() {
                // Back into the tenant its key was made for.
                let Some(tenant) = crate::BlobStore::tenant_of_key(&key) else {
                    tracing::warn!(key = %key, "orphaned object kept: its key names no tenant");
                    continue;
                };
                let restored = match self.blobs().read_unindexed(&key).await {
                    Ok(bytes) => self.store_bytes(&tenant, bytes).await.map(|s| s.outcome),
                    Err(e) => Err(e),
                };
                match restored {
                    Ok(StoreOutcome::Stored) | Ok(StoreOutcome::Replaced) => report.reindexed += 1,
                    // A copy of an indexed instance, or not a storable
                    // instance at all: nothing is lost by removing it.
                    Ok(StoreOutcome::AlreadyPresent) | Ok(StoreOutcome::KeptExisting) => {
                        report.removed += 1
                    }
                    Err(e) if e.kind() == crate::ErrorKind::Invalid => report.removed += 1,
                    // Anything else (database or object store unavailable):
                    // the orphan may be the only copy, so it stays.
                    Err(e) => {
                        tracing::warn!(key = %key, error = %e, "orphaned blob kept: could not re-index it now");
                        continue;
                    }
                }
                // The instance now lives under a fresh key (or already did).
                self.blobs().delete(&key).await?;
                tracing::info!(key = %key, "repaired orphaned blob");
            }
        }
        Ok(report)
    }
}
