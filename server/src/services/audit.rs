//! The audit log as people and tools read it: who may see which rows, the filters, pages,
//! the streamed export, the verification of the hash chain, its signatures and checkpoints,
//! and the signing key's configuration.

use super::{decode_cursor, encode_cursor, require_admin, Services};
use crate::config::Config;
use crate::db::audit::{self as log, AuditKey, AuditRow, CheckpointRow, Viewer, GENESIS};
use crate::error::{Error, Result};
use app::error::AppError;
use app::model::{AuditEntry, AuditFilter, ChainBreak, ChainProblem, ChainStatus, FieldError, Page, User};
use app::validation::{self, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX};
use std::path::{Path, PathBuf};
use futures::{future, stream, Stream, StreamExt, TryStreamExt};
use std::borrow::Cow;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime, UtcOffset};


/// The selection `filter` asks for, narrowed to what `actor` may see: approvers and admins
/// see every row; requesters see their own actions and the rows about their team's
/// requests. Bad filters are added to `errors`, named as in the query string.
fn selection(actor: &User, filter: &AuditFilter, errors: &mut Vec<FieldError>) -> log::Filter {
    let request_id = text(&filter.request).and_then(|id| match id.parse::<i64>() {
        Ok(id) if id > 0 => Some(id),
        _ => {
            errors.push(FieldError::new("request", format!("{id} is not a request id")));
            None
        }
    });
    let mut bound = |field: &str, value: &Option<String>, end: bool| {
        text(value).and_then(|value| {
            instant(&value, end).or_else(|| {
                errors.push(FieldError::new(field, format!("{value} is neither a date (YYYY-MM-DD) nor an RFC 3339 time")));
                None
            })
        })
    };
    let from = bound("from", &filter.from, false);
    let to = bound("to", &filter.to, true);
    if let (Some(from), Some(to)) = (&from, &to) {
        if from > to {
            errors.push(FieldError::new("to", "The end of the range is before its start"));
        }
    }
    log::Filter {
        after_id: None,
        actor: text(&filter.actor),
        action: text(&filter.action),
        request_id,
        from,
        to,
        visible_to: (!actor.role.is_platform())
            .then(|| Viewer { username: actor.username.clone(), team: actor.team.clone() }),
    }
}

fn text(value: &Option<String>) -> Option<String> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string)
}

/// A bound of a time range in the stored format (RFC 3339, UTC, whole seconds), both ends
/// inclusive: a day stands for all of it, a time for itself. Rows are stored to the
/// second, so a range starting within a second starts at the next one.
fn instant(text: &str, end: bool) -> Option<String> {
    let instant = match Date::parse(text, format_description!("[year]-[month]-[day]")) {
        Ok(day) if end => day.with_hms(23, 59, 59).ok()?.assume_utc(),
        Ok(day) => day.midnight().assume_utc(),
        Err(_) => {
            let exact = OffsetDateTime::parse(text, &Rfc3339).ok()?.to_offset(UtcOffset::UTC);
            let second = exact.replace_nanosecond(0).ok()?;
            if end || exact == second {
                second
            } else {
                second.checked_add(Duration::SECOND)?
            }
        }
    };
    instant.format(&Rfc3339).ok()
}

/// Where a page starts and how long it is.
fn position(filter: &AuditFilter, errors: &mut Vec<FieldError>) -> (Option<i64>, u32) {
    let limit = match text(&filter.limit).map(|l| l.parse::<u32>()) {
        None => PAGE_LIMIT_DEFAULT,
        Some(Ok(limit)) => validation::page_limit(Some(limit)).unwrap_or_else(|m| {
            errors.push(FieldError::new("limit", m));
            PAGE_LIMIT_DEFAULT
        }),
        Some(Err(_)) => {
            errors.push(FieldError::new("limit", format!("Must be a whole number from 1 to {PAGE_LIMIT_MAX}")));
            PAGE_LIMIT_DEFAULT
        }
    };
    let before = text(&filter.cursor).and_then(|c| {
        decode_cursor(&c).map_err(|e| errors.extend(e.field_errors())).ok()
    });
    (before, limit)
}

fn refuse(errors: Vec<FieldError>) -> Result<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors).into())
    }
}

