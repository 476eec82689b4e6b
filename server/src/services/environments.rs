//! Environments: one cluster stack each. Approvers and admins create them and ask for
//! changes, which another approver or admin reviews (with the change set of the cluster
//! stack) before they take effect; a change may not strand the APIs already in the
//! environment.

use super::{parse_id, require_platform, Services};
use crate::db::{self, audit};
use crate::error::Result;
use app::error::AppError;
use app::model::{
    ClusterParameters, Environment, EnvironmentAccess, EnvironmentChange, EnvironmentInput, EnvironmentPlan, ParameterChange, RequestInput, User, DEFAULT_RULE_CAPACITY,
};
use app::validation::{capacity, fits, room, validate_environment};
use serde_json::json;

pub async fn list(s: &Services, actor: &User) -> Result<Vec<Environment>> {
    let mut all = db::environments::list(&s.db).await?;
    for env in &mut all {
        env.pending_change = pending(s, actor, &env.name).await?;
        shown_to(actor, env);
    }
    Ok(all)
}

/// One environment, with whether Berth can act in its account and region (checked at
/// most every few minutes per account, region and role, however many look).
pub async fn get(s: &Services, actor: &User, name: &str) -> Result<Environment> {
    let mut env = db::environments::get(&s.db, name)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("No environment named {name}")))?;
    env.pending_change = pending(s, actor, name).await?;
    env.access = Some(access(s, &env).await);
    shown_to(actor, &mut env);
    Ok(env)
}

async fn access(s: &Services, env: &Environment) -> EnvironmentAccess {
    let checked_at = db::now();
    match s.aws.identity(&crate::aws::Location::of(env)).await {
        Ok((account, arn)) => EnvironmentAccess { ok: true, account: Some(account), message: arn, checked_at },
        Err(e) => EnvironmentAccess {
            ok: false,
            account: env.role_arn.as_deref().and_then(|r| app::validation::environment_role_account(r).ok()).map(str::to_string),
            message: e.to_string(),
            checked_at,
        },
    }
}

/// The external id is the target account's business: requesters see where an environment
/// is, not what opens it.
fn shown_to(actor: &User, env: &mut Environment) {
    if !actor.role.is_platform() {
        env.external_id = None;
    }
}

/// The environment's change waiting for review, as `actor` sees it.
async fn pending(s: &Services, actor: &User, name: &str) -> Result<Option<EnvironmentChange>> {
    let Some(row) = db::environments::pending_change(&s.db, name).await? else { return Ok(None) };
    Ok(Some(EnvironmentChange {
        id: row.id.to_string(),
        may_decide: may_decide_change(actor, &row).is_ok(),
        requested_by: row.requested_by_username,
        requested_at: row.created_at,
        after: serde_json::from_str(&row.input)?,
    }))
}

/// Approvers and admins decide environment changes, but never one they asked for.
fn may_decide_change(actor: &User, change: &db::environments::ChangeRow) -> Result<(), AppError> {
    require_platform(actor)?;
    if parse_id(&actor.id, "user")? == change.requested_by {
        return Err(AppError::Forbidden("Four eyes: you cannot decide an environment change you asked for".into()));
    }
    Ok(())
}

/// What the audit log keeps of an environment's settings.
fn recorded(region: &str, parameters: &ClusterParameters, rule_capacity: u32, role_arn: Option<&str>, external_id: Option<&str>) -> serde_json::Value {
    json!({"region": region, "parameters": parameters, "rule_capacity": rule_capacity, "role_arn": role_arn, "external_id": external_id})
}

fn recorded_input(e: &EnvironmentInput) -> serde_json::Value {
    recorded(&e.region, &e.parameters, e.rule_capacity, e.role_arn.as_deref(), e.external_id.as_deref())
}

fn recorded_environment(e: &Environment) -> serde_json::Value {
    recorded(&e.region, &e.parameters, e.rule_capacity, e.role_arn.as_deref(), e.external_id.as_deref())
}

