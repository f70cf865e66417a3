//! `GET /api/stats?by=month|month,modality`: the storage plan's numbers
//! (see the service's `stats`) as JSON, for the caller's tenant.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::routes::routes;
use super::state::AppState;
use crate::dicomweb::extract::Params;

routes! {
    "/api/stats" => { get: stats }
}

/// `GET /api/stats`.
async fn stats(
    State(state): State<AppState>,
    caller: Caller,
    params: Params,
) -> ApiResult<Response> {
    let mut by_modality = false;
    for (k, v) in &params.pairs {
        match (k.as_str(), v.as_str()) {
            ("by", "month") => by_modality = false,
            ("by", "month,modality" | "modality,month" | "modality") => by_modality = true,
            ("by", other) => {
                return Err(ApiError::bad_request(format!(
                    "by={other:?}: month or month,modality"
                )))
            }
            (other, _) => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter {other:?} (by)"
                )))
            }
        }
    }
    let s = state
        .service
        .storage_stats(&caller.ctx, by_modality)
        .await?;
    Ok(Json(s).into_response())
}