pub async fn list(s: &Services, actor: &User, filter: &AuditFilter) -> Result<Page<AuditEntry>> {
    let mut errors = Vec::new();
    let selection = selection(actor, filter, &mut errors);
    let (before, limit) = position(filter, &mut errors);
    refuse(errors)?;
    // One more than asked tells whether there is a next page.
    let mut rows = log::page(&s.db, &selection, before, limit + 1).await?;
    let next_cursor = (rows.len() > limit as usize).then(|| {
        rows.truncate(limit as usize);
        encode_cursor(rows.last().expect("a full page").id)
    });
    Ok(Page { items: rows.into_iter().map(entry).collect(), next_cursor })
}

fn entry(row: AuditRow) -> AuditEntry {
    AuditEntry {
        id: row.id.to_string(),
        subject: format!("{}:{}", row.subject_type, row.subject_id),
        request_id: row.request_id.map(|id| id.to_string()),
        // Berth stores details as JSON; a row edited into something else is still shown,
        // as the text it holds, rather than hidden behind an error.
        details: serde_json::from_str(&row.details).unwrap_or(serde_json::Value::String(row.details)),
        at: row.at,
        actor: row.actor,
        action: row.action,
        prev_hash: row.prev_hash,
        hash: row.hash,
    }
}

/// Recomputes the hash chain from the first row; the answer the UI, the JSON API and
/// `berth audit verify` all give.
/// Walks the whole log now: the operator's `audit verify` and the API's explicit check.
pub async fn verify(s: &Services, actor: &User) -> Result<ChainStatus> {
    verify_with(s, actor, &[]).await
}

/// `verify`, also against checkpoints exported out of the database (`berth audit verify
/// --checkpoints FILE`).
pub async fn verify_with(s: &Services, actor: &User, exported: &[CheckpointRow]) -> Result<ChainStatus> {
    require_admin(actor)?;
    let walked = walk(s, Checkpoint::start()).await?;
    let status = complete(s, walked.status(), exported).await?;
    *s.chain.0.lock().await = Some(walked);
    Ok(status)
}

/// Writes a signed checkpoint of the log now (`berth audit checkpoint`).
pub async fn checkpoint(s: &Services, actor: &User) -> Result<CheckpointRow> {
    require_admin(actor)?;
    let key = log::key().ok_or_else(|| AppError::Conflict("The audit log has no signing key".into()))?;
    let mut tx = crate::db::begin_write(&s.db).await?;
    let written = log::checkpoint(&mut tx, key).await?;
    tx.commit().await?;
    written.ok_or_else(|| AppError::Conflict("The audit log is empty: there is nothing to checkpoint yet".into()).into())
}

/// Checkpoints exported as JSON lines (one per checkpoint), as `berth audit checkpoint
/// --export` writes them; a missing file holds none.
pub fn read_exported(path: &Path) -> std::io::Result<Vec<CheckpointRow>> {
    let text = match std::fs::read_to_string(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        other => other?,
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))))
        .collect()
}

/// Appends a checkpoint to the operator's export file.
pub fn export_checkpoint(path: &Path, checkpoint: &CheckpointRow) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    writeln!(file, "{}", serde_json::to_string(checkpoint).expect("a checkpoint serializes"))
}

