//! UPS-RS search (PS3.18 §11.9): the modality worklist for web clients,
//! read-only. Query parameters parse into the one query model at the
//! worklist level (the same as a worklist C-FIND); each item is answered as
//! stored, with its UPS Procedure Step State (0074,1000) and Scheduled
//! Procedure Step Start DateTime (0040,4005) added.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use storage::query::Query;

use super::extract::Params;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;

/// `GET /workitems`.
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    params: Params,
) -> ApiResult<Response> {
    let accept = &params.accept;
    if !accept.is_empty()
        && !accept
            .iter()
            .any(|a| a.matches("application/dicom+json") || a.matches("application/json"))
    {
        return Err(ApiError::not_acceptable(
            "UPS-RS search answers application/dicom+json only",
        ));
    }
    let query = Query::worklist_from_qido(&params.pairs)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let entries = state
        .service
        .search_worklist(&caller.ctx, query, &caller.detail)
        .await?;
    let items: Vec<serde_json::Value> = entries
        .into_iter()
        .map(|e| {
            let mut item = e.item;
            let step = item["00400100"]["Value"][0].clone();
            let state = match e.status.as_str() {
                "CANCELLED" | "DISCONTINUED" => "CANCELED",
                other => other,
            };
            if let Some(map) = item.as_object_mut() {
                map.insert(
                    "00741000".into(),
                    serde_json::json!({"vr": "CS", "Value": [state]}),
                );
                let date = step["00400002"]["Value"][0].as_str().unwrap_or("");
                let time = step["00400003"]["Value"][0].as_str().unwrap_or("");
                if !date.is_empty() {
                    map.insert(
                        "00404005".into(),
                        serde_json::json!({"vr": "DT", "Value": [format!("{date}{time}")]}),
                    );
                }
            }
            item
        })
        .collect();
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/dicom+json"),
        )],
        serde_json::Value::Array(items).to_string(),
    )
        .into_response())
}
