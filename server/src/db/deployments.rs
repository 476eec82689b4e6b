//! SQL for deployment jobs and what they did to each stack.

use super::{Db, Tx};
use sqlx::SqliteExecutor;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DeploymentRow {
    pub id: i64,
    pub request_id: i64,
    pub revision: i64,
    pub kind: String,
    pub status: String,
    pub error: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// What the approval pinned (`deploy::pin`); None for decommissioning and older jobs.
    pub approved_digest: Option<String>,
    pub approved_stacks: Option<String>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StackRow {
    pub deployment_id: i64,
    pub kind: String,
    pub stack_name: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub started_at: String,
}

const COLUMNS: &str = "id, request_id, revision, kind, status, error, created_at, started_at, finished_at, approved_digest, approved_stacks";

/// Queues a job; `approved` is the pinned (digest, stacks JSON) of a deploy.
pub async fn insert(tx: &mut Tx, request_id: i64, revision: i64, kind: &str, approved: Option<(&str, &str)>, now: &str) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO deployments (request_id, revision, kind, status, created_at, approved_digest, approved_stacks)
         VALUES (?, ?, ?, 'pending', ?, ?, ?)",
    )
        .bind(request_id)
        .bind(revision)
        .bind(kind)
        .bind(now)
        .bind(approved.map(|a| a.0))
        .bind(approved.map(|a| a.1))
        .execute(&mut **tx)
        .await
        .map(|r| r.last_insert_rowid())
}

pub async fn get(db: impl SqliteExecutor<'_>, id: i64) -> Result<Option<DeploymentRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM deployments WHERE id = ?")).bind(id).fetch_optional(db).await
}

/// Jobs the worker has to (re)start: never started, or interrupted by a restart.
pub async fn unfinished(db: &Db) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM deployments WHERE status IN ('pending', 'running') ORDER BY id").fetch_all(db).await
}

/// How many jobs wait or run, and when the oldest of them was queued.
pub async fn queue(db: &Db) -> Result<(i64, Option<String>), sqlx::Error> {
    sqlx::query_as("SELECT count(*), min(created_at) FROM deployments WHERE status IN ('pending', 'running')").fetch_one(db).await
}

/// Whether the request has a job in flight (one at a time per request).
pub async fn in_flight(tx: &mut Tx, request_id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar::<_, i64>("SELECT count(*) FROM deployments WHERE request_id = ? AND status IN ('pending', 'running')")
        .bind(request_id)
        .fetch_one(&mut **tx)
        .await
        .map(|n| n > 0)
}

pub async fn latest(db: impl SqliteExecutor<'_>, request_id: i64) -> Result<Option<DeploymentRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM deployments WHERE request_id = ? ORDER BY id DESC LIMIT 1"))
        .bind(request_id)
        .fetch_optional(db)
        .await
}

pub async fn mark_running(tx: &mut Tx, id: i64, now: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE deployments SET status = 'running', started_at = coalesce(started_at, ?) WHERE id = ?")
        .bind(now)
        .bind(id)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

/// Claims an unfinished job for `owner` until `expires`, unless another owner's lease on it
/// is still running. `true` when the job is now `owner`'s. One statement, so two processes
/// claiming at once cannot both win.
pub async fn claim(db: &Db, id: i64, owner: &str, now: &str, expires: &str) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "UPDATE deployments SET lease_owner = ?, lease_expires_at = ?
         WHERE id = ? AND status IN ('pending', 'running')
           AND (lease_owner IS NULL OR lease_owner = ? OR lease_expires_at < ?)",
    )
    .bind(owner)
    .bind(expires)
    .bind(id)
    .bind(owner)
    .bind(now)
    .execute(db)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// Extends `owner`'s lease; `false` when the job is no longer theirs (finished, or taken
/// over after the lease expired).
pub async fn renew(db: &Db, id: i64, owner: &str, expires: &str) -> Result<bool, sqlx::Error> {
    sqlx::query("UPDATE deployments SET lease_expires_at = ? WHERE id = ? AND lease_owner = ? AND status IN ('pending', 'running')")
        .bind(expires)
        .bind(id)
        .bind(owner)
        .execute(db)
        .await
        .map(|r| r.rows_affected() == 1)
}

/// Hands an unfinished job back so another process can take it at once.
pub async fn release(db: &Db, id: i64, owner: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE deployments SET lease_owner = NULL, lease_expires_at = NULL WHERE id = ? AND lease_owner = ?")
        .bind(id)
        .bind(owner)
        .execute(db)
        .await
        .map(|_| ())
}

pub async fn finish(tx: &mut Tx, id: i64, status: &str, error: Option<&str>, now: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE deployments SET status = ?, error = ?, finished_at = ?, lease_owner = NULL, lease_expires_at = NULL WHERE id = ?")
        .bind(status)
        .bind(error)
        .bind(now)
        .bind(id)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

pub async fn list(db: &Db, request_id: i64) -> Result<Vec<DeploymentRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM deployments WHERE request_id = ? ORDER BY id DESC"))
        .bind(request_id)
        .fetch_all(db)
        .await
}

pub async fn stacks(db: &Db, request_id: i64) -> Result<Vec<StackRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.deployment_id, s.kind, s.stack_name, s.status, s.status_reason, s.started_at
         FROM deployment_stacks s JOIN deployments d ON d.id = s.deployment_id
         WHERE d.request_id = ? ORDER BY s.deployment_id, s.kind",
    )
    .bind(request_id)
    .fetch_all(db)
    .await
}

pub async fn stack(db: &Db, deployment_id: i64, kind: &str) -> Result<Option<StackRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT deployment_id, kind, stack_name, status, status_reason, started_at FROM deployment_stacks
         WHERE deployment_id = ? AND kind = ?",
    )
    .bind(deployment_id)
    .bind(kind)
    .fetch_optional(db)
    .await
}

/// Records the step's phase or outcome; `started_at` is kept from the first record.
pub async fn record_stack(
    db: &Db,
    deployment_id: i64,
    kind: &str,
    stack_name: &str,
    status: &str,
    reason: Option<&str>,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO deployment_stacks (deployment_id, kind, stack_name, status, status_reason, started_at)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (deployment_id, kind) DO UPDATE SET status = excluded.status, status_reason = excluded.status_reason",
    )
    .bind(deployment_id)
    .bind(kind)
    .bind(stack_name)
    .bind(status)
    .bind(reason)
    .bind(now)
    .execute(db)
    .await
    .map(|_| ())
}

/// Whether an earlier deployment of this Berth (not `except`) acted on the stack for this
/// environment (and this request, for a service stack): how a stack created before
/// stacks carried an owner tag is recognised as Berth's own.
// Numbered placeholders throughout: sqlx numbers a bare `?` after `?4` as the 4th argument
// again (SQLite would make it the 5th), which compared `d.id` with the request and found
// nothing.
pub async fn created_before(
    db: &Db,
    stack_name: &str,
    kind: &str,
    environment: &str,
    request: Option<i64>,
    except: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM deployment_stacks s
         JOIN deployments d ON d.id = s.deployment_id
         JOIN requests r ON r.id = d.request_id
         WHERE s.stack_name = ?1 AND s.kind = ?2 AND r.environment = ?3 AND (?4 IS NULL OR d.request_id = ?4) AND d.id != ?5
           AND s.status NOT IN ('PENDING', 'NOT_OWNED')",
    )
    .bind(stack_name)
    .bind(kind)
    .bind(environment)
    .bind(request)
    .bind(except)
    .fetch_one(db)
    .await
    .map(|n| n > 0)
}