/// A walked chain that checks out is not yet a complete log: rows cut off its end leave a
/// valid chain. The checkpoints (in the database, the configured export file and those
/// given) and the id counter say how long it was.
async fn complete(s: &Services, status: ChainStatus, exported: &[CheckpointRow]) -> Result<ChainStatus> {
    if status.broken.is_some() {
        return Ok(status);
    }
    let mut checkpoints = log::checkpoints(&s.db).await?;
    if let Some(path) = &s.config.audit_checkpoint_file {
        checkpoints.extend(read_exported(path).map_err(|e| AppError::Conflict(format!("Cannot read the checkpoint file: {e}")))?);
    }
    checkpoints.extend_from_slice(exported);
    let broken = |id: i64, kind: ChainProblem, expected: &str, stored: &str, reason: String| ChainStatus {
        broken: Some(ChainBreak { id: id.to_string(), expected_hash: expected.into(), stored_hash: stored.into(), reason, kind }),
        ..status.clone()
    };
    if let Some(key) = log::key() {
        if let Some(c) = checkpoints.iter().find(|c| c.signature != key.sign_checkpoint(&c.body)) {
            let reason = format!(
                "the checkpoint of {} (row {}, {} rows) is not signed with this installation's audit key: it was forged or altered",
                c.body.at, c.body.last_id, c.body.row_count
            );
            return Ok(broken(c.body.last_id, ChainProblem::ForgedCheckpoint, &c.body.last_hash, &c.body.last_hash, reason));
        }
    }
    if let Some(c) = checkpoints.iter().max_by_key(|c| (c.body.last_id, c.body.row_count)) {
        let found = log::coverage(&s.db, c.body.last_id, c.body.row_count).await?;
        if let Some(missing) = found.first_missing {
            let reason = format!(
                "truncated: the signed checkpoint of {} says the log had {} rows up to row {}; it now has {} rows up to there, and row {missing} is missing",
                c.body.at, c.body.row_count, c.body.last_id, found.rows
            );
            return Ok(broken(missing, ChainProblem::Truncated, &c.body.last_hash, found.hash.as_deref().unwrap_or(""), reason));
        }
        if found.hash.as_deref() != Some(c.body.last_hash.as_str()) {
            let reason = format!("row {}'s hash is not the one the checkpoint of {} signed: the chain was hashed again", c.body.last_id, c.body.at);
            return Ok(broken(c.body.last_id, ChainProblem::Rehashed, &c.body.last_hash, found.hash.as_deref().unwrap_or(""), reason));
        }
    }
    let (given, last) = log::ids_given(&s.db).await?;
    if given > last {
        let reason = format!("truncated: the log gave out ids up to {given} (ids are never reused) but ends at row {last}: rows were cut off its end");
        return Ok(broken(last + 1, ChainProblem::Truncated, "", "", reason));
    }
    Ok(status)
}

/// Where the key that signs the audit log comes from, first found wins: `audit_key`
/// (`BERTH_AUDIT_KEY`), `audit_key_file` (`BERTH_AUDIT_KEY_FILE`), else a key generated on
/// first use into a file beside the database (`<database file>.audit-key`, owner-only
/// permissions). The key never lives in the database: someone with the database file
/// alone cannot sign a rewritten log.
pub fn load_key(config: &Config) -> std::result::Result<AuditKey, KeyError> {
    if let Some(key) = config.audit_key.as_deref().filter(|k| !k.is_empty()) {
        return checked(key.trim(), "audit_key");
    }
    if let Some(path) = &config.audit_key_file {
        let text = std::fs::read_to_string(path).map_err(|e| KeyError::Read(path.clone(), e))?;
        return checked(text.trim(), &path.display().to_string());
    }
    let Some(path) = beside_database(&config.database_url) else {
        tracing::warn!("the database is in memory: the audit log is signed with a key that lives only as long as this process");
        return Ok(AuditKey::new(&rand::random::<[u8; 32]>()));
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => checked(text.trim(), &path.display().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = hex::encode(rand::random::<[u8; 32]>());
            crate::private_file::create(&path, key.as_bytes()).map_err(|e| KeyError::Read(path.clone(), e))?;
            tracing::info!("generated the audit log's signing key in {}; keep a copy apart from the database", path.display());
            checked(&key, &path.display().to_string())
        }
        Err(e) => Err(KeyError::Read(path, e)),
    }
}

fn checked(key: &str, source: &str) -> std::result::Result<AuditKey, KeyError> {
    if key.chars().count() < 16 {
        return Err(KeyError::TooShort(source.to_string()));
    }
    Ok(AuditKey::new(key.as_bytes()))
}

/// `sqlite://data/berth.db?mode=rwc` → `data/berth.db.audit-key`; `None` for an in-memory database.
fn beside_database(url: &str) -> Option<PathBuf> {
    crate::db::file_of(url).map(|path| PathBuf::from(format!("{}.audit-key", path.display())))
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or create the audit key file {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("the audit key from {0} is too short: use at least 16 characters")]
    TooShort(String),
}

