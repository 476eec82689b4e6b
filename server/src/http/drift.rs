//! `/api/v1/requests/{id}/drift`: whether a deployed API's stack was changed behind Berth.

use super::error::ApiResult;
use super::extract::AuthUser;
use super::AppState;
use app::backend::Backend;
use app::model::{ApiRequest, Drift};
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/requests/{id}/drift", get(drift).post(check_drift))
        .route("/requests/{id}/drift/revert", post(revert_drift))
}

#[utoipa::path(get, path = "/api/v1/requests/{id}/drift", tag = "health", operation_id = "get_drift",
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, body = Drift, description = "The last drift check of the API's service stack (`not_checked` before the first): in sync, or which resources and properties differ, expected against actual"),
              (status = 404, description = "No such request, or not visible to you")))]
pub async fn drift(State(state): State<AppState>, AuthUser(actor): AuthUser, Path(id): Path<String>) -> ApiResult<Json<Drift>> {
    Ok(Json(state.services.drift(&actor, &id).await?))
}

#[utoipa::path(post, path = "/api/v1/requests/{id}/drift", tag = "health", operation_id = "check_drift",
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, body = Drift, description = "CloudFormation compared the service stack with its template now (this takes seconds); the answer is kept and audited. A failed comparison is `unknown` with AWS's reason in `error`"),
              (status = 404, description = "No such request, or not visible to you"),
              (status = 409, description = "The request has no deployed stack")))]
pub async fn check_drift(State(state): State<AppState>, AuthUser(actor): AuthUser, Path(id): Path<String>) -> ApiResult<Json<Drift>> {
    Ok(Json(state.services.check_drift(&actor, &id).await?))
}

/// Asks, for review, to bring the API's drifted resources back to its deployed revision.
#[utoipa::path(post, path = "/api/v1/requests/{id}/drift/revert", tag = "health", operation_id = "revert_drift",
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, body = ApiRequest, description = "A new revision with the deployed revision's parameters and `reverts_drift`, pending review; once approved, its deployment sets the drifted properties back to the template (a drift-aware CloudFormation change set). Whoever asked cannot approve it"),
              (status = 403, description = "Neither the request's team nor an approver or admin"),
              (status = 404, description = "No such request, or not visible to you"),
              (status = 409, description = "The API is not deployed, or its last drift check found no drift")))]
pub async fn revert_drift(State(state): State<AppState>, AuthUser(actor): AuthUser, Path(id): Path<String>) -> ApiResult<Json<ApiRequest>> {
    Ok(Json(state.services.revert_drift(&actor, &id).await?))
}
