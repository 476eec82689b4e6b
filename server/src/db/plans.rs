//! SQL for the plans approvers were shown (`plans_seen`).

use super::Db;

/// What a plan is about: a request's revision or an environment change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    Request { id: i64, revision: i64 },
    EnvironmentChange(i64),
}

impl Subject {
    fn key(self) -> String {
        match self {
            Subject::Request { id, revision } => format!("request:{id}:{revision}"),
            Subject::EnvironmentChange(id) => format!("environment-change:{id}"),
        }
    }
}

/// Keeps `plan` (JSON) as the last one `actor` was shown for `subject`.
pub async fn record(db: &Db, subject: Subject, actor: &str, plan: &str, now: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO plans_seen (subject, actor, plan, seen_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (subject, actor) DO UPDATE SET plan = excluded.plan, seen_at = excluded.seen_at",
    )
    .bind(subject.key())
    .bind(actor)
    .bind(plan)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// The plan `actor` was last shown for `subject` and when, if any.
pub async fn last_seen(e: impl sqlx::SqliteExecutor<'_>, subject: Subject, actor: &str) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT plan, seen_at FROM plans_seen WHERE subject = ? AND actor = ?").bind(subject.key()).bind(actor).fetch_optional(e).await
}
