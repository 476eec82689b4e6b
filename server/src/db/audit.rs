//! The audit log: append-only (SQLite triggers refuse UPDATE and DELETE) and hash-chained,
//! so that any edit of a stored row breaks the chain from that row on. Each row's hash is
//! also signed with a key kept outside the database, and signed checkpoints (row count and
//! last hash) are written regularly: someone with the database file can neither hash the
//! chain again after an edit nor cut rows off its end unnoticed.

use super::{now, Db, Tx};
use futures::Stream;
use serde_json::Value;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use sqlx::{QueryBuilder, Sqlite};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;
use tokio_stream::wrappers::ReceiverStream;

/// One action to record, written in the same transaction as the change it describes.
pub struct Entry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub subject_type: &'a str,
    pub subject_id: String,
    pub request_id: Option<i64>,
    pub details: Value,
}

/// The chain's starting point: the "previous hash" of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A row as stored, the input of its hash.
pub struct StoredRow<'a> {
    pub prev_hash: &'a str,
    pub at: &'a str,
    pub actor: &'a str,
    pub action: &'a str,
    pub subject_type: &'a str,
    pub subject_id: &'a str,
    pub request_id: Option<i64>,
    pub details: &'a str,
}

impl StoredRow<'_> {
    /// SHA-256 over a canonical encoding (a JSON array in a fixed order) of the row.
    pub fn hash(&self) -> String {
        let canonical = serde_json::json!([
            self.prev_hash,
            self.at,
            self.actor,
            self.action,
            self.subject_type,
            self.subject_id,
            self.request_id,
            self.details
        ]);
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

/// The key the log is signed with (HMAC-SHA256). It never lives in the database.
#[derive(Clone)]
pub struct AuditKey(Vec<u8>);

impl AuditKey {
    pub fn new(material: &[u8]) -> AuditKey {
        AuditKey(material.to_vec())
    }

    fn mac(&self, message: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(message.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The signature of a row: its hash, which covers its content and the chain before it.
    pub fn sign_row(&self, hash: &str) -> String {
        self.mac(&format!("berth-audit-row:{hash}"))
    }

    pub fn sign_checkpoint(&self, c: &CheckpointBody) -> String {
        self.mac(&format!("berth-audit-checkpoint:{}:{}:{}:{}", c.row_count, c.last_id, c.last_hash, c.at))
    }
}

/// The process's signing key, set once at start-up (`use_key`). A global rather than a
/// parameter because every writer of the log appends inside its own transaction, from
/// every service; the key is configuration of the process, like the database it opens.
static KEY: OnceLock<AuditKey> = OnceLock::new();
/// A checkpoint is written in the transaction of every row whose id is a multiple of this.
static CHECKPOINT_EVERY: AtomicI64 = AtomicI64::new(100);

/// Signs every row appended from now on with `key`, and checkpoints every `checkpoint_every` rows.
pub fn use_key(key: AuditKey, checkpoint_every: u64) {
    let _ = KEY.set(key);
    CHECKPOINT_EVERY.store(checkpoint_every.max(1) as i64, Ordering::Relaxed);
}

pub fn key() -> Option<&'static AuditKey> {
    KEY.get()
}

/// What a checkpoint states: the log had `row_count` rows, the last being `last_id` with `last_hash`.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct CheckpointBody {
    pub at: String,
    pub row_count: i64,
    pub last_id: i64,
    pub last_hash: String,
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct CheckpointRow {
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub body: CheckpointBody,
    pub signature: String,
}

/// Writes a signed checkpoint of the log as it is in `tx`; `None` while the log is empty.
pub async fn checkpoint(tx: &mut Tx, key: &AuditKey) -> Result<Option<CheckpointRow>, sqlx::Error> {
    let last: Option<(i64, String, i64)> =
        sqlx::query_as("SELECT id, hash, (SELECT count(*) FROM audit_log) FROM audit_log ORDER BY id DESC LIMIT 1")
            .fetch_optional(&mut **tx)
            .await?;
    let Some((last_id, last_hash, row_count)) = last else { return Ok(None) };
    let body = CheckpointBody { at: now(), row_count, last_id, last_hash };
    let signature = key.sign_checkpoint(&body);
    sqlx::query("INSERT INTO audit_checkpoints (at, row_count, last_id, last_hash, signature) VALUES (?, ?, ?, ?, ?)")
        .bind(&body.at)
        .bind(body.row_count)
        .bind(body.last_id)
        .bind(&body.last_hash)
        .bind(&signature)
        .execute(&mut **tx)
        .await?;
    Ok(Some(CheckpointRow { body, signature }))
}

/// The checkpoints stored in the database, oldest first.
pub async fn checkpoints(db: &Db) -> Result<Vec<CheckpointRow>, sqlx::Error> {
    sqlx::query_as("SELECT at, row_count, last_id, last_hash, signature FROM audit_checkpoints ORDER BY id").fetch_all(db).await
}

/// What the log holds up to a checkpoint's last row: that row's hash (if it is there), how
/// many rows there are up to it, and the first id missing before or at it.
pub struct Coverage {
    pub hash: Option<String>,
    pub rows: i64,
    pub first_missing: Option<i64>,
}

/// The number of rows in the log and when the last checkpoint was written.
pub async fn size(db: &Db) -> Result<(i64, Option<String>), sqlx::Error> {
    sqlx::query_as("SELECT (SELECT count(*) FROM audit_log), (SELECT max(at) FROM audit_checkpoints)").fetch_one(db).await
}

pub async fn coverage(db: &Db, last_id: i64, row_count: i64) -> Result<Coverage, sqlx::Error> {
    let hash = sqlx::query_scalar("SELECT hash FROM audit_log WHERE id = ?").bind(last_id).fetch_optional(db).await?;
    let rows = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE id <= ?").bind(last_id).fetch_one(db).await?;
    let first_missing = if hash.is_some() && rows >= row_count {
        None
    } else {
        // Ids are never reused and have no gaps: the first row whose successor is missing.
        let first: i64 = sqlx::query_scalar(
            "SELECT coalesce((SELECT min(a.id) + 1 FROM audit_log a
                              WHERE a.id < ?1 AND NOT EXISTS (SELECT 1 FROM audit_log b WHERE b.id = a.id + 1)), 1)",
        )
        .bind(last_id)
        .fetch_one(db)
        .await?;
        Some(first)
    };
    Ok(Coverage { hash, rows, first_missing: first_missing.filter(|id| *id <= last_id) })
}

