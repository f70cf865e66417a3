//! The local spool in front of a remote object store (S3).
//!
//! A new object is written to a local folder and fsynced there, like an
//! object on a local store; the instance is acknowledged once the spool
//! file and the index rows are durable, without waiting for S3. A
//! background task then uploads each spooled file, retrying with backoff
//! for as long as it takes, and removes the spool file once the object
//! store has it. Until then reads are served from the spool. The spool
//! folder itself is the queue: at start every file in it is uploaded again
//! (an upload interrupted by a crash, or one whose removal was lost, is
//! simply repeated; objects are immutable under their keys). This is how
//! dcm4chee took S3 latency out of its ingest.

use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload, WriteMultipart};
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, Semaphore};

use crate::error::{Error, Result};

/// Spool files read per multipart part.
const PART: usize = 8 * 1024 * 1024;
/// Uploads at once.
const UPLOADS: usize = 8;
/// Longest wait between two attempts at one upload.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The spool of one blob store.
#[derive(Debug)]
pub(crate) struct Spool {
    root: PathBuf,
    remote: Arc<dyn ObjectStore>,
    /// Whether this process writes new objects here and uploads them (the
    /// server); otherwise it only reads what the server spooled (CLI
    /// commands beside a running server write straight to S3, so that one
    /// process owns the spool and its uploads).
    writes: bool,
    queue: OnceLock<mpsc::UnboundedSender<String>>,
    /// Files enqueued and not yet uploaded (this process's view).
    pending: Arc<AtomicU64>,
    /// Their keys: a key queued twice is uploaded once, and a delete of a
    /// queued key leaves a tombstone for its upload.
    queued: Queued,
}

type Queued = Arc<std::sync::Mutex<std::collections::HashSet<String>>>;

impl Spool {
    pub fn open(root: PathBuf, remote: Arc<dyn ObjectStore>, writes: bool) -> Result<Self> {
        if writes {
            std::fs::create_dir_all(&root)
                .map_err(|e| Error::io(format!("creating {}", root.display()), e))?;
        }
        Ok(Spool {
            root,
            remote,
            writes,
            queue: OnceLock::new(),
            pending: Arc::default(),
            queued: Arc::default(),
        })
    }

    /// The spool folder.
    pub fn root(&self) -> &FsPath {
        &self.root
    }

    /// Whether new objects are written here.
    pub fn writes(&self) -> bool {
        self.writes
    }

    /// Where the spool file of `key` is (keys are ours: UIDs, a tenant ID,
    /// a generation; never `..`).
    pub fn path(&self, key: &str) -> Result<PathBuf> {
        if key
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
        {
            return Err(Error::Internal(
                format!("unexpected object key {key:?}").into(),
            ));
        }
        Ok(self.root.join(key))
    }

