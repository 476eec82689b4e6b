//! SQL for this Berth's identity (one row, made by a migration).

use super::Db;

/// The random id tagged on every stack this Berth creates.
pub async fn berth_id(db: &Db) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT berth_id FROM installation WHERE id = 1").fetch_one(db).await
}
