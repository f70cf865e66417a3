//! `/api/worklist`: the modality worklist for a RIS without HL7. Items go
//! in and come out as DICOM JSON (PS3.18 Annex F) of the worklist item
//! (PS3.4 Table K.6-1); the service decides who may read (role viewer) and
//! who may schedule and cancel (role scheduler).
//!
//! - `GET /api/worklist?…`: items matching QIDO-style keys
//!   (`ScheduledStationAETitle=CT1&ScheduledProcedureStepStartDate=20261202`),
//!   each as `{"id", "status", "item"}`; cancelled and completed ones only
//!   when `ScheduledProcedureStepStatus` asks for them;
//! - `POST /api/worklist`: schedule an item, answered `201 {"id",
//!   "StudyInstanceUID"}`;
//! - `GET /api/worklist/{id}`, `DELETE /api/worklist/{id}` (cancel).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use storage::query::Query;

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::routes::routes;
use super::state::AppState;
use crate::dicomweb::extract::Params;

routes! {
    "/api/worklist" => { get: list, post: add }
    "/api/worklist/{id}" => { get: one, delete: cancel }
}

fn entry(id: i64, status: &str, item: serde_json::Value) -> serde_json::Value {
    serde_json::json!({ "id": id, "status": status, "item": item })
}

/// `GET /api/worklist`.
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: Params,
) -> ApiResult<Response> {
    let query = Query::worklist_from_qido(&params.pairs)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let entries = state
        .service
        .search_worklist(&caller.ctx, query, &caller.detail)
        .await?;
    let out: Vec<serde_json::Value> = entries
        .into_iter()
        .map(|e| entry(e.id, &e.status, e.item))
        .collect();
    Ok(Json(out).into_response())
}

/// `POST /api/worklist`: one item (or an array of one), DICOM JSON.
async fn add(State(state): State<AppState>, caller: Caller, body: Bytes) -> ApiResult<Response> {
    let mut json: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    if let serde_json::Value::Array(items) = &mut json {
        if items.len() != 1 {
            return Err(ApiError::bad_request("post one worklist item at a time"));
        }
        json = items.remove(0);
    }
    let item =
        storage::worklist::json_dataset(&json).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let scheduled = state
        .service
        .schedule(&caller.ctx, item, &caller.detail)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "id": scheduled.id,
            "StudyInstanceUID": scheduled.study_instance_uid,
        })),
    )
        .into_response())
}

fn id_of(raw: &str) -> ApiResult<i64> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("no worklist item {raw:?}")))
}

/// `GET /api/worklist/{id}`.
async fn one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let item = state
        .service
        .worklist_item(&caller.ctx, id_of(&id)?)
        .await?;
    let json: serde_json::Value = serde_json::from_str(&item.item.dicom_json)
        .map_err(|_| ApiError::from(crate::service::Error::Internal("stored item".into())))?;
    Ok(Json(entry(item.id, &item.item.status, json)).into_response())
}

/// `DELETE /api/worklist/{id}`: the item is cancelled (kept, CANCELLED).
async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .service
        .cancel_items(&caller.ctx, &[id_of(&id)?], &caller.detail)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