/// The highest id the log ever gave out (SQLite's AUTOINCREMENT counter) and its last row's id.
pub async fn ids_given(db: &Db) -> Result<(i64, i64), sqlx::Error> {
    let counter: Option<i64> =
        sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").fetch_optional(db).await?;
    let last: Option<i64> = sqlx::query_scalar("SELECT max(id) FROM audit_log").fetch_one(db).await?;
    Ok((counter.unwrap_or(0), last.unwrap_or(0)))
}

pub async fn append(tx: &mut Tx, entry: Entry<'_>) -> Result<(), sqlx::Error> {
    let last: Option<(String, String)> = sqlx::query_as("SELECT hash, at FROM audit_log ORDER BY id DESC LIMIT 1")
        .fetch_optional(&mut **tx)
        .await?;
    let (prev_hash, at) = match last {
        None => (GENESIS.to_string(), now()),
        // `at` never decreases along the log, even when the clock steps back, so that a
        // time range is a range of ids (see `push_filter`).
        Some((hash, last_at)) => (hash, now().max(last_at)),
    };
    let details = entry.details.to_string();
    let hash = StoredRow {
        prev_hash: &prev_hash,
        at: &at,
        actor: entry.actor,
        action: entry.action,
        subject_type: entry.subject_type,
        subject_id: &entry.subject_id,
        request_id: entry.request_id,
        details: &details,
    }
    .hash();
    let signature = key().map(|k| k.sign_row(&hash));
    let id = sqlx::query(
        "INSERT INTO audit_log (at, actor, action, subject_type, subject_id, request_id, details, prev_hash, hash, signature)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&at)
    .bind(entry.actor)
    .bind(entry.action)
    .bind(entry.subject_type)
    .bind(&entry.subject_id)
    .bind(entry.request_id)
    .bind(&details)
    .bind(&prev_hash)
    .bind(&hash)
    .bind(&signature)
    .execute(&mut **tx)
    .await?
    .last_insert_rowid();
    if let Some(key) = key() {
        if id % CHECKPOINT_EVERY.load(Ordering::Relaxed) == 0 {
            checkpoint(tx, key).await?;
        }
    }
    Ok(())
}

/// A stored row, as read back.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject_type: String,
    pub subject_id: String,
    pub request_id: Option<i64>,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
    /// `None` on rows written before the log was signed.
    pub signature: Option<String>,
}

