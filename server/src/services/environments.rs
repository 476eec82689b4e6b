//! Environments: one cluster stack each.

use super::Services;
use crate::db::{self, audit};
use crate::error::Result;
use app::error::AppError;
use app::model::{ClusterParameters, Environment};
use serde_json::json;

pub async fn list(s: &Services) -> Result<Vec<Environment>> {
    Ok(db::environments::list(&s.db).await?)
}

pub async fn get(s: &Services, name: &str) -> Result<Environment> {
    db::environments::get(&s.db, name)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("No environment named {name}")).into())
}

/// Creates the configured default environment when there is none, so a fresh install can
/// take requests at once.
pub async fn ensure_default(s: &Services) -> Result<()> {
    let mut tx = db::begin_write(&s.db).await?;
    if db::environments::count(&mut tx).await? > 0 {
        return Ok(());
    }
    let d = &s.config.default_environment;
    let parameters = ClusterParameters {
        instance_type: d.instance_type.clone(),
        desired_capacity: d.desired_capacity,
        max_size: d.max_size,
        ecs_ami: None,
    };
    db::environments::insert(&mut tx, &d.name, &d.region, &parameters, &db::now()).await?;
    audit::append(
        &mut tx,
        audit::Entry {
            actor: "system",
            action: "environment.create",
            subject_type: "environment",
            subject_id: d.name.clone(),
            request_id: None,
            details: json!({"after": {"name": d.name, "region": d.region, "parameters": parameters}}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
