//! SQL for a request's feed: stack events and deployment status changes, in one sequence.

use super::Db;
use crate::aws::StackEvent;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct EventRow {
    pub seq: i64,
    pub deployment_id: Option<i64>,
    pub kind: String,
    pub event_id: Option<String>,
    pub stack_name: Option<String>,
    pub logical_id: Option<String>,
    pub resource_type: Option<String>,
    pub status: String,
    pub reason: Option<String>,
    pub timestamp: String,
}

const COLUMNS: &str =
    "seq, deployment_id, kind, event_id, stack_name, logical_id, resource_type, status, reason, timestamp";

/// Stores the events not stored yet (oldest first); returns how many were new.
pub async fn insert_stack_events(db: &Db, request_id: i64, deployment_id: i64, events: &[StackEvent]) -> Result<u64, sqlx::Error> {
    let mut tx = super::begin_write(db).await?;
    let mut added = 0;
    for e in events {
        added += sqlx::query(
            "INSERT INTO request_events (request_id, deployment_id, kind, event_id, stack_name, logical_id, resource_type, status, reason, timestamp)
             VALUES (?, ?, 'stack', ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT DO NOTHING",
        )
        .bind(request_id)
        .bind(deployment_id)
        .bind(&e.event_id)
        .bind(&e.stack_name)
        .bind(&e.logical_id)
        .bind(&e.resource_type)
        .bind(&e.status)
        .bind(&e.reason)
        .bind(&e.timestamp)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    tx.commit().await?;
    Ok(added)
}

pub async fn insert_deployment_event(
    db: &Db,
    request_id: i64,
    deployment_id: i64,
    status: &str,
    reason: Option<&str>,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO request_events (request_id, deployment_id, kind, status, reason, timestamp) VALUES (?, ?, 'deployment', ?, ?, ?)",
    )
    .bind(request_id)
    .bind(deployment_id)
    .bind(status)
    .bind(reason)
    .bind(now)
    .execute(db)
    .await
    .map(|_| ())
}

/// The request's feed after `after` (a seq), oldest first; only stack events when `stack_only`.
pub async fn list(db: &Db, request_id: i64, after: i64, stack_only: bool, limit: u32) -> Result<Vec<EventRow>, sqlx::Error> {
    let kind = if stack_only { " AND kind = 'stack'" } else { "" };
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM request_events WHERE request_id = ? AND seq > ?{kind} ORDER BY seq LIMIT ?"
    ))
    .bind(request_id)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The newest stored event of a stack for this request, so polling stops where it left off.
pub async fn newest_event_id(db: &Db, request_id: i64, stack_name: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT event_id FROM request_events WHERE request_id = ? AND stack_name = ? AND kind = 'stack'
         ORDER BY timestamp DESC, seq DESC LIMIT 1",
    )
    .bind(request_id)
    .bind(stack_name)
    .fetch_optional(db)
    .await
}

/// The first failure CloudFormation reported for a stack during a deployment.
pub async fn first_failure(db: &Db, deployment_id: i64, stack_name: &str) -> Result<Option<EventRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM request_events
         WHERE deployment_id = ? AND stack_name = ? AND kind = 'stack' AND status LIKE '%_FAILED'
           AND coalesce(reason, '') NOT LIKE '%cancelled%'
         ORDER BY timestamp, seq LIMIT 1"
    ))
    .bind(deployment_id)
    .bind(stack_name)
    .fetch_optional(db)
    .await
}
