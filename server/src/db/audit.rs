//! The audit log: append-only (SQLite triggers refuse UPDATE and DELETE) and hash-chained,
//! so that any edit of a stored row breaks the chain from that row on.

use super::{now, Db, Tx};
use futures::Stream;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{QueryBuilder, Sqlite};
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
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, subject_type, subject_id, request_id, details, prev_hash, hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    .execute(&mut **tx)
    .await?;
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

const COLUMNS: &str = "id, at, actor, action, subject_type, subject_id, request_id, details, prev_hash, hash";

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