pub async fn create(s: &Services, actor: &User, input: EnvironmentInput) -> Result<Environment> {
    require_platform(actor)?;
    let errors = validate_environment(&input);
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

/// Asks for a change of the environment: it waits for another approver's review (and
/// its own plan) and takes effect when approved. Checked now and again at approval, when
/// more APIs may depend on the environment.
pub async fn update(s: &Services, actor: &User, name: &str, mut input: EnvironmentInput) -> Result<Environment> {
    require_platform(actor)?;
    // An environment keeps its name (its stacks are named after it): the path names it, and
    // a name in the body is only checked, so one that is not a name at all is refused.
    if input.name != name {
        if let Err(message) = app::validation::environment_name(&input.name) {
            return Err(AppError::field("name", message).into());
        }
        input.name = name.to_string();
    }
    let errors = validate_environment(&input);
    if !errors.is_empty() {
        return Err(AppError::Validation(errors).into());
    }
    let mut tx = db::begin_write(&s.db).await?;
    let current = db::environments::get(&mut *tx, name)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("No environment named {name}")))?;
    if let Some(waiting) = db::environments::pending_change(&mut *tx, name).await? {
        return Err(AppError::Conflict(format!(
            "Change {} of {name} (asked for by {}) is waiting for review; approve or reject it first",
            waiting.id, waiting.requested_by_username
        ))
        .into());
    }
    keeps_live_apis(&mut tx, &current, &input).await?;
    let (before, after) = (recorded_environment(&current), recorded_input(&input));
    if before != after {
        let id = db::environments::insert_change(&mut tx, name, &input, parse_id(&actor.id, "user")?, &db::now()).await?;
        audit::append(&mut tx, entry(&actor.username, "environment.change_requested", name, json!({"change": id, "before": before, "after": after}))).await?;
    }
    tx.commit().await?;
    get(s, actor, name).await
}

