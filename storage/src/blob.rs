//! The blob store: one object per stored instance, over `object_store`.
//!
//! This is the only code that builds object keys. A key derives from the
//! instance's UIDs plus a random generation suffix, so a second copy of an
//! instance never overwrites the first before the index decides which one
//! wins:
//!
//! ```text
//! <StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.<generation>.dcm    (no compression)
//! <StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.<generation>.fzst   (zstd)
//! ```
//!
//! With compression on, the original bytes are cut into chunks of
//! [`CHUNK_SIZE`] and each chunk is one independent zstd frame (or kept raw
//! when zstd would not shrink it). The chunk table is kept in the index *and*
//! in a footer, so a frame is one ranged read of a few chunks and a blob is
//! still readable on its own (`filmless check --repair`). Footer layout, all
//! little endian: `u32 × n` stored chunk lengths (high bit set: raw; next
//! bit set: byte planes, below), `u32 n`, `u32 chunk size`, `u64 original
//! size`, `b"FLMZSTD1"`.
//!
//! Objects of 16-bit native pixel data (CT, MR, DX: 12 to 16 bits in two
//! bytes) are compressed in byte planes: each chunk's even bytes, then its
//! odd bytes, then zstd. The high bytes of such pixels vary little and the
//! low bytes are noise-like; apart, zstd finds the high plane almost
//! constant and codes the low one with its entropy coder alone. On a
//! 512×512 CT slice this compresses 3.6 times faster, to 41% of the original
//! instead of 55%, and decompresses faster (benches/RESULTS.md). The flag
//! is per chunk; a reader that predates it refuses such a chunk as corrupt
//! rather than returning wrong bytes.
//!
//! Local objects are written by this module, not by `object_store`'s local
//! backend (which writes a staging file, renames it and never fsyncs): once,
//! at their final name, then fsynced; their directory entries are fsynced
//! by [`BlobStore::sync_dirs`], once per directory for a whole group of new
//! objects. An acknowledged instance must survive a power cut; a file cut
//! short by a crash has no index row (`filmless check` finds it).

use std::collections::HashSet;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::limit::LimitStore;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, PutPayload, WriteMultipart};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::spool::Spool;
use crate::tenant::TenantId;
use crate::uid::Uid;

/// Where the instances of tenants other than the implicit one live.
const TENANT_PREFIX: &str = "tenants/";

/// Original bytes per compressed chunk.
pub const CHUNK_SIZE: usize = 256 * 1024;
/// Objects larger than this (as stored) are written with multipart upload.
pub const MULTIPART_THRESHOLD: usize = 8 * 1024 * 1024;
const MULTIPART_CONCURRENCY: usize = 4;
const MAGIC: &[u8; 8] = b"FLMZSTD1";
const RAW_FLAG: u32 = 0x8000_0000;
/// A compressed chunk holding its bytes in two planes (even bytes, then odd).
const PLANES_FLAG: u32 = 0x4000_0000;
/// The stored length in a chunk table entry.
const LEN_MASK: u32 = !(RAW_FLAG | PLANES_FLAG);

/// How blobs are compressed at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CompressionKind {
    /// zstd in independent chunks (the default).
    Zstd,
    /// Stored exactly as received.
    None,
}

impl CompressionKind {
    /// The name stored in the index.
    pub fn as_str(self) -> &'static str {
        match self {
            CompressionKind::Zstd => "zstd",
            CompressionKind::None => "none",
        }
    }

    /// Parse the name stored in the index.
    pub fn from_name(s: &str) -> Result<Self> {
        match s {
            "zstd" => Ok(CompressionKind::Zstd),
            "none" => Ok(CompressionKind::None),
            other => Err(Error::Internal(
                format!("unknown compression {other:?} in index").into(),
            )),
        }
    }
}

