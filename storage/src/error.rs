//! The storage crate's one error type.
//!
//! Every error carries a [`ErrorKind`] so that callers (the DIMSE services and
//! the DICOMweb handlers in the root package) map it to a DIMSE or HTTP status
//! in one place, without looking at messages.

use std::borrow::Cow;

/// What kind of failure an [`Error`] is, from the caller's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The thing asked for does not exist.
    NotFound,
    /// The thing to create exists already and policy forbids replacing it.
    AlreadyExists,
    /// The caller sent something unusable (bad DICOM, bad UID, bad config).
    Invalid,
    /// A backend is temporarily out of reach or out of resources; retry.
    Unavailable,
    /// A bug or a broken invariant on our side.
    Internal,
}

/// Errors from the blob store, the index and ingest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is not a DICOM data set we can store.
    #[error("invalid DICOM data: {reason}")]
    InvalidDicom {
        /// Why, in words fit for the sender (no patient data).
        reason: Cow<'static, str>,
    },

    /// A UID is missing or malformed.
    #[error("invalid {attribute}: {reason}")]
    InvalidUid {
        /// The attribute keyword, e.g. `SOPInstanceUID`.
        attribute: &'static str,
        /// What is wrong with it.
        reason: Cow<'static, str>,
    },

    /// A tenant ID that is not one.
    #[error("tenant ID {value:?}: 1 to 32 of a-z, 0-9 and '-', starting with a letter or digit")]
    InvalidTenant {
        /// What was given.
        value: String,
    },

    /// The header (everything before Pixel Data) is larger than configured.
    #[error("data set header exceeds {limit} bytes")]
    HeaderTooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },

    /// An instance with this SOP Instance UID exists with other content and
    /// the duplicate policy is `reject`.
    #[error("instance {sop_instance_uid} already stored with different content")]
    Conflict {
        /// The SOP Instance UID.
        sop_instance_uid: String,
    },

    /// The instance belongs to another study than the request said (STOW-RS
    /// to `/studies/{uid}`); refused before anything was written.
    #[error("instance {sop_instance_uid} belongs to study {study_instance_uid}, not to study {expected}")]
    WrongStudy {
        /// The SOP Instance UID.
        sop_instance_uid: String,
        /// Its Study Instance UID.
        study_instance_uid: String,
        /// The one the request named.
        expected: String,
    },

    /// No study, series or instance with this UID.
    #[error("{level} {uid} not found")]
    NotFound {
        /// `study`, `series` or `instance`.
        level: &'static str,
        /// The UID asked for.
        uid: String,
    },

    /// A configuration value is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// The blob of an indexed instance is missing or damaged.
    #[error("blob {key} is corrupt: {reason}")]
    CorruptBlob {
        /// The object key.
        key: String,
        /// What is wrong.
        reason: Cow<'static, str>,
    },

    /// The object store failed.
    #[error("object store error on {key}: {source}")]
    ObjectStore {
        /// The object key involved.
        key: String,
        /// The backend error.
        #[source]
        source: object_store::Error,
    },

    /// The index database failed.
    #[error("index database error: {source}")]
    Database {
        /// The backend error.
        #[source]
        source: sqlx::Error,
    },

    /// Applying the index migrations failed.
    #[error("index migration failed: {source}")]
    Migration {
        /// The backend error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },

    /// Local I/O failed (fsync of local objects, reading input).
    #[error("i/o error on {context}: {source}")]
    Io {
        /// What we were doing.
        context: Cow<'static, str>,
        /// The backend error.
        #[source]
        source: std::io::Error,
    },

    /// A background task panicked or was cancelled.
    #[error("internal error: {0}")]
    Internal(Cow<'static, str>),
}

impl Error {
    /// The kind of this error, for mapping to protocol statuses.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidDicom { .. }
            | Error::InvalidUid { .. }
            | Error::InvalidTenant { .. }
            | Error::HeaderTooLarge { .. }
            | Error::WrongStudy { .. }
            | Error::Config(_) => ErrorKind::Invalid,
            Error::Conflict { .. } => ErrorKind::AlreadyExists,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::ObjectStore { source, .. } => match source {
                object_store::Error::NotFound { .. } => ErrorKind::NotFound,
                _ => ErrorKind::Unavailable,
            },
            Error::Database { source } => match source {
                sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::WorkerCrashed => ErrorKind::Unavailable,
                sqlx::Error::Database(db) if is_busy(db.as_ref()) => ErrorKind::Unavailable,
                _ => ErrorKind::Internal,
            },
            Error::Io { .. } => ErrorKind::Unavailable,
            Error::Migration { .. } | Error::CorruptBlob { .. } | Error::Internal(_) => {
                ErrorKind::Internal
            }
        }
    }

    pub(crate) fn invalid(reason: impl Into<Cow<'static, str>>) -> Self {
        Error::InvalidDicom {
            reason: reason.into(),
        }
    }

    pub(crate) fn io(context: impl Into<Cow<'static, str>>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn store(key: impl Into<String>, source: object_store::Error) -> Self {
        Error::ObjectStore {
            key: key.into(),
            source,
        }
    }
}

/// SQLite's "database is locked" / PostgreSQL's serialization and deadlock
/// failures: worth a retry.
fn is_busy(db: &dyn sqlx::error::DatabaseError) -> bool {
    matches!(
        db.code().as_deref(),
        Some("5") | Some("6") | Some("517") | Some("40001") | Some("40P01")
    )
}

impl From<sqlx::Error> for Error {
    fn from(source: sqlx::Error) -> Self {
        Error::Database { source }
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::Internal(format!("background task failed: {e}").into())
    }
}

/// Result with the storage [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
