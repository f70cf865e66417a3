//! Corrections, users and DICOM peers for the administration console:
//! `PATCH /api/studies/{uid}` (a study's patient) and `POST
//! /api/patients/merge` (right `Orders`); `GET|POST
//! /api/users`, `DELETE /api/users/{name}` (right `Users`); `GET
//! /api/peers`, `POST /api/peers/{ae}/echo` (right `Jobs`), each within
//! the caller's tenant.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::routes::routes;
use super::state::AppState;
use crate::service::users::NewUser;
use crate::service::Role;

routes! {
    "/api/studies/{study}" => { patch: correct }
    "/api/patients/merge" => { post: merge }
    "/api/studies/{study}/reject" => { post: reject }
    "/api/rejected" => { get: rejected }
    "/api/rejected/{sop}/restore" => { post: restore }
    "/api/rejected/{sop}" => { delete: purge }
    "/api/users" => { get: users, post: put_user }
    "/api/users/{name}" => { delete: remove_user, patch: change_user }
    "/api/peers" => { get: peers }
    "/api/peers/{ae}/echo" => { post: echo }
}

/// `GET /api/users`: name, roles, tenant, created (no password hashes).
async fn users(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let list = state.service.users(&caller.ctx).await?;
    let out: Vec<serde_json::Value> = list
        .into_iter()
        .map(|u| {
            serde_json::json!({
                "name": u.name,
                "roles": u.roles,
                "tenant": u.tenant,
                "disabled": u.disabled,
                "created_at": crate::audit::format_time(u.created_at),
            })
        })
        .collect();
    Ok(Json(out).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct UserBody {
    name: String,
    roles: Vec<String>,
    password: String,
}

/// `POST /api/users` `{"name", "roles": [...], "password"}`: add a user
/// of the caller's tenant, or change one's roles and password.
async fn put_user(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<Response> {
    let b: UserBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("a user is {{name, roles, password}}: {e}")))?;
    let roles = b
        .roles
        .iter()
        .map(|r| Role::parse(r).ok_or_else(|| ApiError::bad_request(format!("no role {r:?}"))))
        .collect::<ApiResult<Vec<_>>>()?;
    // A user stays in its tenant: the platform changing one does not move
    // it (a new one is the caller's tenant's, the implicit for the platform).
    let tenant = match caller.ctx.tenant() {
        Some(t) => t.clone(),
        None => match state.service.login_user(&b.name).await? {
            Some(u) => storage::TenantId::parse(&u.tenant).unwrap_or_default(),
            None => storage::TenantId::default(),
        },
    };
    state
        .service
        .put_user(
            &caller.ctx,
            NewUser {
                name: b.name,
                roles,
                tenant,
                password: b.password,
            },
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct UserChange {
    disabled: bool,
}

/// `PATCH /api/users/{name}` `{"disabled": true}`: disable a user (refused
/// at login, kept) or enable it again.
async fn change_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let b: UserChange = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "a change of a user is {{disabled: true|false}}: {e}"
        ))
    })?;
    if state
        .service
        .set_user_disabled(&caller.ctx, &name, b.disabled)
        .await?
    {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found(format!("no user {name:?}")))
    }
}

/// `DELETE /api/users/{name}`.
async fn remove_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    if state.service.remove_user(&caller.ctx, &name).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found(format!("no user {name:?}")))
    }
}

/// `PATCH /api/studies/{study}` `{"accession_number", "study_description",
/// "patient_id", "issuer_of_patient_id", "patient_name",
/// "patient_birth_date", "patient_sex"}` (any of them): modify the study,
/// moving it to another patient ID, correcting its patient.
async fn correct(
    State(state): State<AppState>,
    caller: Caller,
    Path(study): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let patch: crate::service::modify::StudyPatch = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "a modification is {{accession_number, study_description, patient_id, \
                 issuer_of_patient_id, patient_name, patient_birth_date, patient_sex}}: {e}"
        ))
    })?;
    let done = state
        .service
        .modify_study(&caller.ctx, &study, &patch)
        .await?;
    Ok(Json(done).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MergeBody {
    from_id: String,
    #[serde(default)]
    from_issuer: String,
    into_id: String,
    #[serde(default)]
    into_issuer: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    birth_date: String,
    #[serde(default)]
    sex: String,
}

/// `POST /api/patients/merge` `{"from_id", "from_issuer", "into_id",
/// "into_issuer", "name", "birth_date", "sex"}`: the first patient's
/// studies become the second's.
async fn merge(State(state): State<AppState>, caller: Caller, body: Bytes) -> ApiResult<Response> {
    let b: MergeBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "a merge is {{from_id, from_issuer, into_id, into_issuer, name, birth_date, sex}}: {e}"
        ))
    })?;
    let into = storage::record::PatientAttributes {
        patient_id: b.into_id,
        issuer_of_patient_id: b.into_issuer,
        patient_name: b.name,
        patient_birth_date: b.birth_date,
        patient_sex: b.sex,
    };
    let done = state
        .service
        .merge_patients(&caller.ctx, (&b.from_id, &b.from_issuer), &into)
        .await?;
    Ok(Json(done).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RejectBody {
    reason: String,
    #[serde(default)]
    series: Option<String>,
    #[serde(default)]
    instance: Option<String>,
}

/// `POST /api/studies/{study}/reject` `{"reason": "113001", "series":
/// UID, "instance": UID}` (series and instance optional): hide the study's
/// instances, or one series' or one instance (IOCM), `{"rejected": n}`.
async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    Path(study): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let b: RejectBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "a rejection is {{reason: \"113001\", series, instance}}: {e}"
        ))
    })?;
    let n = state
        .service
        .reject_by_hand(
            &caller.ctx,
            &study,
            b.series.as_deref(),
            b.instance.as_deref(),
            &b.reason,
        )
        .await?;
    Ok(Json(serde_json::json!({ "rejected": n })).into_response())
}

/// `GET /api/rejected?study=UID`.
async fn rejected(
    State(state): State<AppState>,
    caller: Caller,
    params: crate::dicomweb::extract::Params,
) -> ApiResult<Response> {
    let mut study = None;
    for (k, v) in &params.pairs {
        match k.as_str() {
            "study" => study = Some(v.clone()),
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter {other:?} (study)"
                )))
            }
        }
    }
    let list = state
        .service
        .rejected(&caller.ctx, study.as_deref())
        .await?;
    Ok(Json(list).into_response())
}

/// `POST /api/rejected/{sop}/restore`.
async fn restore(
    State(state): State<AppState>,
    caller: Caller,
    Path(sop): Path<String>,
) -> ApiResult<Response> {
    state.service.restore_rejected(&caller.ctx, &sop).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /api/rejected/{sop}`: purge.
async fn purge(
    State(state): State<AppState>,
    caller: Caller,
    Path(sop): Path<String>,
) -> ApiResult<Response> {
    state.service.purge_rejected(&caller.ctx, &sop).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/peers`.
async fn peers(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    Ok(Json(state.service.peer_list(&caller.ctx).await?).into_response())
}

/// `POST /api/peers/{ae}/echo`: `{"ok", "millis", "error"}`.
async fn echo(
    State(state): State<AppState>,
    caller: Caller,
    Path(ae): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(state.service.echo_peer(&caller.ctx, &ae).await?).into_response())
}
