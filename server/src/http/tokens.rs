//! `/api/v1/tokens`: personal API tokens for scripts (`Authorization: Bearer <token>`).

use super::error::ApiResult;
use super::extract::{ApiJson, AuthUser};
use super::AppState;
use app::backend::Backend;
use app::model::{ApiToken, CreatedToken, NewToken};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};

pub fn router() -> Router<AppState> {
    Router::new().route("/tokens", get(list).post(create)).route("/tokens/{id}", delete(revoke))
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "session", operation_id = "list_tokens",
    responses((status = 200, body = Vec<ApiToken>, description = "Your tokens, revoked ones included; never the secrets")))]
pub async fn list(State(state): State<AppState>, AuthUser(actor): AuthUser) -> ApiResult<Json<Vec<ApiToken>>> {
    Ok(Json(state.services.list_tokens(&actor).await?))
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "session", operation_id = "create_token", request_body = NewToken,
    responses((status = 201, body = CreatedToken, description = "The token, shown this once; it acts as you, with your role, until `expires_at`"),
              (status = 403, description = "Sent with an API token: only a signed-in session creates tokens"),
              (status = 422, description = "Missing or too long name, or a lifetime beyond the maximum")))]
pub async fn create(State(state): State<AppState>, AuthUser(actor): AuthUser, ApiJson(new): ApiJson<NewToken>) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    Ok((StatusCode::CREATED, Json(state.services.create_token(&actor, new).await?)))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "session", operation_id = "revoke_token",
    params(("id" = String, Path, description = "Token id")),
    responses((status = 204, description = "Revoked: it no longer signs anyone in"),
              (status = 404, description = "No such token of yours")))]
pub async fn revoke(State(state): State<AppState>, AuthUser(actor): AuthUser, Path(id): Path<String>) -> ApiResult<StatusCode> {
    state.services.revoke_token(&actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