    /// Upload `key`'s spool file in the background.
    pub fn enqueue(&self, key: String) {
        if !self.writes {
            return;
        }
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(upload_loop(
                self.root.clone(),
                self.remote.clone(),
                self.pending.clone(),
                self.queued.clone(),
                rx,
            ));
            tx
        });
        let fresh = self
            .queued
            .lock()
            .map(|mut q| q.insert(key.clone()))
            .unwrap_or(true);
        if !fresh {
            return;
        }
        self.pending.fetch_add(1, Ordering::Relaxed);
        if let Err(mpsc::error::SendError(key)) = queue.send(key) {
            // The task went with its runtime; the file stays for the next
            // start to upload.
            if let Ok(mut q) = self.queued.lock() {
                q.remove(&key);
            }
            self.pending.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Enqueue every file in the spool (at start: uploads a crash or a stop
    /// interrupted). Returns how many.
    pub async fn resume(&self) -> Result<u64> {
        if !self.writes {
            return Ok(0);
        }
        let keys = self.files().await?;
        self.clear_tombstones().await?;
        let n = keys.len() as u64;
        for (key, _) in keys {
            self.enqueue(key);
        }
        Ok(n)
    }

    /// Tombstones left by deletes whose upload had finished meanwhile
    /// (at start nothing is being uploaded: every one is stale).
    async fn clear_tombstones(&self) -> Result<()> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || {
            let mut dirs = vec![root];
            while let Some(dir) = dirs.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let path = entry.path();
                    if entry.file_type().is_ok_and(|t| t.is_dir()) {
                        dirs.push(path);
                    } else if path.extension().is_some_and(|e| e == TOMBSTONE) {
                        let _ = std::fs::remove_file(&path);
                    }
                }
            }
        })
        .await?;
        Ok(())
    }

    /// Uploads enqueued by this process and not finished.
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    /// Every spooled file: key and size.
    pub async fn files(&self) -> Result<Vec<(String, u64)>> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let mut dirs = vec![root.clone()];
            while let Some(dir) = dirs.pop() {
                let entries = match std::fs::read_dir(&dir) {
                    Ok(e) => e,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(Error::io(format!("reading {}", dir.display()), e)),
                };
                for entry in entries {
                    let entry =
                        entry.map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
                    let meta = entry
                        .metadata()
                        .map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
                    let path = entry.path();
                    if meta.is_dir() {
                        dirs.push(path);
                    } else if path.extension().is_some_and(|e| e == TOMBSTONE) {
                        continue;
                    } else if let Ok(rel) = path.strip_prefix(&root) {
                        let key = rel
                            .components()
                            .map(|c| c.as_os_str().to_string_lossy())
                            .collect::<Vec<_>>()
                            .join("/");
                        out.push((key, meta.len()));
                    }
                }
            }
            Ok(out)
        })
        .await?
    }

    /// The whole spool file of `key`, if it is still spooled.
    pub async fn read(&self, key: &str) -> Result<Option<Bytes>> {
        match tokio::fs::read(self.path(key)?).await {
            Ok(b) => Ok(Some(Bytes::from(b))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("reading spooled {key}"), e)),
        }
    }

    /// Bytes `range` of `key`'s spool file, if it is still spooled.
    pub async fn read_range(&self, key: &str, range: Range<u64>) -> Result<Option<Bytes>> {
        let path = self.path(key)?;
        let key = key.to_owned();
        tokio::task::spawn_blocking(move || {
            file_range(&path, range)
                .map(|b| b.map(Bytes::from))
                .map_err(|e| Error::io(format!("reading spooled {key}"), e))
        })
        .await?
    }

    /// The size of `key`'s spool file, if it is still spooled.
    pub async fn size(&self, key: &str) -> Result<Option<u64>> {
        match tokio::fs::metadata(self.path(key)?).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("reading spooled {key}"), e)),
        }
    }

    /// Remove `key`'s spool file, if any (its instance is deleted). An
    /// upload of it may be under way: a tombstone beside it tells the
    /// uploader to delete what it put.
    pub async fn remove(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        // This process's upload of it may be under way; another process
        // (the server, when this is a CLI command) may be uploading it.
        let uploading = match self.writes {
            true => self.queued.lock().map(|q| q.contains(key)).unwrap_or(true),
            false => tokio::fs::try_exists(&path).await.unwrap_or(true),
        };
        if uploading {
            let stone = tombstone(&path);
            if let Err(e) = tokio::fs::write(&stone, b"").await {
                return Err(Error::io(format!("marking spooled {key} deleted"), e));
            }
        }
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("removing spooled {key}"), e)),
        }
    }
}

/// Extension of the mark a delete leaves for an upload in flight.
const TOMBSTONE: &str = "deleted";

fn tombstone(path: &FsPath) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(TOMBSTONE);
    PathBuf::from(name)
}

