//! The OpenAPI 3 document, generated from the handlers' annotations so it cannot drift.

use super::AppState;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "Berth API", version = "1", description = "Self-service public APIs on Amazon ECS. Errors are application/problem+json (RFC 9457)."),
    paths(
        super::session::sign_in,
        super::session::sign_out,
        super::session::me,
        super::tokens::list,
        super::tokens::create,
        super::tokens::revoke,
        super::users::list,
        super::users::create,
        super::users::update,
        super::environments::list,
        super::environments::show,
        super::environments::create,
        super::environments::update,
        super::requests::create,
        super::requests::list,
        super::requests::show,
        super::requests::update,
        super::requests::template,
        super::requests::parameters,
        super::review::approve,
        super::review::reject,
        super::review::request_changes,
        super::review::decommission,
        super::review::retry,
        super::review::comments,
        super::review::add_comment,
        super::review::deployments,
        super::review::events,
        super::review::stream,
        super::review::plan,
        super::health::health,
        super::health::dashboard,
        super::webhooks::status,
        super::audit::list,
        super::audit::export,
        super::audit::verify,
        super::probes::healthz,
        super::probes::readyz,
    ),
    tags((name = "session"), (name = "users"), (name = "environments"), (name = "requests"), (name = "review"), (name = "deployments"), (name = "health"), (name = "audit"), (name = "webhooks"), (name = "probes"))
)]
pub struct ApiDoc;

pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
}
