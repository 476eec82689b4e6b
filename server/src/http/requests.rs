//! `/api/v1/requests`: public APIs asked for by application teams.

use super::error::{ApiError, ApiResult};
use crate::services;
use app::error::AppError;
use app::model::StackKind;
use axum::http::{header, HeaderName};
use axum::response::{AppendHeaders, IntoResponse};
use super::extract::{ApiJson, ApiQuery, AuthUser};
use super::AppState;
use app::backend::Backend;
use app::model::{ApiRequest, Page, RequestFilter, RequestInput, RequestSummary};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/requests", get(list).post(create))
        .route("/requests/{id}", get(show).put(update))
        .route("/requests/{id}/templates/{stack}", get(template))
        .route("/requests/{id}/parameters/{stack}", get(parameters))
}

#[utoipa::path(operation_id = "create_request", post, path = "/api/v1/requests", tag = "requests", request_body = RequestInput,
    responses((status = 201, body = ApiRequest, description = "Stored at revision 1, pending review"),
              (status = 409, description = "Name or path taken in the environment, or the environment is full"),
              (status = 422, description = "Invalid fields")))]
pub async fn create(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    ApiJson(input): ApiJson<RequestInput>,
) -> ApiResult<(StatusCode, Json<ApiRequest>)> {
    Ok((StatusCode::CREATED, Json(state.services.create_request(&actor, input).await?)))
}

#[utoipa::path(operation_id = "list_requests", get, path = "/api/v1/requests", tag = "requests", params(RequestFilter),
    responses((status = 200, body = Page<RequestSummary>), (status = 422, description = "Bad filter or cursor")))]
pub async fn list(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    ApiQuery(filter): ApiQuery<RequestFilter>,
) -> ApiResult<Json<Page<RequestSummary>>> {
    Ok(Json(state.services.list_requests(&actor, &filter).await?))
}

#[utoipa::path(operation_id = "get_request", get, path = "/api/v1/requests/{id}", tag = "requests",
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, body = ApiRequest), (status = 404, description = "Unknown or not visible")))]
pub async fn show(State(state): State<AppState>, AuthUser(actor): AuthUser, Path(id): Path<String>) -> ApiResult<Json<ApiRequest>> {
    Ok(Json(state.services.get_request(&actor, &id).await?))
}

/// A new revision of the request. Its environment and service name stay those of the API
/// (a different one is a new API: 422 on the field).
#[utoipa::path(operation_id = "update_request", put, path = "/api/v1/requests/{id}", tag = "requests", request_body = RequestInput,
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, body = ApiRequest, description = "A new revision, back in review"),
              (status = 403, description = "Not the request's team"), (status = 404, description = "Unknown or not visible"),
              (status = 409, description = "Not editable in its state, or path taken"), (status = 422, description = "Invalid fields")))]
pub async fn update(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<RequestInput>,
) -> ApiResult<Json<ApiRequest>> {
    Ok(Json(state.services.update_request(&actor, &id, input).await?))
}

fn stack_kind(stack: &str) -> Result<StackKind, ApiError> {
    StackKind::parse(stack.trim_end_matches(".yaml").trim_end_matches(".json"))
        .ok_or_else(|| ApiError(AppError::NotFound(format!("No stack {stack}; use cluster or service"))))
}

fn attachment(filename: &str) -> [(HeaderName, String); 1] {
    [(header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\""))]
}

/// The CloudFormation template of one of the request's stacks, for reviewers and for
/// deploying by hand.
#[utoipa::path(get, path = "/api/v1/requests/{id}/templates/{stack}", tag = "requests", operation_id = "get_request_template",
    params(("id" = String, Path, description = "Request id"), ("stack" = String, Path, description = "cluster or service")),
    responses((status = 200, description = "The template (YAML)", content_type = "text/yaml"), (status = 404, description = "Unknown request or stack")))]
pub async fn template(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path((id, stack)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let files = services::requests::stack_files(&state.services, &actor, &id, stack_kind(&stack)?).await?;
    // Set, not appended: the text body would otherwise keep its own text/plain as well.
    let [disposition] = attachment(&format!("{}.yaml", files.stack.stack_name));
    Ok(([(header::CONTENT_TYPE, "text/yaml; charset=utf-8".to_string()), disposition], files.template))
}

/// The parameter file of one of the request's stacks, as `aws cloudformation create-stack
/// --parameters file://...` reads it.
#[utoipa::path(get, path = "/api/v1/requests/{id}/parameters/{stack}", tag = "requests", operation_id = "get_request_parameters",
    params(("id" = String, Path, description = "Request id"), ("stack" = String, Path, description = "cluster or service")),
    responses((status = 200, description = "[{ParameterKey, ParameterValue}]"), (status = 404, description = "Unknown request or stack")))]
pub async fn parameters(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path((id, stack)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let files = services::requests::stack_files(&state.services, &actor, &id, stack_kind(&stack)?).await?;
    Ok((AppendHeaders(attachment(&format!("{}-parameters.json", files.stack.stack_name))), Json(files.parameter_file())))
}