async fn upload_loop(
    root: PathBuf,
    remote: Arc<dyn ObjectStore>,
    pending: Arc<AtomicU64>,
    busy: Queued,
    mut rx: mpsc::UnboundedReceiver<String>,
) {
    let slots = Arc::new(Semaphore::new(UPLOADS));
    while let Some(key) = rx.recv().await {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let (root, remote, pending) = (root.clone(), remote.clone(), pending.clone());
        let busy = busy.clone();
        tokio::spawn(async move {
            let mut wait = Duration::from_millis(500);
            loop {
                match upload(&root, remote.as_ref(), &key).await {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::warn!(key = %key, error = %e, retry_in = ?wait, "upload from the spool failed");
                        // Jitter: uploads that failed together do not retry together.
                        let jitter = Duration::from_millis(rand::random::<u64>() % 250);
                        tokio::time::sleep(wait + jitter).await;
                        wait = (wait * 2).min(MAX_BACKOFF);
                    }
                }
            }
            if let Ok(mut b) = busy.lock() {
                b.remove(&key);
            }
            pending.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
}

/// Upload one spool file, then remove it. A file gone already (uploaded by
/// an earlier attempt, or its instance deleted) is done.
async fn upload(root: &FsPath, remote: &dyn ObjectStore, key: &str) -> Result<()> {
    let path = root.join(key);
    let location = Path::from(key);
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        // Uploaded already, or deleted.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return bury(remote, &path, &location, key).await
        }
        Err(e) => return Err(Error::io(format!("opening {}", path.display()), e)),
    };
    let size = file
        .metadata()
        .await
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?
        .len() as usize;
    let read = |e| Error::io(format!("reading {}", path.display()), e);
    if size <= PART {
        let mut buf = Vec::with_capacity(size);
        file.read_to_end(&mut buf).await.map_err(read)?;
        remote
            .put(&location, PutPayload::from(buf))
            .await
            .map_err(|e| Error::store(key, e))?;
    } else {
        let upload = remote
            .put_multipart(&location)
            .await
            .map_err(|e| Error::store(key, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut buf = vec![0u8; PART];
        let sent: Result<()> = async {
            loop {
                let n = file.read(&mut buf).await.map_err(read)?;
                if n == 0 {
                    return Ok(());
                }
                writer
                    .wait_for_capacity(4)
                    .await
                    .map_err(|e| Error::store(key, e))?;
                writer.write(&buf[..n]);
            }
        }
        .await;
        if let Err(e) = sent {
            // No incomplete upload left behind in the bucket.
            let _ = writer.abort().await;
            return Err(e);
        }
        writer.finish().await.map_err(|e| Error::store(key, e))?;
    }
    match tokio::fs::remove_file(&path).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(format!("removing {}", path.display()), e)),
    }
    // Deleted while it went up: delete what was put.
    bury(remote, &path, &location, key).await?;
    // Empty series and study folders go too (a folder still in use is not
    // empty, and the next spooled file recreates it).
    let mut dir = path.parent().map(FsPath::to_path_buf);
    while let Some(d) = dir {
        if d == root || tokio::fs::remove_dir(&d).await.is_err() {
            break;
        }
        dir = d.parent().map(FsPath::to_path_buf);
    }
    Ok(())
}

/// If `key`'s instance was deleted while spooled (a tombstone beside its
/// path), delete it from the object store too, then the tombstone.
async fn bury(remote: &dyn ObjectStore, path: &FsPath, location: &Path, key: &str) -> Result<()> {
    let stone = tombstone(path);
    if !tokio::fs::try_exists(&stone).await.unwrap_or(false) {
        return Ok(());
    }
    match remote.delete(location).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(Error::store(key, e)),
    }
    match tokio::fs::remove_file(&stone).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("removing {}", stone.display()), e)),
    }
}

/// Bytes `range` of the file at `path`, read where the caller is (it
/// blocks); `None` when there is no such file. A file shorter than the
/// range fails with `UnexpectedEof`.
pub(crate) fn file_range(path: &FsPath, range: Range<u64>) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut out = vec![0u8; (range.end - range.start) as usize];
    f.seek(SeekFrom::Start(range.start))?;
    f.read_exact(&mut out)?;
    Ok(Some(out))
}
