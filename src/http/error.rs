//! Errors over HTTP: a JSON object with a reason and the status, for every
//! route. Service errors become statuses through `crate::errors`.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// An error answered as JSON with a reason.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Why, fit for any client (no internals, no patient data).
    pub reason: String,
}

impl ApiError {
    /// 400 Bad Request.
    pub fn bad_request(reason: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            reason: reason.into(),
        }
    }

    /// 404 Not Found.
    pub fn not_found(reason: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            reason: reason.into(),
        }
    }

    /// 406 Not Acceptable.
    pub fn not_acceptable(reason: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_ACCEPTABLE,
            reason: reason.into(),
        }
    }
}

impl From<crate::service::Error> for ApiError {
    fn from(e: crate::service::Error) -> Self {
        ApiError {
            status: crate::errors::http_status(e.kind()),
            reason: e.public_message(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, reason = %self.reason, "request failed");
        }
        let body = serde_json::json!({ "error": self.reason, "status": self.status.as_u16() });
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
