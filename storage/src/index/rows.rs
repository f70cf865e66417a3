//! What the index hands out and takes in, and how rows decode.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::blob::{BlobRef, CompressionKind};
use crate::error::Result;
use crate::query::Bind;
use crate::record::InstanceRecord;
use crate::scan::FrameRange;
use crate::tenant::TenantId;

/// An instance as the index knows it: identity, blob and frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInstance {
    /// Row id.
    pub id: i64,
    /// The tenant it belongs to.
    pub tenant: TenantId,
    /// (0020,000D).
    pub study_instance_uid: String,
    /// (0020,000E).
    pub series_instance_uid: String,
    /// (0008,0018).
    pub sop_instance_uid: String,
    /// (0008,0016).
    pub sop_class_uid: String,
    /// (0002,0010) as stored.
    pub transfer_syntax_uid: String,
    /// Frames in the instance (0 without pixel data).
    pub number_of_frames: i64,
    /// Where the blob is.
    pub blob: BlobRef,
    /// SHA-256 of the original bytes, lower-case hex.
    pub sha256: String,
    /// Byte range of each frame in the original file.
    pub frames: Vec<FrameRange>,
    /// Whether frame ranges include item headers (encapsulated pixel data).
    pub frames_encapsulated: bool,
}

/// An instance's stored DICOM JSON and where it sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceJson {
    /// (0020,000E).
    pub series_instance_uid: String,
    /// (0008,0018).
    pub sop_instance_uid: String,
    /// DICOM JSON, bulk data as relative `bulkdata/…` URIs.
    pub dicom_json: String,
}

/// Study-level aggregates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudySummary {
    /// Number of Study Related Series.
    pub series: i64,
    /// Number of Study Related Instances.
    pub instances: i64,
    /// Original bytes of all instances.
    pub size: i64,
    /// Modalities in Study, sorted.
    pub modalities: Vec<String>,
}

/// Row counts per level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Patients.
    pub patients: i64,
    /// Studies.
    pub studies: i64,
    /// Series.
    pub series: i64,
    /// Instances.
    pub instances: i64,
}

/// What [`Index::insert_instance`](crate::Index::insert_instance) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Insert {
    /// New rows were committed.
    Inserted,
    /// An instance with this SOP Instance UID exists in the tenant; nothing
    /// changed.
    Exists(Box<StoredInstance>),
}

/// Everything needed to index a new instance.
#[derive(Debug)]
pub struct NewInstance<'a> {
    /// The tenant it is stored for.
    pub tenant: &'a TenantId,
    /// Attributes from the header.
    pub record: &'a InstanceRecord,
    /// The blob just written.
    pub blob: &'a BlobRef,
    /// SHA-256 of the original bytes, lower-case hex.
    pub sha256: &'a str,
    /// Frame byte ranges.
    pub frames: &'a [FrameRange],
    /// Whether frame ranges include item headers.
    pub frames_encapsulated: bool,
    /// What routing made of its arrival (a JSON payload), written with its
    /// rows in the same transaction (table `routing_arrival`); `None`:
    /// nothing to route.
    pub journal: Option<&'a str>,
}

/// The columns [`stored_instance`] decodes, in its order.
pub(crate) const INSTANCE_COLUMNS: &str =
    "i.id, st.study_instance_uid, se.series_instance_uid, i.sop_instance_uid, \
     i.sop_class_uid, i.transfer_syntax_uid, i.number_of_frames, i.blob_key, i.compression, \
     i.original_size, i.stored_size, i.chunk_table, i.sha256, i.frames, i.frames_encapsulated, \
     i.tenant_id";
/// The tables an instance row is read from.
pub(crate) const INSTANCE_JOIN: &str =
    "instance i JOIN series se ON se.id = i.series_ref JOIN study st ON st.id = se.study_ref";

/// A row of [`INSTANCE_COLUMNS`].
pub(crate) fn stored_instance(r: &AnyRow) -> Result<StoredInstance> {
    Ok(StoredInstance {
        id: r.try_get(0)?,
        study_instance_uid: r.try_get(1)?,
        series_instance_uid: r.try_get(2)?,
        sop_instance_uid: r.try_get(3)?,
        sop_class_uid: r.try_get(4)?,
        transfer_syntax_uid: r.try_get(5)?,
        number_of_frames: r.try_get(6)?,
        blob: BlobRef {
            key: r.try_get(7)?,
            compression: CompressionKind::from_name(&r.try_get::<String, _>(8)?)?,
            original_size: r.try_get::<i64, _>(9)? as u64,
            stored_size: r.try_get::<i64, _>(10)? as u64,
            chunk_table: r.try_get(11)?,
        },
        sha256: r.try_get(12)?,
        frames: decode_frames(&r.try_get::<Vec<u8>, _>(13)?),
        frames_encapsulated: r.try_get::<i64, _>(14)? != 0,
        tenant: TenantId::parse(&r.try_get::<String, _>(15)?)?,
    })
}

/// Frame ranges as stored: little-endian (start, end) pairs.
pub(crate) fn encode_frames(frames: &[FrameRange]) -> Vec<u8> {
    let mut v = Vec::with_capacity(frames.len() * 16);
    for (a, b) in frames {
        v.extend_from_slice(&a.to_le_bytes());
        v.extend_from_slice(&b.to_le_bytes());
    }
    v
}

fn decode_frames(b: &[u8]) -> Vec<FrameRange> {
    b.chunks_exact(16)
        .map(|c| {
            let (a, z) = c.split_at(8);
            (
                u64::from_le_bytes(a.try_into().unwrap_or_default()),
                u64::from_le_bytes(z.try_into().unwrap_or_default()),
            )
        })
        .collect()
}

/// Now, in Unix milliseconds.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Bind a generated query's parameters in order.
pub(crate) fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    binds: Vec<Bind>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for b in binds {
        q = match b {
            Bind::Text(t) => q.bind(t),
            Bind::Int(i) => q.bind(i),
        };
    }
    q
}
