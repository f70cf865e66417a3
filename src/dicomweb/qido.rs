//! QIDO-RS (PS3.18 §10.6): search for studies, series and instances.
//!
//! Query strings parse into the archive's one query model (the same as
//! C-FIND); the service runs the search within the caller's tenant.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use dicom_dictionary_std::tags;
use storage::query::{attribute, Query, QueryLevel};

use super::extract::{OptionalTarget, Params};
use super::{base_url, json, warning};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::service::Target;

/// `GET /studies`.
pub async fn studies(
    state: State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Params,
) -> ApiResult<Response> {
    search(state, caller, headers, QueryLevel::Study, params, None).await
}

/// `GET /series` and `GET /studies/{study}/series`.
pub async fn series(
    state: State<AppState>,
    caller: Caller,
    OptionalTarget(within): OptionalTarget,
    headers: HeaderMap,
    params: Params,
) -> ApiResult<Response> {
    search(state, caller, headers, QueryLevel::Series, params, within).await
}

/// `GET /instances`, `GET /studies/{study}/instances` and
/// `GET /studies/{study}/series/{series}/instances`.
pub async fn instances(
    state: State<AppState>,
    caller: Caller,
    OptionalTarget(within): OptionalTarget,
    headers: HeaderMap,
    params: Params,
) -> ApiResult<Response> {
    search(state, caller, headers, QueryLevel::Instance, params, within).await
}

/// `DELETE /studies`: refused, a delete names what it deletes.
pub async fn no_delete_all(_caller: Caller) -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        reason: "DELETE applies to one study, series or instance".into(),
    }
}

async fn search(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    level: QueryLevel,
    params: Params,
    within: Option<Target>,
) -> ApiResult<Response> {
    let accept = &params.accept;
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
        Query::from_qido(level, &params.pairs).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut query = qido.query;
    let path: Vec<(dicom_core::Tag, String)> = match &within {
        None => Vec::new(),
        Some(Target::Study(st)) => vec![(tags::STUDY_INSTANCE_UID, st.to_string())],
        Some(Target::Series(st, se)) | Some(Target::Instance(st, se, _)) => vec![
            (tags::STUDY_INSTANCE_UID, st.to_string()),
            (tags::SERIES_INSTANCE_UID, se.to_string()),
        ],
    };
    for (tag, value) in path {
        let a = attribute(tag).ok_or_else(|| ApiError::bad_request("unindexed path attribute"))?;
        query
            .add(a, &value)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    // One more than asked tells whether results were cut.
    let limit = query.limit;
    if let Some(l) = limit {
        query.limit = Some(l.saturating_add(1));
    }
    let mut matches = state
        .service
        .search(&caller.ctx, query, &caller.detail)
        .await?;
    let truncated = limit.is_some_and(|l| matches.len() as u64 > l);
    if let Some(l) = limit {
        matches.truncate(l as usize);
    }
    let base = base_url(&state, &headers);
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
                QueryLevel::Worklist => format!("{base}/workitems"),
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
    if qido.fuzzy {
        response.headers_mut().append(
            header::WARNING,
            warning("The fuzzymatching parameter is not supported. Only literal matching has been performed."),
        );
    }
    Ok(response)
}
