//! `/api/v1/requests/{id}/…`: decisions, comments, decommissioning, retries, deployments,
//! stack events (listed and streamed live) and the plan.

use super::error::ApiResult;
use super::extract::{ApiJson, ApiQuery, AuthUser};
use super::AppState;
use crate::services;
use app::backend::Backend;
use app::model::*;
use axum::extract::{Path, State};
use app::error::AppError;
use axum::http::request::Parts;
use std::time::{Duration, Instant};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::Stream;
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use tokio::sync::broadcast::error::RecvError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/requests/{id}/approve", post(approve))
        .route("/requests/{id}/reject", post(reject))
        .route("/requests/{id}/request-changes", post(request_changes))
        .route("/requests/{id}/decommission", post(decommission))
        .route("/requests/{id}/retry", post(retry))
        .route("/requests/{id}/comments", get(comments).post(add_comment))
        .route("/requests/{id}/deployments", get(deployments))
        .route("/requests/{id}/events", get(events))
        .route("/requests/{id}/events/stream", get(stream))
        .route("/requests/{id}/plan", get(plan))
}

type Id = Path<String>;

#[utoipa::path(post, path = "/api/v1/requests/{id}/approve", tag = "review", operation_id = "approve_request", request_body = ApproveBody,
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, body = ApiRequest, description = "Approved; the deployment is queued"),
              (status = 403, description = "Not an approver, or your own request (four eyes)"),
              (status = 404, description = "Unknown or not visible"),
              (status = 409, description = "Stale revision or already decided"), (status = 422, description = "Comment too long, or a field of the wrong type")))]
pub async fn approve(State(state): State<AppState>, AuthUser(actor): AuthUser, Path(id): Id, ApiJson(b): ApiJson<ApproveBody>) -> ApiResult<Json<ApiRequest>> {
    Ok(Json(state.services.decide(&actor, &id, Decision::Approve { revision: b.revision, comment: b.comment }).await?))
}

#[utoipa::path(post, path = "/api/v1/requests/{id}/reject", tag = "review", operation_id = "reject_request", request_body = RejectBody,
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, body = ApiRequest), (status = 403, description = "Not allowed"), (status = 404, description = "Unknown or not visible"),
              (status = 409, description = "Stale revision or already decided"), (status = 422, description = "Reason missing")))]
pub async fn reject(State(state): State<AppState>, AuthUser(actor): AuthUser, Path(id): Id, ApiJson(b): ApiJson<RejectBody>) -> ApiResult<Json<ApiRequest>> {
    Ok(Json(state.services.decide(&actor, &id, Decision::Reject { reason: b.reason, revision: b.revision }).await?))
}

#[utoipa::path(post, path = "/api/v1/requests/{id}/request-changes", tag = "review", operation_id = "request_changes", request_body = CommentBody,
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, body = ApiRequest), (status = 403, description = "Not allowed"), (status = 404, description = "Unknown or not visible"),
              (status = 409, description = "Stale revision or already decided"), (status = 422, description = "Comment missing")))]
pub async fn request_changes(State(state): State<AppState>, AuthUser(actor): AuthUser, Path(id): Id, ApiJson(b): ApiJson<CommentBody>) -> ApiResult<Json<ApiRequest>> {
    Ok(Json(state.services.decide(&actor, &id, Decision::RequestChanges { comment: b.comment, revision: b.revision }).await?))
}

#[utoipa::path(post, path = "/api/v1/requests/{id}/decommission", tag = "review", operation_id = "decommission_request",
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, body = ApiRequest, description = "Awaiting review"), (status = 403, description = "Not the request's team"),
              (status = 404, description = "Unknown or not visible"), (status = 409, description = "Not deployed")))]
pub async fn decommission(State(state): State<AppState>, AuthUser(actor): AuthUser, Path(id): Id) -> ApiResult<Json<ApiRequest>> {
    Ok(Json(state.services.decommission(&actor, &id).await?))
}

#[utoipa::path(post, path = "/api/v1/requests/{id}/retry", tag = "review", operation_id = "retry_deployment",
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, body = ApiRequest, description = "The failed deployment runs again"), (status = 403, description = "Not the request's team"),
              (status = 404, description = "Unknown or not visible"), (status = 409, description = "Nothing failed")))]
pub async fn retry(State(state): State<AppState>, AuthUser(actor): AuthUser, Path(id): Id) -> ApiResult<Json<ApiRequest>> {
    Ok(Json(state.services.retry(&actor, &id).await?))
}

#[utoipa::path(get, path = "/api/v1/requests/{id}/comments", tag = "review", operation_id = "list_comments",
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, body = Vec<Note>), (status = 404, description = "Unknown or not visible")))]
pub async fn comments(State(state): State<AppState>, AuthUser(actor): AuthUser, Path(id): Id) -> ApiResult<Json<Vec<Note>>> {
    Ok(Json(state.services.conversation(&actor, &id).await?))
}

#[utoipa::path(post, path = "/api/v1/requests/{id}/comments", tag = "review", operation_id = "add_comment", request_body = CommentBody,
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, body = Note), (status = 403, description = "Not the request's team"),
              (status = 404, description = "Unknown or not visible"), (status = 422, description = "Empty comment")))]
pub async fn add_comment(State(state): State<AppState>, AuthUser(actor): AuthUser, Path(id): Id, ApiJson(b): ApiJson<CommentBody>) -> ApiResult<Json<Note>> {
    Ok(Json(state.services.comment(&actor, &id, &b.comment).await?))
}

