//! `/api/v1/requests/{id}/health` and `/api/v1/dashboard`: deployed APIs' health.

use super::error::ApiResult;
use super::extract::{ApiQuery, AuthUser};
use super::AppState;
use app::backend::Backend;
use app::health::{DashboardFilter, DashboardItem, Health};
use app::model::Page;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};

pub fn router() -> Router<AppState> {
    Router::new().route("/requests/{id}/health", get(health)).route("/dashboard", get(dashboard))
}

#[utoipa::path(get, path = "/api/v1/requests/{id}/health", tag = "health", operation_id = "get_health",
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, body = Health, description = "The service, its tasks, events and targets as last read from AWS (`fetched_at`); asking keeps it refreshed every few seconds for a while"),
              (status = 404, description = "No such request, or not visible to you"),
              (status = 409, description = "The request has no deployed service"),
              (status = 503, description = "AWS did not answer and nothing was read before")))]
pub async fn health(State(state): State<AppState>, AuthUser(actor): AuthUser, Path(id): Path<String>) -> ApiResult<Json<Health>> {
    Ok(Json(state.services.health(&actor, &id).await?))
}

#[utoipa::path(get, path = "/api/v1/dashboard", tag = "health", operation_id = "get_dashboard",
    params(DashboardFilter),
    responses((status = 200, body = Page<DashboardItem>, description = "Every deployed API you may see, with its one-word health from the cache"),
              (status = 422, description = "Unknown verdict or sort, or a forged cursor")))]
pub async fn dashboard(State(state): State<AppState>, AuthUser(actor): AuthUser, ApiQuery(filter): ApiQuery<DashboardFilter>) -> ApiResult<Json<Page<DashboardItem>>> {
    Ok(Json(state.services.dashboard(&actor, &filter).await?))
}
