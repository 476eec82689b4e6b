//! `/api/v1/environments`: the cluster stacks requests deploy into.

use super::error::ApiResult;
use super::extract::{ApiJson, AuthUser};
use super::AppState;
use app::backend::Backend;
use app::model::{Environment, EnvironmentInput};
use axum::http::StatusCode;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};

pub fn router() -> Router<AppState> {
    Router::new().route("/environments", get(list).post(create)).route("/environments/{name}", get(show).put(update))
}

#[utoipa::path(operation_id = "list_environments", get, path = "/api/v1/environments", tag = "environments",
    responses((status = 200, body = Vec<Environment>), (status = 401, description = "Not signed in")))]
pub async fn list(State(state): State<AppState>, AuthUser(actor): AuthUser) -> ApiResult<Json<Vec<Environment>>> {
    Ok(Json(state.services.list_environments(&actor).await?))
}

#[utoipa::path(operation_id = "get_environment", get, path = "/api/v1/environments/{name}", tag = "environments",
    params(("name" = String, Path, description = "Environment name")),
    responses((status = 200, body = Environment), (status = 404, description = "No such environment")))]
pub async fn show(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path(name): Path<String>,
) -> ApiResult<Json<Environment>> {
    Ok(Json(state.services.get_environment(&actor, &name).await?))
}

#[utoipa::path(post, path = "/api/v1/environments", tag = "environments", operation_id = "create_environment",
    request_body = EnvironmentInput,
    responses((status = 201, body = Environment), (status = 403, description = "Not an approver or admin"),
              (status = 409, description = "Name taken"), (status = 422, description = "Invalid fields")))]
pub async fn create(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    ApiJson(input): ApiJson<EnvironmentInput>,
) -> ApiResult<(StatusCode, Json<Environment>)> {
    Ok((StatusCode::CREATED, Json(state.services.create_environment(&actor, input).await?)))
}

/// Changes an environment's region (only while it holds no APIs), cluster parameters or
/// rule capacity. The `name` in the body is ignored.
#[utoipa::path(put, path = "/api/v1/environments/{name}", tag = "environments", operation_id = "update_environment",
    request_body = EnvironmentInput, params(("name" = String, Path, description = "Environment name")),
    responses((status = 200, body = Environment), (status = 403, description = "Not an approver or admin"),
              (status = 404, description = "No such environment"),
              (status = 409, description = "The change would strand APIs already in the environment"),
              (status = 422, description = "Invalid fields")))]
pub async fn update(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path(name): Path<String>,
    ApiJson(input): ApiJson<EnvironmentInput>,
) -> ApiResult<Json<Environment>> {
    Ok(Json(state.services.update_environment(&actor, &name, input).await?))
}