/// S3 connection settings; unset values fall back to the standard `AWS_*`
/// environment variables.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Options {
    /// Endpoint URL for S3-compatible servers (MinIO, Ceph); unset for AWS.
    pub endpoint: Option<String>,
    /// Region (`us-east-1` when unset).
    pub region: Option<String>,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`), as MinIO and Ceph want.
    /// Defaults to true when an endpoint is set.
    pub path_style: Option<bool>,
}

/// Where and how the blob of one instance is stored, as the index records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRef {
    /// Object key.
    pub key: String,
    /// Compression at rest.
    pub compression: CompressionKind,
    /// Size of the original bytes.
    pub original_size: u64,
    /// Size of the stored object.
    pub stored_size: u64,
    /// Encoded chunk table (empty without compression).
    pub chunk_table: Vec<u8>,
}

/// Object store plus compression settings.
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    local: Option<Arc<LocalFileSystem>>,
    /// An S3 store (not local, not in memory).
    remote: bool,
    /// Remote stores: the local spool new objects are written to first.
    spool: Option<Arc<Spool>>,
    /// Directories whose entry in their parent is known durable, with the
    /// inode it was made durable for.
    synced_dirs: Arc<Mutex<std::collections::HashMap<PathBuf, u64>>>,
    compression: CompressionKind,
    zstd_level: i32,
    /// Requests made, by kind, for metrics.
    counts: Arc<BlobCounts>,
}

/// Object store requests since start: reads, writes (objects finished),
/// deletes, and those that failed.
#[derive(Debug, Default)]
pub struct BlobCounts {
    /// Whole and ranged reads.
    pub reads: std::sync::atomic::AtomicU64,
    /// Objects written.
    pub writes: std::sync::atomic::AtomicU64,
    /// Deletes.
    pub deletes: std::sync::atomic::AtomicU64,
    /// Requests of any kind that failed.
    pub errors: std::sync::atomic::AtomicU64,
}

impl BlobCounts {
    fn count<T>(&self, kind: &std::sync::atomic::AtomicU64, result: &Result<T>) {
        use std::sync::atomic::Ordering::Relaxed;
        kind.fetch_add(1, Relaxed);
        if result.is_err() {
            self.errors.fetch_add(1, Relaxed);
        }
    }
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStore")
            .field("store", &self.store.to_string())
            .field("compression", &self.compression)
            .finish()
    }
}

impl BlobStore {
    /// Open the store at `url`: `file:///path`, `s3://bucket/prefix` or
    /// `memory://`. `max_requests` bounds concurrent object-store requests.
    pub fn open(
        url: &str,
        s3: &S3Options,
        compression: CompressionKind,
        zstd_level: i32,
        max_requests: usize,
    ) -> Result<Self> {
        let max_requests = max_requests.max(1);
        let (store, local): (Arc<dyn ObjectStore>, _) =
            if let Some(path) = url.strip_prefix("file://") {
                let root = PathBuf::from(path);
                std::fs::create_dir_all(&root)
                    .map_err(|e| Error::io(format!("creating {}", root.display()), e))?;
                let fs = Arc::new(
                    LocalFileSystem::new_with_prefix(&root)
                        .map_err(|e| Error::Config(format!("object store {url}: {e}")))?
                        .with_automatic_cleanup(true),
                );
                let dyn_fs: Arc<dyn ObjectStore> = fs.clone();
                (Arc::new(LimitStore::new(dyn_fs, max_requests)), Some(fs))
            } else if url == "memory://" || url.starts_with("memory:") {
                (Arc::new(InMemory::new()), None)
            } else if let Some(rest) = url.strip_prefix("s3://") {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(Error::Config(format!("object store {url}: no bucket")));
                }
                let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
                if let Some(endpoint) = &s3.endpoint {
                    b = b
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"))
                        .with_virtual_hosted_style_request(!s3.path_style.unwrap_or(true));
                } else if let Some(path_style) = s3.path_style {
                    b = b.with_virtual_hosted_style_request(!path_style);
                }
                b = b.with_region(s3.region.clone().unwrap_or_else(|| {
                    std::env::var("AWS_REGION")
                        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
                        .unwrap_or_else(|_| "us-east-1".to_owned())
                }));
                if let Some(k) = &s3.access_key_id {
                    b = b.with_access_key_id(k);
                }
                if let Some(k) = &s3.secret_access_key {
                    b = b.with_secret_access_key(k);
                }
                let s3store = b
                    .build()
                    .map_err(|e| Error::Config(format!("object store {url}: {e}")))?;
                let limited = LimitStore::new(s3store, max_requests);
                let prefix = prefix.trim_matches('/');
                if prefix.is_empty() {
                    (Arc::new(limited), None)
                } else {
                    (Arc::new(PrefixStore::new(limited, prefix)), None)
                }
            } else {
                return Err(Error::Config(format!(
                    "object store URL {url:?}: expected file://, s3:// or memory://"
                )));
            };
        if !(-7..=22).contains(&zstd_level) {
            return Err(Error::Config(format!(
                "zstd level {zstd_level} is outside -7..=22"
            )));
        }
        Ok(BlobStore {
            store,
            local,
            remote: url.starts_with("s3://"),
            spool: None,
            synced_dirs: Arc::default(),
            counts: Arc::default(),
            compression,
            zstd_level,
        })
    }

    /// The compression new blobs get.
    pub fn compression(&self) -> CompressionKind {
        self.compression
    }

    /// Put a local spool in front of a remote store (S3): new objects are
    /// written and fsynced under `dir`, and uploaded in the background
    /// (module `spool`). A local or memory store keeps writing directly.
    pub fn with_spool(mut self, dir: PathBuf) -> Result<Self> {
        if self.remote {
            self.spool = Some(Arc::new(Spool::open(dir, self.store.clone(), true)?));
        }
        Ok(self)
    }

    /// Read objects a server still holds in its spool under `dir`, but
    /// write new ones straight to the remote store (CLI commands beside a
    /// running server: one process owns a spool and its uploads).
    pub fn reading_spool(mut self, dir: PathBuf) -> Result<Self> {
        if self.remote {
            self.spool = Some(Arc::new(Spool::open(dir, self.store.clone(), false)?));
        }
        Ok(self)
    }

    /// Whether new objects are written to local files (a local store, or
    /// the spool in front of S3): cheap to write and throw away.
    pub fn writes_locally(&self) -> bool {
        self.local.is_some() || self.spool.as_ref().is_some_and(|s| s.writes())
    }

    /// Whether new objects go through a spool.
    pub fn spooled(&self) -> bool {
        self.spool.as_ref().is_some_and(|s| s.writes())
    }

    /// Upload every object left in the spool (at start). Returns how many.
    pub async fn resume_uploads(&self) -> Result<u64> {
        match &self.spool {
            Some(s) => s.resume().await,
            None => Ok(0),
        }
    }

    /// Objects in the spool not yet uploaded: key and stored size.
    pub async fn spooled_objects(&self) -> Result<Vec<(String, u64)>> {
        match &self.spool {
            Some(s) => s.files().await,
            None => Ok(Vec::new()),
        }
    }

    /// Uploads this process has queued and not finished.
    pub fn uploads_pending(&self) -> u64 {
        self.spool.as_ref().map_or(0, |s| s.pending())
    }

    /// Queue a durable spooled object for upload (once the index points at
    /// it: an upload must never remove the folder its directory entry is
    /// still being synced in). Nothing to do without a spool.
    pub fn upload_later(&self, key: &str) {
        if let Some(s) = &self.spool {
            s.enqueue(key.to_owned());
        }
    }

    /// The file a new object is written to: on a local store its own, with
    /// a spool its spool file; `None` for a store written through
    /// `object_store`.
    fn local_file(&self, key: &str) -> Result<Option<PathBuf>> {
        if let Some(fs) = &self.local {
            return fs
                .path_to_filesystem(&Path::from(key))
                .map(Some)
                .map_err(|e| Error::store(key, e));
        }
        match &self.spool {
            Some(s) if s.writes() => s.path(key).map(Some),
            _ => Ok(None),
        }
    }

    /// The folder local files live under: the local store's, or the spool
    /// in front of S3 (where free space is measured).
    pub fn local_root(&self) -> Option<PathBuf> {
        if let Some(fs) = &self.local {
            return fs
                .path_to_filesystem(&Path::from("x"))
                .ok()
                .and_then(|p| p.parent().map(PathBuf::from));
        }
        self.spool.as_ref().map(|s| s.root().to_path_buf())
    }

    /// The stored bytes of `key`: from the spool while they are there.
    async fn get(&self, key: &str) -> Result<Bytes> {
        if let Some(s) = &self.spool {
            if let Some(b) = s.read(key).await? {
                return Ok(b);
            }
        }
        self.store
            .get(&Path::from(key))
            .await
            .map_err(|e| Error::store(key, e))?
            .bytes()
            .await
            .map_err(|e| Error::store(key, e))
    }

    /// Stored bytes `range` of `key`: from the spool while they are there.
    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes> {
        if let Some(s) = &self.spool {
            if let Some(b) = s.read_range(key, range.clone()).await? {
                return Ok(b);
            }
        }
        self.store
            .get_range(&Path::from(key), range)
            .await
            .map_err(|e| Error::store(key, e))
    }

    /// The key for a new blob of an instance (a fresh generation each
    /// call): `STUDY/SERIES/SOP.GEN.EXT` in the implicit tenant, under
    /// `tenants/ID/` in another (a tenant ID is never a UID, so the two
    /// cannot collide).
    pub fn instance_key(&self, tenant: &TenantId, study: &Uid, series: &Uid, sop: &Uid) -> String {
        let generation: u64 = rand::random();
        let ext = match self.compression {
            CompressionKind::Zstd => "fzst",
            CompressionKind::None => "dcm",
        };
        let prefix = if tenant.is_implicit() {
            String::new()
        } else {
            format!("{TENANT_PREFIX}{}/", tenant.as_str())
        };
        format!("{prefix}{study}/{series}/{sop}.{generation:016x}.{ext}")
    }

    /// The tenant an instance key was made for (`filmless check --repair`
    /// re-indexes an orphan into it); `None` when the key is not one of
    /// ours.
    pub fn tenant_of_key(key: &str) -> Option<TenantId> {
        match key.strip_prefix(TENANT_PREFIX) {
            Some(rest) => TenantId::parse(rest.split('/').next()?).ok(),
            None => Some(TenantId::implicit()),
        }
    }

    /// Start writing a blob under `key`.
    pub fn writer(&self, key: String) -> Result<BlobWriter> {
        BlobWriter::new(self.clone(), key)
    }

    /// Store `bytes` under `key` in one call.
    pub async fn put(&self, key: String, bytes: Bytes) -> Result<BlobRef> {
        let mut w = self.writer(key)?;
        if let Err(e) = w.write(bytes).await {
            w.abort().await;
            return Err(e);
        }
        w.finish().await
    }

    /// Requests made since start.
    pub fn counts(&self) -> &BlobCounts {
        &self.counts
    }

    /// Read a whole blob back as the original bytes.
    pub async fn read(&self, blob: &BlobRef) -> Result<Bytes> {
        let stored = self.get(&blob.key).await;
        self.counts.count(&self.counts.reads, &stored);
        let stored = stored?;
        match blob.compression {
            CompressionKind::None => Ok(stored),
            CompressionKind::Zstd => {
                let key = blob.key.clone();
                tokio::task::spawn_blocking(move || decode_chunked(&key, &stored)).await?
            }
        }
    }

    /// Read the original bytes `range` of a blob with one ranged read.
    pub async fn read_range(&self, blob: &BlobRef, range: Range<u64>) -> Result<Bytes> {
        if range.end > blob.original_size || range.start > range.end {
            return Err(Error::CorruptBlob {
                key: blob.key.clone(),
                reason: format!("range {range:?} outside {} bytes", blob.original_size).into(),
            });
        }
        match blob.compression {
            CompressionKind::None => match self.range_source(&blob.key, range).await? {
                RangeSource::Fetched(b) => Ok(b),
                file => {
                    let (key, counts) = (blob.key.clone(), self.counts.clone());
                    tokio::task::spawn_blocking(move || file.bytes(&key, &counts)).await?
                }
            },
            CompressionKind::Zstd => {
                let table =
                    ChunkTable::decode(&blob.chunk_table).ok_or_else(|| Error::CorruptBlob {
                        key: blob.key.clone(),
                        reason: "bad chunk table in index".into(),
                    })?;
                if range.is_empty() {
                    return Ok(Bytes::new());
                }
                let cs = table.chunk_size as u64;
                let first = (range.start / cs) as usize;
                let last = ((range.end - 1) / cs) as usize;
                let offsets = table.stored_offsets();
                let (Some(&from), Some(&to)) = (offsets.get(first), offsets.get(last + 1)) else {
                    return Err(Error::CorruptBlob {
                        key: blob.key.clone(),
                        reason: "chunk table shorter than the blob".into(),
                    });
                };
                let source = self.range_source(&blob.key, from..to).await?;
                let (key, counts) = (blob.key.clone(), self.counts.clone());
                let entries = table.entries[first..=last].to_vec();
                tokio::task::spawn_blocking(move || {
                    let stored = source.bytes(&key, &counts)?;
                    let mut pieces = Vec::with_capacity(entries.len());
                    let mut at = 0usize;
                    for entry in &entries {
                        let len = (entry & LEN_MASK) as usize;
                        let piece = stored
                            .get(at..at + len)
                            .ok_or_else(|| corrupt(&key, "short read"))?;
                        pieces.push((*entry, piece));
                        at += len;
                    }
                    let chunks = decode_chunks(&key, &pieces, table.chunk_size)?;
                    let mut out = Vec::with_capacity((range.end - range.start) as usize);
                    for (i, chunk) in chunks.iter().enumerate() {
                        let chunk_start = (first + i) as u64 * cs;
                        let lo = range.start.saturating_sub(chunk_start) as usize;
                        let hi = ((range.end - chunk_start) as usize).min(chunk.len());
                        out.extend_from_slice(
                            chunk
                                .get(lo..hi)
                                .ok_or_else(|| corrupt(&key, "chunk shorter than table says"))?,
                        );
                    }
                    Ok(Bytes::from(out))
                })
                .await?
            }
        }
    }

    /// Where the stored bytes `range` of `key` come from: a local object
    /// file is read by the job that decodes it (one hop to the blocking
    /// pool, not two); anything else is fetched here.
    async fn range_source(&self, key: &str, range: Range<u64>) -> Result<RangeSource> {
        if self.local.is_some() {
            if let Some(path) = self.local_file(key)? {
                return Ok(RangeSource::File { path, range });
            }
        }
        let got = self.get_range(key, range).await;
        self.counts.count(&self.counts.reads, &got);
        Ok(RangeSource::Fetched(got?))
    }

    /// Delete a blob; a blob already gone is not an error.
    pub async fn delete(&self, key: &str) -> Result<()> {
        if let Some(s) = &self.spool {
            s.remove(key).await?;
        }
        let done = match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Error::store(key, e)),
        };
        self.counts.count(&self.counts.deletes, &done);
        done
    }

    /// Whether a blob exists, and its stored size.
    pub async fn stored_size(&self, key: &str) -> Result<Option<u64>> {
        if let Some(s) = &self.spool {
            if let Some(size) = s.size(key).await? {
                return Ok(Some(size));
            }
        }
        match self.store.head(&Path::from(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(Error::store(key, e)),
        }
    }

    /// Every blob key with its stored size (spooled ones included).
    pub fn list(&self) -> BoxStream<'static, Result<(String, u64)>> {
        self.list_with_times()
            .map(|r| r.map(|(k, size, _)| (k, size)))
            .boxed()
    }

    /// Every blob with its stored size and last modification (Unix
    /// seconds); a spooled object not yet uploaded counts as new.
    pub fn list_with_times(&self) -> BoxStream<'static, Result<(String, u64, i64)>> {
        let remote = self.store.list(None).map(|r| {
            r.map(|m| (m.location.to_string(), m.size, m.last_modified.timestamp()))
                .map_err(|e| Error::store("(listing)", e))
        });
        let Some(spool) = self.spool.clone() else {
            return remote.boxed();
        };
        // Spooled files first, then what the store has that is not spooled
        // (a file uploaded meanwhile may show twice: harmless to a check).
        futures::stream::once(async move {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            match spool.files().await {
                Ok(files) => {
                    let keys: HashSet<String> = files.iter().map(|(k, _)| k.clone()).collect();
                    let spooled = futures::stream::iter(
                        files.into_iter().map(move |(k, size)| Ok((k, size, now))),
                    );
                    let rest = remote
                        .try_filter(move |(k, _, _)| futures::future::ready(!keys.contains(k)));
                    spooled.chain(rest).boxed()
                }
                Err(e) => futures::stream::iter([Err(e)]).boxed(),
            }
        })
        .flatten()
        .boxed()
    }

    /// The original bytes of a blob known only by its key (no index row):
    /// `.fzst` blobs carry their chunk table in a footer.
    pub async fn read_unindexed(&self, key: &str) -> Result<Bytes> {
        let stored = self.get(key).await?;
        if key.ends_with(".fzst") {
            let k = key.to_owned();
            tokio::task::spawn_blocking(move || decode_chunked(&k, &stored)).await?
        } else {
            Ok(stored)
        }
    }

    /// Make the directory entries of just-written local objects durable:
    /// fsync each one's directory once, whatever the number of objects in
    /// it, and the directories above that were created since we last synced
    /// them. Nothing to do on other stores.
    pub async fn sync_dirs(&self, keys: &[&str]) -> Result<()> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        for key in keys {
            let Some(file) = self.local_file(key)? else {
                return Ok(());
            };
            if let Some(d) = file.parent() {
                if !dirs.iter().any(|x| x == d) {
                    dirs.push(d.to_path_buf());
                }
            }
        }
        if dirs.is_empty() {
            return Ok(());
        }
        let root = self.local_root();
        let synced = self.synced_dirs.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let sync = |p: &std::path::Path| {
                std::fs::File::open(p)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| Error::io(format!("fsync {}", p.display()), e))
            };
            let inode = |p: &std::path::Path| {
                std::fs::metadata(p)
                    .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
                    .map_err(|e| Error::io(format!("reading {}", p.display()), e))
            };
            let mut done: Vec<PathBuf> = Vec::new();
            for first in &dirs {
                // The object's own directory gained an entry: always synced.
                if !done.iter().any(|x| x == first) {
                    sync(first)?;
                    done.push(first.clone());
                }
                // Each directory's own entry in its parent is durable once
                // the parent was synced after that directory was made. A
                // folder removed and made again (emptied by a delete or by
                // the spool's uploader) is a new inode: its parent is
                // synced again.
                let mut d = first.as_path();
                while root.as_deref() != Some(d) {
                    let Some(parent) = d.parent() else { break };
                    let ino = inode(d)?;
                    let known = synced
                        .lock()
                        .map(|s| s.get(d) == Some(&ino))
                        .unwrap_or(false);
                    if known {
                        break;
                    }
                    if !done.iter().any(|x| x == parent) {
                        sync(parent)?;
                        done.push(parent.to_path_buf());
                    }
                    if let Ok(mut s) = synced.lock() {
                        s.insert(d.to_path_buf(), ino);
                    }
                    d = parent;
                }
            }
            Ok(())
        })
        .await?
    }
}