/// Refuses a change that would strand the APIs already in the environment.
async fn keeps_live_apis(tx: &mut db::Tx, current: &Environment, input: &EnvironmentInput) -> Result<()> {
    let name = &current.name;
    let live = db::requests::live_inputs(tx, name).await?;
    if input.region != current.region && !live.is_empty() {
        return Err(AppError::Taken {
            field: "region".into(),
            message: format!("{name} holds {} APIs; its region cannot change under them", live.len()),
        }
        .into());
    }
    let account = |role: Option<&str>| role.and_then(|r| app::validation::environment_role_account(r).ok().map(str::to_string));
    if account(input.role_arn.as_deref()) != account(current.role_arn.as_deref()) && !live.is_empty() {
        return Err(AppError::Taken {
            field: "role_arn".into(),
            message: format!(
                "{name} holds {} APIs in its AWS account; it cannot move to another account under them (another role in the same account can replace this one)",
                live.len()
            ),
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
    // The APIs' listener rules sit on the HTTPS listener (and their stacks import it):
    // CloudFormation cannot remove it under them.
    if current.parameters.certificate_arn.is_some() && input.parameters.certificate_arn.is_none() && !live.is_empty() {
        return Err(AppError::Taken {
            field: "parameters.CertificateArn".into(),
            message: format!(
                "{name} serves {} APIs over HTTPS on this certificate's listener; it cannot go back to plain HTTP under them \
                 (another certificate can replace this one)",
                live.len()
            ),
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
    Ok(())
}

/// The pending change `change` of `name`: a decision or plan binds to the change reviewed.
async fn waiting_change(db: impl sqlx::SqliteExecutor<'_>, name: &str, change: &str) -> Result<db::environments::ChangeRow> {
    let id = parse_id(change, "environment change")?;
    match db::environments::pending_change(db, name).await? {
        Some(row) if row.id == id => Ok(row),
        _ => Err(AppError::Conflict(format!("Change {change} of {name} is not waiting for review (decided already, or never asked for)")).into()),
    }
}

/// Approves (applying it to the environment) or rejects a waiting change.
pub async fn decide(s: &Services, actor: &User, name: &str, change: &str, approve: bool, reason: Option<String>) -> Result<Environment> {
    require_platform(actor)?;
    let reason = reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
    if let Some(r) = &reason {
        if r.chars().count() > app::validation::NOTE_MAX {
            return Err(AppError::field("reason", format!("The reason must be at most {} characters", app::validation::NOTE_MAX)).into());
        }
    }
    if !approve && reason.is_none() {
        return Err(AppError::field("reason", "A reason is required to reject a change").into());
    }
    let mut tx = db::begin_write(&s.db).await?;
    let current = db::environments::get(&mut *tx, name)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("No environment named {name}")))?;
    let row = waiting_change(&mut *tx, name, change).await?;
    may_decide_change(actor, &row)?;
    let input: EnvironmentInput = serde_json::from_str(&row.input)?;
    let now = db::now();
    if approve {
        keeps_live_apis(&mut tx, &current, &input).await?;
        db::environments::update(&mut tx, &input, &now).await?;
    }
    db::environments::decide_change(&mut tx, row.id, approve, parse_id(&actor.id, "user")?, reason.as_deref(), &now).await?;
    let (before, after) = (recorded_environment(&current), recorded_input(&input));
    let action = if approve { "environment.change_approved" } else { "environment.change_rejected" };
    let mut details = json!({"change": row.id, "requested_by": row.requested_by_username, "before": before, "after": after, "reason": reason});
    if approve {
        details["plan_seen"] = super::review::plan_seen(&mut tx, db::plans::Subject::EnvironmentChange(row.id), actor).await?;
    }
    audit::append(&mut tx, entry(&actor.username, action, name, details)).await?;
    tx.commit().await?;
    get(s, actor, name).await
}

/// What approving the waiting change would do to the cluster stack (a change set).
pub async fn plan(s: &Services, actor: &User, name: &str, change: &str) -> Result<EnvironmentPlan> {
    require_platform(actor)?;
    let current = get(s, actor, name).await?;
    let row = waiting_change(&s.db, name, change).await?;
    let input: EnvironmentInput = serde_json::from_str(&row.input)?;
    let mut stack = super::deployments::environment_plan(s, &current, &input, row.id).await?;
    if current.parameters.certificate_arn.is_none() && input.parameters.certificate_arn.is_some() {
        let mut tx = s.db.begin().await?;
        let live = db::requests::live_inputs(&mut tx, name).await?;
        if !live.is_empty() {
            let names: Vec<&str> = live.iter().map(|(service, _)| service.as_str()).collect();
            let moves = format!(
                "With the certificate, port 80 redirects to HTTPS. The {} APIs here ({}) keep their listener rules on port 80, \
                 so they stay reachable over plain HTTP, until each one's next deployment moves its rule to the HTTPS listener.",
                names.len(),
                names.join(", ")
            );
            stack.note = Some(stack.note.map_or(moves.clone(), |note| format!("{note} {moves}")));
        }
    }
    let mut parameter_changes = super::deployments::differences(&current.parameters, &input.parameters);
    if input.rule_capacity != current.rule_capacity {
        parameter_changes.push(ParameterChange { field: "rule_capacity".into(), before: current.rule_capacity.to_string(), after: input.rule_capacity.to_string() });
    }
    let plan = EnvironmentPlan { change: row.id.to_string(), parameter_changes, stack };
    db::plans::record(&s.db, db::plans::Subject::EnvironmentChange(row.id), &actor.username, &serde_json::to_string(&plan)?, &db::now()).await?;
    Ok(plan)
}

/// The live APIs whose CPU or memory would no longer fit the instance type, whose tasks
/// (with a deployment's headroom) would no longer fit the maximum size, or that would no
/// longer fit beside the others.
fn stranded_apis(live: &[(String, String)], cluster: &ClusterParameters) -> Result<Vec<String>> {
    let inputs = live.iter().map(|(_, parameters)| serde_json::from_str(parameters)).collect::<Result<Vec<RequestInput>, _>>()?;
    let mut stranded = Vec::new();
    for (i, ((service, _), input)) in live.iter().zip(&inputs).enumerate() {
        let others: Vec<RequestInput> = inputs.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, o)| o.clone()).collect();
        let why = fits(input.cpu, input.memory, cluster)
            .err()
            .or_else(|| capacity(input, cluster).err().map(|(_, why)| why))
            .or_else(|| room(input, &others, cluster).err().map(|(_, why)| why));
        if let Some(why) = why {
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
        // Berth's own account: the default environment needs no role.
        role_arn: None,
        external_id: None,
    };
    db::environments::insert(&mut tx, &input, &db::now()).await?;
    audit::append(&mut tx, entry("system", "environment.create", &input.name, json!({"after": input}))).await?;
    tx.commit().await?;
    Ok(())
}
