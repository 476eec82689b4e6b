//! SQL for API tokens.

use super::{Db, Tx};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TokenRow {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    pub expires_at: Option<String>,
}

const COLUMNS: &str = "id, user_id, name, created_at, last_used_at, revoked_at, expires_at";

pub struct NewToken<'a> {
    pub user_id: i64,
    pub name: &'a str,
    pub token_hash: &'a str,
    pub now: &'a str,
    pub expires_at: &'a str,
}

pub async fn insert(tx: &mut Tx, t: NewToken<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO api_tokens (user_id, name, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(t.user_id)
    .bind(t.name)
    .bind(t.token_hash)
    .bind(t.now)
    .bind(t.expires_at)
    .fetch_one(&mut **tx)
    .await
}

/// Revokes every live token of the user (their password, role or team changed, or the
/// account was disabled); how many.
pub async fn revoke_all_for(tx: &mut Tx, user_id: i64, now: &str) -> Result<u64, sqlx::Error> {
    sqlx::query("UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL")
        .bind(now)
        .bind(user_id)
        .execute(&mut **tx)
        .await
        .map(|r| r.rows_affected())
}

pub async fn list_for(db: &Db, user_id: i64) -> Result<Vec<TokenRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM api_tokens WHERE user_id = ? ORDER BY id DESC")).bind(user_id).fetch_all(db).await
}

pub async fn get(tx: &mut Tx, id: i64) -> Result<Option<TokenRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM api_tokens WHERE id = ?")).bind(id).fetch_optional(&mut **tx).await
}

pub async fn revoke(tx: &mut Tx, id: i64, now: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL").bind(now).bind(id).execute(&mut **tx).await.map(|_| ())
}

/// The live (unrevoked, unexpired) token with this hash: its id, owner and last use.
/// Timestamps are RFC 3339 UTC of one width, so they compare as text.
pub async fn find_live(db: &Db, token_hash: &str, now: &str) -> Result<Option<(i64, i64, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, user_id, last_used_at FROM api_tokens
         WHERE token_hash = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(db)
    .await
}

/// Notes a use (the caller does so at most once a minute per token).
pub async fn touch(db: &Db, id: i64, now: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE api_tokens SET last_used_at = ? WHERE id = ?").bind(now).bind(id).execute(db).await.map(|_| ())
}