/// Writes one blob while its bytes arrive: each full chunk is compressed
/// (and, on a local store, written to the file with its write-back to disk
/// started) by a job on the blocking pool while the caller goes on
/// receiving the next one; one job per writer at a time, so chunks stay in
/// order and memory stays bounded. Remote stores switch to multipart upload
/// once the object outgrows [`MULTIPART_THRESHOLD`].
pub struct BlobWriter {
    store: BlobStore,
    key: String,
    path: Path,
    /// Original bytes not yet handed to a job (less than a chunk).
    pending: BytesMut,
    /// The stored side, when no job holds it.
    sink: Option<Sink>,
    /// The job holding the sink, if one runs.
    job: Option<tokio::task::JoinHandle<Result<Sink>>>,
    upload: Option<WriteMultipart>,
    original_size: u64,
}

/// What a blob's stored bytes have come to so far.
struct Sink {
    compression: CompressionKind,
    zstd_level: i32,
    /// Compress in byte planes (16-bit pixel data).
    planes: bool,
    /// Local store: the file (opened by the first job), or where to create it.
    file: Option<LocalFile>,
    local_path: Option<PathBuf>,
    /// Remote store: stored pieces not yet uploaded.
    out: Vec<Bytes>,
    out_len: usize,
    table: Vec<u32>,
    stored_size: u64,
}

