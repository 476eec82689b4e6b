//! API requests: create, revise, list and read, with the rules that span requests (one
//! name, path and priority per environment) checked inside the write transaction.

use super::{decode_cursor, encode_cursor, page_limit, parse_id, Services};
use crate::db::{self, audit, requests::RequestRecord, Tx};
use crate::error::Result;
use app::error::AppError;
use app::model::*;
use app::stacks;
use app::validation::{room, secret_name, validate_request};
use serde_json::json;


/// Requesters see their team's requests; approvers and admins see all.
pub fn visible(actor: &User, team: &str) -> bool {
    actor.role.is_platform() || actor.team == team
}

async fn environment(tx: &mut Tx, name: &str) -> Result<Environment> {
    db::environments::get(&mut **tx, name)
        .await?
        .ok_or_else(|| AppError::field("environment", format!("There is no environment named {name}")).into())
}

/// Checks the input alone and against its environment, for an API of `team`; the message
/// for each bad field.
async fn validated(s: &Services, tx: &mut Tx, input: &RequestInput, team: &str) -> Result<Environment> {
    let env = match environment(tx, &input.environment).await {
        Ok(env) => env,
        Err(e) => {
            let mut errors = validate_request(input, None);
            errors.retain(|e| e.field != "environment");
            errors.extend(AppError::from(e).field_errors());
            return Err(AppError::Validation(errors).into());
        }
    };
    let mut errors = validate_request(input, Some(&env.parameters));
    if let Some(message) = foreign_task_role(s, input, team) {
        errors.push(FieldError::new("task_role_arn", message));
    }
    if let Some(message) = foreign_secret(s, team, input).filter(|_| !errors.iter().any(|e| e.field == "secrets")) {
        errors.push(FieldError::new("secrets", message));
    }
    // The environment is shared: its other APIs hold part of it. Checked only once the
    // sizes themselves are right, so one field gets one message.
    if !errors.iter().any(|e| SIZE_FIELDS.contains(&e.field.as_str())) {
        let others = others_in(tx, &env.name, &input.service_name).await?;
        if let Err((field, message)) = room(input, &others, &env.parameters) {
            errors.push(FieldError::new(field, message));
        }
    }
    if errors.is_empty() {
        Ok(env)
    } else {
        Err(AppError::Validation(errors).into())
    }
}

/// The fields that size an API's share of its environment.
const SIZE_FIELDS: [&str; 4] = ["cpu", "memory", "desired_count", "scaling_max"];

/// The current parameters of the environment's other live APIs (all but `service`).
async fn others_in(tx: &mut Tx, environment: &str, service: &str) -> Result<Vec<RequestInput>> {
    let mut others = Vec::new();
    for (name, parameters) in db::requests::live_inputs(tx, environment).await? {
        if name != service {
            others.push(serde_json::from_str(&parameters)?);
        }
    }
    Ok(others)
}

/// CloudFormation passes the task role with Berth's credentials, so a request could hand
/// its containers any role Berth may pass: another team's, or the roles Berth's own
/// cluster stacks create. Only the team's own roles are accepted, named
/// `<prefix><team>--<name>`: team names never hold `--`, so `berth-pay--x` belongs to team
/// `pay` and not to `pay-ments`, and the roles CloudFormation generates for a cluster stack
/// (`berth-<environment>-cluster-<Resource>-<suffix>`) never match.
fn foreign_task_role(s: &Services, input: &RequestInput, team: &str) -> Option<String> {
    let prefix = &s.config.task_role_prefix;
    let arn = input.task_role_arn.as_deref()?;
    let name = arn.split_once(":role/").map(|(_, name)| name)?;
    let team_prefix = format!("{prefix}{team}--");
    let own = name.strip_prefix(team_prefix.as_str()).is_some_and(|rest| !rest.is_empty());
    (!prefix.is_empty() && !own).then(|| {
        format!("The task role must be one of team {team}'s roles, named {team_prefix}<name>: Berth passes no other roles to ECS")
    })
}

