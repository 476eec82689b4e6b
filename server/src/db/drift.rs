//! SQL for drift checks: the last one of each live API's service stack.

use super::Db;
use app::model::{Drift, DriftStatus};
use std::collections::HashMap;

#[derive(sqlx::FromRow)]
struct DriftRow {
    stack_name: String,
    status: String,
    resources: String,
    error: Option<String>,
    checked_at: String,
}

pub async fn get(db: impl sqlx::SqliteExecutor<'_>, request: i64) -> Result<Option<Drift>, sqlx::Error> {
    let row: Option<DriftRow> = sqlx::query_as("SELECT stack_name, status, resources, error, checked_at FROM drift_checks WHERE request_id = ?")
        .bind(request)
        .fetch_optional(db)
        .await?;
    Ok(row.map(|r| Drift {
        stack_name: r.stack_name,
        status: DriftStatus::parse(&r.status).unwrap_or(DriftStatus::Unknown),
        resources: serde_json::from_str(&r.resources).unwrap_or_default(),
        error: r.error,
        checked_at: Some(r.checked_at),
    }))
}

/// Keeps `drift` as the request's last check.
pub async fn record(db: &Db, request: i64, drift: &Drift, at: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO drift_checks (request_id, stack_name, status, resources, error, checked_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (request_id) DO UPDATE SET stack_name = excluded.stack_name, status = excluded.status,
             resources = excluded.resources, error = excluded.error, checked_at = excluded.checked_at",
    )
    .bind(request)
    .bind(&drift.stack_name)
    .bind(drift.status.as_str())
    .bind(serde_json::to_string(&drift.resources).expect("resources serialize"))
    .bind(&drift.error)
    .bind(at)
    .execute(db)
    .await
    .map(|_| ())
}

/// The live API checked longest ago (or never), if its last check is older than `before`
/// or than its last successful deployment (which may have changed what drifted: a
/// deployment that reverts drift is checked again at once).
pub async fn next_due(db: &Db, before: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT r.id FROM requests r LEFT JOIN drift_checks d ON d.request_id = r.id
         WHERE {} AND (d.checked_at IS NULL OR d.checked_at < ?
                       OR d.checked_at < (SELECT MAX(x.finished_at) FROM deployments x WHERE x.request_id = r.id AND x.status = 'succeeded'))
         ORDER BY d.checked_at IS NOT NULL, d.checked_at, r.id LIMIT 1",
        super::requests::LIVE
    ))
    .bind(before)
    .fetch_optional(db)
    .await
}

/// The last verdicts of the requests `ids` (those never checked are absent).
pub async fn statuses(db: &Db, ids: &[i64]) -> Result<HashMap<i64, DriftStatus>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, String)> = super::where_in("SELECT request_id, status FROM drift_checks WHERE request_id", ids).build_query_as().fetch_all(db).await?;
    Ok(rows.into_iter().map(|(id, status)| (id, DriftStatus::parse(&status).unwrap_or(DriftStatus::Unknown))).collect())
}