/// Where a ranged read's stored bytes come from.
enum RangeSource {
    /// Fetched already (and counted).
    Fetched(Bytes),
    /// A local object file, to be read on the blocking pool.
    File { path: PathBuf, range: Range<u64> },
}

impl RangeSource {
    /// The stored bytes; blocks when they are still in a file.
    fn bytes(self, key: &str, counts: &BlobCounts) -> Result<Bytes> {
        match self {
            RangeSource::Fetched(b) => Ok(b),
            RangeSource::File { path, range } => {
                let got = read_file_range(&path, key, range);
                counts.count(&counts.reads, &got);
                got
            }
        }
    }
}

/// Bytes `range` of the local object file `path` (of `key`). A missing file
/// is the same not-found error the object store gives.
fn read_file_range(path: &std::path::Path, key: &str, range: Range<u64>) -> Result<Bytes> {
    match crate::spool::file_range(path, range) {
        Ok(Some(b)) => Ok(Bytes::from(b)),
        Ok(None) => Err(Error::store(
            key,
            object_store::Error::NotFound {
                path: key.to_owned(),
                source: format!("{} does not exist", path.display()).into(),
            },
        )),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(corrupt(key, "object shorter than the index says"))
        }
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

/// A local object file open for writing.
struct LocalFile {
    path: PathBuf,
    file: std::fs::File,
    written: u64,
}

impl LocalFile {
    /// Create the file under `path` (and its folders); it must not exist:
    /// every key has its own random generation.
    fn create(path: PathBuf) -> Result<Self> {
        let mut attempt = 0;
        let file = loop {
            attempt += 1;
            if let Some(dir) = path.parent() {
                match std::fs::create_dir_all(dir) {
                    Ok(()) => {}
                    // A folder on the way removed as it was made: again.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempt < 3 => continue,
                    Err(e) => return Err(Error::io(format!("creating {}", dir.display()), e)),
                }
            }
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(f) => break f,
                // The spool's uploader removed the emptied folder between
                // the two calls: make it again.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempt < 3 => {}
                Err(e) => return Err(Error::io(format!("creating {}", path.display()), e)),
            }
        };
        Ok(LocalFile {
            path,
            file,
            written: 0,
        })
    }

    /// Append `pieces`, and start writing them back to disk without
    /// waiting, so that the final fsync has little left to wait for.
    fn write(&mut self, pieces: &[Bytes]) -> Result<()> {
        use std::io::Write;
        let from = self.written;
        for p in pieces {
            self.file
                .write_all(p)
                .map_err(|e| Error::io(format!("writing {}", self.path.display()), e))?;
            self.written += p.len() as u64;
        }
        start_writeback(&self.file, from, self.written - from);
        Ok(())
    }
}

