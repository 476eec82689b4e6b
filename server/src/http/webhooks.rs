//! `/api/v1/webhooks`: delivery state of the configured webhooks (admins).

use super::error::ApiResult;
use super::extract::AuthUser;
use super::AppState;
use app::backend::Backend;
use app::model::WebhookStatus;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

pub fn router() -> Router<AppState> {
    Router::new().route("/webhooks", get(status))
}

#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", operation_id = "webhook_status",
    responses((status = 200, body = WebhookStatus), (status = 403, description = "Not an admin")))]
pub async fn status(State(state): State<AppState>, AuthUser(actor): AuthUser) -> ApiResult<Json<WebhookStatus>> {
    Ok(Json(state.services.webhook_status(&actor).await?))
}
