//! The archive: ingest, read and delete over the blob store and the index.
//!
//! This is the only code that enforces "every index row has a blob": a blob
//! is written (and made durable) first, then the index commits; if the
//! commit fails the blob is removed. A crash between the two leaves at most
//! an orphaned blob, never a row without one (`filmless check` finds
//! orphans).
//!
//! Duplicates: the same SOP Instance UID with identical bytes (SHA-256) is
//! idempotent; with other bytes the configured [`DuplicatePolicy`] decides.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::blob::{BlobRef, BlobStore, BlobWriter, CompressionKind, S3Options};
use crate::commit::{CommitStats, GroupCommit, Pending};
use crate::error::{Error, Result};
use crate::index::{Index, IndexOptions, Insert, NewInstance, StoredInstance};
use crate::record::{parse_header, InstanceRecord};
use crate::scan::{
    encapsulated_frames, native_frames, scan_complete, strip_item_headers, FragmentScanner,
    FrameRange, HeaderScanner, Layout, Scan,
};
use crate::tenant::TenantId;

/// Headers up to this size are parsed on the receiving task.
const INLINE_PARSE: usize = 256 * 1024;

/// What to do when an instance arrives whose SOP Instance UID is stored
/// already with different content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DuplicatePolicy {
    /// Keep the stored instance and report success with a warning (the
    /// default: a modality re-sending must never fail, and nothing stored is
    /// ever silently changed).
    #[default]
    KeepFirst,
    /// Replace the stored instance with the new one.
    Overwrite,
    /// Refuse the new instance.
    Reject,
}

/// Archive settings (the `[storage]` section of the configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveConfig {
    /// Object store URL: `file:///path`, `s3://bucket/prefix`, `memory://`.
    pub object_store_url: String,
    /// Index database URL: `sqlite:///path/index.db` or `postgres://…`.
    pub database_url: String,
    /// Compression at rest.
    pub compression: CompressionKind,
    /// zstd level (1 fast … 22 smallest). 1 by default: ingest is
    /// CPU-bound.
    pub zstd_level: i32,
    /// Same SOP Instance UID, different content.
    pub duplicate_policy: DuplicatePolicy,
    /// Largest header (everything before Pixel Data) accepted, in bytes.
    pub max_header_bytes: usize,
    /// Concurrent object-store requests.
    pub max_object_store_requests: usize,
    /// Index connection pool size.
    pub database_max_connections: u32,
    /// SQLite only: fsync every commit (survives power loss) rather than
    /// only surviving a crash of the process.
    pub sqlite_synchronous_full: bool,
    /// S3 only: the local folder new objects are written to before they
    /// are uploaded in the background (empty: none, every instance waits
    /// for its upload).
    pub spool_dir: String,
    /// Read the spool but write new objects straight to S3 (set by CLI
    /// commands: the server owns the spool and its uploads).
    #[serde(skip)]
    pub spool_read_only: bool,
    /// S3 settings for `s3://` URLs.
    pub s3: S3Options,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        ArchiveConfig {
            object_store_url: "file://./filmless-data/objects".to_owned(),
            database_url: "sqlite://./filmless-data/index.db".to_owned(),
            compression: CompressionKind::Zstd,
            zstd_level: 1,
            duplicate_policy: DuplicatePolicy::KeepFirst,
            max_header_bytes: 64 * 1024 * 1024,
            max_object_store_requests: 64,
            database_max_connections: 8,
            sqlite_synchronous_full: true,
            spool_dir: String::new(),
            spool_read_only: false,
            s3: S3Options::default(),
        }
    }
}

/// How a store request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    /// A new instance was stored.
    Stored,
    /// The identical instance was stored already; nothing changed.
    AlreadyPresent,
    /// An instance with this UID but other content is stored; it was kept
    /// and the new one dropped (policy `keep-first`).
    KeptExisting,
    /// The stored instance was replaced (policy `overwrite`).
    Replaced,
}