impl AuditRow {
    /// The row's content chained to `prev_hash`: what its hash must cover if `prev_hash`
    /// is the hash of the row before it.
    pub fn chained_to<'a>(&'a self, prev_hash: &'a str) -> StoredRow<'a> {
        StoredRow {
            prev_hash,
            at: &self.at,
            actor: &self.actor,
            action: &self.action,
            subject_type: &self.subject_type,
            subject_id: &self.subject_id,
            request_id: self.request_id,
            details: &self.details,
        }
    }
}

/// Who may see which rows, when not everything.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub username: String,
    pub team: String,
}

/// A selection of the log; every field narrows it.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub request_id: Option<i64>,
    /// Rows stored at or after this instant (RFC 3339, UTC, whole seconds, as stored).
    pub from: Option<String>,
    /// Rows stored at or before this instant.
    pub to: Option<String>,
    /// Only the viewer's own actions and the rows about their team's requests.
    pub visible_to: Option<Viewer>,
    /// Only rows after this id (the rest of the log past a known point).
    pub after_id: Option<i64>,
}

const COLUMNS: &str = "id, at, actor, action, subject_type, subject_id, request_id, details, prev_hash, hash, signature";

/// Appends the WHERE clause of `f`. Each filter is answered by an index whose second
/// column is the id (`audit_by_actor`, `audit_by_action`, `audit_by_request`) or by the
/// primary key, so that a page newest first reads about as many rows as it returns, at any
/// size of the log.
fn push_filter<'a>(q: &mut QueryBuilder<'a, Sqlite>, f: &'a Filter) {
    q.push(" WHERE 1 = 1");
    if let Some(actor) = &f.actor {
        q.push(" AND actor = ").push_bind(actor);
    }
    if let Some(action) = &f.action {
        q.push(" AND action = ").push_bind(action);
    }
    if let Some(request_id) = f.request_id {
        q.push(" AND request_id = ").push_bind(request_id);
    }
    if let Some(after) = f.after_id {
        q.push(" AND id > ").push_bind(after);
    }
    // `at` never decreases along the log (see `append`), so the rows of a time range are
    // the rows between the first and the last row of that range: an id range, whose ends
    // are one step each in `audit_by_time`. Filtering on `at` alone would make SQLite read
    // the whole range and sort it by id. The comparisons on `at` stay, so that no row
    // outside the range can ever show up; their `+` keeps SQLite from using
    // `audit_by_time` for them instead of the id range. An empty range makes a bound NULL,
    // and the selection empty.
    if let Some(from) = &f.from {
        q.push(" AND id >= (SELECT id FROM audit_log WHERE at >= ")
            .push_bind(from)
            .push(" ORDER BY at, id LIMIT 1) AND +at >= ")
            .push_bind(from);
    }
    if let Some(to) = &f.to {
        q.push(" AND id <= (SELECT id FROM audit_log WHERE at <= ")
            .push_bind(to)
            .push(" ORDER BY at DESC, id DESC LIMIT 1) AND +at <= ")
            .push_bind(to);
    }
    if let Some(viewer) = &f.visible_to {
        q.push(" AND (actor = ")
            .push_bind(&viewer.username)
            .push(" OR request_id IN (SELECT id FROM requests WHERE team = ")
            .push_bind(&viewer.team)
            .push("))");
    }
}

