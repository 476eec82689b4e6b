//! SQL for API requests and their revisions.

use super::{Db, Tx};
use app::model::{RequestInput, RequestStatus};
use sqlx::{QueryBuilder, Sqlite};

/// Statuses whose requests no longer hold a name, path or priority in their environment;
/// the partial unique indexes of the `requests` table use the same list.
const RELEASED: &str = "('rejected', 'decommissioned')";

/// What a live request holds in its environment.
#[derive(sqlx::FromRow)]
pub struct Claim {
    pub id: i64,
    pub service_name: String,
    pub path: String,
    pub priority: i64,
}

pub async fn live_claims(tx: &mut Tx, environment: &str) -> Result<Vec<Claim>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT id, service_name, path, priority FROM requests
         WHERE environment = ? AND status NOT IN {RELEASED} ORDER BY priority"
    ))
    .bind(environment)
    .fetch_all(&mut **tx)
    .await
}

/// The current parameters of every live request of the environment.
pub async fn live_inputs(tx: &mut Tx, environment: &str) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT r.service_name, v.parameters FROM requests r
         JOIN request_revisions v ON v.request_id = r.id AND v.revision = r.revision
         WHERE r.environment = ? AND r.status NOT IN {RELEASED} ORDER BY r.id"
    ))
    .bind(environment)
    .fetch_all(&mut **tx)
    .await
}

pub struct NewRequest<'a> {
    pub input: &'a RequestInput,
    pub priority: u32,
    pub team: &'a str,
    pub requested_by: i64,
    pub now: &'a str,
}

pub async fn insert(tx: &mut Tx, r: NewRequest<'_>) -> Result<i64, sqlx::Error> {
    let id = sqlx::query(
        "INSERT INTO requests (environment, service_name, path, priority, team, requested_by, status, revision, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
    )
    .bind(&r.input.environment)
    .bind(&r.input.service_name)
    .bind(&r.input.path)
    .bind(r.priority)
    .bind(r.team)
    .bind(r.requested_by)
    .bind(RequestStatus::PendingReview.as_str())
    .bind(r.now)
    .bind(r.now)
    .execute(&mut **tx)
    .await?
    .last_insert_rowid();
    insert_revision(tx, id, 1, r.input, r.requested_by, false, r.now).await?;
    status_changed(tx, id, r.now).await?;
    Ok(id)
}