/// The chain's state for the audit page, which admins open often: a full walk of a large
/// log takes seconds, so one is reused for `FULL_WALK_EVERY`, extended meanwhile by the
/// rows appended since. A row changed in the database file shows up at the next full walk.
pub async fn chain_state(s: &Services, actor: &User) -> Result<ChainStatus> {
    require_admin(actor)?;
    let mut cache = s.chain.0.lock().await;
    let from = match cache.take() {
        Some(known) if known.walked.elapsed() < FULL_WALK_EVERY => known,
        _ => Checkpoint::start(),
    };
    let walked = walk(s, from).await?;
    let status = complete(s, walked.status(), &[]).await?;
    *cache = Some(walked);
    Ok(status)
}

/// How long a full walk of the log is reused by the audit page.
const FULL_WALK_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// The audit page's last walk of the chain (see `chain_state`).
#[derive(Default)]
pub struct ChainCache(tokio::sync::Mutex<Option<Checkpoint>>);

/// How far a walk got: the chain up to row `last_id`, or where it broke.
pub struct Checkpoint {
    chain: Chain,
    last_id: i64,
    broken: Option<ChainBreak>,
    /// When the walk started from the first row.
    walked: std::time::Instant,
}

impl Checkpoint {
    fn start() -> Checkpoint {
        Checkpoint { chain: Chain::default(), last_id: 0, broken: None, walked: std::time::Instant::now() }
    }

    fn status(&self) -> ChainStatus {
        self.chain.clone().status(self.broken.clone())
    }
}

/// Follows the chain from `from` to the end of the log (or to the first broken row).
async fn walk(s: &Services, mut from: Checkpoint) -> Result<Checkpoint> {
    if from.broken.is_some() {
        return Ok(from);
    }
    let mut rows = std::pin::pin!(log::stream(&s.db, log::Filter { after_id: Some(from.last_id), ..Default::default() }));
    let key = log::key();
    while let Some(row) = rows.try_next().await? {
        if let Err(broken) = from.chain.follow(&row, key) {
            from.broken = Some(broken);
            break;
        }
        from.last_id = row.id;
    }
    Ok(from)
}

/// A walk along the log in id order. Each row must name the hash of the row before it as
/// its `prev_hash`, and its hash must cover its own content and that link: so an edited
/// row, a removed row and rows put in another order all break the walk.
/// With a key, each row's signature must also match its hash: a chain hashed again after
/// a change, by someone without the key, fails there. Rows from before the log was signed
/// carry none; once a signed row was seen, every later row must be signed.
#[derive(Clone)]
struct Chain {
    prev_hash: String,
    verified_rows: u64,
    signed: bool,
}

impl Default for Chain {
    fn default() -> Self {
        Chain { prev_hash: GENESIS.to_string(), verified_rows: 0, signed: false }
    }
}

impl Chain {
    fn follow(&mut self, row: &AuditRow, key: Option<&AuditKey>) -> Result<(), ChainBreak> {
        let expected = row.chained_to(&self.prev_hash).hash();
        let (kind, reason) = if row.prev_hash != self.prev_hash {
            (ChainProblem::Unlinked, "it does not link to the row before it: a row was removed, added or moved there, or its prev_hash was changed")
        } else if row.hash != expected {
            (ChainProblem::Edited, "its content or its hash was changed after it was written")
        } else {
            match (row.signature.as_deref(), key) {
                (Some(signature), Some(key)) if signature != key.sign_row(&row.hash) => (
                    ChainProblem::Rehashed,
                    "its hash checks out but its signature does not: the chain was hashed again after a change, without the audit key",
                ),
                (None, Some(_)) if self.signed => {
                    (ChainProblem::Rehashed, "it carries no signature though the rows before it do: the chain was rewritten without the audit key")
                }
                (signature, _) => {
                    self.signed |= signature.is_some();
                    self.prev_hash.clone_from(&row.hash);
                    self.verified_rows += 1;
                    return Ok(());
                }
            }
        };
        Err(ChainBreak {
            id: row.id.to_string(),
            expected_hash: expected,
            stored_hash: row.hash.clone(),
            reason: reason.to_string(),
            kind,
        })
    }

    fn status(self, broken: Option<ChainBreak>) -> ChainStatus {
        ChainStatus {
            verified_rows: self.verified_rows,
            last_hash: (self.verified_rows > 0).then_some(self.prev_hash),
            broken,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Json,
}

impl ExportFormat {
    /// As the `format` parameter names them.
    pub const NAMES: [&'static str; 2] = ["json", "csv"];

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Json => "application/json",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
        }
    }

    fn head(self) -> &'static str {
        match self {
            ExportFormat::Csv => "id,at,actor,action,subject,request_id,details,prev_hash,hash\r\n",
            ExportFormat::Json => "[",
        }
    }

