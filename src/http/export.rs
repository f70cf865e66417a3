//! `POST /api/studies/{uid}/export`: a study as a ZIP of DICOM files,
//! de-identified with the PS3.15 Basic Profile when `deidentify=true` (see
//! the service's `deidentify`). Parameters: `deidentify`, `shift_days`,
//! `include_burned_in`, `patient_name`, `patient_id`.

use std::io::Seek as _;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::routes::routes;
use super::state::AppState;
use crate::dicomweb::extract::Params;
use crate::dicomweb::zip::ZipTo;
use crate::service::deidentify::{ExportOptions, ExportSink};
use tokio_util::io::ReaderStream;

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

/// `POST /api/studies/{study}/export`.
async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Path(study): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let mut options = ExportOptions::default();
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
    // The ZIP is written to a temporary file (gone when closed) an
    // instance at a time, then sent from there: a study of any size, one
    // instance in memory. The file lives under the data folder, on the
    // archive's disk, rather than in $TMPDIR (often a RAM-backed tmpfs);
    // in $TMPDIR when the data folder cannot take it.
    let internal = |e: std::io::Error| crate::service::Error::Internal(e.to_string());
    let dir = state.config.data_dir.join("tmp");
    let file = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)
            .and_then(|()| tempfile::tempfile_in(&dir))
            .or_else(|e| {
                tracing::warn!(dir = %dir.display(), error = %e, "export staged in $TMPDIR instead");
                tempfile::tempfile()
            })
    })
    .await
    .map_err(|e| crate::service::Error::Internal(e.to_string()))?
    .map_err(internal)?;
    let zip = Arc::new(Mutex::new(Some(ZipTo::new(std::io::BufWriter::new(file)))));
    let into = zip.clone();
    let sink: ExportSink = Box::new(move |name, data| {
        into.lock()
            .map_err(|_| std::io::Error::other("export poisoned"))?
            .as_mut()
            .ok_or_else(|| std::io::Error::other("export finished"))?
            .add(name, data)
    });
    let (_, sink) = state
        .service
        .export_study(&caller.ctx, &study, &options, sink)
        .await?;
    drop(sink);
    let zip = zip.lock().ok().and_then(|mut z| z.take());
    let file = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
        let mut file = zip
            .ok_or_else(|| std::io::Error::other("export lost"))?
            .finish()?
            .into_inner()
            .map_err(|e| e.into_error())?;
        file.seek(std::io::SeekFrom::Start(0))?;
        Ok(file)
    })
    .await
    .map_err(|e| crate::service::Error::Internal(e.to_string()))?
    .map_err(internal)?;
    let length = file.metadata().map_err(internal)?.len();
    let body = Body::from_stream(ReaderStream::new(tokio::fs::File::from_std(file)));
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"export.zip\"".to_owned(),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (header::CONTENT_LENGTH, length.to_string()),
        ],
        body,
    )
        .into_response())
}
