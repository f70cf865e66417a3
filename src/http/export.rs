//! `POST /api/studies/{uid}/export`: a study as a ZIP of DICOM files,
//! de-identified with the PS3.15 Basic Profile when `deidentify=true` (see
//! the service's `deidentify`). Parameters: `deidentify`, `shift_days`,
//! `include_burned_in`, `patient_name`, `patient_id`.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::routes::routes;
use super::state::AppState;
use crate::dicomweb::extract::Params;
use crate::service::deidentify::ExportOptions;

routes! {
    "/api/studies/{study}/export" => { post: export }
}

fn flag(k: &str, v: &str) -> ApiResult<bool> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ApiError::bad_request(format!("{k}={v:?}: true or false"))),
    }
}

/// The largest study exported over HTTP (original bytes).
const MAX_EXPORT_BYTES: u64 = 2 << 30;

/// `POST /api/studies/{study}/export`.
async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Path(study): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    // Held in memory: a larger study is exported with `filmless export`.
    let mut options = ExportOptions {
        max_bytes: Some(MAX_EXPORT_BYTES),
        ..ExportOptions::default()
    };
    for (k, v) in &params.pairs {
        match k.as_str() {
            "deidentify" => options.deidentify = flag(k, v)?,
            "include_burned_in" => options.include_burned_in = flag(k, v)?,
            "shift_days" => {
                options.shift_days = Some(v.parse().map_err(|_| {
                    ApiError::bad_request(format!("shift_days={v:?} is not a number of days"))
                })?)
            }
            "patient_name" => options.patient_name = v.clone(),
            "patient_id" => options.patient_id = v.clone(),
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter {other:?} (deidentify, shift_days, include_burned_in, \
                     patient_name, patient_id)"
                )))
            }
        }
    }
    let exported = state
        .service
        .export_study(&caller.ctx, &study, &options)
        .await?;
    let zip = tokio::task::spawn_blocking(move || crate::dicomweb::zip::zip_of(&exported.files))
        .await
        .map_err(|e| crate::service::Error::Internal(e.to_string()))?
        .map_err(|e| crate::service::Error::Internal(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"export.zip\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        zip,
    )
        .into_response())
}