/// The identity of an instance that a store request dealt with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// What happened.
    pub outcome: StoreOutcome,
    /// (0010,0020) of the arriving data set.
    pub patient_id: String,
    /// (0008,0016).
    pub sop_class_uid: String,
    /// (0008,0018).
    pub sop_instance_uid: String,
    /// (0020,000D).
    pub study_instance_uid: String,
    /// (0020,000E).
    pub series_instance_uid: String,
    /// Transfer syntax as received and stored.
    pub transfer_syntax_uid: String,
    /// Original size in bytes.
    pub size: u64,
    /// What routing rules look at: (0008,0060) Modality, (0018,0015)
    /// Body Part Examined, (0008,0080) Institution Name, (0008,1010)
    /// Station Name.
    pub routing: RoutingAttributes,
}

/// What an ingest journals with an instance's rows, in the same
/// transaction: from its attributes, a payload for the application to act
/// on (routing's arrivals), or nothing.
pub type Journal<'a> = &'a (dyn Fn(&InstanceRecord) -> Option<String> + Send + Sync);

/// Where an instance is stored: its tenant, and what to journal with it.
#[derive(Clone, Copy)]
pub struct StoreTarget<'a> {
    /// The tenant it is stored for.
    pub tenant: &'a TenantId,
    /// What to write with its rows.
    pub journal: Option<Journal<'a>>,
}

impl std::fmt::Debug for StoreTarget<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreTarget")
            .field("tenant", &self.tenant)
            .field("journal", &self.journal.is_some())
            .finish()
    }
}

impl<'a> From<&'a TenantId> for StoreTarget<'a> {
    fn from(tenant: &'a TenantId) -> Self {
        StoreTarget {
            tenant,
            journal: None,
        }
    }
}

impl RoutingAttributes {
    /// The attributes of `record` that routing rules match.
    pub fn of(record: &InstanceRecord) -> Self {
        RoutingAttributes {
            modality: record.series.modality.clone(),
            body_part_examined: record.series.body_part_examined.clone(),
            institution_name: record.study.institution_name.clone(),
            station_name: record.series.station_name.clone(),
        }
    }
}

/// The attributes of an arriving instance that routing rules match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutingAttributes {
    /// (0008,0060).
    pub modality: String,
    /// (0018,0015).
    pub body_part_examined: String,
    /// (0008,0080).
    pub institution_name: String,
    /// (0008,1010).
    pub station_name: String,
}

/// The archive.
#[derive(Debug, Clone)]
pub struct Archive {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    blobs: BlobStore,
    index: Index,
    group: GroupCommit,
    policy: DuplicatePolicy,
    max_header_bytes: usize,
}

/// A parsed header and what follows from it.
struct Header {
    record: InstanceRecord,
    layout: Layout,
}

impl Header {
    /// Whether the object is best compressed in byte planes: native 16-bit
    /// pixel data (see blob.rs).
    fn in_planes(&self) -> bool {
        self.record.bits_allocated == 16
            && self
                .layout
                .pixel_data
                .as_ref()
                .is_some_and(|pd| pd.length.is_some())
            && !self.layout.is_deflated()
    }
}

/// A whole Part 10 file in memory, parsed, validated and hashed: everything
/// CPU-bound about storing it, done before any I/O.
#[derive(Debug)]
pub struct Prepared {
    header: Header,
    bytes: Bytes,
    sha256: String,
    frames: Vec<FrameRange>,
    encapsulated: bool,
}

impl std::fmt::Debug for Header {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Header")
            .field("sop_instance_uid", &self.record.instance.sop_instance_uid)
            .finish()
    }
}

impl Prepared {
    /// Scan, parse, validate and hash a complete Part 10 file. CPU-bound:
    /// call it from a blocking thread or a rayon pool.
    pub fn parse(bytes: Bytes) -> Result<Self> {
        let layout = scan_complete(&bytes)?;
        let record = parse_header(&bytes, &layout)?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let fragments = match layout.pixel_data {
            Some(pd) if pd.length.is_none() => {
                let mut s = FragmentScanner::new(pd.value_offset);
                s.feed(pd.value_offset, &bytes[pd.value_offset as usize..])?;
                Some(s.finish()?)
            }
            _ => None,
        };
        check_native_length(&layout, bytes.len() as u64)?;
        let (frames, encapsulated) = frame_ranges(&layout, &record, fragments.as_ref());
        Ok(Prepared {
            header: Header { record, layout },
            bytes,
            sha256,
            frames,
            encapsulated,
        })
    }

