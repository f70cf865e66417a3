//! Service errors to protocol statuses, in one place (meilisearch's
//! ErrorCode idea): each error kind maps to a DIMSE status here, and to an
//! HTTP status. Internal details never reach a peer: only the error's
//! public message, and for internal errors not even that.

use dicom_net::service::Response;
use dicom_net::Status;

use crate::service::{Error, ErrorKind, Refusal};

/// The DIMSE response for a service error (PS3.4 B.2.3 for C-STORE,
/// C.4.1.1.4 for C-FIND).
pub fn dimse_response(e: &Error) -> Response {
    if let Error::Procedure { refusal, message } = e {
        let (status, offending) = match refusal {
            Refusal::Duplicate => (Status::DUPLICATE_SOP_INSTANCE, None),
            Refusal::NoSuchInstance => (Status::NO_SUCH_SOP_INSTANCE, None),
            Refusal::NoLongerUpdatable => (Status::PROCESSING_FAILURE, None),
            Refusal::MissingAttribute(t) => (Status::MISSING_ATTRIBUTE, Some(*t)),
            Refusal::MissingValue(t) => (Status::MISSING_ATTRIBUTE_VALUE, Some(*t)),
            Refusal::InvalidValue(t) => (Status::INVALID_ATTRIBUTE_VALUE, Some(*t)),
            Refusal::NotAllowed(_) => (Status::NO_SUCH_ATTRIBUTE, None),
            Refusal::TooLarge => (Status::RESOURCE_LIMITATION, None),
        };
        let mut r = Response::with(status, message.clone());
        r.offending = match refusal {
            Refusal::NotAllowed(tags) => tags.clone(),
            _ => offending.into_iter().collect(),
        };
        if *refusal == Refusal::NoLongerUpdatable {
            r.error_id = Some(0xA710);
        }
        return r;
    }
    let status = match (e.kind(), e) {
        (ErrorKind::Forbidden, _) => Status::NOT_AUTHORIZED,
        (_, Error::Storage(storage::Error::InvalidUid { .. })) | (_, Error::Mismatch(_)) => {
            Status::DOES_NOT_MATCH_SOP_CLASS
        }
        (_, Error::Storage(storage::Error::HeaderTooLarge { .. })) => Status::OUT_OF_RESOURCES,
        (ErrorKind::Invalid, _) => Status::CANNOT_UNDERSTAND,
        (ErrorKind::AlreadyExists, _) => Status(0x0111), // Duplicate SOP Instance
        (ErrorKind::Unavailable, _) => Status::OUT_OF_RESOURCES,
        _ => Status::PROCESSING_FAILURE,
    };
    if matches!(e.kind(), ErrorKind::Internal | ErrorKind::Unavailable) {
        tracing::error!(error = %e, "archive error");
    }
    Response::with(status, e.public_message())
}

/// The HTTP status for a service error kind.
pub fn http_status(kind: ErrorKind) -> axum::http::StatusCode {
    use axum::http::StatusCode;
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
        ErrorKind::AlreadyExists => StatusCode::CONFLICT,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}
