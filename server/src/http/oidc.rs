//! The browser's way through single sign-on: `/auth/oidc/start` sends it to the provider,
//! `/auth/oidc/callback` is where the provider sends it back. Pages, not JSON API: a
//! failure goes back to the sign-in page with the reason shown there.

use super::AppState;
use crate::services::oidc;
use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new().route("/auth/oidc/start", get(start)).route("/auth/oidc/callback", get(callback))
}

#[derive(Deserialize)]
struct Start {
    next: Option<String>,
}

async fn start(State(state): State<AppState>, parts: Parts, Query(q): Query<Start>) -> Response {
    match oidc::start(&state.services, &parts, q.next.as_deref().unwrap_or("/requests")).await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => back_to_sign_in(&app::error::AppError::from(e).to_string()),
    }
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(State(state): State<AppState>, parts: Parts, Query(q): Query<Callback>) -> Response {
    let error = q.error.as_deref().map(|e| q.error_description.as_deref().map_or(e.to_string(), |d| format!("{e}: {d}")));
    match oidc::finish(&state.services, &parts, q.code.as_deref(), q.state.as_deref(), error.as_deref()).await {
        Ok(next) => Redirect::to(&next).into_response(),
        Err(e) => back_to_sign_in(&app::error::AppError::from(e).to_string()),
    }
}

/// The sign-in page, saying why single sign-on did not sign the user in.
fn back_to_sign_in(message: &str) -> Response {
    let query: String = url::form_urlencoded::Serializer::new(String::new()).append_pair("error", message).finish();
    Redirect::to(&format!("/login?{query}")).into_response()
}
