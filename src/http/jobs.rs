//! `/api/jobs` and `/api/studies/{uid}/send`: the routing jobs over HTTP,
//! for administrators (right `Jobs`).
//!
//! - `GET /api/jobs?state=failed&limit=100`: the jobs, newest first, each
//!   `{"id", "kind", "state", "peer", "tenant", "study", "attempts",
//!   "next_attempt_at", "last_error", "done", "total", "created_at",
//!   "updated_at"}`;
//! - `GET /api/jobs/{id}`; `POST /api/jobs/{id}/retry`, `POST
//!   /api/jobs/{id}/cancel`;
//! - `POST /api/studies/{uid}/send` with `{"to": "PEER"}`: queue sending a
//!   study, answered `202 {"job": id}`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::routes::routes;
use super::state::AppState;
use crate::dicomweb::extract::Params;

routes! {
    "/api/jobs" => { get: list }
    "/api/jobs/{id}" => { get: one }
    "/api/jobs/{id}/retry" => { post: retry }
    "/api/jobs/{id}/cancel" => { post: cancel }
    "/api/studies/{study}/send" => { post: send }
}

fn id_of(raw: &str) -> ApiResult<i64> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("no job {raw:?}")))
}

/// `GET /api/jobs`.
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: Params,
) -> ApiResult<Response> {
    let mut job_state = None;
    let mut limit = 100;
    for (k, v) in &params.pairs {
        match k.as_str() {
            "state" => job_state = Some(v.clone()),
            "limit" => {
                limit = v
                    .parse()
                    .map_err(|_| ApiError::bad_request(format!("limit {v:?} is not a number")))?
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter {other:?} (state, limit)"
                )))
            }
        }
    }
    let jobs = state
        .service
        .list_jobs(&caller.ctx, job_state.as_deref(), limit)
        .await?;
    Ok(Json(jobs).into_response())
}

/// `GET /api/jobs/{id}`.
async fn one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(state.service.job(&caller.ctx, id_of(&id)?).await?).into_response())
}

/// `POST /api/jobs/{id}/retry`.
async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.service.retry_job(&caller.ctx, id_of(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/jobs/{id}/cancel`.
async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.service.cancel_job(&caller.ctx, id_of(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/studies/{study}/send` with `{"to": "PEER"}`.
async fn send(
    State(state): State<AppState>,
    caller: Caller,
    Path(study): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let json: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    let to = json["to"]
        .as_str()
        .ok_or_else(|| ApiError::bad_request("the body needs \"to\": the destination's name"))?;
    let series = match &json["series"] {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.as_str()),
        _ => return Err(ApiError::bad_request("\"series\" is a Series Instance UID")),
    };
    let id = state
        .service
        .send_part(&caller.ctx, &study, series, to)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "job": id }))).into_response())
}