/// A secret outside the team's names: the execution role would let this API's tasks read
/// another team's secret.
fn foreign_secret(s: &Services, team: &str, input: &RequestInput) -> Option<String> {
    if !s.config.secrets_scoped_to_team {
        return None;
    }
    let prefix = format!("{team}/");
    input.secrets.iter().find(|secret| !secret_name(&secret.value_from).is_some_and(|n| n.starts_with(&prefix))).map(|secret| {
        format!(
            "Secrets: {} must be one of team {team}'s: an SSM parameter /{team}/… or a Secrets Manager secret {team}/…",
            secret.name
        )
    })
}

/// Refuses a service name or path another live request of the environment holds.
pub(super) fn check_claims(claims: &[db::requests::Claim], input: &RequestInput, except: Option<i64>) -> Result<()> {
    for claim in claims.iter().filter(|c| Some(c.id) != except) {
        if claim.service_name == input.service_name {
            return Err(AppError::Taken {
                field: "service_name".into(),
                message: format!("{} already has an API named {} (request {})", input.environment, input.service_name, claim.id),
            }
            .into());
        }
        if claim.path == input.path {
            return Err(AppError::Taken {
                field: "path".into(),
                message: format!(
                    "The path {} is already routed to {} in {}",
                    input.path, claim.service_name, input.environment
                ),
            }
            .into());
        }
        if super::paths::overlap(&claim.path, &input.path) {
            return Err(AppError::Taken {
                field: "path".into(),
                message: format!(
                    "The path {} overlaps {} of the API {} (request {}) in {}: some paths would match both. \
                     Choose a path no other API's pattern matches.",
                    input.path, claim.path, claim.service_name, claim.id, input.environment
                ),
            }
            .into());
        }
    }
    Ok(())
}

/// The lowest listener-rule priority no live request of the environment holds, if the
/// environment's load balancer has room for another rule.
fn lowest_free_priority(claims: &[db::requests::Claim], capacity: u32) -> Option<u32> {
    if claims.len() as u32 >= capacity {
        return None;
    }
    let mut next = 1;
    for claim in claims {
        if claim.priority as u32 == next {
            next += 1;
        } else if claim.priority as u32 > next {
            break;
        }
    }
    Some(next)
}

pub async fn create(s: &Services, actor: &User, input: RequestInput) -> Result<ApiRequest> {
    let actor_id = parse_id(&actor.id, "user")?;
    let mut tx = db::begin_write(&s.db).await?;
    let env = validated(s, &mut tx, &input, &actor.team).await?;
    let claims = db::requests::live_claims(&mut tx, &env.name).await?;
    check_claims(&claims, &input, None)?;
    let capacity = db::environments::rule_capacity(&mut tx, &env.name).await?;
    let priority = lowest_free_priority(&claims, capacity).ok_or_else(|| {
        AppError::Conflict(format!(
            "{} is full: its load balancer already routes {capacity} APIs, its listener-rule capacity. \
             Ask the platform team for another environment.",
            env.name
        ))
    })?;
    let now = db::now();
    let id = db::requests::insert(
        &mut tx,
        db::requests::NewRequest { input: &input, priority, team: &actor.team, requested_by: actor_id, now: &now },
    )
    .await?;
    audit::append(
        &mut tx,
        audit::Entry {
            actor: &actor.username,
            action: "request.create",
            subject_type: "request",
            subject_id: id.to_string(),
            request_id: Some(id),
            details: json!({"revision": 1, "priority": priority, "after": input}),
        },
    )
    .await?;
    let record = db::requests::get(&mut *tx, id).await?.expect("inserted in this transaction");
    tx.commit().await?;
    to_api(record, &env, actor, None)
}

