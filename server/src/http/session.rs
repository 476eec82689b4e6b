//! Sign-in and sign-out for API clients (the UI signs in through a server function that
//! calls the same service), and who am I.

use super::error::ApiResult;
use super::extract::{ApiJson, AuthUser};
use super::AppState;
use app::backend::Backend;
use app::model::User;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new().route("/session", post(sign_in).delete(sign_out)).route("/me", get(me))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Credentials {
    username: String,
    password: String,
}

/// Signs in and sets the session cookie. Wrong credentials get 401 whether or not the user exists.
#[utoipa::path(operation_id = "sign_in", post, path = "/api/v1/session", tag = "session", request_body = Credentials,
    responses((status = 204, description = "Signed in; the session cookie is set"),
              (status = 401, description = "Wrong username or password"),
              (status = 413, description = "A body over 8 KiB"),
              (status = 429, description = "Too many failed sign-ins for this username or from this address; try again after `Retry-After` seconds",
               headers(("Retry-After" = u64, description = "Seconds until the next attempt is judged")))))]
pub async fn sign_in(State(state): State<AppState>, parts: Parts, ApiJson(c): ApiJson<Credentials>) -> ApiResult<StatusCode> {
    state.services.sign_in(&parts, &c.username, &c.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(operation_id = "sign_out", delete, path = "/api/v1/session", tag = "session",
    responses((status = 204, description = "Signed out; the session is deleted on the server")))]
pub async fn sign_out(State(state): State<AppState>, parts: Parts) -> ApiResult<StatusCode> {
    state.services.sign_out(&parts).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(operation_id = "me", get, path = "/api/v1/me", tag = "session",
    responses((status = 200, body = User), (status = 401, description = "Not signed in")))]
pub async fn me(AuthUser(user): AuthUser) -> Json<User> {
    Json(user)
}
