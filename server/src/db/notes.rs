//! SQL for the decisions and comments on a request.

use super::{Db, Tx};

#[derive(sqlx::FromRow)]
pub struct NoteRow {
    pub id: i64,
    pub revision: i64,
    pub author: String,
    pub kind: String,
    pub body: String,
    pub created_at: String,
}

pub async fn insert(tx: &mut Tx, request_id: i64, revision: i64, author: &str, kind: &str, body: &str, now: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO request_notes (request_id, revision, author, kind, body, created_at) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(request_id)
        .bind(revision)
        .bind(author)
        .bind(kind)
        .bind(body)
        .bind(now)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

pub async fn list(db: &Db, request_id: i64) -> Result<Vec<NoteRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, revision, author, kind, body, created_at FROM request_notes WHERE request_id = ? ORDER BY id")
        .bind(request_id)
        .fetch_all(db)
        .await
}