pub async fn update(s: &Services, actor: &User, id: &str, input: RequestInput) -> Result<ApiRequest> {
    let id = parse_id(id, "request")?;
    let actor_id = parse_id(&actor.id, "user")?;
    let mut tx = db::begin_write(&s.db).await?;
    let current = db::requests::get(&mut *tx, id)
        .await?
        .filter(|r| visible(actor, &r.team))
        .ok_or_else(|| AppError::NotFound(format!("No request {id}")))?;
    may_act_for_team(actor, &current)?;
    let status = current.status();
    if !status.editable() {
        return Err(AppError::Conflict(format!("The request cannot be changed while it is {}", status.label().to_lowercase())).into());
    }
    let mut fixed = Vec::new();
    if input.environment != current.environment {
        fixed.push(FieldError::new("environment", "The environment of an API cannot change; request a new API instead"));
    }
    if input.service_name != current.service_name {
        fixed.push(FieldError::new("service_name", "The service name of an API cannot change; request a new API instead"));
    }
    if !fixed.is_empty() {
        return Err(AppError::Validation(fixed).into());
    }
    let env = validated(s, &mut tx, &input, &current.team).await?;
    let claims = db::requests::live_claims(&mut tx, &env.name).await?;
    check_claims(&claims, &input, Some(id))?;
    let before = current.input()?;
    let revision = current.revision as u32 + 1;
    let now = db::now();
    db::requests::insert_revision(&mut tx, id, revision, &input, actor_id, false, &now).await?;
    db::requests::set_revision(&mut tx, id, revision, &input.path, &now).await?;
    audit::append(
        &mut tx,
        audit::Entry {
            actor: &actor.username,
            action: "request.update",
            subject_type: "request",
            subject_id: id.to_string(),
            request_id: Some(id),
            details: json!({"revision": revision, "status_before": status, "before": before, "after": input}),
        },
    )
    .await?;
    let record = db::requests::get(&mut *tx, id).await?.expect("updated in this transaction");
    tx.commit().await?;
    let deployed = deployed_input(s, &record).await?;
    to_api(record, &env, actor, deployed.as_ref())
}

pub async fn get(s: &Services, actor: &User, id: &str) -> Result<ApiRequest> {
    let id = parse_id(id, "request")?;
    let record = db::requests::get(&s.db, id)
        .await?
        .filter(|r| visible(actor, &r.team))
        .ok_or_else(|| AppError::NotFound(format!("No request {id}")))?;
    let env = db::environments::get(&s.db, &record.environment)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("No environment {}", record.environment)))?;
    let deployed = deployed_input(s, &record).await?;
    to_api(record, &env, actor, deployed.as_ref())
}

/// What is live of a request whose current revision is not: the estimate shows the change.
async fn deployed_input(s: &Services, r: &RequestRecord) -> Result<Option<RequestInput>> {
    match r.deployed_revision {
        Some(deployed) if deployed != r.revision => match db::requests::revision_input(&s.db, r.id, deployed).await? {
            Some(json) => Ok(Some(serde_json::from_str(&json)?)),
            None => Ok(None),
        },
        _ => Ok(None),
    }
}

/// One of a request's stacks as files: its template and the parameter file that
/// `aws cloudformation create-stack --parameters file://...` reads.
pub struct StackFiles {
    pub stack: StackInput,
    pub template: String,
}

impl StackFiles {
    pub fn parameter_file(&self) -> serde_json::Value {
        self.stack
            .parameters
            .iter()
            .map(|p| json!({"ParameterKey": p.key, "ParameterValue": p.value}))
            .collect()
    }
}

pub async fn stack_files(s: &Services, actor: &User, id: &str, kind: StackKind) -> Result<StackFiles> {
    let request = get(s, actor, id).await?;
    let stack = match kind {
        StackKind::Cluster => request.stacks.cluster,
        StackKind::Service => request.stacks.service,
    };
    Ok(StackFiles { stack, template: s.templates.body(kind).to_string() })
}

/// Approvers and admins decide, but never a request they submitted, a revision they wrote
/// or a decommission they asked for.
pub fn may_decide(actor: &User, r: &RequestRecord) -> Result<(), AppError> {
    if !actor.role.is_platform() {
        return Err(AppError::Forbidden("Only approvers and admins may do this".into()));
    }
    let actor_id = parse_id(&actor.id, "user")?;
    if actor_id == r.requested_by || actor_id == r.revision_author_id {
        return Err(AppError::Forbidden("Four eyes: you cannot decide a request you submitted or revised".into()));
    }
    if r.status() == RequestStatus::DecommissionRequested && r.decommission_requested_by == Some(actor_id) {
        return Err(AppError::Forbidden("Four eyes: you cannot decide a decommission you asked for".into()));
    }
    Ok(())
}

/// The request's team (or an admin) acts on it.
pub fn may_act_for_team(actor: &User, r: &RequestRecord) -> Result<(), AppError> {
    if actor.team == r.team || actor.role == Role::Admin {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!("Only team {} (or an admin) may do this", r.team)))
    }
}

