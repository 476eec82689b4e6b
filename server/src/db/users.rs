//! SQL for accounts.

use super::{Db, Tx};
use app::model::{Role, User};
use sqlx::SqliteExecutor;

#[derive(sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub role: String,
    pub team: String,
    pub disabled: bool,
    pub created_at: String,
    /// Bumped when the password, role or team changes or the account is disabled.
    pub credentials_version: i64,
}

impl UserRow {
    pub fn into_user(self) -> User {
        User {
            id: self.id.to_string(),
            username: self.username,
            display_name: self.display_name,
            // The CHECK constraint admits only the three roles.
            role: Role::parse(&self.role).unwrap_or(Role::Requester),
            team: self.team,
            disabled: self.disabled,
            created_at: self.created_at,
            via_token: false,
        }
    }
}

const COLUMNS: &str = "id, username, display_name, password_hash, role, team, disabled, created_at, credentials_version";

pub async fn find_by_username(db: &Db, username: &str) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE username = ?"))
        .bind(username)
        .fetch_optional(db)
        .await
}

pub async fn find_by_oidc_subject(tx: &mut Tx, subject: &str) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE oidc_subject = ?")).bind(subject).fetch_optional(&mut **tx).await
}

/// Ties an account to the provider's subject (at its first single sign-on).
pub async fn set_oidc_subject(tx: &mut Tx, id: i64, subject: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET oidc_subject = ? WHERE id = ?").bind(subject).bind(id).execute(&mut **tx).await.map(|_| ())
}

pub async fn find_by_id(db: impl SqliteExecutor<'_>, id: i64) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = ?")).bind(id).fetch_optional(db).await
}

pub async fn list(db: &Db) -> Result<Vec<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users ORDER BY username")).fetch_all(db).await
}

pub async fn username_exists(tx: &mut Tx, username: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar::<_, i64>("SELECT count(*) FROM users WHERE username = ?")
        .bind(username)
        .fetch_one(&mut **tx)
        .await
        .map(|n| n > 0)
}

pub struct NewUserRow<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
    pub team: &'a str,
    pub now: &'a str,
}

pub async fn insert(tx: &mut Tx, user: NewUserRow<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO users (username, display_name, password_hash, role, team, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(user.username)
    .bind(user.display_name)
    .bind(user.password_hash)
    .bind(user.role.as_str())
    .bind(user.team)
    .bind(user.now)
    .bind(user.now)
    .execute(&mut **tx)
    .await
    .map(|r| r.last_insert_rowid())
}

/// Writes back every changeable column of `row`.
pub async fn update(tx: &mut Tx, row: &UserRow, now: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET display_name = ?, password_hash = ?, role = ?, team = ?, disabled = ?, credentials_version = ?,
                updated_at = ?
         WHERE id = ?",
    )
    .bind(&row.display_name)
    .bind(&row.password_hash)
    .bind(&row.role)
    .bind(&row.team)
    .bind(row.disabled)
    .bind(row.credentials_version)
    .bind(now)
    .bind(row.id)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Enabled admins other than `except`, so the last one cannot lock everybody out.
pub async fn other_active_admins(tx: &mut Tx, except: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0 AND id != ?")
        .bind(except)
        .fetch_one(&mut **tx)
        .await
}

pub async fn count(db: impl SqliteExecutor<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(db).await
}
