//! Environments: one cluster stack each. Approvers and admins create and change them;
//! a change may not strand the APIs already in the environment.

use super::{require_platform, Services};
use crate::db::{self, audit};
use crate::error::Result;
use app::error::AppError;
use app::model::{ClusterParameters, Environment, EnvironmentInput, RequestInput, User, DEFAULT_RULE_CAPACITY};
use app::validation::{capacity, fits, validate_environment};
use serde_json::json;

pub async fn list(s: &Services) -> Result<Vec<Environment>> {
    Ok(db::environments::list(&s.db).await?)
}

pub async fn get(s: &Services, name: &str) -> Result<Environment> {
    db::environments::get(&s.db, name)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("No environment named {name}")).into())
}

/// The shared rules, and one only the server knows: Berth's AWS clients work in one
/// region, so an environment elsewhere would be deployed in the wrong place.
fn validate(s: &Services, input: &EnvironmentInput) -> Vec<app::model::FieldError> {
    let mut errors = validate_environment(input);
    if !errors.iter().any(|e| e.field == "region") && input.region != s.config.aws_region {
        errors.push(app::model::FieldError::new(
            "region",
            format!("Berth deploys in {} (its AWS region); an environment in {} needs a Berth running there", s.config.aws_region, input.region),
        ));
    }
    errors
}

pub async fn create(s: &Services, actor: &User, input: EnvironmentInput) -> Result<Environment> {
    require_platform(actor)?;
    let errors = validate(s, &input);
    if !errors.is_empty() {
        return Err(AppError::Validation(errors).into());
    }
    let mut tx = db::begin_write(&s.db).await?;
    if db::environments::get(&mut *tx, &input.name).await?.is_some() {
        return Err(AppError::Taken { field: "name".into(), message: format!("There is already an environment named {}", input.name) }.into());
    }
    db::environments::insert(&mut tx, &input, &db::now()).await?;
    audit::append(&mut tx, entry(&actor.username, "environment.create", &input.name, json!({"after": input}))).await?;
    let created = db::environments::get(&mut *tx, &input.name).await?.expect("inserted in this transaction");
    tx.commit().await?;
    Ok(created)
}

pub async fn update(s: &Services, actor: &User, name: &str, mut input: EnvironmentInput) -> Result<Environment> {
    require_platform(actor)?;
    input.name = name.to_string();
    let errors = validate(s, &input);
    if !errors.is_empty() {
        return Err(AppError::Validation(errors).into());
    }
    let mut tx = db::begin_write(&s.db).await?;
    let current = db::environments::get(&mut *tx, name)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("No environment named {name}")))?;
    let live = db::requests::live_inputs(&mut tx, name).await?;
    if input.region != current.region && !live.is_empty() {
        return Err(AppError::Taken {
            field: "region".into(),
            message: format!("{name} holds {} APIs; its region cannot change under them", live.len()),
        }
        .into());
    }
    if (input.rule_capacity as usize) < live.len() {
        return Err(AppError::Taken {
            field: "rule_capacity".into(),
            message: format!("{name} already routes {} APIs; the capacity cannot be lower", live.len()),
        }
        .into());
    }
    let stranded = stranded_apis(&live, &input.parameters)?;
    if !stranded.is_empty() {
        return Err(AppError::Taken {
            field: "parameters.InstanceType".into(),
            message: format!("{} × {} (maximum) is too small for {}", input.parameters.max_size, input.parameters.instance_type, stranded.join("; ")),
        }
        .into());
    }
    db::environments::update(&mut tx, &input, &db::now()).await?;
    let before = json!({"region": current.region, "parameters": current.parameters, "rule_capacity": current.rule_capacity});
    let after = json!({"region": input.region, "parameters": input.parameters, "rule_capacity": input.rule_capacity});
    audit::append(&mut tx, entry(&actor.username, "environment.update", name, json!({"before": before, "after": after}))).await?;
    let updated = db::environments::get(&mut *tx, name).await?.expect("updated in this transaction");
    tx.commit().await?;
    Ok(updated)
}

/// The live APIs whose CPU or memory would no longer fit the instance type, or whose
/// tasks (with a deployment's headroom) would no longer fit the maximum size.
fn stranded_apis(live: &[(String, String)], cluster: &ClusterParameters) -> Result<Vec<String>> {
    let mut stranded = Vec::new();
    for (service, parameters) in live {
        let input: RequestInput = serde_json::from_str(parameters)?;
        if let Err(why) = fits(input.cpu, input.memory, cluster) {
            stranded.push(format!("{service}: {why}"));
        } else if let Err((_, why)) = capacity(&input, cluster) {
            stranded.push(format!("{service}: {why}"));
        }
    }
    Ok(stranded)
}

fn entry<'a>(actor: &'a str, action: &'a str, name: &str, details: serde_json::Value) -> audit::Entry<'a> {
    audit::Entry { actor, action, subject_type: "environment", subject_id: name.to_string(), request_id: None, details }
}

/// Creates the configured default environment when there is none, so a fresh install can
/// take requests at once.
pub async fn ensure_default(s: &Services) -> Result<()> {
    let mut tx = db::begin_write(&s.db).await?;
    if db::environments::count(&mut tx).await? > 0 {
        return Ok(());
    }
    let d = &s.config.default_environment;
    let input = EnvironmentInput {
        name: d.name.clone(),
        region: d.region.clone(),
        parameters: ClusterParameters {
            instance_type: d.instance_type.clone(),
            desired_capacity: d.desired_capacity,
            max_size: d.max_size,
            ..Default::default()
        },
        rule_capacity: DEFAULT_RULE_CAPACITY,
    };
    db::environments::insert(&mut tx, &input, &db::now()).await?;
    audit::append(&mut tx, entry("system", "environment.create", &input.name, json!({"after": input}))).await?;
    tx.commit().await?;
    Ok(())
}
