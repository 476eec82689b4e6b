//! `/api/v1/audit`: the audit log, page by page or streamed whole, and the state of its
//! hash chain.

use super::error::ApiResult;
use super::extract::{ApiQuery, AuthUser};
use super::AppState;
use crate::services;
use app::backend::Backend;
use app::model::{AuditEntry, AuditFilter, ChainStatus, Page};
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use app::error::AppError;
use futures::StreamExt;
use std::time::Duration;

/// How long an export waits for its reader to take the next rows.
const SLOW_READER: Duration = Duration::from_secs(30);
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/audit", get(list))
        .route("/audit/export", get(export))
        .route("/audit/verify", get(verify))
}

/// A page of the audit log, newest first.
///
/// Approvers and admins see every row; requesters see their own actions and the rows about
/// their team's requests.
#[utoipa::path(operation_id = "list_audit", get, path = "/api/v1/audit", tag = "audit", params(AuditFilter),
    responses((status = 200, body = Page<AuditEntry>), (status = 401, description = "Not signed in"),
              (status = 422, description = "Bad filter, limit or cursor; one `errors[]` entry per parameter")))]
pub async fn list(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    ApiQuery(filter): ApiQuery<AuditFilter>,
) -> ApiResult<Json<Page<AuditEntry>>> {
    Ok(Json(state.services.list_audit(&actor, &filter).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportFormatParam {
    /// `json` (the default) or `csv`.
    format: Option<String>,
}

/// The whole selection as a file, streamed as it is read.
///
/// Same filters and visibility as the list (`limit` and `cursor` do not apply), oldest
/// first. JSON: an array of the list's items. CSV: a header line, then one line per row
/// with `details` as JSON; a cell that a spreadsheet would run as a formula (starting with
/// `=`, `+`, `-` or `@`) is prefixed with `'`.
#[utoipa::path(operation_id = "export_audit", get, path = "/api/v1/audit/export", tag = "audit", params(ExportFormatParam, AuditFilter),
    responses((status = 200, description = "An attachment: a JSON array of audit entries, or CSV",
               content((Vec<AuditEntry> = "application/json"), (String = "text/csv"))),
              (status = 401, description = "Not signed in"),
              (status = 422, description = "Bad filter or format; one `errors[]` entry per parameter"),
              (status = 429, description = "You already run as many exports as one user may at once")))]
pub async fn export(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    ApiQuery(filter): ApiQuery<AuditFilter>,
    ApiQuery(ExportFormatParam { format }): ApiQuery<ExportFormatParam>,
) -> ApiResult<impl IntoResponse> {
    let slot = state.services.exports.take(&actor.id).ok_or(AppError::TooManyRequests { retry_after_secs: 10 })?;
    let (format, chunks) = services::audit::export(&state.services, &actor, &filter, format.as_deref())?;
    // The rows are read by a task of their own and handed over a short queue: a reader
    // that stops taking them is cut off after SLOW_READER, which gives the database
    // connection back, instead of pinning it for as long as the client likes. Once the
    // first bytes are out the status cannot change any more: a failure cuts the response
    // short, which the client sees as an incomplete download.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(4);
    tokio::spawn(async move {
        let _slot = slot;
        let mut chunks = std::pin::pin!(chunks);
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| {
                tracing::error!(error = %e, "audit export cut short");
                std::io::Error::other("the audit export failed")
            });
            let failed = chunk.is_err();
            if tx.send_timeout(chunk, SLOW_READER).await.is_err() {
                tracing::warn!("an audit export's reader took no data for {SLOW_READER:?}; cut off");
                break;
            }
            if failed {
                break;
            }
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let filename = format!("berth-audit-{}.{}", crate::db::now().replace(':', ""), format.extension());
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
        ],
        body,
    ))
}

/// The state of the hash chain, recomputed from the first row. Admins only.
#[utoipa::path(operation_id = "verify_audit", get, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, body = ChainStatus, description = "Intact, or the first row that does not check out"),
              (status = 401, description = "Not signed in"), (status = 403, description = "Not an admin")))]
pub async fn verify(State(state): State<AppState>, AuthUser(actor): AuthUser) -> ApiResult<Json<ChainStatus>> {
    Ok(Json(state.services.verify_audit(&actor).await?))
}