/// Appends the query of one page: newest first, older than `before_id` when given.
fn push_page<'a>(q: &mut QueryBuilder<'a, Sqlite>, f: &'a Filter, before_id: Option<i64>, limit: u32) {
    q.push(format!("SELECT {COLUMNS} FROM audit_log"));
    push_filter(q, f);
    if let Some(before) = before_id {
        q.push(" AND id < ").push_bind(before);
    }
    q.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
}

/// One page of the selection, newest first. Keyset pagination on the id keeps every page
/// as fast as the first.
pub async fn page(db: &Db, f: &Filter, before_id: Option<i64>, limit: u32) -> Result<Vec<AuditRow>, sqlx::Error> {
    let mut q = QueryBuilder::new("");
    push_page(&mut q, f, before_id, limit);
    q.build_query_as().fetch_all(db).await
}

/// The whole selection in log order (oldest first), one row at a time: memory stays
/// constant whatever the size of the log, and the rows come from one read transaction,
/// so the selection is a consistent snapshot.
///
/// The query runs in a task of its own because sqlx's row stream borrows the query text;
/// the bounded channel makes that task wait for the consumer (a slow client or pipe), and
/// it stops as soon as the consumer is dropped.
pub fn stream(db: &Db, f: Filter) -> impl Stream<Item = Result<AuditRow, sqlx::Error>> + Send + 'static {
    let (sender, receiver) = tokio::sync::mpsc::channel(256);
    let db = db.clone();
    tokio::spawn(async move {
        use futures::StreamExt;
        let mut q = QueryBuilder::new(format!("SELECT {COLUMNS} FROM audit_log"));
        push_filter(&mut q, &f);
        q.push(" ORDER BY id");
        let mut rows = q.build_query_as::<AuditRow>().fetch(&db);
        while let Some(row) = rows.next().await {
            let failed = row.is_err();
            if sender.send(row).await.is_err() || failed {
                break;
            }
        }
    });
    ReceiverStream::new(receiver)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;

    async fn database() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = super::super::connect(&format!("sqlite://{}", dir.path().join("audit.db").display())).await.unwrap();
        super::super::migrate(&db).await.unwrap();
        (dir, db)
    }

    /// Stores a row as it is, hash and all, the way a test (or an attacker) could.
    async fn insert_at(db: &Db, at: &str) -> i64 {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, subject_type, subject_id, details, prev_hash, hash)
             VALUES (?, 'rita', 'request.create', 'request', '1', '{}', '', '')",
        )
        .bind(at)
        .execute(db)
        .await
        .unwrap()
        .last_insert_rowid()
    }

    async fn ids(db: &Db, f: &Filter) -> Vec<i64> {
        page(db, f, None, 50).await.unwrap().into_iter().map(|r| r.id).collect()
    }

    #[tokio::test]
    async fn time_ranges_include_both_ends() {
        let (_dir, db) = database().await;
        for at in ["2025-01-01T10:00:00Z", "2025-01-02T00:00:00Z", "2025-01-02T23:59:59Z", "2025-01-03T00:00:00Z"] {
            insert_at(&db, at).await;
        }
        let range = |from: Option<&str>, to: Option<&str>| Filter {
            from: from.map(str::to_string),
            to: to.map(str::to_string),
            ..Filter::default()
        };
        assert_eq!(ids(&db, &range(Some("2025-01-02T00:00:00Z"), Some("2025-01-02T23:59:59Z"))).await, [3, 2]);
        assert_eq!(ids(&db, &range(Some("2025-01-02T00:00:01Z"), None)).await, [4, 3]);
        assert_eq!(ids(&db, &range(None, Some("2025-01-01T10:00:00Z"))).await, [1]);
        assert_eq!(ids(&db, &range(Some("2025-01-04T00:00:00Z"), None)).await, Vec::<i64>::new());
        assert_eq!(ids(&db, &range(None, Some("2024-12-31T23:59:59Z"))).await, Vec::<i64>::new());
    }

    #[tokio::test]
    async fn time_never_runs_backwards_along_the_log() {
        let (_dir, db) = database().await;
        // A row from a clock that ran ahead; the next append must not go before it.
        insert_at(&db, "2999-01-01T00:00:00Z").await;
        let mut tx = super::super::begin_write(&db).await.unwrap();
        let entry = Entry {
            actor: "rita",
            action: "request.update",
            subject_type: "request",
            subject_id: "1".into(),
            request_id: Some(1),
            details: serde_json::json!({}),
        };
        append(&mut tx, entry).await.unwrap();
        tx.commit().await.unwrap();
        let rows = page(&db, &Filter::default(), None, 50).await.unwrap();
        assert_eq!(rows[0].at, "2999-01-01T00:00:00Z");
        assert_eq!(rows[0].hash, rows[0].chained_to(&rows[0].prev_hash).hash());
    }

    /// How SQLite runs the page query of `f`.
    async fn plan(db: &Db, f: &Filter, before_id: Option<i64>) -> String {
        let mut q = QueryBuilder::new("EXPLAIN QUERY PLAN ");
        push_page(&mut q, f, before_id, 51);
        let rows = q.build().fetch_all(db).await.unwrap();
        rows.iter().map(|r| r.get::<String, _>("detail")).collect::<Vec<_>>().join("\n")
    }

    /// Every page, whatever the filter, is read through an index in id order: SQLite stops
    /// after the rows of the page instead of reading and sorting the whole selection.
    #[tokio::test]
    async fn every_filter_pages_through_an_index_in_id_order() {
        let (_dir, db) = database().await;
        let text = |v: &str| Some(v.to_string());
        let cases = [
            (Filter::default(), "USING INTEGER PRIMARY KEY (rowid<?)"),
            (Filter { actor: text("rita"), ..Filter::default() }, "USING INDEX audit_by_actor (actor=? AND id<?)"),
            (Filter { action: text("user.update"), ..Filter::default() }, "USING INDEX audit_by_action (action=? AND id<?)"),
            (Filter { request_id: Some(7), ..Filter::default() }, "USING INDEX audit_by_request (request_id=? AND id<?)"),
            (
                Filter { from: text("2025-01-01T00:00:00Z"), to: text("2025-02-01T00:00:00Z"), ..Filter::default() },
                "USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)",
            ),
            (Filter { from: text("2020-01-01T00:00:00Z"), ..Filter::default() }, "USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"),
            (
                Filter { actor: text("rita"), from: text("2025-01-01T00:00:00Z"), ..Filter::default() },
                "USING INDEX audit_by_actor (actor=? AND id>? AND id<?)",
            ),
        ];
        for (filter, expected) in cases {
            let plan = plan(&db, &filter, Some(1000)).await;
            assert!(plan.contains(expected), "{filter:?} should use {expected}:\n{plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{filter:?} sorts:\n{plan}");
        }
    }

    /// A requester's rows are the union of two index ranges (their actions, their team's
    /// requests), sorted: as many rows as they may see, never the whole log.
    #[tokio::test]
    async fn a_requester_s_page_reads_only_their_rows() {
        let (_dir, db) = database().await;
        let viewer = Filter {
            visible_to: Some(Viewer { username: "rita".into(), team: "payments".into() }),
            ..Filter::default()
        };
        let plan = plan(&db, &viewer, Some(1000)).await;
        assert!(plan.contains("MULTI-INDEX OR"), "{plan}");
        assert!(plan.contains("USING INDEX audit_by_actor (actor=? AND id<?)"), "{plan}");
        assert!(plan.contains("USING INDEX audit_by_request (request_id=? AND id<?)"), "{plan}");
        assert!(plan.contains("USING COVERING INDEX requests_by_team (team=?)"), "{plan}");
    }
}
