//! The SQLite database: one pool, migrations embedded in the binary, and one module per
//! entity holding all of that entity's SQL.

pub mod audit;
pub mod deployments;
pub mod environments;
pub mod events;
pub mod notes;
pub mod requests;
pub mod tokens;
pub mod users;
pub mod webhooks;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqlitePool, Transaction};
use std::str::FromStr;
use std::time::Duration;

pub type Db = SqlitePool;
pub type Tx = Transaction<'static, sqlx::Sqlite>;

/// Opens (creating if needed) the database with the settings every connection needs:
/// WAL so readers never wait for the writer, foreign keys on, and a busy timeout so a
/// writer waits for another instead of failing.
pub async fn connect(url: &str) -> Result<Db, sqlx::Error> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    SqlitePoolOptions::new().max_connections(8).connect_with(options).await
}

pub async fn migrate(db: &Db) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("../migrations").run(db).await
}

/// Starts a transaction that takes the write lock at once. A deferred transaction that
/// reads and then writes can fail with SQLITE_BUSY when another connection wrote in
/// between; taking the lock first makes writers queue (up to the busy timeout) instead.
pub async fn begin_write(db: &Db) -> Result<Tx, sqlx::Error> {
    db.begin_with("BEGIN IMMEDIATE").await
}

pub async fn ping(db: &Db) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(db).await.map(|_| ())
}

/// The current time as stored and shown: RFC 3339, UTC, whole seconds.
pub fn now() -> String {
    let now = time::OffsetDateTime::now_utc().replace_nanosecond(0).expect("0 is a valid nanosecond");
    now.format(&time::format_description::well_known::Rfc3339).expect("RFC 3339 formats any UTC time")
}

/// The time `seconds` from now, as `now` writes it (so the two compare as text).
pub fn in_seconds(seconds: u64) -> String {
    let at = time::OffsetDateTime::now_utc().replace_nanosecond(0).expect("0 is a valid nanosecond") + Duration::from_secs(seconds);
    at.format(&time::format_description::well_known::Rfc3339).expect("RFC 3339 formats any UTC time")
}

/// Seconds from an RFC 3339 timestamp to now (0 if it cannot be read).
pub fn seconds_since(timestamp: &str) -> i64 {
    time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339)
        .map(|t| (time::OffsetDateTime::now_utc() - t).whole_seconds())
        .unwrap_or(0)
}
