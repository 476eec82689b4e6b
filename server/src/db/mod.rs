//! The SQLite database: one pool, migrations embedded in the binary, and one module per
//! entity holding all of that entity's SQL.

pub mod audit;
pub mod deployments;
pub mod environments;
pub mod events;
pub mod installation;
pub mod notes;
pub mod plans;
pub mod requests;
pub mod sessions;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A database as an earlier Berth left it: the migrations before `version` only.
    async fn migrated_before(version: i64, dir: &std::path::Path) -> Db {
        let old = dir.join("migrations");
        std::fs::create_dir(&old).unwrap();
        for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.ends_with(".sql") && name[..4].parse::<i64>().unwrap() < version {
                std::fs::copy(&path, old.join(&name)).unwrap();
            }
        }
        let db = connect(&format!("sqlite://{}", dir.join("t.db").display())).await.unwrap();
        sqlx::migrate::Migrator::new(old.as_path()).await.unwrap().run(&db).await.unwrap();
        db
    }

    #[tokio::test]
    async fn requests_made_before_the_naming_scheme_keep_their_stack_names() {
        let dir = tempfile::tempdir().unwrap();
        let db = migrated_before(140, dir.path()).await;
        sqlx::raw_sql(
            "INSERT INTO users (username, display_name, password_hash, role, team, created_at, updated_at)
                 VALUES ('rita', 'Rita', 'x', 'requester', 'payments', 'now', 'now');
             INSERT INTO environments (name, region, instance_type, desired_capacity, max_size, created_at, updated_at)
                 VALUES ('staging', 'us-east-1', 't3.medium', 1, 1, 'now', 'now');
             INSERT INTO requests (environment, service_name, path, priority, team, requested_by, status, revision, created_at, updated_at)
                 VALUES ('staging', 'orders', '/orders*', 1, 'payments', 1, 'deployed', 1, 'now', 'now');
             INSERT INTO request_revisions (request_id, revision, parameters, created_by, created_at)
                 VALUES (1, 1, '{}', 1, 'now');",
        )
        .execute(&db)
        .await
        .unwrap();
        migrate(&db).await.unwrap();
        let old = requests::get(&db, 1).await.unwrap().unwrap();
        assert_eq!(old.naming(), app::stacks::Naming::Legacy);
        assert_eq!(app::stacks::service_stack_name_as(old.naming(), "staging", "orders"), "berth-staging-orders");
        let berth_id = installation::berth_id(&db).await.unwrap();
        assert_eq!(berth_id.len(), 32, "a random id: {berth_id}");
        sqlx::raw_sql(
            "INSERT INTO requests (environment, service_name, path, priority, team, requested_by, status, revision, created_at, updated_at)
                 VALUES ('staging', 'users', '/users*', 2, 'payments', 1, 'pending_review', 1, 'now', 'now');
             INSERT INTO request_revisions (request_id, revision, parameters, created_by, created_at) VALUES (2, 1, '{}', 1, 'now');",
        )
        .execute(&db)
        .await
        .unwrap();
        assert_eq!(requests::get(&db, 2).await.unwrap().unwrap().naming(), app::stacks::Naming::Separated, "new requests use the new names");
    }
}
