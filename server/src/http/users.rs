//! `/api/v1/users`: admins manage accounts.

use super::error::ApiResult;
use super::extract::{ApiJson, AuthUser};
use super::AppState;
use app::backend::Backend;
use app::model::{NewUser, User, UserPatch};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch};
use axum::{Json, Router};

pub fn router() -> Router<AppState> {
    Router::new().route("/users", get(list).post(create)).route("/users/{id}", patch(update))
}

#[utoipa::path(operation_id = "list_users", get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = Vec<User>), (status = 403, description = "Not an admin")))]
pub async fn list(State(state): State<AppState>, AuthUser(actor): AuthUser) -> ApiResult<Json<Vec<User>>> {
    Ok(Json(state.services.list_users(&actor).await?))
}

#[utoipa::path(operation_id = "create_user", post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = User), (status = 403, description = "Not an admin"),
              (status = 409, description = "Username taken"), (status = 422, description = "Invalid fields")))]
pub async fn create(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    ApiJson(new): ApiJson<NewUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    Ok((StatusCode::CREATED, Json(state.services.create_user(&actor, new).await?)))
}

/// Changes an account. A new password, role or team, or disabling, ends the user's
/// sessions and revokes their API tokens.
#[utoipa::path(operation_id = "update_user", patch, path = "/api/v1/users/{id}", tag = "users", request_body = UserPatch,
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = User), (status = 403, description = "Not an admin"),
              (status = 404, description = "No such user"), (status = 409, description = "Would remove the last admin"),
              (status = 422, description = "Invalid fields")))]
pub async fn update(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<UserPatch>,
) -> ApiResult<Json<User>> {
    Ok(Json(state.services.update_user(&actor, &id, patch).await?))
}