pub async fn insert_revision(
    tx: &mut Tx,
    request_id: i64,
    revision: u32,
    input: &RequestInput,
    created_by: i64,
    reverts_drift: bool,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO request_revisions (request_id, revision, parameters, created_by, reverts_drift, created_at) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(request_id)
        .bind(revision)
        .bind(serde_json::to_string(input).expect("a request serializes"))
        .bind(created_by)
        .bind(reverts_drift)
        .bind(now)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

/// Points the request at a new revision and sends it back to review.
pub async fn set_revision(tx: &mut Tx, id: i64, revision: u32, path: &str, now: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE requests SET revision = ?, path = ?, status = ?, updated_at = ? WHERE id = ?")
        .bind(revision)
        .bind(path)
        .bind(RequestStatus::PendingReview.as_str())
        .bind(now)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    status_changed(tx, id, now).await
}

/// A request with its current revision's parameters.
#[derive(sqlx::FromRow)]
pub struct RequestRecord {
    pub id: i64,
    pub environment: String,
    pub service_name: String,
    pub priority: i64,
    pub team: String,
    pub requested_by: i64,
    pub requested_by_username: String,
    pub revision_author_id: i64,
    pub revision_author: String,
    pub status: String,
    pub revision: i64,
    pub parameters: String,
    pub created_at: String,
    pub updated_at: String,
    pub deployed_revision: Option<i64>,
    pub status_reason: Option<String>,
    pub outputs: String,
    pub legacy_names: bool,
    pub decommission_requested_by: Option<i64>,
    /// The current revision sets drifted resources back to the deployed one.
    pub reverts_drift: bool,
}

impl RequestRecord {
    /// How the request's stacks are named: requests older than the current scheme keep theirs.
    pub fn naming(&self) -> app::stacks::Naming {
        if self.legacy_names {
            app::stacks::Naming::Legacy
        } else {
            app::stacks::Naming::Separated
        }
    }

    pub fn status(&self) -> RequestStatus {
        RequestStatus::parse(&self.status).unwrap_or(RequestStatus::Failed)
    }

    pub fn input(&self) -> Result<RequestInput, serde_json::Error> {
        serde_json::from_str(&self.parameters)
    }
}

pub async fn get(db: impl sqlx::SqliteExecutor<'_>, id: i64) -> Result<Option<RequestRecord>, sqlx::Error> {
    sqlx::query_as(
        "SELECT r.id, r.environment, r.service_name, r.priority, r.team, r.requested_by,
                u.username AS requested_by_username, v.created_by AS revision_author_id, a.username AS revision_author,
                r.status, r.revision, v.parameters, r.created_at, r.updated_at, r.deployed_revision, r.status_reason, r.outputs,
                r.legacy_names, r.decommission_requested_by, v.reverts_drift
         FROM requests r
         JOIN users u ON u.id = r.requested_by
         JOIN request_revisions v ON v.request_id = r.id AND v.revision = r.revision
         JOIN users a ON a.id = v.created_by
         WHERE r.id = ?",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

#[derive(sqlx::FromRow)]
pub struct SummaryRow {
    pub id: i64,
    pub environment: String,
    pub service_name: String,
    pub path: String,
    pub team: String,
    pub requested_by_username: String,
    pub status: String,
    pub revision: i64,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Default)]
pub struct ListFilter {
    pub status: Option<String>,
    pub environment: Option<String>,
    pub team: Option<String>,
    pub requested_by: Option<i64>,
    /// The keyset cursor: only requests past this id in the list's order.
    pub cursor_id: Option<i64>,
    /// The review queue: awaiting a decision, oldest first.
    pub queue: bool,
    pub limit: u32,
}

/// Newest first (the queue: oldest first). Keyset pagination on the primary key keeps every page as fast as the
/// first, whatever the table's size.
pub async fn list(db: &Db, f: &ListFilter) -> Result<Vec<SummaryRow>, sqlx::Error> {
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "SELECT r.id, r.environment, r.service_name, r.path, r.team, u.username AS requested_by_username,
                r.status, r.revision, r.created_at, r.updated_at
         FROM requests r JOIN users u ON u.id = r.requested_by WHERE 1 = 1",
    );
    if let Some(status) = &f.status {
        q.push(" AND r.status = ").push_bind(status);
    }
    if f.queue {
        q.push(" AND r.status IN ('pending_review', 'decommission_requested')");
    }
    if let Some(environment) = &f.environment {
        q.push(" AND r.environment = ").push_bind(environment);
    }
    if let Some(team) = &f.team {
        q.push(" AND r.team = ").push_bind(team);
    }
    if let Some(user) = f.requested_by {
        q.push(" AND r.requested_by = ").push_bind(user);
    }
    let (after, order) = if f.queue { (" AND r.id > ", " ORDER BY r.id ASC") } else { (" AND r.id < ", " ORDER BY r.id DESC") };
    if let Some(cursor) = f.cursor_id {
        q.push(after).push_bind(cursor);
    }
    q.push(order).push(" LIMIT ").push_bind(f.limit);
    q.build_query_as().fetch_all(db).await
}

/// Records who asked to decommission the request (`None` once the request is decided).
pub async fn set_decommission_requested_by(tx: &mut Tx, id: i64, user: Option<i64>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE requests SET decommission_requested_by = ? WHERE id = ?").bind(user).bind(id).execute(&mut **tx).await.map(|_| ())
}

pub async fn set_status(tx: &mut Tx, id: i64, status: RequestStatus, reason: Option<&str>, now: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE requests SET status = ?, status_reason = ?, updated_at = ? WHERE id = ?")
        .bind(status.as_str())
        .bind(reason)
        .bind(now)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    status_changed(tx, id, now).await
}

/// Queues the request's new status for the webhooks, in the caller's transaction. Every
/// write here that changes a request's status ends with it.
async fn status_changed(tx: &mut Tx, id: i64, now: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_events (request_id, payload, created_at)
         SELECT id, json_object('event', 'request.status_changed', 'request_id', CAST(id AS TEXT), 'status', status,
                                'status_reason', status_reason, 'revision', revision, 'environment', environment,
                                'service_name', service_name, 'team', team, 'at', ?1), ?1
         FROM requests WHERE id = ?2",
    )
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Records a successful deployment: the revision now live and the service stack's outputs.
pub async fn mark_deployed(tx: &mut Tx, id: i64, revision: i64, outputs: &str, now: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE requests SET status = 'deployed', deployed_revision = ?, outputs = ?, status_reason = NULL, updated_at = ?
         WHERE id = ?",
    )
    .bind(revision)
    .bind(outputs)
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    status_changed(tx, id, now).await
}

