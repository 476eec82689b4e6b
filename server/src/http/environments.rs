//! `/api/v1/environments`: the cluster stacks requests deploy into.

use super::error::ApiResult;
use super::extract::{ApiJson, AuthUser};
use super::AppState;
use app::backend::Backend;
use app::model::{Environment, EnvironmentDecisionBody, EnvironmentInput, EnvironmentPlan, RejectChangeBody};
use axum::http::StatusCode;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/environments", get(list).post(create))
        .route("/environments/{name}", get(show).put(update))
        .route("/environments/{name}/changes/{change}/plan", get(plan))
        .route("/environments/{name}/changes/{change}/approve", post(approve))
        .route("/environments/{name}/changes/{change}/reject", post(reject))
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

/// Asks for a change of an environment's region (only while it holds no APIs), cluster
/// parameters or rule capacity. It waits in `pending_change` until another approver or
/// admin approves it (four eyes); then it takes effect, and the cluster stack is updated
/// with the environment's next deployment. The `name` in the body is ignored.
#[utoipa::path(put, path = "/api/v1/environments/{name}", tag = "environments", operation_id = "update_environment",
    request_body = EnvironmentInput, params(("name" = String, Path, description = "Environment name")),
    responses((status = 202, body = Environment, description = "The change waits for review in `pending_change` (none when nothing changes)"),
              (status = 403, description = "Not an approver or admin"),
              (status = 404, description = "No such environment"),
              (status = 409, description = "The change would strand APIs already in the environment, or another change waits for review"),
              (status = 422, description = "Invalid fields")))]
pub async fn update(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path(name): Path<String>,
    ApiJson(input): ApiJson<EnvironmentInput>,
) -> ApiResult<(StatusCode, Json<Environment>)> {
    Ok((StatusCode::ACCEPTED, Json(state.services.update_environment(&actor, &name, input).await?)))
}

/// The change set of the cluster stack for a change waiting for review. Approvers and admins.
#[utoipa::path(get, path = "/api/v1/environments/{name}/changes/{change}/plan", tag = "environments", operation_id = "plan_environment_change",
    params(("name" = String, Path, description = "Environment name"), ("change" = String, Path, description = "The waiting change's id")),
    responses((status = 200, body = EnvironmentPlan), (status = 403, description = "Not an approver or admin"),
              (status = 404, description = "No such environment"), (status = 409, description = "The change is not waiting for review, or CloudFormation refused the change set"),
              (status = 503, description = "AWS did not answer")))]
pub async fn plan(State(state): State<AppState>, AuthUser(actor): AuthUser, Path((name, change)): Path<(String, String)>) -> ApiResult<Json<EnvironmentPlan>> {
    Ok(Json(state.services.environment_plan(&actor, &name, &change).await?))
}

/// Approves a waiting change: it takes effect at once. Never by whoever asked for it.
#[utoipa::path(post, path = "/api/v1/environments/{name}/changes/{change}/approve", tag = "environments", operation_id = "approve_environment_change",
    request_body = EnvironmentDecisionBody,
    params(("name" = String, Path, description = "Environment name"), ("change" = String, Path, description = "The waiting change's id")),
    responses((status = 200, body = Environment), (status = 403, description = "Not an approver or admin, or your own change (four eyes)"),
              (status = 404, description = "No such environment"),
              (status = 409, description = "Not waiting for review any more, or it would now strand APIs")))]
pub async fn approve(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path((name, change)): Path<(String, String)>,
    ApiJson(body): ApiJson<EnvironmentDecisionBody>,
) -> ApiResult<Json<Environment>> {
    Ok(Json(state.services.decide_environment_change(&actor, &name, &change, true, body.reason).await?))
}

/// Rejects a waiting change (a reason is required). Never by whoever asked for it.
#[utoipa::path(post, path = "/api/v1/environments/{name}/changes/{change}/reject", tag = "environments", operation_id = "reject_environment_change",
    request_body = RejectChangeBody,
    params(("name" = String, Path, description = "Environment name"), ("change" = String, Path, description = "The waiting change's id")),
    responses((status = 200, body = Environment), (status = 403, description = "Not an approver or admin, or your own change (four eyes)"),
              (status = 404, description = "No such environment"), (status = 409, description = "Not waiting for review any more"),
              (status = 422, description = "No reason")))]
pub async fn reject(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path((name, change)): Path<(String, String)>,
    ApiJson(body): ApiJson<RejectChangeBody>,
) -> ApiResult<Json<Environment>> {
    Ok(Json(state.services.decide_environment_change(&actor, &name, &change, false, Some(body.reason)).await?))
}
