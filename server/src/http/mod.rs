//! The HTTP face of Berth: the map of every route.
//!
//! - `pages`: the Leptos UI (server-rendered pages, server functions, static files).
//! - `session`: sign-in and sign-out for API clients, and `/me`; `tokens`: API tokens.
//! - `security`: response headers (CSP and friends) and cross-site request refusal.
//! - `users`, `environments`, `requests`, `audit`: the JSON API v1 resources.
//! - `review`: decisions, comments, deployments, stack events (and their live stream), plans.
//! - `health`: deployed APIs' health, per request and on the dashboard.
//! - `webhooks`: delivery state of the webhook notifications.
//! - `openapi`: the OpenAPI document, generated from these handlers.
//! - `probes`: `/healthz` and `/readyz`.
//! - `error`, `extract`: the one mapping of errors to problem+json, and the extractors.

pub mod audit;
pub mod environments;
pub mod error;
pub mod extract;
pub mod health;
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
        .merge(webhooks::router())
        .merge(openapi::router());
    Router::new()
        .nest("/api/v1", api)
        .merge(probes::router())
        .merge(pages::router(&state))
        .layer(axum::middleware::from_fn(security::csrf))
        .layer(sessions)
        .layer(axum::middleware::from_fn(security::body_limit))
        .layer(axum::extract::DefaultBodyLimit::max(1024 * 1024))
        .layer(axum::middleware::from_fn(security::headers))
        // Pages, JSON and the 2 MB wasm shrink to a third or less; event streams are left alone.
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
