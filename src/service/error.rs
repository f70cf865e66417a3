//! The service layer's one error type. Each error has a kind; the adapters
//! map kinds to DIMSE and HTTP statuses in one place (`crate::errors`).
//!
//! Messages are fit for any client: no internals, no patient data. A study
//! of another tenant is `NotFound`, exactly as one that does not exist.

use std::borrow::Cow;

/// What kind of failure, from the caller's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// It does not exist (or is not the caller's to see).
    NotFound,
    /// The caller may not do this.
    Forbidden,
    /// It exists, and policy forbids replacing it; or what it names is not
    /// one thing (a study UID several tenants hold, asked by the platform).
    AlreadyExists,
    /// The caller sent something unusable.
    Invalid,
    /// It exists but cannot be given in any form the caller accepts.
    NotAcceptable,
    /// A backend is out of reach or out of resources; retry.
    Unavailable,
    /// A bug or a broken invariant on our side.
    Internal,
}

/// An operation's failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Refused by the access rules.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Nothing there for this caller.
    #[error("{0}")]
    NotFound(Cow<'static, str>),
    /// Bad input.
    #[error("{0}")]
    Invalid(Cow<'static, str>),
    /// Cannot be given as asked.
    #[error("{0}")]
    NotAcceptable(Cow<'static, str>),
    /// Valid, but not what the request said it would be (an instance of
    /// another study than the STOW-RS path names).
    #[error("{0}")]
    Mismatch(String),
    /// A platform request names a study that several tenants hold: it must
    /// name the tenant.
    #[error("{0}")]
    Ambiguous(String),
    /// From the archive.
    #[error(transparent)]
    Storage(#[from] storage::Error),
    /// Something that should not happen.
    #[error("internal error: {0}")]
    Internal(String),
    /// Another system (a peer archive) did not answer as needed.
    #[error("{0}")]
    Unavailable(String),
    /// A performed procedure step refused, for the reason PS3.4 F.7.2
    /// names (the DIMSE adapter answers its status).
    #[error("{message}")]
    Procedure {
        /// Why.
        refusal: Refusal,
        /// In words.
        message: String,
    },
}

/// Why a performed procedure step was refused (PS3.4 F.7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// N-CREATE of a UID already created.
    Duplicate,
    /// N-SET of a UID never created.
    NoSuchInstance,
    /// N-SET of a step already COMPLETED or DISCONTINUED.
    NoLongerUpdatable,
    /// A Type 1 attribute missing.
    MissingAttribute(dicom_core::Tag),
    /// An attribute present (or created empty) without the value it must
    /// have now.
    MissingValue(dicom_core::Tag),
    /// An attribute with a value not allowed here.
    InvalidValue(dicom_core::Tag),
    /// An attribute the operation may not set (MPPS N-SET of what the
    /// N-CREATE fixed, PS3.4 Table F.7.2-1 "Not allowed").
    NotAllowed(Vec<dicom_core::Tag>),
    /// More than the archive takes in one request.
    TooLarge,
}

impl Error {
    /// A refused performed procedure step.
    pub fn procedure(refusal: Refusal, message: impl Into<String>) -> Self {
        Error::Procedure {
            refusal,
            message: message.into(),
        }
    }
}

impl Error {
    /// Not found, with a reason.
    pub fn not_found(reason: impl Into<Cow<'static, str>>) -> Self {
        Error::NotFound(reason.into())
    }

    /// Bad input, with a reason.
    pub fn invalid(reason: impl Into<Cow<'static, str>>) -> Self {
        Error::Invalid(reason.into())
    }

    /// Not acceptable, with a reason.
    pub fn not_acceptable(reason: impl Into<Cow<'static, str>>) -> Self {
        Error::NotAcceptable(reason.into())
    }

    /// Its kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Forbidden(_) => ErrorKind::Forbidden,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Invalid(_) | Error::Mismatch(_) => ErrorKind::Invalid,
            Error::Ambiguous(_) => ErrorKind::AlreadyExists,
            Error::NotAcceptable(_) => ErrorKind::NotAcceptable,
            Error::Internal(_) => ErrorKind::Internal,
            Error::Unavailable(_) => ErrorKind::Unavailable,
            Error::Procedure { refusal, .. } => match refusal {
                Refusal::Duplicate => ErrorKind::AlreadyExists,
                Refusal::NoSuchInstance => ErrorKind::NotFound,
                _ => ErrorKind::Invalid,
            },
            Error::Storage(e) => match e.kind() {
                storage::ErrorKind::NotFound => ErrorKind::NotFound,
                storage::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
                storage::ErrorKind::Invalid => ErrorKind::Invalid,
                storage::ErrorKind::Unavailable => ErrorKind::Unavailable,
                _ => ErrorKind::Internal,
            },
        }
    }

    /// What a client may be told.
    pub fn public_message(&self) -> String {
        match self {
            Error::Storage(e) => match (e.kind(), e) {
                (storage::ErrorKind::Internal | storage::ErrorKind::Unavailable, _) => {
                    "the archive could not complete the operation".to_owned()
                }
                // The object store's message carries paths and keys.
                (_, storage::Error::ObjectStore { .. }) => {
                    "the stored object is missing".to_owned()
                }
                _ => e.to_string(),
            },
            Error::Internal(_) => "the archive could not complete the operation".to_owned(),
            other => other.to_string(),
        }
    }
}

/// An operation's result.
pub type Result<T> = std::result::Result<T, Error>;