    /// The SOP Instance UID.
    pub fn sop_instance_uid(&self) -> &str {
        self.header.record.instance.sop_instance_uid.as_str()
    }

    /// Size of the file in bytes.
    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// The index rows this file becomes once its bytes are stored as
    /// `blob` for `tenant` (used by ingest, and by bulk loaders through
    /// [`Index::insert_batch`](crate::Index::insert_batch)).
    pub fn new_instance<'a>(&'a self, tenant: &'a TenantId, blob: &'a BlobRef) -> NewInstance<'a> {
        NewInstance {
            tenant,
            record: &self.header.record,
            blob,
            sha256: &self.sha256,
            frames: &self.frames,
            frames_encapsulated: self.encapsulated,
            journal: None,
        }
    }
}

impl Archive {
    /// Open the blob store and the index (running migrations).
    pub async fn open(config: &ArchiveConfig) -> Result<Self> {
        let blobs = BlobStore::open(
            &config.object_store_url,
            &config.s3,
            config.compression,
            config.zstd_level,
            config.max_object_store_requests,
        )?;
        let blobs = match config.spool_dir.as_str() {
            "" => blobs,
            dir if config.spool_read_only => blobs.reading_spool(std::path::PathBuf::from(dir))?,
            dir => blobs.with_spool(std::path::PathBuf::from(dir))?,
        };
        if let Some(path) = config.database_url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or(path);
            if let Some(dir) = std::path::Path::new(path)
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
            }
        }
        let index = Index::connect(&IndexOptions {
            url: config.database_url.clone(),
            max_connections: config.database_max_connections,
            sqlite_synchronous_full: config.sqlite_synchronous_full,
        })
        .await?;
        Ok(Self::from_parts(
            blobs,
            index,
            config.duplicate_policy,
            config.max_header_bytes,
        ))
    }

    /// Assemble an archive from an open blob store and index.
    pub fn from_parts(
        blobs: BlobStore,
        index: Index,
        policy: DuplicatePolicy,
        max_header_bytes: usize,
    ) -> Self {
        Archive {
            inner: Arc::new(Inner {
                group: GroupCommit::new(blobs.clone(), index.clone()),
                blobs,
                index,
                policy,
                max_header_bytes,
            }),
        }
    }

    /// The metadata index.
    pub fn index(&self) -> &Index {
        &self.inner.index
    }

    /// The blob store.
    pub fn blobs(&self) -> &BlobStore {
        &self.inner.blobs
    }

    /// What group commit has done so far.
    pub fn commit_stats(&self) -> &CommitStats {
        self.inner.group.stats()
    }

    /// Store a complete Part 10 file held in memory, for `tenant`.
    pub async fn store_bytes<'a>(
        &self,
        target: impl Into<StoreTarget<'a>>,
        bytes: Bytes,
    ) -> Result<Stored> {
        let prepared = tokio::task::spawn_blocking(move || Prepared::parse(bytes)).await??;
        self.store_prepared(target, prepared).await
    }

    /// Store a file already parsed by [`Prepared::parse`] (which bulk import
    /// runs on a rayon pool, off the async runtime).
    pub async fn store_prepared<'a>(
        &self,
        target: impl Into<StoreTarget<'a>>,
        prepared: Prepared,
    ) -> Result<Stored> {
        let target = target.into();
        let tenant = target.tenant;
        let Prepared {
            header,
            bytes,
            sha256,
            frames,
            encapsulated,
        } = prepared;
        let size = bytes.len() as u64;
        let sop = header.record.instance.sop_instance_uid.as_str().to_owned();
        let mut replace = false;
        if let Some(existing) = self.inner.index.instance(tenant, &sop).await? {
            match self.on_duplicate(&header.record, &existing, &sha256, size)? {
                Some(done) => return Ok(done),
                None => replace = true,
            }
        }
        let mut writer = self.instance_writer(tenant, &header)?;
        if let Err(e) = writer.write(bytes).await {
            writer.abort().await;
            return Err(e);
        }
        let blob = writer.finish_file().await?;
        let mut record = header.record;
        self.corrected(tenant, &mut record).await?;
        let journal = target.journal.and_then(|j| j(&record));
        let pending = Pending {
            tenant: tenant.clone(),
            record,
            blob,
            sha256,
            frames,
            encapsulated,
            journal,
        };
        self.commit(pending, replace).await
    }

    /// Store a Part 10 file arriving as a stream of byte chunks, for
    /// `tenant`. Only the header is held in memory; pixel data flows
    /// through to the object store chunk by chunk. With `expect_study`, an
    /// instance of another study is refused as soon as its header is read,
    /// before anything is written.
    pub async fn store_stream<'a, S>(
        &self,
        target: impl Into<StoreTarget<'a>>,
        stream: S,
        expect_study: Option<&str>,
    ) -> Result<Stored>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Unpin + Send,
    {
        let target = target.into();
        let tenant = target.tenant;
        // The header scan may see the end of the input (small or deflated
        // files); a fused stream answers None again instead of panicking.
        let mut stream = stream.fuse();
        let mut header = BytesMut::new();
        let mut scanner = HeaderScanner::new();
        let mut eof = false;
        let layout = loop {
            match scanner.scan(&header, eof)? {
                Scan::Done(layout) => break layout,
                Scan::NeedMore if eof => return Err(Error::invalid("data set is truncated")),
                Scan::NeedMore => {}
            }
            if header.len() > self.inner.max_header_bytes {
                return Err(Error::HeaderTooLarge {
                    limit: self.inner.max_header_bytes,
                });
            }
            match stream.next().await {
                Some(chunk) => {
                    header.extend_from_slice(&chunk.map_err(|e| Error::io("reading input", e))?)
                }
                None => eof = true,
            }
        };
        let header = header.freeze();
        // A usual header (tens of KB) parses in well under a millisecond:
        // here, without a hop to another thread; a large one off the runtime.
        let (prepared, header) = if header.len() <= INLINE_PARSE {
            let record = parse_header(&header, &layout)?;
            (Header { record, layout }, header)
        } else {
            let layout = layout.clone();
            tokio::task::spawn_blocking(move || -> Result<_> {
                let record = parse_header(&header, &layout)?;
                Ok((Header { record, layout }, header))
            })
            .await??
        };

        let sop = prepared
            .record
            .instance
            .sop_instance_uid
            .as_str()
            .to_owned();
        let study = prepared.record.study.study_instance_uid.as_str();
        if let Some(expected) = expect_study.filter(|e| *e != study) {
            return Err(Error::WrongStudy {
                sop_instance_uid: sop,
                study_instance_uid: study.to_owned(),
                expected: expected.to_owned(),
            });
        }
        let new_writer = || self.instance_writer(tenant, &prepared);
        let (existing, mut writer, body) = if self.inner.blobs.writes_locally() {
            // A local write is cheap to throw away: look the UID up while
            // the body arrives, not before.
            let mut writer = Some(new_writer()?);
            let (existing, body) = tokio::join!(
                self.inner.index.instance(tenant, &sop),
                self.stream_body(&prepared.layout, header, &mut stream, writer.as_mut())
            );
            (existing, writer, body)
        } else {
            let existing = self.inner.index.instance(tenant, &sop).await?;
            // When the stored copy wins whatever the new bytes are, do not
            // upload them: hash only, to tell an identical resend from a
            // conflict.
            let upload = existing.is_none() || self.inner.policy == DuplicatePolicy::Overwrite;
            let mut writer = upload.then(new_writer).transpose()?;
            let body = self
                .stream_body(&prepared.layout, header, &mut stream, writer.as_mut())
                .await;
            (Ok(existing), writer, body)
        };
        let (existing, (sha256, size, fragments)) = match (existing, body) {
            (Ok(existing), Ok(body)) => (existing, body),
            (Err(e), _) | (_, Err(e)) => {
                if let Some(w) = writer.take() {
                    w.abort().await;
                }
                return Err(e);
            }
        };
        if let Some(existing) = &existing {
            if let Some(done) = self.on_duplicate(&prepared.record, existing, &sha256, size)? {
                if let Some(w) = writer {
                    w.abort().await;
                }
                return Ok(done);
            }
        }
        let Some(writer) = writer else {
            return Err(Error::Internal("no writer for a new instance".into()));
        };
        let blob = writer.finish_file().await?;
        let (frames, encapsulated) =
            frame_ranges(&prepared.layout, &prepared.record, fragments.as_ref());
        let mut record = prepared.record;
        self.corrected(tenant, &mut record).await?;
        let journal = target.journal.and_then(|j| j(&record));
        let pending = Pending {
            tenant: tenant.clone(),
            record,
            blob,
            sha256,
            frames,
            encapsulated,
            journal,
        };
        self.commit(pending, existing.is_some()).await
    }

    /// A writer for a new object of the instance `header` describes.
    fn instance_writer(&self, tenant: &TenantId, header: &Header) -> Result<BlobWriter> {
        let r = &header.record;
        let key = self.inner.blobs.instance_key(
            tenant,
            &r.study.study_instance_uid,
            &r.series.series_instance_uid,
            &r.instance.sop_instance_uid,
        );
        Ok(self.inner.blobs.writer(key)?.in_planes(header.in_planes()))
    }

    /// Hash, scan and (when `writer` is given) upload the whole file:
    /// `header` first, then the rest of `stream`.
    async fn stream_body<S>(
        &self,
        layout: &Layout,
        header: Bytes,
        stream: &mut S,
        mut writer: Option<&mut BlobWriter>,
    ) -> Result<(String, u64, Option<(Vec<u32>, Vec<crate::scan::Fragment>)>)>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Unpin + Send,
    {
        let mut hasher = Sha256::new();
        let mut fragments = match layout.pixel_data {
            Some(pd) if pd.length.is_none() => Some(FragmentScanner::new(pd.value_offset)),
            _ => None,
        };
        let mut offset = 0u64;
        let mut next = Some(header);
        while let Some(chunk) = next {
            if !chunk.is_empty() {
                hasher.update(&chunk);
                if let Some(f) = fragments.as_mut() {
                    f.feed(offset, &chunk)?;
                }
                offset += chunk.len() as u64;
                if let Some(w) = writer.as_deref_mut() {
                    w.write(chunk).await?;
                }
            }
            next = match stream.next().await {
                Some(c) => Some(c.map_err(|e| Error::io("reading input", e))?),
                None => None,
            };
        }
        check_native_length(layout, offset)?;
        let fragments = fragments.map(FragmentScanner::finish).transpose()?;
        Ok((hex::encode(hasher.finalize()), offset, fragments))
    }

    /// Decide about an arriving instance whose UID is stored already:
    /// `Some` ends the request, `None` means go on and replace.
    fn on_duplicate(
        &self,
        record: &InstanceRecord,
        existing: &StoredInstance,
        sha256: &str,
        size: u64,
    ) -> Result<Option<Stored>> {
        let stored = |outcome| Some(stored_identity(record, outcome, size));
        if existing.sha256 == sha256 {
            return Ok(stored(StoreOutcome::AlreadyPresent));
        }
        match self.inner.policy {
            DuplicatePolicy::KeepFirst => Ok(stored(StoreOutcome::KeptExisting)),
            DuplicatePolicy::Reject => Err(Error::Conflict {
                sop_instance_uid: existing.sop_instance_uid.clone(),
            }),
            DuplicatePolicy::Overwrite => Ok(None),
        }
    }

    /// A record of an instance arriving for a study corrected before takes
    /// the correction (see [`crate::index::apply_to_record`]). Looked up
    /// once the body is stored, just before the commit, so that a
    /// correction made while a large instance arrives is not missed.
    async fn corrected(&self, tenant: &TenantId, record: &mut InstanceRecord) -> Result<()> {
        let study = record.study.study_instance_uid.as_str().to_owned();
        if let Some(p) = self.inner.index.object_patch(tenant, &study).await? {
            crate::index::apply_to_record(record, &p)?;
        }
        Ok(())
    }

    /// Commit the index rows for a written blob (its directory entry made
    /// durable first), grouped with whatever else arrives meanwhile; remove
    /// the blob if that fails.
    async fn commit(&self, pending: Pending, replace: bool) -> Result<Stored> {
        let size = pending.blob.original_size;
        let pending = Arc::new(pending);
        let record = &pending.record;
        let key = pending.blob.key.as_str();
        let result: Result<Stored> = async {
            if replace {
                self.inner.blobs.sync_dirs(&[key]).await?;
                let old = self
                    .inner
                    .index
                    .replace_instance(&pending.new_instance())
                    .await?;
                // Durable in the spool and in the index: now to S3.
                self.inner.blobs.upload_later(key);
                // The index points at the new blob now: a failure to remove
                // the old one leaves an orphan (`filmless check` finds it),
                // never a row without its blob.
                if let Some(old) = old {
                    if let Err(e) = self.inner.blobs.delete(&old).await {
                        tracing::warn!(key = %old, error = %e, "could not remove the replaced blob");
                    }
                }
                return Ok(stored_identity(record, StoreOutcome::Replaced, size));
            }
            match self.inner.group.insert(pending.clone()).await? {
                Insert::Inserted => Ok(stored_identity(record, StoreOutcome::Stored, size)),
                // Our own row: committed by a writer that stopped before it
                // could answer.
                Insert::Exists(existing) if existing.blob.key == key => {
                    Ok(stored_identity(record, StoreOutcome::Stored, size))
                }
                Insert::Exists(existing) => {
                    // Another request stored this UID between our check and
                    // our commit: decide as if it had been there before.
                    self.inner.blobs.delete(key).await?;
                    match self.on_duplicate(record, &existing, &pending.sha256, size)? {
                        Some(done) => Ok(done),
                        None => Err(Error::Conflict {
                            sop_instance_uid: existing.sop_instance_uid.clone(),
                        }),
                    }
                }
            }
        }
        .await;
        match result {
            Err(e) => {
                if let Err(cleanup) = self.inner.blobs.delete(key).await {
                    tracing::warn!(key = %key, error = %cleanup, "could not remove blob after failed commit");
                }
                Err(e)
            }
            ok => {
                if let Ok(s) = &ok {
                    tracing::debug!(
                        sop_instance_uid = %s.sop_instance_uid,
                        outcome = ?s.outcome,
                        size = s.size,
                        "stored instance"
                    );
                }
                ok
            }
        }
    }

    /// The stored instance with this SOP Instance UID in `tenant`.
    pub async fn instance(
        &self,
        tenant: &TenantId,
        sop_instance_uid: &str,
    ) -> Result<StoredInstance> {
        self.inner
            .index
            .instance(tenant, sop_instance_uid)
            .await?
            .ok_or_else(|| Error::NotFound {
                level: "instance",
                uid: sop_instance_uid.to_owned(),
            })
    }

    /// The original bytes of an instance, exactly as received.
    pub async fn read_instance(&self, tenant: &TenantId, sop_instance_uid: &str) -> Result<Bytes> {
        let instance = self.instance(tenant, sop_instance_uid).await?;
        self.inner.blobs.read(&instance.blob).await
    }

    /// Whether an instance is stored and intact: its object read back and
    /// its SHA-256 compared with the one recorded when it was received
    /// (storage commitment, PS3.4 J.3.3). `None`: no such instance.
    pub async fn verify_instance(
        &self,
        tenant: &TenantId,
        sop_instance_uid: &str,
    ) -> Result<Option<(StoredInstance, bool)>> {
        let Some(instance) = self.inner.index.instance(tenant, sop_instance_uid).await? else {
            return Ok(None);
        };
        let bytes = match self.inner.blobs.read(&instance.blob).await {
            Ok(b) => b,
            Err(e) if e.kind() == crate::ErrorKind::NotFound => return Ok(Some((instance, false))),
            Err(e) => return Err(e),
        };
        let expected = instance.sha256.clone();
        let intact =
            tokio::task::spawn_blocking(move || hex::encode(Sha256::digest(&bytes)) == expected)
                .await
                .map_err(|e| Error::Internal(format!("hashing task: {e}").into()))?;
        Ok(Some((instance, intact)))
    }

    /// The bytes of frame `number` (1-based, as in WADO-RS) of an instance:
    /// native pixel data, or the concatenated fragments of an encapsulated
    /// frame. One ranged read.
    pub async fn read_frame(&self, instance: &StoredInstance, number: usize) -> Result<Bytes> {
        let &(start, end) = number
            .checked_sub(1)
            .and_then(|i| instance.frames.get(i))
            .ok_or_else(|| Error::NotFound {
                level: "frame",
                uid: format!("{} frame {number}", instance.sop_instance_uid),
            })?;
        let bytes = self
            .inner
            .blobs
            .read_range(&instance.blob, start..end)
            .await?;
        if instance.frames_encapsulated {
            Ok(Bytes::from(strip_item_headers(&bytes)?))
        } else {
            Ok(bytes)
        }
    }

    /// Delete an instance: index rows, then its blob.
    pub async fn delete_instance(&self, tenant: &TenantId, sop_instance_uid: &str) -> Result<()> {
        let key = self
            .inner
            .index
            .delete_instance(tenant, sop_instance_uid)
            .await?;
        self.delete_blobs(&[key]).await
    }

    /// Delete a series: index rows, then blobs. Returns the number of instances.
    pub async fn delete_series(
        &self,
        tenant: &TenantId,
        series_instance_uid: &str,
    ) -> Result<usize> {
        let keys = self
            .inner
            .index
            .delete_series(tenant, series_instance_uid)
            .await?;
        self.delete_blobs(&keys).await?;
        Ok(keys.len())
    }

    /// Delete a study: index rows, then blobs. Returns the number of instances.
    pub async fn delete_study(&self, tenant: &TenantId, study_instance_uid: &str) -> Result<usize> {
        let keys = self
            .inner
            .index
            .delete_study(tenant, study_instance_uid)
            .await?;
        self.delete_blobs(&keys).await?;
        Ok(keys.len())
    }

    async fn delete_blobs(&self, keys: &[String]) -> Result<()> {
        // The rows are gone; a blob that fails to go is an orphan for
        // `filmless check`, not a reason to fail the delete.
        // Owned values only: a closure borrowing `self` makes the future
        // not provably Send for every lifetime (rustc issue 100013).
        let blobs = self.inner.blobs.clone();
        let results = futures::stream::iter(keys.to_vec())
            .map(move |k| {
                let blobs = blobs.clone();
                async move {
                    let r = blobs.delete(&k).await;
                    (k, r)
                }
            })
            .buffer_unordered(16)
            .collect::<Vec<_>>()
            .await;
        for (key, r) in results {
            if let Err(e) = r {
                tracing::warn!(key = %key, error = %e, "blob left behind after delete");
            }
        }
        Ok(())
    }
}

