//! What a request's deployments did and will do: the job history, the stored stack
//! events, and the plan (CloudFormation change sets) of the current revision.

use super::{parse_id, Services};
use crate::aws::{Location, StackParameter, StackSpec};
use crate::db::{self, events::EventRow};
use crate::deploy::ownership::Owner;
use crate::deploy::TEMPLATE_TAG;
use crate::error::Result;
use app::error::AppError;
use app::model::*;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::Duration;

pub async fn list(s: &Services, actor: &User, id: &str) -> Result<Vec<Deployment>> {
    let request = super::requests::get(s, actor, id).await?;
    let rid = parse_id(&request.id, "request")?;
    let stacks = db::deployments::stacks(&s.db, rid).await?;
    Ok(db::deployments::list(&s.db, rid)
        .await?
        .into_iter()
        .map(|d| Deployment {
            id: d.id.to_string(),
            revision: d.revision as u32,
            kind: d.kind,
            status: d.status,
            error: d.error,
            created_at: d.created_at,
            started_at: d.started_at,
            finished_at: d.finished_at,
            stacks: stacks
                .iter()
                .filter(|s| s.deployment_id == d.id)
                .map(|s| DeploymentStack {
                    stack_name: s.stack_name.clone(),
                    kind: StackKind::parse(&s.kind).unwrap_or(StackKind::Service),
                    status: s.status.clone(),
                    status_reason: s.status_reason.clone(),
                })
                .collect(),
        })
        .collect())
}

pub fn cursor_of(seq: i64) -> String {
    seq.to_string()
}

pub fn parse_cursor(cursor: Option<&str>) -> Result<i64, AppError> {
    match cursor.filter(|c| !c.is_empty()) {
        None => Ok(0),
        Some(c) => app::validation::cursor(c).map_err(|m| AppError::field("after", m)),
    }
}

fn stack_view(e: EventRow) -> StackEventView {
    StackEventView {
        cursor: cursor_of(e.seq),
        event_id: e.event_id.unwrap_or_default(),
        stack_name: e.stack_name.unwrap_or_default(),
        logical_id: e.logical_id.unwrap_or_default(),
        resource_type: e.resource_type.unwrap_or_default(),
        status: e.status,
        reason: e.reason,
        timestamp: e.timestamp,
    }
}

pub fn feed_item(e: EventRow) -> FeedItem {
    if e.kind == "deployment" {
        FeedItem::Deployment {
            cursor: cursor_of(e.seq),
            deployment_id: e.deployment_id.unwrap_or_default().to_string(),
            status: e.status,
            reason: e.reason,
            timestamp: e.timestamp,
        }
    } else {
        FeedItem::Stack(stack_view(e))
    }
}

const EVENT_PAGE: u32 = 500;

/// Stack events of both stacks, oldest first, after the cursor.
pub async fn events(s: &Services, actor: &User, id: &str, after: Option<&str>) -> Result<EventPage> {
    let request = super::requests::get(s, actor, id).await?;
    let rows = db::events::list(&s.db, parse_id(&request.id, "request")?, parse_cursor(after)?, true, EVENT_PAGE).await?;
    let next_cursor = (rows.len() == EVENT_PAGE as usize).then(|| cursor_of(rows.last().expect("a full page").seq));
    Ok(EventPage { items: rows.into_iter().map(stack_view).collect(), next_cursor })
}

/// The whole feed (stack events and deployment status changes) after a cursor, for SSE.
/// The caller has already checked that `actor` may see the request.
pub async fn feed(s: &Services, request_id: i64, after: i64) -> Result<Vec<(i64, FeedItem)>> {
    Ok(db::events::list(&s.db, request_id, after, false, EVENT_PAGE)
        .await?
        .into_iter()
        .map(|e| (e.seq, feed_item(e)))
        .collect())
}

fn spec(s: &Services, kind: StackKind, stack: &StackInput) -> StackSpec {
    let template = s.templates.body(kind).to_string();
    StackSpec {
        name: stack.stack_name.clone(),
        parameters: stack.parameters.iter().map(|p| StackParameter { key: p.key.clone(), value: p.value.clone() }).collect(),
        tags: BTreeMap::from([(TEMPLATE_TAG.to_string(), hex::encode(Sha256::digest(template.as_bytes())))]),
        template,
        revert_drift: false,
    }
}

