//! Users and DICOM peers for the administration console: `GET|POST
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
    "/api/users" => { get: users, post: put_user }
    "/api/users/{name}" => { delete: remove_user }
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
    let tenant = caller.ctx.tenant().cloned().unwrap_or_default();
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
