//! The Filmless archive: every instance stored as one object in an object
//! store, with a metadata index in SQL.
//!
//! - [`blob`]: the object store (local files, S3, memory), compression at
//!   rest, and the only place object keys are built.
//! - [`index`]: patient / study / series / instance rows on SQLite or
//!   PostgreSQL, local users and the audit trail; migrations from
//!   `migrations/`.
//! - [`tenant`]: tenant IDs; every archive row belongs to one.
//! - [`archive`]: ingest (store), read and delete; the only code that keeps
//!   "every index row has a blob".
//! - `commit`: group commit, the instances arriving together on every
//!   association in one index transaction;
//! - `spool`: the local spool in front of S3, and its uploader;
//! - `check`: the index against the object store (`filmless check`).
//! - [`scan`]: where things are in a Part 10 file, without decoding it.
//! - [`record`]: from a parsed header to index attributes and DICOM JSON.
//! - [`query`]: the one query model (C-FIND and QIDO-RS) and its SQL.
//! - [`part10`]: File Meta Information for bare data sets.
//! - [`uid`]: validated UIDs.
//! - [`worklist`]: worklist items and performed procedure steps.
//! - `backend`: which database the index lives in.
//!
//! This crate knows nothing of DIMSE or HTTP; the root package wires it to
//! both.

pub mod archive;
mod backend;
pub mod blob;
mod check;
mod commit;
mod error;
pub mod index;
mod migrations;
pub mod part10;
pub mod query;
pub mod record;
pub mod scan;
mod spool;
pub mod tenant;
pub mod uid;
pub mod worklist;

pub use archive::{
    Archive, ArchiveConfig, DuplicatePolicy, Journal, Prepared, RoutingAttributes, StoreOutcome,
    StoreTarget, Stored,
};
pub use backend::Backend;
pub use blob::{BlobRef, BlobStore, CompressionKind, S3Options};
pub use check::CheckReport;
pub use commit::CommitStats;
pub use error::{Error, ErrorKind, Result};
pub use index::{
    now_millis, AuditEvent, AuditFilter, Counts, Index, IndexOptions, NewInstance, PrintSheet,
    StoredInstance, UserRow,
};
pub use tenant::{TenantId, TenantScope};
pub use uid::Uid;
