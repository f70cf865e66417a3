//! The administration console at `/admin` (administrators: right
//! `AuditTrail`), one page over the APIs every operation already has:
//! studies (search, open in the viewer, delete), storage planning (the
//! monthly volumes and the forecast, drawn), routing jobs, shares, printed
//! films to reconcile, the audit trail. And `GET /api/audit`, the trail as
//! JSON for it (`patient`, `study`, `actor`, `since` = `YYYY-MM-DD` or
//! `7d`, `limit`).

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::routes::routes;
use super::state::AppState;
use crate::dicomweb::extract::Params;

routes! {
    "/admin" => { get: page }
    "/api/audit" => { get: audit }
    "/api/viewer-log" => { post: viewer_log }
}

#[derive(serde::Deserialize)]
struct ViewerError {
    message: String,
    #[serde(default)]
    source: String,
}

/// `POST /api/viewer-log` `{"message", "source"}` (at most 8 KiB): an error
/// in the viewer, logged by the server (the viewer shows no details).
async fn viewer_log(
    State(state): State<AppState>,
    caller: Caller,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    if body.len() > 8192 {
        return Err(ApiError::bad_request(
            "a viewer error report is at most 8 KiB",
        ));
    }
    let e: ViewerError = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!("a viewer error is {{message, source}}: {e}"))
    })?;
    state
        .service
        .viewer_error(&caller.ctx, &e.message, &e.source)
        .await?;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}

const PAGE: &str = include_str!("admin.html");

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `GET /admin`.
async fn page(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let site = state.service.admin_console(&caller.ctx).await?;
    let html = PAGE.replace("{{site}}", &escape(&site));
    Ok(([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response())
}

/// `GET /api/audit`.
async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    params: Params,
) -> ApiResult<Response> {
    // The newest first: what a person looking at the trail wants.
    let mut filter = storage::AuditFilter {
        limit: Some(1000),
        newest_first: true,
        ..Default::default()
    };
    for (k, v) in &params.pairs {
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        match k.as_str() {
            "patient" => filter.patient_id = Some(v.to_owned()),
            "study" => filter.study_instance_uid = Some(v.to_owned()),
            "actor" => filter.actor = Some(v.to_owned()),
            "since" => {
                filter.since = Some(crate::audit::parse_since(v).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "since={v:?}: YYYY-MM-DD or a number of days like 7d"
                    ))
                })?)
            }
            "limit" => {
                let limit: i64 = v
                    .parse()
                    .map_err(|_| ApiError::bad_request(format!("limit {v:?} is not a number")))?;
                filter.limit = Some(limit.clamp(1, 10_000));
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter {other:?} (patient, study, actor, since, limit)"
                )))
            }
        }
    }
    let events = state.service.audit_events(&caller.ctx, filter).await?;
    let out: Vec<serde_json::Value> = events
        .into_iter()
        .map(|e| {
            serde_json::json!({
                "at": crate::audit::format_time(e.at),
                "actor": e.actor,
                "actor_kind": e.actor_kind,
                "source": e.source,
                "action": e.action,
                "outcome": e.outcome,
                "patient_id": e.patient_id,
                "study_instance_uid": e.study_instance_uid,
                "detail": e.detail,
                "count": e.count,
                "tenant": e.tenant,
            })
        })
        .collect();
    Ok(Json(out).into_response())
}