/// The parameters of one revision of a request.
pub async fn revision_input(db: impl sqlx::SqliteExecutor<'_>, id: i64, revision: i64) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT parameters FROM request_revisions WHERE request_id = ? AND revision = ?")
        .bind(id)
        .bind(revision)
        .fetch_optional(db)
        .await
}

/// Whether a revision of a request sets drifted resources back (false for an unknown one).
pub async fn revision_reverts_drift(db: impl sqlx::SqliteExecutor<'_>, id: i64, revision: i64) -> Result<bool, sqlx::Error> {
    let found: Option<bool> = sqlx::query_scalar("SELECT reverts_drift FROM request_revisions WHERE request_id = ? AND revision = ?")
        .bind(id)
        .bind(revision)
        .fetch_optional(db)
        .await?;
    Ok(found.unwrap_or(false))
}

/// The requests with a live service: deployed once and not being taken down.
pub const LIVE: &str = "r.deployed_revision IS NOT NULL AND r.status NOT IN ('decommissioning', 'decommissioned')";

/// Where a live request's service runs, from the stacks' outputs, for the health poller.
#[derive(sqlx::FromRow)]
pub struct ServiceRow {
    pub id: i64,
    pub region: String,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub cluster: Option<String>,
    pub service: Option<String>,
    pub target_group: Option<String>,
}

impl ServiceRow {
    /// `None` when the outputs lack the cluster or the service.
    pub fn service_ref(self) -> Option<(i64, crate::aws::ServiceRef)> {
        let location = crate::aws::Location::new(&self.region, self.role_arn.as_deref(), self.external_id.as_deref());
        Some((self.id, crate::aws::ServiceRef { location, cluster: self.cluster?, service: self.service?, target_group: self.target_group }))
    }
}

const SERVICES: &str = "SELECT r.id, e.region, e.role_arn, e.external_id, json_extract(e.outputs, '$.ClusterName') AS cluster,
            json_extract(r.outputs, '$.ServiceName') AS service, json_extract(r.outputs, '$.TargetGroupArn') AS target_group
     FROM requests r JOIN environments e ON e.name = r.environment";

/// Every live service, read by the health poller every second: only where it runs and the
/// three names it needs leave SQLite.
pub async fn live_services(db: &Db) -> Result<Vec<ServiceRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SERVICES} WHERE {LIVE} ORDER BY r.id")).fetch_all(db).await
}

pub async fn live_service(db: &Db, id: i64) -> Result<Option<ServiceRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SERVICES} WHERE {LIVE} AND r.id = ?")).bind(id).fetch_optional(db).await
}

/// A live request as the dashboard sorts and filters it.
#[derive(sqlx::FromRow)]
pub struct LiveRow {
    pub id: i64,
    pub service_name: String,
    pub team: String,
    pub environment: String,
    pub status: String,
}

/// The live requests of the dashboard, narrowed in SQL; the order is the caller's (it may
/// depend on health, which only the poller's cache knows).
pub async fn live(db: &Db, team: Option<&str>, environment: Option<&str>, name_part: Option<&str>) -> Result<Vec<LiveRow>, sqlx::Error> {
    let mut q: QueryBuilder<Sqlite> =
        QueryBuilder::new(format!("SELECT r.id, r.service_name, r.team, r.environment, r.status FROM requests r WHERE {LIVE}"));
    if let Some(team) = team {
        q.push(" AND r.team = ").push_bind(team);
    }
    if let Some(environment) = environment {
        q.push(" AND r.environment = ").push_bind(environment);
    }
    if let Some(part) = name_part {
        q.push(" AND instr(lower(r.service_name), ").push_bind(part.to_lowercase()).push(") > 0");
    }
    q.build_query_as().fetch_all(db).await
}

/// The public URLs of some requests (one page of the dashboard), by id.
pub async fn public_urls(db: &Db, ids: &[i64]) -> Result<Vec<(i64, Option<String>)>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    super::where_in("SELECT id, json_extract(outputs, '$.PublicUrl') FROM requests WHERE id", ids).build_query_as().fetch_all(db).await
}
