//! The SQLite database: one pool, migrations embedded in the binary, and one module per
//! entity holding all of that entity's SQL.

pub mod audit;
pub mod deployments;
pub mod drift;
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

/// Applies the migrations this binary carries. A database that a newer Berth has already
/// migrated further is refused, naming the migrations this binary does not know: running
/// an older binary on it could misread or damage what the newer one wrote.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error(
        "the database was migrated by a newer Berth (migrations {unknown} are not in this binary, whose last is {last}):          run that newer binary, or restore a backup taken before the upgrade"
    )]
    Newer { unknown: String, last: i64 },
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub async fn migrate(db: &Db) -> Result<(), MigrationError> {
    pending_migrations(db).await?;
    Ok(sqlx::migrate!("../migrations").run(db).await?)
}

/// How many of this binary's migrations the database has not had yet; a database that a
/// newer Berth migrated further is an error.
pub async fn pending_migrations(db: &Db) -> Result<usize, MigrationError> {
    let migrator = sqlx::migrate!("../migrations");
    let known: std::collections::BTreeSet<i64> = migrator.iter().map(|m| m.version).collect();
    let table: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'").fetch_one(db).await?;
    let applied: std::collections::BTreeSet<i64> = if table > 0 {
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success").fetch_all(db).await?.into_iter().collect()
    } else {
        Default::default()
    };
    let unknown: Vec<String> = applied.difference(&known).map(i64::to_string).collect();
    if !unknown.is_empty() {
        return Err(MigrationError::Newer { unknown: unknown.join(", "), last: known.last().copied().unwrap_or_default() });
    }
    Ok(known.difference(&applied).count())
}

/// The database file of a `sqlite:` URL (`sqlite://data/berth.db?mode=rwc` →
/// `data/berth.db`); `None` for an in-memory database.
pub fn file_of(url: &str) -> Option<std::path::PathBuf> {
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    let path = path.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.contains(":memory:")).then(|| std::path::PathBuf::from(path))
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

/// `<select> IN (?, ?, …)` with `ids` bound: the query for rows of a page of ids.
pub fn where_in<'a>(select: &str, ids: &'a [i64]) -> sqlx::QueryBuilder<'a, sqlx::Sqlite> {
    let mut q = sqlx::QueryBuilder::new(format!("{select} IN ("));
    let mut list = q.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    q.push(")");
    q
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

/// The time `seconds` ago, as `now` writes it.
pub fn seconds_ago(seconds: u64) -> String {
    let at = time::OffsetDateTime::now_utc().replace_nanosecond(0).expect("0 is a valid nanosecond") - Duration::from_secs(seconds);
    at.format(&time::format_description::well_known::Rfc3339).expect("RFC 3339 formats any UTC time")
}

/// Seconds from an RFC 3339 timestamp to now (0 if it cannot be read).
pub fn seconds_since(timestamp: &str) -> i64 {
    parse_time(timestamp).map(|t| (time::OffsetDateTime::now_utc() - t).whole_seconds()).unwrap_or(0)
}

/// A timestamp as stored (RFC 3339); `None` when it is not one.
pub fn parse_time(timestamp: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339).ok()
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
