//! SQL for environments (one cluster stack each).

use super::{Db, Tx};
use app::model::{ClusterParameters, Environment, EnvironmentInput, EnvironmentStatus};
use app::stacks::cluster_stack_name;
use sqlx::SqliteExecutor;

#[derive(sqlx::FromRow)]
struct EnvironmentRow {
    name: String,
    region: String,
    instance_type: String,
    desired_capacity: i64,
    max_size: i64,
    ecs_ami: Option<String>,
    certificate_arn: Option<String>,
    access_logs_bucket: Option<String>,
    deletion_protection: bool,
    container_insights: bool,
    status: String,
    outputs: String,
    rule_capacity: i64,
    api_count: i64,
    role_arn: Option<String>,
    external_id: Option<String>,
}

impl EnvironmentRow {
    fn into_environment(self) -> Environment {
        Environment {
            stack_name: cluster_stack_name(&self.name),
            name: self.name,
            region: self.region,
            parameters: ClusterParameters {
                instance_type: self.instance_type,
                desired_capacity: self.desired_capacity as u32,
                max_size: self.max_size as u32,
                ecs_ami: self.ecs_ami,
                certificate_arn: self.certificate_arn,
                access_logs_bucket: self.access_logs_bucket,
                deletion_protection: self.deletion_protection,
                container_insights: self.container_insights,
            },
            status: EnvironmentStatus::parse(&self.status).unwrap_or(EnvironmentStatus::NotDeployed),
            outputs: serde_json::from_str(&self.outputs).unwrap_or_default(),
            rule_capacity: self.rule_capacity as u32,
            api_count: self.api_count as u32,
            pending_change: None,
            role_arn: self.role_arn,
            external_id: self.external_id,
            access: None,
        }
    }
}

const COLUMNS: &str = "name, region, instance_type, desired_capacity, max_size, ecs_ami, certificate_arn, access_logs_bucket,
    deletion_protection, container_insights, status, outputs, rule_capacity, role_arn, external_id,
    (SELECT count(*) FROM requests r WHERE r.environment = e.name AND r.status NOT IN ('rejected', 'decommissioned')) AS api_count";

pub async fn list(db: &Db) -> Result<Vec<Environment>, sqlx::Error> {
    let rows: Vec<EnvironmentRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM environments e ORDER BY name")).fetch_all(db).await?;
    Ok(rows.into_iter().map(EnvironmentRow::into_environment).collect())
}

pub async fn get(db: impl SqliteExecutor<'_>, name: &str) -> Result<Option<Environment>, sqlx::Error> {
    let row: Option<EnvironmentRow> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM environments e WHERE name = ?"))
        .bind(name)
        .fetch_optional(db)
        .await?;
    Ok(row.map(EnvironmentRow::into_environment))
}

pub async fn rule_capacity(tx: &mut Tx, name: &str) -> Result<u32, sqlx::Error> {
    sqlx::query_scalar::<_, i64>("SELECT rule_capacity FROM environments WHERE name = ?")
        .bind(name)
        .fetch_one(&mut **tx)
        .await
        .map(|n| n as u32)
}

pub async fn count(tx: &mut Tx) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM environments").fetch_one(&mut **tx).await
}

pub async fn insert(tx: &mut Tx, e: &EnvironmentInput, now: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO environments (name, region, instance_type, desired_capacity, max_size, ecs_ami, rule_capacity,
                                   certificate_arn, access_logs_bucket, deletion_protection, container_insights, role_arn, external_id,
                                   created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&e.name)
    .bind(&e.region)
    .bind(&e.parameters.instance_type)
    .bind(e.parameters.desired_capacity)
    .bind(e.parameters.max_size)
    .bind(&e.parameters.ecs_ami)
    .bind(e.rule_capacity)
    .bind(&e.parameters.certificate_arn)
    .bind(&e.parameters.access_logs_bucket)
    .bind(e.parameters.deletion_protection)
    .bind(e.parameters.container_insights)
    .bind(&e.role_arn)
    .bind(&e.external_id)
    .bind(now)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

pub async fn update(tx: &mut Tx, e: &EnvironmentInput, now: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE environments SET region = ?, instance_type = ?, desired_capacity = ?, max_size = ?, ecs_ami = ?,
                rule_capacity = ?, certificate_arn = ?, access_logs_bucket = ?, deletion_protection = ?, container_insights = ?,
                role_arn = ?, external_id = ?, updated_at = ?
         WHERE name = ?",
    )
    .bind(&e.region)
    .bind(&e.parameters.instance_type)
    .bind(e.parameters.desired_capacity)
    .bind(e.parameters.max_size)
    .bind(&e.parameters.ecs_ami)
    .bind(e.rule_capacity)
    .bind(&e.parameters.certificate_arn)
    .bind(&e.parameters.access_logs_bucket)
    .bind(e.parameters.deletion_protection)
    .bind(e.parameters.container_insights)
    .bind(&e.role_arn)
    .bind(&e.external_id)
    .bind(now)
    .bind(&e.name)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// The cluster stack's state as the deployment engine last saw it.
pub async fn set_status(db: &Db, name: &str, status: EnvironmentStatus, outputs: Option<&str>, now: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE environments SET status = ?, outputs = coalesce(?, outputs), updated_at = ? WHERE name = ?")
        .bind(status.as_str())
        .bind(outputs)
        .bind(now)
        .bind(name)
        .execute(db)
        .await
        .map(|_| ())
}

/// A change of an environment waiting for review.
#[derive(sqlx::FromRow)]
pub struct ChangeRow {
    pub id: i64,
    pub input: String,
    pub requested_by: i64,
    pub requested_by_username: String,
    pub created_at: String,
}

pub async fn insert_change(tx: &mut Tx, environment: &str, input: &EnvironmentInput, requested_by: i64, now: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO environment_changes (environment, input, requested_by, status, created_at) VALUES (?, ?, ?, 'pending', ?) RETURNING id",
    )
    .bind(environment)
    .bind(serde_json::to_string(input).expect("an environment serializes"))
    .bind(requested_by)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
}

/// The environment's change waiting for review, if any.
pub async fn pending_change(db: impl SqliteExecutor<'_>, environment: &str) -> Result<Option<ChangeRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.id, c.input, c.requested_by, u.username AS requested_by_username, c.created_at
         FROM environment_changes c JOIN users u ON u.id = c.requested_by
         WHERE c.environment = ? AND c.status = 'pending'",
    )
    .bind(environment)
    .fetch_optional(db)
    .await
}

pub async fn decide_change(tx: &mut Tx, id: i64, approved: bool, decided_by: i64, reason: Option<&str>, now: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE environment_changes SET status = ?, decided_by = ?, reason = ?, decided_at = ? WHERE id = ? AND status = 'pending'")
        .bind(if approved { "approved" } else { "rejected" })
        .bind(decided_by)
        .bind(reason)
        .bind(now)
        .bind(id)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}