fn stored_identity(record: &InstanceRecord, outcome: StoreOutcome, size: u64) -> Stored {
    Stored {
        outcome,
        patient_id: record.patient.patient_id.clone(),
        sop_class_uid: record.instance.sop_class_uid.to_string(),
        sop_instance_uid: record.instance.sop_instance_uid.to_string(),
        study_instance_uid: record.study.study_instance_uid.to_string(),
        series_instance_uid: record.series.series_instance_uid.to_string(),
        transfer_syntax_uid: record.instance.transfer_syntax_uid.clone(),
        size,
        routing: RoutingAttributes::of(record),
    }
}

/// Native Pixel Data must be complete.
fn check_native_length(layout: &Layout, total: u64) -> Result<()> {
    if let Some(pd) = layout.pixel_data {
        if let Some(len) = pd.length {
            if pd.value_offset + u64::from(len) > total {
                return Err(Error::invalid(format!(
                    "pixel data is truncated: {} of {len} bytes present",
                    total.saturating_sub(pd.value_offset)
                )));
            }
        }
    }
    Ok(())
}

/// Frame byte ranges, and whether they include item headers.
fn frame_ranges(
    layout: &Layout,
    record: &InstanceRecord,
    fragments: Option<&(Vec<u32>, Vec<crate::scan::Fragment>)>,
) -> (Vec<FrameRange>, bool) {
    let frames = record.instance.number_of_frames.max(1) as u32;
    match (layout.pixel_data, fragments) {
        (Some(_), Some((bot, fragments))) => (encapsulated_frames(frames, bot, fragments), true),
        (Some(pd), None) => match pd.length {
            Some(len) => (
                native_frames(pd.value_offset, len, frames, record.native_frame_length),
                false,
            ),
            None => (Vec::new(), true),
        },
        (None, _) => (Vec::new(), false),
    }
}
