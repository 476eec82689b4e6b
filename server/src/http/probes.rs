//! Liveness and readiness for load balancers and orchestrators.

use super::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

#[utoipa::path(operation_id = "healthz", get, path = "/healthz", tag = "probes", responses((status = 200, description = "The process serves")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready once the database answers; migrations ran before the server started listening.
#[utoipa::path(operation_id = "readyz", get, path = "/readyz", tag = "probes",
    responses((status = 200, description = "Database migrated and reachable"), (status = 503, description = "Database unreachable")))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match crate::db::ping(&state.services.db).await {
        Ok(_) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "database not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
    }
}