/// Ask the kernel to start writing a range back to disk now (Linux's
/// `sync_file_range(SYNC_FILE_RANGE_WRITE)`: it does not wait, and promises
/// nothing about durability; the fsync at the end does). Elsewhere nothing.
#[cfg(target_os = "linux")]
fn start_writeback(file: &std::fs::File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    if len == 0 {
        return;
    }
    // SAFETY: a plain system call on an open descriptor we own; it reads no
    // memory of ours. A failure only means write-back starts later.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &std::fs::File, _offset: u64, _len: u64) {}

impl Sink {
    /// Compress (when configured) and store `input`: to the local file, or
    /// into `out` for the upload. Runs on the blocking pool.
    fn take(&mut self, input: Bytes) -> Result<()> {
        let pieces = match self.compression {
            CompressionKind::None => vec![input],
            CompressionKind::Zstd => {
                let chunks = compress_chunks(&input, self.zstd_level, self.planes)?;
                let mut pieces = Vec::with_capacity(chunks.len());
                for (entry, bytes) in chunks {
                    self.table.push(entry);
                    pieces.push(bytes);
                }
                pieces
            }
        };
        self.put(pieces)
    }

    fn put(&mut self, pieces: Vec<Bytes>) -> Result<()> {
        let len: usize = pieces.iter().map(Bytes::len).sum();
        self.stored_size += len as u64;
        if let Some(path) = self.local_path.take() {
            self.file = Some(LocalFile::create(path)?);
        }
        match self.file.as_mut() {
            Some(file) => file.write(&pieces),
            None => {
                self.out_len += len;
                self.out.extend(pieces);
                Ok(())
            }
        }
    }

    /// The last bytes, the footer and the fsync; returns the chunk table
    /// for the index. Runs on the blocking pool.
    fn last(&mut self, rest: Bytes, original_size: u64) -> Result<Vec<u8>> {
        if !rest.is_empty() {
            self.take(rest)?;
        }
        let table = match self.compression {
            CompressionKind::Zstd => self.footer(original_size)?,
            CompressionKind::None => Vec::new(),
        };
        if let Some(path) = self.local_path.take() {
            // Nothing was written: an empty object.
            self.file = Some(LocalFile::create(path)?);
        }
        if let Some(f) = &self.file {
            f.file
                .sync_data()
                .map_err(|e| Error::io(format!("fsync {}", f.path.display()), e))?;
        }
        Ok(table)
    }

    /// Remove what a failed job had written of a local file.
    fn discard(&mut self) {
        if let Some(f) = self.file.take() {
            drop(f.file);
            if let Err(e) = std::fs::remove_file(&f.path) {
                tracing::warn!(path = %f.path.display(), error = %e, "could not remove a partly written object");
            }
        }
    }

    /// The footer of a chunked blob; returns the chunk table for the index.
    fn footer(&mut self, original_size: u64) -> Result<Vec<u8>> {
        let table = ChunkTable {
            chunk_size: CHUNK_SIZE as u32,
            entries: std::mem::take(&mut self.table),
        };
        let mut footer = Vec::with_capacity(table.entries.len() * 4 + 24);
        for e in &table.entries {
            footer.extend_from_slice(&e.to_le_bytes());
        }
        footer.extend_from_slice(&(table.entries.len() as u32).to_le_bytes());
        footer.extend_from_slice(&table.chunk_size.to_le_bytes());
        footer.extend_from_slice(&original_size.to_le_bytes());
        footer.extend_from_slice(MAGIC);
        self.put(vec![Bytes::from(footer)])?;
        Ok(table.encode())
    }
}

thread_local! {
    /// This thread's zstd compression context, kept between chunks (making
    /// one costs more than compressing a small chunk).
    static COMPRESSOR: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(None) };
    /// This thread's zstd decompression context.
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
    /// This thread's chunk in byte planes, on its way to or from zstd.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `chunk` in two byte planes: its even bytes, then its odd bytes (an odd
/// last byte goes at the end).
fn split_planes(chunk: &[u8], out: &mut Vec<u8>) {
    let half = chunk.len() / 2;
    out.clear();
    out.resize(chunk.len(), 0);
    let (low, rest) = out.split_at_mut(half);
    let (high, tail) = rest.split_at_mut(half);
    let mut pairs = chunk[..half * 2].chunks_exact(32);
    let mut lows = low.chunks_exact_mut(16);
    let mut highs = high.chunks_exact_mut(16);
    for ((from, l), h) in (&mut pairs).zip(&mut lows).zip(&mut highs) {
        split_32(from, l, h);
    }
    for ((pair, l), h) in pairs
        .remainder()
        .chunks_exact(2)
        .zip(lows.into_remainder())
        .zip(highs.into_remainder())
    {
        *l = pair[0];
        *h = pair[1];
    }
    tail.copy_from_slice(&chunk[half * 2..]);
}

/// 32 bytes into their 16 even and 16 odd bytes, with SSE2 (every x86-64
/// has it): the compiler does not vectorise the plain loop, which measured
/// a tenth of the speed.
#[cfg(target_arch = "x86_64")]
fn split_32(from: &[u8], low: &mut [u8], high: &mut [u8]) {
    use std::arch::x86_64::{
        _mm_and_si128, _mm_loadu_si128, _mm_packus_epi16, _mm_set1_epi16, _mm_srli_epi16,
        _mm_storeu_si128,
    };
    assert!(from.len() == 32 && low.len() == 16 && high.len() == 16);
    // SAFETY: SSE2 is part of x86-64; the unaligned loads and stores stay
    // within the slices, whose lengths are checked above.
    unsafe {
        let mask = _mm_set1_epi16(0x00ff);
        let a = _mm_loadu_si128(from.as_ptr().cast());
        let b = _mm_loadu_si128(from.as_ptr().add(16).cast());
        let l = _mm_packus_epi16(_mm_and_si128(a, mask), _mm_and_si128(b, mask));
        let h = _mm_packus_epi16(_mm_srli_epi16(a, 8), _mm_srli_epi16(b, 8));
        _mm_storeu_si128(low.as_mut_ptr().cast(), l);
        _mm_storeu_si128(high.as_mut_ptr().cast(), h);
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn split_32(from: &[u8], low: &mut [u8], high: &mut [u8]) {
    for ((pair, l), h) in from.chunks_exact(2).zip(low).zip(high) {
        *l = pair[0];
        *h = pair[1];
    }
}

/// The inverse of [`split_planes`]: `planes` interleaved again, appended to `out`.
fn join_planes(planes: &[u8], out: &mut Vec<u8>) {
    let half = planes.len() / 2;
    let (low, rest) = planes.split_at(half);
    let (high, tail) = rest.split_at(half);
    let start = out.len();
    out.resize(start + planes.len(), 0);
    let (pairs, last) = out[start..].split_at_mut(half * 2);
    for ((pair, l), h) in pairs.chunks_exact_mut(2).zip(low).zip(high) {
        pair[0] = *l;
        pair[1] = *h;
    }
    last.copy_from_slice(tail);
}

fn with_compressor<T>(
    level: i32,
    f: impl FnOnce(&mut zstd::bulk::Compressor<'static>) -> std::io::Result<T>,
) -> std::io::Result<T> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(l, _)| *l != level) {
            *slot = Some((level, zstd::bulk::Compressor::new(level)?));
        }
        let (_, c) = slot.as_mut().expect("set above");
        f(c)
    })
}