#[utoipa::path(get, path = "/api/v1/requests/{id}/deployments", tag = "deployments", operation_id = "list_deployments",
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, body = Vec<Deployment>), (status = 404, description = "Unknown or not visible")))]
pub async fn deployments(State(state): State<AppState>, AuthUser(actor): AuthUser, Path(id): Id) -> ApiResult<Json<Vec<Deployment>>> {
    Ok(Json(state.services.deployments(&actor, &id).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct After {
    /// A cursor from an earlier answer: only newer events.
    after: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/requests/{id}/events", tag = "deployments", operation_id = "list_stack_events",
    params(("id" = String, Path, description = "Request id"), After),
    responses((status = 200, body = EventPage), (status = 404, description = "Unknown or not visible"),
              (status = 422, description = "A cursor Berth did not give out")))]
pub async fn events(State(state): State<AppState>, AuthUser(actor): AuthUser, Path(id): Id, ApiQuery(q): ApiQuery<After>) -> ApiResult<Json<EventPage>> {
    Ok(Json(state.services.events(&actor, &id, q.after.as_deref()).await?))
}

#[utoipa::path(get, path = "/api/v1/requests/{id}/plan", tag = "review", operation_id = "get_plan",
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, body = Plan), (status = 404, description = "Unknown or not visible"),
              (status = 409, description = "CloudFormation could not compute a change set"),
              (status = 503, description = "AWS did not answer")))]
pub async fn plan(State(state): State<AppState>, AuthUser(actor): AuthUser, Path(id): Id) -> ApiResult<Json<Plan>> {
    Ok(Json(state.services.plan(&actor, &id).await?))
}

/// Server-Sent Events: one `stack` event per stack event and one `deployment` event per
/// deployment status change, with the feed cursor as the event id, so a reconnecting
/// browser (which sends `Last-Event-ID`) gets exactly what it missed. Rows come from
/// SQLite; the broadcast only says when to look, so one poller per stack serves any
/// number of viewers. The stream ends when the session or token that opened it ends, or
/// its user may no longer see the request (checked at least every `RECHECK`); a user has
/// a bounded number of streams open at once.
#[utoipa::path(get, path = "/api/v1/requests/{id}/events/stream", tag = "deployments", operation_id = "stream_events",
    params(("id" = String, Path, description = "Request id"), ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event")),
    responses((status = 200, description = "text/event-stream of FeedItem", content_type = "text/event-stream"),
              (status = 404, description = "Unknown or not visible"),
              (status = 429, description = "You already have as many streams open as one user may")))]
pub async fn stream(
    State(state): State<AppState>,
    AuthUser(actor): AuthUser,
    Path(id): Id,
    parts: Parts,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let request = state.services.get_request(&actor, &id).await?;
    let request_id: i64 = request.id.parse().expect("ids are integers");
    let credential = services::auth::credential(&parts).await?.ok_or(AppError::Unauthorized)?;
    let slot = state.services.streams.take(&actor.id).ok_or(AppError::TooManyRequests { retry_after_secs: 10 })?;
    let last = parts.headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
    let receiver = state.services.feed.subscribe();
    let watch = Watch { services: state.services.clone(), credential, request: id, checked: Instant::now(), _slot: slot };
    let start = (watch, receiver, last, VecDeque::<(i64, FeedItem)>::new());
    let events = futures::stream::unfold(start, move |(mut watch, mut receiver, mut last, mut buffer)| async move {
        loop {
            if let Some((seq, item)) = buffer.pop_front() {
                let name = match &item {
                    FeedItem::Stack(_) => "stack",
                    FeedItem::Deployment { .. } => "deployment",
                };
                let event = Event::default().id(seq.to_string()).event(name).json_data(&item).expect("feed items serialize");
                return Some((Ok(event), (watch, receiver, last, buffer)));
            }
            match services::deployments::feed(&watch.services, request_id, last).await {
                Ok(items) if !items.is_empty() => {
                    last = items.last().map(|(seq, _)| *seq).unwrap_or(last);
                    buffer.extend(items);
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reading the feed failed"),
            }
            loop {
                let woken = tokio::select! {
                    received = receiver.recv() => match received {
                        Ok(id) => id == request_id,
                        Err(RecvError::Lagged(_)) => true,
                        Err(RecvError::Closed) => return None,
                    },
                    _ = tokio::time::sleep(RECHECK) => false,
                };
                if !watch.still_allowed().await {
                    return None;
                }
                if woken {
                    break;
                }
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// How often an open stream checks that its viewer may still see it.
const RECHECK: Duration = Duration::from_secs(5);

/// What an open stream keeps to judge whether its viewer may still watch.
struct Watch {
    services: std::sync::Arc<services::Services>,
    credential: services::auth::Credential,
    request: String,
    checked: Instant,
    _slot: services::limits::Slot,
}

impl Watch {
    /// Whether the credential still signs someone in who may see the request; asked of
    /// the database at most once per `RECHECK`.
    async fn still_allowed(&mut self) -> bool {
        if self.checked.elapsed() < RECHECK {
            return true;
        }
        self.checked = Instant::now();
        match services::auth::still_signed_in(&self.services, &self.credential).await {
            Ok(Some(user)) => services::requests::get(&self.services, &user, &self.request).await.is_ok(),
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(error = %e, "checking a stream's viewer failed");
                true
            }
        }
    }
}
