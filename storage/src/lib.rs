//! The Filmless archive: every instance stored as one object in an object
//! store, with a metadata index in SQL.
//!
//! - [`blob`]: the object store (local files, S3, memory), compression at
//!   rest, and the only place object keys are built.
//! - [`index`]: patient / study / series / instance rows on SQLite or
//!   PostgreSQL, migrations from `migrations/`.
//! - [`archive`]: ingest (store), read and delete; the only code that keeps
//!   "every index row has a blob".
//! - `check`: the index against the object store (`filmless check`).
//! - [`scan`]: where things are in a Part 10 file, without decoding it.
//! - [`record`]: from a parsed header to index attributes and DICOM JSON.
//! - [`query`]: the one query model (C-FIND and QIDO-RS) and its SQL.
//! - [`part10`]: File Meta Information for bare data sets.
//! - [`uid`]: validated UIDs.
//! - [`audit`]: local users and the append-only audit trail.
//!
//! This crate knows nothing of DIMSE or HTTP; the root package wires it to
//! both.

pub mod archive;
pub mod audit;
pub mod blob;
mod check;
mod error;
pub mod index;
mod migrations;
pub mod part10;
pub mod query;
pub mod record;
pub mod scan;
pub mod uid;

pub use archive::{Archive, ArchiveConfig, DuplicatePolicy, Prepared, StoreOutcome, Stored};
pub use audit::{AuditEvent, AuditFilter, UserRow};
pub use blob::{BlobRef, BlobStore, CompressionKind, S3Options};
pub use check::CheckReport;
pub use error::{Error, ErrorKind, Result};
pub use index::{Backend, Index, IndexOptions, NewInstance, StoredInstance};
pub use uid::Uid;