    fn tail(self) -> &'static str {
        match self {
            ExportFormat::Csv => "",
            ExportFormat::Json => "\n]\n",
        }
    }

    /// The `index`th row of the export.
    fn row(self, index: usize, e: &AuditEntry) -> String {
        match self {
            ExportFormat::Csv => {
                let details = e.details.to_string();
                let fields = [
                    e.id.as_str(),
                    &e.at,
                    &e.actor,
                    &e.action,
                    &e.subject,
                    e.request_id.as_deref().unwrap_or_default(),
                    &details,
                    &e.prev_hash,
                    &e.hash,
                ];
                let mut line = fields.map(csv_field).join(",");
                line.push_str("\r\n");
                line
            }
            ExportFormat::Json => {
                let separator = if index == 0 { "\n" } else { ",\n" };
                format!("{separator}{}", serde_json::to_string(e).expect("an audit entry serializes"))
            }
        }
    }
}

/// One CSV field (RFC 4180). A spreadsheet runs a cell that starts with `=`, `+`, `-` or
/// `@` as a formula, and the actor of a failed sign-in is whatever someone typed, so such
/// a cell gets a leading `'` (the JSON export keeps every value exactly as stored).
fn csv_field(value: &str) -> Cow<'_, str> {
    let value: Cow<str> = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}").into()
    } else {
        value.into()
    };
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\"")).into()
    } else {
        value
    }
}