/// zstd frames of `input`'s chunks (raw where zstd would not shrink one),
/// in order, each in byte planes when `planes`; several chunks compress on
/// scoped threads of their own (never on rayon's global pool, which bulk
/// import fills with readers waiting on this very ingest).
fn compress_chunks(input: &Bytes, level: i32, planes: bool) -> Result<Vec<(u32, Bytes)>> {
    let compress = |chunk: &[u8]| -> Result<(u32, Bytes)> {
        let z = if planes {
            SCRATCH.with(|cell| {
                let mut scratch = cell.borrow_mut();
                split_planes(chunk, &mut scratch);
                with_compressor(level, |c| c.compress(&scratch))
            })
        } else {
            with_compressor(level, |c| c.compress(chunk))
        }
        .map_err(|e| Error::io("zstd compression", e))?;
        let flag = if planes { PLANES_FLAG } else { 0 };
        Ok(if z.len() < chunk.len() {
            (z.len() as u32 | flag, Bytes::from(z))
        } else {
            (chunk.len() as u32 | RAW_FLAG, input.slice_ref(chunk))
        })
    };
    let pieces: Vec<&[u8]> = input.chunks(CHUNK_SIZE).collect();
    if pieces.len() <= 1 {
        return pieces.into_iter().map(compress).collect();
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = pieces.iter().map(|p| scope.spawn(|| compress(p))).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| Error::Internal("compression thread panicked".into()))?
            })
            .collect()
    })
}

