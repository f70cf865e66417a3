//! `/api/print/sheets`: the film sheets modalities printed, for
//! administrators (right `Print`).
//!
//! `GET /api/print/sheets?study=UID&unmatched=true`: newest first, each
//! `{"id", "sop_instance_uid", "pdf_sop_instance_uid",
//! "study_instance_uid", "patient_id", "station", "matched_by",
//! "film_format", "images", "printed_at"}`; `unmatched=true` lists only the
//! sheets that named no study and matched none (`matched_by = "none"`),
//! filed in a study of their own: the reconciliation list.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::routes::routes;
use super::state::AppState;
use crate::dicomweb::extract::Params;

routes! {
    "/api/print/sheets" => { get: list }
}

/// `GET /api/print/sheets`.
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: Params,
) -> ApiResult<Response> {
    let mut study = None;
    let mut unmatched = false;
    for (k, v) in &params.pairs {
        match k.as_str() {
            "study" => study = Some(v.clone()),
            "unmatched" => {
                unmatched = match v.as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => {
                        return Err(ApiError::bad_request(format!(
                            "unmatched={v:?}: true or false"
                        )))
                    }
                }
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter {other:?} (study, unmatched)"
                )))
            }
        }
    }
    let sheets = state
        .service
        .print_sheets(&caller.ctx, study.as_deref(), unmatched)
        .await?;
    let out: Vec<serde_json::Value> = sheets
        .into_iter()
        .map(|s| {
            serde_json::json!({
                "id": s.id,
                "sop_instance_uid": s.sop_instance_uid,
                "pdf_sop_instance_uid": s.pdf_sop_instance_uid,
                "study_instance_uid": s.study_instance_uid,
                "patient_id": s.patient_id,
                "station": s.calling_ae_title,
                "matched_by": s.matched_by,
                "film_format": s.film_format,
                "images": s.images,
                "printed_at": crate::audit::format_time(s.printed_at),
            })
        })
        .collect();
    Ok(Json(out).into_response())
}
