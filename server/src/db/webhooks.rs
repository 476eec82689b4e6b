//! SQL for the webhook outbox, each URL's cursor and the deliveries given up.

use super::Db;

#[derive(sqlx::FromRow)]
pub struct EventRow {
    pub id: i64,
    pub payload: String,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct FailureRow {
    pub id: i64,
    pub url: String,
    pub event_id: i64,
    pub attempts: i64,
    pub error: String,
    pub failed_at: String,
}

/// Where `url` has read up to; a URL seen for the first time starts at the newest event, so
/// adding a webhook does not replay history.
pub async fn cursor(db: &Db, url: &str) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_cursors (url, last_event_id) SELECT ?, coalesce(max(id), 0) FROM webhook_events WHERE true
         ON CONFLICT (url) DO NOTHING",
    )
    .bind(url)
    .execute(db)
    .await?;
    sqlx::query_scalar("SELECT last_event_id FROM webhook_cursors WHERE url = ?").bind(url).fetch_one(db).await
}

pub async fn advance(db: &Db, url: &str, event_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE webhook_cursors SET last_event_id = ? WHERE url = ?").bind(event_id).bind(url).execute(db).await.map(|_| ())
}

pub async fn next_event(db: &Db, after: i64) -> Result<Option<EventRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, payload FROM webhook_events WHERE id > ? ORDER BY id LIMIT 1").bind(after).fetch_optional(db).await
}

pub async fn record_failure(db: &Db, url: &str, event_id: i64, attempts: u32, error: &str, now: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO webhook_failures (url, event_id, attempts, error, failed_at) VALUES (?, ?, ?, ?, ?)")
        .bind(url)
        .bind(event_id)
        .bind(attempts)
        .bind(error)
        .bind(now)
        .execute(db)
        .await
        .map(|_| ())
}

pub async fn recent_failures(db: &Db, limit: u32) -> Result<Vec<FailureRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, url, event_id, attempts, error, failed_at FROM webhook_failures ORDER BY id DESC LIMIT ?")
        .bind(limit)
        .fetch_all(db)
        .await
}

/// How many events each URL has still to deliver.
pub async fn backlog(db: &Db, url: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM webhook_events WHERE id > coalesce((SELECT last_event_id FROM webhook_cursors WHERE url = ?), 0)",
    )
    .bind(url)
    .fetch_one(db)
    .await
}
