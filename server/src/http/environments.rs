//! `/api/v1/environments`: the cluster stacks requests deploy into.

use super::error::ApiResult;
use super::extract::AuthUser;
use super::AppState;
use app::backend::Backend;
use app::model::Environment;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};

pub fn router() -> Router<AppState> {
    Router::new().route("/environments", get(list)).route("/environments/{name}", get(show))
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
