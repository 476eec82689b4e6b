//! The audit log: append-only (SQLite triggers refuse UPDATE and DELETE) and hash-chained,
//! so that any edit of a stored row breaks the chain from that row on.

use super::{now, Tx};
use serde_json::Value;
use sha2::{Digest, Sha256};

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
    let prev_hash: String = sqlx::query_scalar("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")
        .fetch_optional(&mut **tx)
        .await?
        .unwrap_or_else(|| GENESIS.to_string());
    let at = now();
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
