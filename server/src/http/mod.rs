//! The HTTP face of Berth: the map of every route.
//!
//! - `pages`: the Leptos UI (server-rendered pages, server functions, static files).
//! - `session`: sign-in and sign-out for API clients, and `/me`; `tokens`: API tokens.
//! - `security`: response headers (CSP and friends) and cross-site request refusal.
//! - `users`, `environments`, `requests`, `audit`: the JSON API v1 resources.
//! - `review`: decisions, comments, deployments, stack events (and their live stream), plans.
//! - `health`: deployed APIs' health, per request and on the dashboard.
//! - `drift`: whether a deployed API's stack was changed behind Berth (CloudFormation drift detection).
//! - `webhooks`: delivery state of the webhook notifications.
//! - `openapi`: the OpenAPI document, generated from these handlers.
//! - `probes`: `/healthz` and `/readyz`.
//! - `error`, `extract`: the one mapping of errors to problem+json, and the extractors.

pub mod audit;
pub mod environments;
pub mod error;
pub mod extract;
pub mod drift;
pub mod health;
pub mod oidc;
pub mod openapi;
pub mod pages;
pub mod probes;
pub mod requests;
pub mod review;
pub mod security;
pub mod session;
pub mod tokens;
pub mod users;
pub mod webhooks;

use crate::services::Services;
use axum::extract::FromRef;
use axum::Router;
use leptos::prelude::LeptosOptions;
use std::sync::Arc;
use time::Duration;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::SqliteStore;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub services: Arc<Services>,
    pub leptos: LeptosOptions,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

pub const SESSION_COOKIE: &str = "berth_session";

/// Gives each HTTP request an id: the caller's `X-Request-Id` when it is a plain token of
/// at most 64 characters (a proxy's, say), else a new random one. Sent back on the response
/// and carried by every log line of the request.
async fn request_id(mut request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let given = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).filter(|v| {
        !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    });
    let id = given.map_or_else(|| hex::encode(rand::random::<[u8; 8]>()), str::to_string);
    // The request's span, made here so that the service layer can name the user on it
    // (`record`) whatever spans the layers in between enter.
    let span = tracing::info_span!(
        "request",
        id = %id,
        method = %request.method(),
        path = %request.uri().path(),
        user = tracing::field::Empty
    );
    request.extensions_mut().insert(span);
    let mut response = next.run(request).await;
    if let Ok(value) = axum::http::HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// The span of one request, made by `request_id`: its id, method and path (not the query:
/// it may hold what a user typed); `user` is filled in once the caller is known.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    request.extensions().get::<tracing::Span>().cloned().unwrap_or_else(tracing::Span::none)
}

pub fn router(state: AppState, store: SqliteStore) -> Router {
    let config = &state.services.config;
    let sessions = SessionManagerLayer::new(store)
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(config.secure_cookies())
        .with_expiry(Expiry::OnInactivity(Duration::minutes(config.session_idle_minutes)));
    let api = Router::new()
        .merge(session::router())
        .merge(tokens::router())
        .merge(users::router())
        .merge(environments::router())
        .merge(requests::router())
        .merge(review::router())
        .merge(audit::router())
        .merge(health::router())
        .merge(drift::router())
        .merge(webhooks::router())
        .merge(openapi::router());
    Router::new()
        .nest("/api/v1", api)
        .merge(probes::router())
        .merge(oidc::router())
        .merge(pages::router(&state))
        // Per route template, so only routed requests (route_layer sees the matched path).
        .route_layer(axum::middleware::from_fn(crate::metrics::http))
        .layer(axum::middleware::from_fn(security::csrf))
        .layer(sessions)
        .layer(axum::middleware::from_fn(security::body_limit))
        .layer(axum::extract::DefaultBodyLimit::max(1024 * 1024))
        .layer(axum::middleware::from_fn(security::headers))
        // Pages, JSON and the 2 MB wasm shrink to a third or less; event streams are left alone.
        .layer(tower_http::compression::CompressionLayer::new())
        // One line per answered request (status, latency), at info: an operator's access log.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(axum::middleware::from_fn(request_id))
        .with_state(state)
}
