//! QIDO-RS (PS3.18 §10.6): search for studies, series and instances.
//!
//! Query strings parse into the archive's one query model (the same as
//! C-FIND); results come from the index, never from blobs.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use dicom_dictionary_std::tags;
use storage::query::{attribute, Query, QueryLevel};

use super::{accepts, base_url, json, uid, warning, ApiError, ApiResult};
use crate::server::AppState;

/// The QIDO-RS routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/studies",
            get(studies)
                .post(super::stow::store_studies)
                .delete(no_delete_all),
        )
        .route("/series", get(all_series))
        .route("/instances", get(all_instances))
        .route("/studies/{study}/series", get(study_series))
        .route("/studies/{study}/instances", get(study_instances))
        .route(
            "/studies/{study}/series/{series}/instances",
            get(series_instances),
        )
}

async fn no_delete_all() -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        reason: "DELETE applies to one study, series or instance".into(),
    }
}

/// Parse `a=b&c=d` (percent-decoded, `+` as space).
pub fn params(raw: Option<String>) -> Vec<(String, String)> {
    raw.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    })
    .unwrap_or_default()
}

async fn studies(state: State<AppState>, headers: HeaderMap, q: RawQuery) -> ApiResult<Response> {
    search(state, headers, QueryLevel::Study, params(q.0), &[]).await
}

async fn all_series(
    state: State<AppState>,
    headers: HeaderMap,
    q: RawQuery,
) -> ApiResult<Response> {
    search(state, headers, QueryLevel::Series, params(q.0), &[]).await
}

async fn all_instances(
    state: State<AppState>,
    headers: HeaderMap,
    q: RawQuery,
) -> ApiResult<Response> {
    search(state, headers, QueryLevel::Instance, params(q.0), &[]).await
}

async fn study_series(
    state: State<AppState>,
    Path(study): Path<String>,
    headers: HeaderMap,
    q: RawQuery,
) -> ApiResult<Response> {
    let study = uid("StudyInstanceUID", &study)?;
    search(
        state,
        headers,
        QueryLevel::Series,
        params(q.0),
        &[(tags::STUDY_INSTANCE_UID, study)],
    )
    .await
}

async fn study_instances(
    state: State<AppState>,
    Path(study): Path<String>,
    headers: HeaderMap,
    q: RawQuery,
) -> ApiResult<Response> {
    let study = uid("StudyInstanceUID", &study)?;
    search(
        state,
        headers,
        QueryLevel::Instance,
        params(q.0),
        &[(tags::STUDY_INSTANCE_UID, study)],
    )
    .await
}

async fn series_instances(
    state: State<AppState>,
    Path((study, series)): Path<(String, String)>,
    headers: HeaderMap,
    q: RawQuery,
) -> ApiResult<Response> {
    let study = uid("StudyInstanceUID", &study)?;
    let series = uid("SeriesInstanceUID", &series)?;
    search(
        state,
        headers,
        QueryLevel::Instance,
        params(q.0),
        &[
            (tags::STUDY_INSTANCE_UID, study),
            (tags::SERIES_INSTANCE_UID, series),
        ],
    )
    .await
}

async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    level: QueryLevel,
    params: Vec<(String, String)>,
    path: &[(dicom_core::Tag, String)],
) -> ApiResult<Response> {
    let accept = accepts(&headers, &params);
    if !accept.is_empty()
        && !accept
            .iter()
            .any(|a| a.matches("application/dicom+json") || a.matches("application/json"))
    {
        return Err(ApiError::not_acceptable(
            "QIDO-RS answers application/dicom+json only",
        ));
    }
    let qido =
        Query::from_qido(level, &params).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut query = qido.query;
    for (tag, value) in path {
        let a = attribute(*tag).ok_or_else(|| ApiError::bad_request("unindexed path attribute"))?;
        query
            .add(a, value)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    query.case_insensitive_names = state.config.dicom.case_insensitive_names;
    // One more than asked tells whether results were cut.
    let limit = query.limit;
    if let Some(l) = limit {
        query.limit = Some(l.saturating_add(1));
    }
    let mut matches = state.archive.index().query(&query).await?;
    let truncated = limit.is_some_and(|l| matches.len() as u64 > l);
    if let Some(l) = limit {
        matches.truncate(l as usize);
    }
    let base = base_url(&state, &headers);
    let mut seen: Vec<(String, String)> = Vec::new();
    for m in &matches {
        let study = m.get(tags::STUDY_INSTANCE_UID).unwrap_or("");
        if !study.is_empty() && !seen.iter().any(|(_, s)| s == study) {
            let patient = m.get(tags::PATIENT_ID).unwrap_or("").to_owned();
            seen.push((patient, study.to_owned()));
        }
    }
    let results: Vec<serde_json::Value> = matches
        .iter()
        .map(|m| {
            let get = |t| m.get(t).unwrap_or("");
            let url = match level {
                QueryLevel::Patient | QueryLevel::Study => {
                    format!("{base}/studies/{}", get(tags::STUDY_INSTANCE_UID))
                }
                QueryLevel::Series => format!(
                    "{base}/studies/{}/series/{}",
                    get(tags::STUDY_INSTANCE_UID),
                    get(tags::SERIES_INSTANCE_UID)
                ),
                QueryLevel::Instance => format!(
                    "{base}/studies/{}/series/{}/instances/{}",
                    get(tags::STUDY_INSTANCE_UID),
                    get(tags::SERIES_INSTANCE_UID),
                    get(tags::SOP_INSTANCE_UID)
                ),
            };
            json::from_match(m, &url)
        })
        .collect();
    let mut response = (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/dicom+json"),
        )],
        serde_json::Value::Array(results).to_string(),
    )
        .into_response();
    if truncated {
        response.headers_mut().append(
            header::WARNING,
            warning("There are additional results that can be requested"),
        );
    }
    response
        .extensions_mut()
        .insert(crate::audit::AuditStudies(seen));
    if qido.fuzzy {
        response.headers_mut().append(
            header::WARNING,
            warning("The fuzzymatching parameter is not supported. Only literal matching has been performed."),
        );
    }
    Ok(response)
}