/// Every resource of a template, for a stack that does not exist yet (all added) or is
/// about to be deleted (all removed).
fn all_resources(template: &str, action: &str) -> Vec<PlannedChange> {
    let doc: serde_yaml::Value = serde_yaml::from_str(template).unwrap_or_default();
    doc["Resources"]
        .as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, v)| PlannedChange {
                    action: action.into(),
                    logical_id: k.as_str().unwrap_or_default().into(),
                    resource_type: v["Type"].as_str().unwrap_or_default().into(),
                    replacement: None,
                    reverts: Vec::new(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// What CloudFormation would do to one stack; `revert_drift` plans with a drift-aware change
/// set, which also lists the drifted properties it would set back.
async fn stack_plan(s: &Services, at: &Location, owner: &Owner, stack: &StackInput, tag: &str, revert_drift: bool) -> Result<StackPlan> {
    let kind = owner.kind;
    let cfn = s.aws.cloudformation(at).await;
    let spec = StackSpec { revert_drift, ..spec(s, kind, stack) };
    let plan = |action: &str, changes: Vec<PlannedChange>, note: Option<&str>| StackPlan {
        stack_name: stack.stack_name.clone(),
        kind,
        action: action.into(),
        changes,
        note: note.map(str::to_string),
    };
    let aws = |e: crate::aws::AwsError| {
        let message = format!("CloudFormation could not plan {}: {e}", stack.stack_name);
        if e.retryable() { AppError::Unavailable(message) } else { AppError::Conflict(message) }
    };
    let Some(current) = cfn.describe_stack(&spec.name).await.map_err(aws)? else {
        return Ok(plan("create", all_resources(&spec.template, "Add"), Some("The stack does not exist yet; every resource is added.")));
    };
    // A plan creates a change set on the stack: never on one that is not this owner's.
    if let Some(refusal) = owner.check(&s.db, &spec.name, &current, 0).await? {
        return Err(AppError::Conflict(refusal).into());
    }
    if current.status.ends_with("_IN_PROGRESS") {
        return Ok(plan("busy", Vec::new(), Some(&format!("The stack is {}; plan again when it settles.", current.status))));
    }
    if crate::deploy::stack::unchanged(&current, &spec) && !revert_drift {
        return Ok(plan("unchanged", Vec::new(), None));
    }
    // Each plan has a change set of its own, so two reviewers planning at once never read
    // or delete each other's.
    let change_set = format!("berth-plan-{tag}-{}-{:016x}", kind.as_str(), rand::random::<u64>());
    // A service stack that imports what the cluster stack's own update will export can be
    // planned only after that update; the deployment updates the cluster stack first.
    let waits_for_cluster = |reason: &str| {
        (kind == StackKind::Service && reason.contains("No export named")).then(|| {
            plan(
                "update",
                Vec::new(),
                Some(&format!(
                    "CloudFormation can list this stack's changes only once the cluster stack is updated: {reason}. \
                     The deployment updates the cluster stack first."
                )),
            )
        })
    };
    if let Err(e) = cfn.create_change_set(&spec, &change_set).await {
        return waits_for_cluster(&e.message).ok_or_else(|| aws(e).into());
    }
    let mut info = None;
    for _ in 0..60 {
        let current = cfn.describe_change_set(&spec.name, &change_set).await.map_err(aws)?;
        if current.as_ref().is_some_and(|c| c.status != "CREATE_PENDING" && c.status != "CREATE_IN_PROGRESS") {
            info = current;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let _ = cfn.delete_change_set(&spec.name, &change_set).await;
    let Some(info) = info else {
        return Ok(plan("busy", Vec::new(), Some("CloudFormation took too long to compute the change set; try again.")));
    };
    let reason = info.reason.unwrap_or_default();
    if info.status == "FAILED" {
        if crate::deploy::stack::no_changes(Some(&reason)) {
            let note = revert_drift.then_some("Nothing has drifted any more: deploying this revision changes nothing.");
            return Ok(plan("unchanged", Vec::new(), note));
        }
        if let Some(waiting) = waits_for_cluster(&reason) {
            return Ok(waiting);
        }
        return Err(AppError::Conflict(format!("CloudFormation refused the change set for {}: {reason}", stack.stack_name)).into());
    }
    let changes: Vec<PlannedChange> = info
        .changes
        .into_iter()
        .map(|c| PlannedChange { action: c.action, logical_id: c.logical_id, resource_type: c.resource_type, replacement: c.replacement, reverts: c.reverts })
        .collect();
    let note = if revert_drift {
        Some("Drift-aware: CloudFormation compared each resource with what runs on AWS and sets what drifted back to this revision.")
    } else {
        changes.is_empty().then_some("Only parameters change; CloudFormation lists no resource changes.")
    };
    Ok(plan("update", changes, note))
}

/// Field-by-field differences between two versions of a set of parameters.
pub fn differences<T: serde::Serialize>(before: &T, after: &T) -> Vec<ParameterChange> {
    let (b, a) = (serde_json::to_value(before).expect("serializes"), serde_json::to_value(after).expect("serializes"));
    let (Some(b), Some(a)) = (b.as_object(), a.as_object()) else { return Vec::new() };
    let show = |v: Option<&serde_json::Value>| match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    };
    let fields: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    fields
        .into_iter()
        .filter(|k| b.get(*k) != a.get(*k))
        .map(|k| ParameterChange { field: k.clone(), before: show(b.get(k)), after: show(a.get(k)) })
        .collect()
}

/// The cluster stack's plan for an environment change awaiting review.
pub async fn environment_plan(s: &Services, current: &Environment, after: &EnvironmentInput, change: i64) -> Result<StackPlan> {
    let owner = Owner {
        berth_id: db::installation::berth_id(&s.db).await?,
        environment: current.name.clone(),
        kind: StackKind::Cluster,
        request: None,
    };
    let stack = app::stacks::cluster_stack(&current.name, &after.parameters);
    // Where the change would deploy: a change of account or region is refused while APIs
    // live in the environment, so its cluster stack goes where the change says.
    stack_plan(s, &Location::of_input(after), &owner, &stack, &format!("env{change}"), false).await
}

/// Only approvers and admins plan: a plan creates and deletes change sets on AWS.
pub async fn plan(s: &Services, actor: &User, id: &str) -> Result<Plan> {
    let request = super::requests::get(s, actor, id).await?;
    super::require_platform(actor)?;
    let rid = parse_id(&request.id, "request")?;
    let parameter_changes = match request.deployed_revision {
        Some(rev) if rev != request.revision => match db::requests::revision_input(&s.db, rid, i64::from(rev)).await? {
            Some(json) => differences(&serde_json::from_str(&json)?, &request.parameters),
            None => Vec::new(),
        },
        _ => Vec::new(),
    };
    let tag = format!("{rid}-{}", request.revision);
    let stacks = if matches!(request.status, RequestStatus::DecommissionRequested | RequestStatus::Decommissioning) {
        let service = &request.stacks.service;
        vec![StackPlan {
            stack_name: service.stack_name.clone(),
            kind: StackKind::Service,
            action: "delete".into(),
            changes: all_resources(s.templates.body(StackKind::Service), "Remove"),
            note: Some("Decommissioning deletes the service stack; the cluster stack stays.".into()),
        }]
    } else {
        let berth_id = db::installation::berth_id(&s.db).await?;
        let environment = db::environments::get(&s.db, &request.environment)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("No environment named {}", request.environment)))?;
        let at = Location::of(&environment);
        let owner = |kind: StackKind| Owner {
            berth_id: berth_id.clone(),
            environment: request.environment.clone(),
            kind,
            request: (kind == StackKind::Service).then_some(rid),
        };
        vec![
            stack_plan(s, &at, &owner(StackKind::Cluster), &request.stacks.cluster, &tag, false).await?,
            stack_plan(s, &at, &owner(StackKind::Service), &request.stacks.service, &tag, request.reverts_drift).await?,
        ]
    };
    let plan = Plan { revision: request.revision, parameter_changes, stacks };
    let subject = db::plans::Subject::Request { id: rid, revision: i64::from(request.revision) };
    db::plans::record(&s.db, subject, &actor.username, &serde_json::to_string(&plan)?, &db::now()).await?;
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_each_changed_field() {
        let before = RequestInput { image_url: "nginx:1".into(), desired_count: 2, ..Default::default() };
        let after = RequestInput { image_url: "nginx:2".into(), desired_count: 2, task_role_arn: Some("arn".into()), ..Default::default() };
        let changes = differences(&before, &after);
        assert_eq!(
            changes,
            vec![
                ParameterChange { field: "image_url".into(), before: "nginx:1".into(), after: "nginx:2".into() },
                ParameterChange { field: "task_role_arn".into(), before: "".into(), after: "arn".into() },
            ]
        );
    }

    #[test]
    fn a_new_stack_adds_every_resource() {
        let added = all_resources(crate::templates::Templates::load(None).unwrap().body(StackKind::Service), "Add");
        assert!(added.iter().any(|c| c.resource_type == "AWS::ECS::Service" && c.action == "Add"));
        assert!(added.iter().any(|c| c.resource_type == "AWS::ElasticLoadBalancingV2::ListenerRule"));
    }
}
