//! `/api/v1/requests`: public APIs asked for by application teams.

use super::error::ApiResult;
use super::extract::{ApiJson, AuthUser};
use super::AppState;
use app::backend::Backend;
use app::model::{ApiRequest, Page, RequestFilter, RequestInput, RequestSummary};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

pub fn router() -> Router<AppState> {
    Router::new().route("/requests", get(list).post(create)).route("/requests/{id}", get(show).put(update))
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
    Query(filter): Query<RequestFilter>,
) -> ApiResult<Json<Page<RequestSummary>>> {
    Ok(Json(state.services.list_requests(&actor, &filter).await?))
}

#[utoipa::path(operation_id = "get_request", get, path = "/api/v1/requests/{id}", tag = "requests",
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, body = ApiRequest), (status = 404, description = "Unknown or not visible")))]
pub async fn show(State(state): State<AppState>, AuthUser(actor): AuthUser, Path(id): Path<String>) -> ApiResult<Json<ApiRequest>> {
    Ok(Json(state.services.get_request(&actor, &id).await?))
}

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