impl BlobWriter {
    fn new(store: BlobStore, key: String) -> Result<Self> {
        let path = Path::from(key.as_str());
        let local_path = store.local_file(&key)?;
        let sink = Sink {
            compression: store.compression,
            zstd_level: store.zstd_level,
            planes: false,
            file: None,
            local_path,
            out: Vec::new(),
            out_len: 0,
            table: Vec::new(),
            stored_size: 0,
        };
        Ok(BlobWriter {
            store,
            key,
            path,
            pending: BytesMut::new(),
            sink: Some(sink),
            job: None,
            upload: None,
            original_size: 0,
        })
    }

    /// Compress in byte planes: for objects that are mostly 16-bit pixel
    /// data (see the module's documentation). Call before the first write.
    pub fn in_planes(mut self, planes: bool) -> Self {
        if let Some(sink) = self.sink.as_mut() {
            sink.planes = planes;
        }
        self
    }

    /// The key being written.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Append original bytes. Whole chunks go to a job at once; the call
    /// waits only for the previous job.
    pub async fn write(&mut self, data: Bytes) -> Result<()> {
        self.original_size += data.len() as u64;
        self.pending.extend_from_slice(&data);
        if self.pending.len() >= CHUNK_SIZE {
            let full = self.pending.len() / CHUNK_SIZE * CHUNK_SIZE;
            let input = self.pending.split_to(full).freeze();
            self.submit(input).await?;
        }
        Ok(())
    }

    /// The sink, once the job holding it has finished.
    async fn sink(&mut self) -> Result<Sink> {
        if let Some(job) = self.job.take() {
            return job.await?;
        }
        self.sink
            .take()
            .ok_or_else(|| Error::Internal("blob writer used after an error".into()))
    }

    /// Hand `input` to a new job, after the previous one.
    async fn submit(&mut self, input: Bytes) -> Result<()> {
        let mut sink = self.sink().await?;
        if sink.out_len >= MULTIPART_THRESHOLD {
            self.upload_out(&mut sink).await?;
        }
        self.job = Some(tokio::task::spawn_blocking(move || {
            match sink.take(input) {
                Ok(()) => Ok(sink),
                Err(e) => {
                    sink.discard();
                    Err(e)
                }
            }
        }));
        Ok(())
    }

    /// Send a remote sink's pieces as multipart parts.
    async fn upload_out(&mut self, sink: &mut Sink) -> Result<()> {
        if self.upload.is_none() {
            let upload = self
                .store
                .store
                .put_multipart(&self.path)
                .await
                .map_err(|e| Error::store(&self.key, e))?;
            self.upload = Some(WriteMultipart::new_with_chunk_size(
                upload,
                MULTIPART_THRESHOLD,
            ));
        }
        let upload = self.upload.as_mut().expect("created above");
        upload
            .wait_for_capacity(MULTIPART_CONCURRENCY)
            .await
            .map_err(|e| Error::store(&self.key, e))?;
        for p in sink.out.drain(..) {
            upload.write(&p);
        }
        sink.out_len = 0;
        Ok(())
    }

    /// Finish the object and make it durable, directory entry included.
    pub async fn finish(self) -> Result<BlobRef> {
        let store = self.store.clone();
        let blob = self.finish_file().await?;
        store.sync_dirs(&[blob.key.as_str()]).await?;
        store.upload_later(&blob.key);
        Ok(blob)
    }

    /// Finish the object, its bytes durable; on a local store (or in the
    /// spool) its directory entry is not yet: [`BlobStore::sync_dirs`]
    /// makes it so, for many objects at once (group commit does it before
    /// the index rows that point at them are committed), and a spooled one
    /// is uploaded once [`BlobStore::upload_later`] is called.
    pub async fn finish_file(self) -> Result<BlobRef> {
        let counts = self.store.counts.clone();
        let done = self.finish_inner().await;
        counts.count(&counts.writes, &done);
        done
    }

    async fn finish_inner(mut self) -> Result<BlobRef> {
        let rest = std::mem::take(&mut self.pending).freeze();
        let mut sink = self.sink().await?;
        let original_size = self.original_size;
        // The last chunk, the footer and the fsync in one job.
        let (mut sink, chunk_table) = tokio::task::spawn_blocking(move || -> Result<_> {
            let done = sink.last(rest, original_size);
            if done.is_err() {
                sink.discard();
            }
            done.map(|table| (sink, table))
        })
        .await??;
        if sink.file.is_none() {
            let out = std::mem::take(&mut sink.out);
            match self.upload.take() {
                Some(mut upload) => {
                    for p in &out {
                        upload.write(p);
                    }
                    upload
                        .finish()
                        .await
                        .map_err(|e| Error::store(&self.key, e))?;
                }
                None => {
                    self.store
                        .store
                        .put(&self.path, PutPayload::from_iter(out))
                        .await
                        .map_err(|e| Error::store(&self.key, e))?;
                }
            }
        }
        Ok(BlobRef {
            key: self.key,
            compression: self.store.compression,
            original_size,
            stored_size: sink.stored_size,
            chunk_table,
        })
    }

    /// Give up: remove what was written of a local object, abort a
    /// multipart upload in progress. Nothing is left under the key unless
    /// the multipart upload had completed.
    pub async fn abort(mut self) {
        if let Ok(sink) = self.sink().await {
            if let Some(local) = sink.file {
                let path = local.path;
                drop(local.file);
                let removed =
                    tokio::task::spawn_blocking(move || std::fs::remove_file(&path)).await;
                if let Ok(Err(e)) = removed {
                    tracing::warn!(key = %self.key, error = %e, "could not remove an abandoned object");
                }
            }
        }
        if let Some(upload) = self.upload.take() {
            if let Err(e) = upload.abort().await {
                tracing::warn!(key = %self.key, error = %e, "aborting multipart upload failed");
            }
        }
    }
}

