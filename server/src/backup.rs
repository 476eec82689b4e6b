//! Backups of the live database and their restore.
//!
//! `berth backup PATH` copies the database while Berth runs: SQLite's `VACUUM INTO` reads
//! one consistent snapshot (a read transaction, which in WAL mode never blocks writers) into
//! a new, compact file. `berth restore PATH` puts such a copy in place of the configured
//! database, only while no Berth serves it: every `berth serve` holds a shared lock on
//! `<database>.lock`, and a restore needs it exclusively.

use crate::{db, private_file};
use anyhow::{bail, Context};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// What a backup wrote.
pub struct Backup {
    pub path: PathBuf,
    pub bytes: u64,
    pub audit_rows: i64,
}

/// Writes a consistent copy of the database at `url` to `to`, which must not exist yet.
pub async fn backup(url: &str, to: &Path) -> anyhow::Result<Backup> {
    if to.exists() {
        bail!("{} already exists; a backup never overwrites a file", to.display());
    }
    let database = db::connect(url).await.context("opening the database")?;
    let target = to.to_str().context("the backup path must be valid UTF-8")?;
    sqlx::query("VACUUM INTO ?").bind(target).execute(&database).await.with_context(|| format!("writing {}", to.display()))?;
    database.close().await;
    // It holds password hashes, sessions and the audit log: its owner's eyes only.
    private_file::restrict(to).with_context(|| format!("restricting {}", to.display()))?;
    let copy = read_only(to).await.context("opening the backup")?;
    let audit_rows = sqlx::query_scalar("SELECT count(*) FROM audit_log").fetch_one(&copy).await.context("reading the backup")?;
    copy.close().await;
    Ok(Backup { path: to.to_path_buf(), bytes: std::fs::metadata(to)?.len(), audit_rows })
}

/// Replaces the database at `url` with the backup `from`, after checking that the backup is
/// a sound Berth database, and only while no Berth serves the database.
pub async fn restore(url: &str, from: &Path) -> anyhow::Result<PathBuf> {
    let file = db::file_of(url).context("the database is not a file: nothing to restore into")?;
    let _lock = exclusive(&file)?;
    if !from.is_file() {
        bail!("{} is not a file", from.display());
    }
    let copy = read_only(from).await.with_context(|| format!("opening {}", from.display()))?;
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&copy).await.context("checking the backup")?;
    let is_berth = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM sqlite_master WHERE name IN ('audit_log', '_sqlx_migrations')")
        .fetch_one(&copy)
        .await?
        == 2;
    copy.close().await;
    if integrity != "ok" {
        bail!("{} is damaged ({integrity}); nothing was restored", from.display());
    }
    if !is_berth {
        bail!("{} is not a Berth database; nothing was restored", from.display());
    }
    // Copied beside the database first and renamed over it: never half a database in place.
    let staged = with_suffix(&file, ".restoring");
    std::fs::copy(from, &staged).with_context(|| format!("copying {} to {}", from.display(), staged.display()))?;
    private_file::restrict(&staged).with_context(|| format!("restricting {}", staged.display()))?;
    for stale in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(with_suffix(&file, stale));
    }
    std::fs::rename(&staged, &file).with_context(|| format!("moving the copy to {}", file.display()))?;
    // A backup from an older Berth is brought up to this one's schema now.
    let database = db::connect(url).await.context("opening the restored database")?;
    db::migrate(&database).await.context("migrating the restored database")?;
    database.close().await;
    Ok(file)
}

async fn read_only(path: &Path) -> Result<sqlx::SqlitePool, sqlx::Error> {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path).read_only(true);
    sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect_with(options).await
}

/// Held by `berth serve` for its whole life: a restore cannot replace the file under it.
/// Shared, since several Berth processes may serve one database.
pub fn serving(url: &str) -> anyhow::Result<Option<File>> {
    let Some(file) = db::file_of(url) else { return Ok(None) };
    let lock = lock_file(&file)?;
    lock.lock_shared().with_context(|| format!("locking {}", with_suffix(&file, ".lock").display()))?;
    Ok(Some(lock))
}

fn exclusive(database: &Path) -> anyhow::Result<File> {
    let lock = lock_file(database)?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => {
            bail!("a Berth is serving {}: stop it first, then restore", database.display())
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", with_suffix(database, ".lock").display())),
    }
}

fn lock_file(database: &Path) -> anyhow::Result<File> {
    let path = with_suffix(database, ".lock");
    OpenOptions::new().create(true).truncate(false).write(true).open(&path).with_context(|| format!("opening {}", path.display()))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