fn allowed(actor: &User, r: &RequestRecord) -> Allowed {
    let status = r.status();
    let awaiting = matches!(status, RequestStatus::PendingReview | RequestStatus::DecommissionRequested);
    let team = may_act_for_team(actor, r).is_ok();
    Allowed {
        decide: awaiting && may_decide(actor, r).is_ok(),
        edit: team && status.editable(),
        decommission: team && status == RequestStatus::Deployed,
        retry: (team || actor.role.is_platform()) && status == RequestStatus::Failed,
        plan: awaiting && actor.role.is_platform(),
        revert_drift: (team || actor.role.is_platform()) && status == RequestStatus::Deployed,
    }
}

fn to_api(r: RequestRecord, env: &Environment, actor: &User, deployed: Option<&RequestInput>) -> Result<ApiRequest> {
    let allowed = allowed(actor, &r);
    let parameters = r.input()?;
    let stacks = stacks::render_as(r.naming(), &env.parameters, &parameters, Some(r.priority as u32));
    let estimate = app::cost::summary(&env.region, &env.parameters, &parameters, deployed);
    Ok(ApiRequest {
        id: r.id.to_string(),
        status: r.status(),
        team: r.team,
        requested_by: r.requested_by_username,
        environment: r.environment,
        service_name: r.service_name,
        revision: r.revision as u32,
        priority: r.priority as u32,
        parameters,
        stacks,
        created_at: r.created_at,
        updated_at: r.updated_at,
        revision_author: r.revision_author,
        deployed_revision: r.deployed_revision.map(|v| v as u32),
        status_reason: r.status_reason,
        outputs: serde_json::from_str(&r.outputs)?,
        allowed,
        estimate,
        reverts_drift: r.reverts_drift,
    })
}

pub async fn list(s: &Services, actor: &User, filter: &RequestFilter) -> Result<Page<RequestSummary>> {
    let non_empty = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
    let status = non_empty(&filter.status);
    if let Some(status) = &status {
        if RequestStatus::parse(status).is_none() {
            return Err(AppError::field("status", format!("Unknown status {status}")).into());
        }
    }
    let limit = page_limit(filter.limit)?;
    let requested_team = non_empty(&filter.team);
    // A requester's list is their team's: another team's holds nothing they may see.
    let team = if actor.role.is_platform() {
        requested_team
    } else if requested_team.as_ref().is_some_and(|t| *t != actor.team) {
        return Ok(Page { items: Vec::new(), next_cursor: None });
    } else {
        Some(actor.team.clone())
    };
    let query = db::requests::ListFilter {
        status,
        environment: non_empty(&filter.environment),
        team,
        requested_by: if filter.mine == Some(true) { Some(parse_id(&actor.id, "user")?) } else { None },
        cursor_id: non_empty(&filter.cursor).map(|c| decode_cursor(&c)).transpose()?,
        queue: filter.queue == Some(true),
        // One more than asked tells whether there is a next page.
        limit: limit + 1,
    };
    let mut rows = db::requests::list(&s.db, &query).await?;
    let next_cursor = (rows.len() > limit as usize).then(|| {
        rows.truncate(limit as usize);
        encode_cursor(rows.last().expect("a full page").id)
    });
    let items = rows
        .into_iter()
        .map(|r| RequestSummary {
            id: r.id.to_string(),
            status: RequestStatus::parse(&r.status).unwrap_or(RequestStatus::Failed),
            team: r.team,
            requested_by: r.requested_by_username,
            environment: r.environment,
            service_name: r.service_name,
            path: r.path,
            revision: r.revision as u32,
            age_seconds: db::seconds_since(&r.created_at),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
        .collect();
    Ok(Page { items, next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;
    use db::requests::Claim;

    fn claim(id: i64, priority: i64) -> Claim {
        Claim { id, service_name: format!("s{id}"), path: format!("/s{id}*"), priority }
    }

    #[test]
    fn priority_is_the_lowest_free_one() {
        assert_eq!(lowest_free_priority(&[], 100), Some(1));
        assert_eq!(lowest_free_priority(&[claim(1, 1), claim(2, 2)], 100), Some(3));
        assert_eq!(lowest_free_priority(&[claim(1, 1), claim(2, 3)], 100), Some(2));
        assert_eq!(lowest_free_priority(&[claim(1, 2)], 100), Some(1));
        assert_eq!(lowest_free_priority(&[claim(1, 1), claim(2, 2)], 2), None);
    }
}
