//! SQL for sign-in sessions, whose table tower-sessions' SQLite store owns.

use super::Db;

/// Whether the session with this id exists and has not expired (compared as the store's
/// own clean-up does).
pub async fn alive(db: &Db, id: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar::<_, i64>("SELECT count(*) FROM sessions WHERE id = ? AND datetime(expiry_date) > datetime('now')")
        .bind(id)
        .fetch_one(db)
        .await
        .map(|n| n > 0)
}
