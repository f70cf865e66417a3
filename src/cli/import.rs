//! `filmless import`: bulk import of files and folders through the same
//! store operation as C-STORE and STOW-RS (audited as `import`).
//!
//! Files are read, scanned, parsed, validated and hashed on a rayon pool;
//! the results flow through a bounded channel to a few concurrent archive
//! commits on the async runtime, so memory stays bounded whatever the
//! number of files. Files larger than [`STREAM_THRESHOLD`] are not read
//! whole: they stream from disk to the object store. A file that is not
//! DICOM, or is broken, is reported with its reason and skipped.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use rayon::prelude::*;
use storage::{Prepared, StoreOutcome};

use crate::service::{Context, Service};

/// Files larger than this stream from disk instead of being read whole.
pub const STREAM_THRESHOLD: u64 = 32 * 1024 * 1024;
/// Concurrent commits to the archive.
const CONCURRENT_STORES: usize = 8;

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Newly stored instances.
    pub stored: u64,
    /// Instances that were stored already with identical content.
    pub already_present: u64,
    /// Instances whose UID is stored with other content and were left as
    /// they were (duplicate policy `keep-first`).
    pub kept_existing: Vec<PathBuf>,
    /// Instances that replaced a stored one (policy `overwrite`).
    pub replaced: u64,
    /// Files refused, with the reason.
    pub rejected: Vec<(PathBuf, String)>,
    /// Bytes of the files stored.
    pub bytes: u64,
}

impl ImportReport {
    /// Files looked at.
    pub fn files(&self) -> u64 {
        self.stored
            + self.already_present
            + self.kept_existing.len() as u64
            + self.replaced
            + self.rejected.len() as u64
    }

    /// The human summary printed at the end.
    pub fn summary(&self, elapsed: Duration) -> String {
        let mut out = format!(
            "stored {}, already present {}, replaced {}, kept existing {}, rejected {} ({} files, {:.1} MB in {:.1} s)\n",
            self.stored,
            self.already_present,
            self.replaced,
            self.kept_existing.len(),
            self.rejected.len(),
            self.files(),
            self.bytes as f64 / 1e6,
            elapsed.as_secs_f64()
        );
        for p in &self.kept_existing {
            out.push_str(&format!(
                "kept existing: {}: an instance with this SOP Instance UID and other content is stored already\n",
                p.display()
            ));
        }
        for (p, reason) in &self.rejected {
            out.push_str(&format!("rejected: {}: {reason}\n", p.display()));
        }
        out
    }
}

/// One file, read and parsed on the rayon side.
enum Item {
    Ready(PathBuf, Box<Prepared>),
    Large(PathBuf),
    Failed(PathBuf, String),
}

/// Import every file under `paths` (files or folders, recursively).
pub async fn import(
    service: &Service,
    ctx: &Context,
    paths: &[PathBuf],
    show_progress: bool,
) -> anyhow::Result<ImportReport> {
    let mut report = ImportReport::default();
    let files = collect_files(paths, &mut report.rejected);
    let progress = super::progress(files.len(), "files", show_progress);

    let (tx, rx) = tokio::sync::mpsc::channel::<Item>(CONCURRENT_STORES * 2);
    let reader = std::thread::spawn(move || {
        files.into_par_iter().for_each_with(tx, |tx, path| {
            // A closed channel means the import is being abandoned.
            let _ = tx.blocking_send(prepare(path));
        });
    });

    let mut results = tokio_stream_of(rx)
        .map(|item| async move {
            match item {
                Item::Ready(path, prepared) => {
                    let size = prepared.size();
                    let r = service.store_prepared(ctx, *prepared).await;
                    (
                        path,
                        r.map(|s| (s.outcome, size)).map_err(|e| e.to_string()),
                    )
                }
                Item::Large(path) => {
                    let r = store_file_streaming(service, ctx, &path).await;
                    (path, r.map_err(|e| e.to_string()))
                }
                Item::Failed(path, reason) => (path, Err(reason)),
            }
        })
        .buffer_unordered(CONCURRENT_STORES);

    while let Some((path, result)) = results.next().await {
        match result {
            Ok((StoreOutcome::Stored, size)) => {
                report.stored += 1;
                report.bytes += size;
            }
            Ok((StoreOutcome::AlreadyPresent, _)) => report.already_present += 1,
            Ok((StoreOutcome::KeptExisting, _)) => report.kept_existing.push(path),
            Ok((StoreOutcome::Replaced, size)) => {
                report.replaced += 1;
                report.bytes += size;
            }
            Err(reason) => {
                // File names often hold a patient's name: TRACE only (the report
                // printed at the end names them for the operator).
                tracing::trace!(path = %path.display(), reason = %reason, "rejected file");
                report.rejected.push((path, reason));
            }
        }
        progress.inc(1);
        progress.set_message(format!("{:.0} MB", report.bytes as f64 / 1e6));
    }
    progress.finish_and_clear();
    reader
        .join()
        .map_err(|_| anyhow::anyhow!("the file reader thread panicked"))?;
    report.rejected.sort();
    report.kept_existing.sort();
    Ok(report)
}

/// Run a whole import and print its summary; `Ok(false)` if anything was
/// rejected.
pub async fn run(service: &Service, ctx: &Context, paths: &[PathBuf]) -> anyhow::Result<bool> {
    let started = Instant::now();
    let report = import(service, ctx, paths, true).await?;
    print!("{}", report.summary(started.elapsed()));
    Ok(report.rejected.is_empty())
}

fn tokio_stream_of<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Every regular file under `paths`, sorted; unreadable paths go to
/// `rejected`.
fn collect_files(paths: &[PathBuf], rejected: &mut Vec<(PathBuf, String)>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for root in paths {
        for entry in walkdir::WalkDir::new(root)
            .follow_links(true)
            .sort_by_file_name()
        {
            match entry {
                Ok(e) if e.file_type().is_file() => files.push(e.into_path()),
                Ok(_) => {}
                Err(e) => {
                    let path = e
                        .path()
                        .map(Path::to_path_buf)
                        .unwrap_or_else(|| root.clone());
                    rejected.push((path, format!("cannot read: {e}")));
                }
            }
        }
    }
    files
}

/// Read and parse one file (runs on the rayon pool).
fn prepare(path: PathBuf) -> Item {
    let size = match std::fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(e) => return Item::Failed(path, format!("cannot read: {e}")),
    };
    if size > STREAM_THRESHOLD {
        return Item::Large(path);
    }
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) => return Item::Failed(path, format!("cannot read: {e}")),
    };
    let data = if dicom_check::is_part10(&data) {
        data
    } else {
        match storage::part10::wrap_bare_dataset(&data) {
            Ok(wrapped) => wrapped,
            Err(e) => return Item::Failed(path, e.to_string()),
        }
    };
    match Prepared::parse(Bytes::from(data)) {
        Ok(p) => Item::Ready(path, Box::new(p)),
        Err(e) => Item::Failed(path, e.to_string()),
    }
}

async fn store_file_streaming(
    service: &Service,
    ctx: &Context,
    path: &Path,
) -> Result<(StoreOutcome, u64), String> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| format!("cannot read: {e}"))?;
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 1024 * 1024);
    let stored = service
        .store(ctx, stream, None)
        .await
        .map_err(|e| e.to_string())?;
    Ok((stored.outcome, stored.size))
}