/// The whole selection, oldest first (so that each row's `prev_hash` names the row above
/// it), as chunks of text ready for a response body or standard output. The filters are
/// checked before anything is read; the rows are read as the consumer takes them.
pub fn export(
    s: &Services,
    actor: &User,
    filter: &AuditFilter,
    format: Option<&str>,
) -> Result<(ExportFormat, impl Stream<Item = Result<String>> + Send + 'static)> {
    let mut errors = Vec::new();
    let selection = selection(actor, filter, &mut errors);
    // The export is every matching row; a page's length or cursor is still checked, so a
    // bad one is refused here as on the list rather than silently ignored.
    position(filter, &mut errors);
    let format = match format.map(str::trim).filter(|f| !f.is_empty()) {
        None | Some("json") => ExportFormat::Json,
        Some("csv") => ExportFormat::Csv,
        Some(other) => {
            errors.push(FieldError::new("format", format!("Unknown format {other}; use csv or json")));
            ExportFormat::Json
        }
    };
    refuse(errors)?;
    let rows = log::stream(&s.db, selection)
        .map_err(Error::from)
        .enumerate()
        .map(move |(index, row)| row.map(|row| format.row(index, &entry(row))));
    let chunks = stream::once(future::ready(Ok(format.head().to_string())))
        .chain(rows)
        .chain(stream::once(future::ready(Ok(format.tail().to_string()))))
        // Rows that are ready go out together rather than one write each.
        .ready_chunks(256)
        .map(|chunk| chunk.into_iter().collect::<Result<String>>());
    Ok((format, chunks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::Role;

    /// A well-formed log of `n` rows, as `db::audit::append` writes it.
    fn log_of(n: i64) -> Vec<AuditRow> {
        let mut rows: Vec<AuditRow> = Vec::new();
        for id in 1..=n {
            let prev_hash = rows.last().map_or(GENESIS.to_string(), |r| r.hash.clone());
            let mut row = AuditRow {
                id,
                at: format!("2025-01-01T00:00:{id:02}Z"),
                actor: "rita".into(),
                action: "request.update".into(),
                subject_type: "request".into(),
                subject_id: "7".into(),
                request_id: Some(7),
                details: format!(r#"{{"revision":{id}}}"#),
                prev_hash,
                hash: String::new(),
                signature: None,
            };
            row.hash = row.chained_to(&row.prev_hash).hash();
            rows.push(row);
        }
        rows
    }

    fn walk(rows: &[AuditRow]) -> ChainStatus {
        walk_signed(rows, None)
    }

    fn walk_signed(rows: &[AuditRow], key: Option<&AuditKey>) -> ChainStatus {
        let mut chain = Chain::default();
        for row in rows {
            if let Err(broken) = chain.follow(row, key) {
                return chain.status(Some(broken));
            }
        }
        chain.status(None)
    }

    #[test]
    fn an_untouched_log_verifies_to_its_last_hash() {
        let rows = log_of(5);
        let status = walk(&rows);
        assert_eq!(status.broken, None);
        assert_eq!(status.verified_rows, 5);
        assert_eq!(status.last_hash.as_deref(), Some(rows[4].hash.as_str()));
        assert_eq!(walk(&[]), ChainStatus { verified_rows: 0, last_hash: None, broken: None });
    }

    #[test]
    fn edited_details_break_the_chain_at_that_row() {
        let mut rows = log_of(5);
        let original = rows[2].hash.clone();
        rows[2].details = r#"{"revision":99}"#.into();
        let status = walk(&rows);
        let broken = status.broken.expect("detected");
        assert_eq!(broken.id, "3");
        assert_eq!(broken.stored_hash, original);
        assert_ne!(broken.expected_hash, original);
        assert!(broken.reason.contains("content"), "{}", broken.reason);
        assert_eq!(status.verified_rows, 2);
        assert_eq!(status.last_hash.as_deref(), Some(rows[1].hash.as_str()));
    }

    #[test]
    fn every_field_of_a_row_is_covered_by_its_hash() {
        let edits: [fn(&mut AuditRow); 6] = [
            |r| r.at = "2030-01-01T00:00:00Z".into(),
            |r| r.actor = "mallory".into(),
            |r| r.action = "request.create".into(),
            |r| r.subject_type = "user".into(),
            |r| r.subject_id = "8".into(),
            |r| r.request_id = None,
        ];
        for edit in edits {
            let mut rows = log_of(3);
            edit(&mut rows[1]);
            assert_eq!(walk(&rows).broken.expect("detected").id, "2");
        }
    }

    #[test]
    fn a_rehashed_edit_still_breaks_the_link_of_the_next_row() {
        let mut rows = log_of(4);
        rows[1].details = r#"{"revision":99}"#.into();
        rows[1].hash = rows[1].chained_to(&rows[1].prev_hash).hash();
        let broken = walk(&rows).broken.expect("detected");
        assert_eq!(broken.id, "3");
        assert!(broken.reason.contains("does not link"), "{}", broken.reason);
    }

    #[test]
    fn a_deleted_row_breaks_the_chain_at_the_row_after_it() {
        let mut rows = log_of(5);
        rows.remove(2);
        let status = walk(&rows);
        let broken = status.broken.expect("detected");
        assert_eq!(broken.id, "4");
        assert!(broken.reason.contains("does not link"), "{}", broken.reason);
        assert_eq!(status.verified_rows, 2);

        let mut first_gone = log_of(3);
        first_gone.remove(0);
        assert_eq!(walk(&first_gone).broken.expect("detected").id, "2");
    }

    #[test]
    fn reordered_rows_break_the_chain() {
        // Swapping the content of two rows, ids left in place, as an UPDATE would.
        let mut rows = log_of(5);
        let (third, fourth) = (rows[2].clone(), rows[3].clone());
        rows[2] = AuditRow { id: 3, ..fourth };
        rows[3] = AuditRow { id: 4, ..third };
        assert_eq!(walk(&rows).broken.expect("detected").id, "3");
    }

    fn signed(rows: &mut [AuditRow], key: &AuditKey) {
        for row in rows {
            row.signature = Some(key.sign_row(&row.hash));
        }
    }

    /// Someone with the database but not the key edits a row and hashes the chain again
    /// from there: every link and hash checks out, the signature of the edited row does not.
    #[test]
    fn a_chain_hashed_again_without_the_key_fails_at_the_first_rewritten_row() {
        let key = AuditKey::new(b"a key of at least sixteen bytes");
        let mut rows = log_of(5);
        signed(&mut rows, &key);
        assert_eq!(walk_signed(&rows, Some(&key)).broken, None);
        rows[2].details = r#"{"revision":99}"#.into();
        for i in 2..rows.len() {
            rows[i].prev_hash = rows[i - 1].hash.clone();
            rows[i].hash = rows[i].chained_to(&rows[i].prev_hash).hash();
        }
        assert_eq!(walk(&rows).broken, None, "the chain alone cannot tell");
        let broken = walk_signed(&rows, Some(&key)).broken.expect("detected");
        assert_eq!((broken.id.as_str(), broken.kind), ("3", ChainProblem::Rehashed));
        // Dropping the signatures from there on is no way out either.
        for row in &mut rows[2..] {
            row.signature = None;
        }
        assert_eq!(walk_signed(&rows, Some(&key)).broken.expect("detected").id, "3");
        // Rows from before signing existed need none.
        let mut old = log_of(3);
        signed(&mut old[1..], &key);
        assert_eq!(walk_signed(&old, Some(&key)).broken, None);
    }

    #[test]
    fn the_key_file_sits_beside_the_database() {
        assert_eq!(beside_database("sqlite://data/berth.db?mode=rwc"), Some(PathBuf::from("data/berth.db.audit-key")));
        assert_eq!(beside_database("sqlite:/var/lib/berth.db"), Some(PathBuf::from("/var/lib/berth.db.audit-key")));
        assert_eq!(beside_database("sqlite::memory:"), None);
    }

    #[test]
    fn a_generated_key_is_kept_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let config = Config { database_url: format!("sqlite://{}", dir.path().join("b.db").display()), ..Config::default() };
        let first = load_key(&config).unwrap();
        let file = dir.path().join("b.db.audit-key");
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(load_key(&config).unwrap().sign_row("x"), first.sign_row("x"), "the same key next time");
        let given = Config { audit_key: Some("from the configuration file".into()), ..config.clone() };
        assert_ne!(load_key(&given).unwrap().sign_row("x"), first.sign_row("x"));
        assert!(matches!(load_key(&Config { audit_key: Some("short".into()), ..config }), Err(KeyError::TooShort(_))));
    }

    #[test]
    fn days_cover_whole_days_and_times_cover_their_second() {
        assert_eq!(instant("2025-03-04", false).as_deref(), Some("2025-03-04T00:00:00Z"));
        assert_eq!(instant("2025-03-04", true).as_deref(), Some("2025-03-04T23:59:59Z"));
        assert_eq!(instant("2025-03-04T10:20:30+02:00", false).as_deref(), Some("2025-03-04T08:20:30Z"));
        assert_eq!(instant("2025-03-04T10:20:30.5Z", false).as_deref(), Some("2025-03-04T10:20:31Z"));
        assert_eq!(instant("2025-03-04T10:20:30.5Z", true).as_deref(), Some("2025-03-04T10:20:30Z"));
        for bad in ["yesterday", "2025-02-30", "2025-3-4", "04/03/2025", "2025-03-04T10:20"] {
            assert_eq!(instant(bad, false), None, "{bad}");
        }
    }

    fn user(role: Role) -> User {
        User {
            id: "2".into(),
            username: "rita".into(),
            display_name: "Rita".into(),
            role,
            team: "payments".into(),
            disabled: false,
            created_at: "2025-01-01T00:00:00Z".into(),
            via_token: false,
        }
    }

    #[test]
    fn bad_filters_are_named_and_requesters_are_narrowed() {
        let filter = AuditFilter {
            request: Some("seven".into()),
            from: Some("2025-05-01".into()),
            to: Some("2025-04-01".into()),
            limit: Some("many".into()),
            cursor: Some("forged".into()),
            ..Default::default()
        };
        let mut errors = Vec::new();
        selection(&user(Role::Admin), &filter, &mut errors);
        position(&filter, &mut errors);
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["request", "to", "limit", "cursor"]);

        let mut errors = Vec::new();
        let mine = selection(&user(Role::Requester), &AuditFilter::default(), &mut errors);
        let viewer = mine.visible_to.expect("narrowed");
        assert_eq!((viewer.username.as_str(), viewer.team.as_str()), ("rita", "payments"));
        assert!(selection(&user(Role::Approver), &AuditFilter::default(), &mut errors).visible_to.is_none());
        assert!(errors.is_empty());
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("request.create"), "request.create");
        assert_eq!(csv_field(r#"{"a":"b, c"}"#), r#""{""a"":""b, c""}""#);
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), r#""'=HYPERLINK(""x"")""#);
        assert_eq!(csv_field("-1"), "'-1");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    }
}
