//! `/api/v1/requests/{id}/drift`: whether a deployed API's stack was changed behind Berth.

use super::error::ApiResult;
use super::extract::AuthUser;
use super::AppState;
use app::backend::Backend;
use app::model::Drift;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};

pub fn router() -> Router<AppState> {
    Router::new().route("/requests/{id}/drift", get(drift).post(check_drift))
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