/// The chunk table of a compressed blob.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ChunkTable {
    chunk_size: u32,
    entries: Vec<u32>,
}

impl ChunkTable {
    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(4 + self.entries.len() * 4);
        v.extend_from_slice(&self.chunk_size.to_le_bytes());
        for e in &self.entries {
            v.extend_from_slice(&e.to_le_bytes());
        }
        v
    }

    fn decode(b: &[u8]) -> Option<Self> {
        if b.len() < 4 || b.len() % 4 != 0 {
            return None;
        }
        let mut words = b
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        let chunk_size = words.next()?;
        (chunk_size > 0).then(|| ChunkTable {
            chunk_size,
            entries: words.collect(),
        })
    }

    /// Offset of each chunk in the stored object, plus the end.
    fn stored_offsets(&self) -> Vec<u64> {
        let mut v = Vec::with_capacity(self.entries.len() + 1);
        let mut at = 0u64;
        v.push(0);
        for e in &self.entries {
            at += u64::from(e & LEN_MASK);
            v.push(at);
        }
        v
    }
}

fn corrupt(key: &str, reason: &'static str) -> Error {
    Error::CorruptBlob {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

/// Most threads one ranged read decodes its chunks on.
const DECODE_THREADS: usize = 4;

/// Decode several chunks (table entry, stored bytes) at once, in order: in
/// as many runs as there are cores (at most [`DECODE_THREADS`]), the first
/// here and the others each on a scoped thread, so that a frame spanning a
/// few chunks takes about the time of one and a frame of a hundred chunks
/// starts no more threads than that.
fn decode_chunks(key: &str, pieces: &[(u32, &[u8])], chunk_size: u32) -> Result<Vec<Vec<u8>>> {
    let decode_run = |run: &[(u32, &[u8])]| -> Result<Vec<Vec<u8>>> {
        run.iter()
            .map(|(entry, piece)| decode_chunk(key, *entry, piece, chunk_size))
            .collect()
    };
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, DECODE_THREADS)
        .min(pieces.len());
    if threads <= 1 {
        return decode_run(pieces);
    }
    let mut runs = pieces.chunks(pieces.len().div_ceil(threads));
    let first = runs.next().unwrap_or_default();
    std::thread::scope(|scope| {
        let others: Vec<_> = runs
            .map(|run| scope.spawn(move || decode_run(run)))
            .collect();
        let mut out = decode_run(first)?;
        for h in others {
            out.extend(
                h.join()
                    .map_err(|_| Error::Internal("decompression thread panicked".into()))??,
            );
        }
        Ok(out)
    })
}

fn decode_chunk(key: &str, entry: u32, piece: &[u8], chunk_size: u32) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(chunk_size as usize);
    decode_chunk_into(key, entry, piece, chunk_size, &mut out)?;
    Ok(out)
}

/// Append one chunk's original bytes to `out`, decompressing straight into
/// it (a frame decoding to more than a chunk fails).
fn decode_chunk_into(
    key: &str,
    entry: u32,
    piece: &[u8],
    chunk_size: u32,
    out: &mut Vec<u8>,
) -> Result<()> {
    if entry & RAW_FLAG != 0 {
        out.extend_from_slice(piece);
        return Ok(());
    }
    let zstd_error = |e: std::io::Error| Error::CorruptBlob {
        key: key.to_owned(),
        reason: format!("zstd: {e}").into(),
    };
    if entry & PLANES_FLAG != 0 {
        // Into this thread's scratch buffer, then interleaved into `out`.
        return SCRATCH.with(|cell| {
            let mut scratch = cell.borrow_mut();
            scratch.resize(chunk_size as usize, 0);
            let written = decompress_into(piece, &mut scratch[..]).map_err(zstd_error)?;
            join_planes(&scratch[..written], out);
            Ok(())
        });
    }
    let before = out.len();
    out.resize(before + chunk_size as usize, 0);
    // Straight into `out`.
    let written = decompress_into(piece, &mut out[before..]);
    out.truncate(before + *written.as_ref().unwrap_or(&0));
    written.map(|_| ()).map_err(zstd_error)
}

/// Decompress one zstd frame into `dest` with this thread's context; the
/// bytes written (a frame larger than `dest` fails).
fn decompress_into(piece: &[u8], dest: &mut [u8]) -> std::io::Result<usize> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new()?);
        }
        slot.as_mut()
            .expect("set above")
            .decompress_to_buffer(piece, dest)
    })
}

/// Decode a whole chunked blob using its footer.
pub fn decode_chunked(key: &str, stored: &[u8]) -> Result<Bytes> {
    let n = stored.len();
    if n < 24 || &stored[n - 8..] != MAGIC {
        return Err(corrupt(key, "missing footer"));
    }
    let word = |at: usize| {
        u32::from_le_bytes([stored[at], stored[at + 1], stored[at + 2], stored[at + 3]])
    };
    let original = u64::from_le_bytes(
        stored[n - 16..n - 8]
            .try_into()
            .map_err(|_| corrupt(key, "footer"))?,
    );
    let chunk_size = word(n - 20);
    let count = word(n - 24) as usize;
    let table_start = n
        .checked_sub(24 + count * 4)
        .ok_or_else(|| corrupt(key, "footer larger than blob"))?;
    let mut out = Vec::with_capacity(original as usize);
    let mut at = 0usize;
    for i in 0..count {
        let entry = word(table_start + i * 4);
        let len = (entry & LEN_MASK) as usize;
        let piece = stored
            .get(at..at + len)
            .filter(|_| at + len <= table_start)
            .ok_or_else(|| corrupt(key, "chunk beyond data"))?;
        decode_chunk_into(key, entry, piece, chunk_size, &mut out)?;
        at += len;
    }
    if out.len() as u64 != original {
        return Err(corrupt(key, "decoded size differs from footer"));
    }
    Ok(Bytes::from(out))
}
