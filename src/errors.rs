//! Archive errors to protocol statuses, in one place (meilisearch's
//! ErrorCode idea): each storage error kind maps to a DIMSE status here,
//! and to an HTTP status when DICOMweb arrives. Internal details never
//! reach a peer: only the error's public message, and for internal errors
//! not even that.

use dicom_net::scp::Response;
use dicom_net::Status;
use storage::{Error, ErrorKind};

/// What a peer may be told about an error.
pub fn public_message(e: &Error) -> String {
    match (e.kind(), e) {
        (ErrorKind::Internal | ErrorKind::Unavailable, _) => {
            "the archive could not complete the operation".to_owned()
        }
        // The object store's message carries paths and keys.
        (_, Error::ObjectStore { .. }) => "the stored object is missing".to_owned(),
        _ => e.to_string(),
    }
}

/// The DIMSE response for an archive error (PS3.4 B.2.3 for C-STORE,
/// C.4.1.1.4 for C-FIND).
pub fn dimse_response(e: &Error) -> Response {
    let status = match (e.kind(), e) {
        (ErrorKind::Invalid, Error::InvalidUid { .. }) => Status::DOES_NOT_MATCH_SOP_CLASS,
        (ErrorKind::Invalid, Error::HeaderTooLarge { .. }) => Status::OUT_OF_RESOURCES,
        (ErrorKind::Invalid, _) => Status::CANNOT_UNDERSTAND,
        (ErrorKind::AlreadyExists, _) => Status(0x0111), // Duplicate SOP Instance
        (ErrorKind::NotFound, _) => Status::PROCESSING_FAILURE,
        (ErrorKind::Unavailable, _) => Status::OUT_OF_RESOURCES,
        _ => Status::PROCESSING_FAILURE,
    };
    if matches!(e.kind(), ErrorKind::Internal | ErrorKind::Unavailable) {
        tracing::error!(error = %e, "archive error");
    }
    Response::with(status, public_message(e))
}

/// The HTTP status for an archive error kind.
pub fn http_status(kind: ErrorKind) -> axum::http::StatusCode {
    use axum::http::StatusCode;
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::AlreadyExists => StatusCode::CONFLICT,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}
