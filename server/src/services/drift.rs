//! Drift: whether a live API's service stack is still what Berth deployed, or was changed
//! behind its back (a desired count set by hand, a health check edited in the console).
//! CloudFormation's drift detection compares; Berth keeps each API's last answer, checks
//! every live API now and then, one at a time and longest-unchecked first (a trickle of
//! calls, never a burst), and on demand from the request page or the API.

use super::{parse_id, Services};
use crate::aws::{AwsError, Location};
use crate::db::{self, audit};
use crate::error::Result;
use app::error::AppError;
use app::model::{ApiRequest, Drift, DriftStatus, DriftedResource, RequestInput, RequestStatus, User};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long one detection may take; CloudFormation needs seconds for a service stack.
const DETECTION_TIMEOUT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_secs(1);
/// How often the periodic checker looks for an API due for a check.
const TICK: Duration = Duration::from_secs(10);

/// The API's last drift check, or `not_checked`.
pub async fn get(s: &Services, actor: &User, id: &str) -> Result<Drift> {
    let request = super::requests::get(s, actor, id).await?;
    let rid = parse_id(&request.id, "request")?;
    Ok(db::drift::get(&s.db, rid).await?.unwrap_or(Drift {
        status: DriftStatus::NotChecked,
        stack_name: request.stacks.service.stack_name,
        checked_at: None,
        resources: Vec::new(),
        error: None,
    }))
}

/// Checks the API's service stack now: anyone who may see the request may ask (it changes
/// nothing on AWS); the check is audited.
pub async fn check(s: &Services, actor: &User, id: &str) -> Result<Drift> {
    let request = super::requests::get(s, actor, id).await?;
    let live = request.deployed_revision.is_some() && !matches!(request.status, RequestStatus::Decommissioning | RequestStatus::Decommissioned);
    if !live {
        return Err(AppError::Conflict(format!("Request {} has no deployed stack to compare: it is not deployed", request.id)).into());
    }
    let rid = parse_id(&request.id, "request")?;
    let drift = detect(s, rid).await?;
    audited(s, &actor.username, rid, &drift).await?;
    Ok(drift)
}

/// Asks, for review, to bring a deployed API's drifted resources back to its deployed
/// revision: a new revision with the deployed revision's parameters, whose deployment sets
/// the drifted properties back to the template (CloudFormation alone cannot: the same
/// template again has nothing to update). Its team or the platform team may ask, after a
/// check found drift; the revision then goes through review like any other, and whoever
/// asked cannot approve it.
pub async fn revert(s: &Services, actor: &User, id: &str) -> Result<ApiRequest> {
    let rid = parse_id(id, "request")?;
    let actor_id = parse_id(&actor.id, "user")?;
    let mut tx = db::begin_write(&s.db).await?;
    let current = db::requests::get(&mut *tx, rid)
        .await?
        .filter(|r| super::requests::visible(actor, &r.team))
        .ok_or_else(|| AppError::NotFound(format!("No request {rid}")))?;
    if !actor.role.is_platform() {
        super::requests::may_act_for_team(actor, &current)?;
    }
    let status = current.status();
    let (RequestStatus::Deployed, Some(deployed)) = (status, current.deployed_revision) else {
        return Err(AppError::Conflict(format!(
            "Only a deployed API's drift can be reverted: request {rid} is {}",
            status.label().to_lowercase()
        ))
        .into());
    };
    let drift = db::drift::get(&mut *tx, rid).await?;
    let Some(drift) = drift.filter(|d| d.status == DriftStatus::Drifted) else {
        return Err(AppError::Conflict(format!(
            "Request {rid}'s last drift check found no drift to revert; check drift again first"
        ))
        .into());
    };
    let input: RequestInput = match db::requests::revision_input(&mut *tx, rid, deployed).await? {
        Some(json) => serde_json::from_str(&json)?,
        None => return Err(AppError::Conflict(format!("Request {rid} has no deployed revision {deployed}")).into()),
    };
    let claims = db::requests::live_claims(&mut tx, &current.environment).await?;
    super::requests::check_claims(&claims, &input, Some(rid))?;
    let revision = current.revision as u32 + 1;
    let now = db::now();
    db::requests::insert_revision(&mut tx, rid, revision, &input, actor_id, true, &now).await?;
    db::requests::set_revision(&mut tx, rid, revision, &input.path, &now).await?;
    audit::append(
        &mut tx,
        audit::Entry {
            actor: &actor.username,
            action: "request.revert_drift",
            subject_type: "request",
            subject_id: rid.to_string(),
            request_id: Some(rid),
            details: json!({
                "revision": revision,
                "reverts_to": deployed,
                "status_before": status,
                "drift_checked_at": drift.checked_at,
                "drifted": drift.resources,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    super::requests::get(s, actor, id).await
}

/// Runs one detection of the request's service stack in its environment's account and
/// region, and keeps the answer (an AWS failure is kept too, as `unknown` with its reason).
async fn detect(s: &Services, rid: i64) -> Result<Drift> {
    let record = db::requests::get(&s.db, rid).await?.ok_or_else(|| AppError::NotFound(format!("No request {rid}")))?;
    let env = db::environments::get(&s.db, &record.environment)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("No environment {}", record.environment)))?;
    let stack_name = app::stacks::service_stack_name_as(record.naming(), &env.name, &record.service_name);
    let cfn = s.aws.drift(&Location::of(&env)).await;
    let compared = async {
        let detection_id = cfn.detect_drift(&stack_name).await?;
        let deadline = Instant::now() + DETECTION_TIMEOUT;
        let detection = loop {
            let detection = cfn.drift_detection(&detection_id).await?;
            if detection.done {
                break detection;
            }
            if Instant::now() > deadline {
                return Err(AwsError::new("Timeout", format!("CloudFormation did not finish comparing {stack_name} within {} s", DETECTION_TIMEOUT.as_secs())));
            }
            tokio::time::sleep(POLL).await;
        };
        let status = DriftStatus::from_cloudformation(&detection.stack_status);
        let resources = if status == DriftStatus::Drifted { cfn.drifted_resources(&stack_name).await? } else { Vec::new() };
        Ok::<_, AwsError>((status, detection.reason, resources))
    }
    .await;
    let drift = match compared {
        Ok((status, reason, resources)) => Drift {
            status,
            stack_name,
            checked_at: None,
            resources: resources
                .into_iter()
                .map(|r| DriftedResource { logical_id: r.logical_id, resource_type: r.resource_type, status: r.status, differences: r.differences })
                .collect(),
            // CloudFormation's reason matters when it could not say.
            error: reason.filter(|_| status == DriftStatus::Unknown),
        },
        Err(e) => Drift { status: DriftStatus::Unknown, stack_name, checked_at: None, resources: Vec::new(), error: Some(e.to_string()) },
    };
    let at = db::now();
    db::drift::record(&s.db, rid, &drift, &at).await?;
    Ok(Drift { checked_at: Some(at), ..drift })
}

async fn audited(s: &Services, actor: &str, rid: i64, drift: &Drift) -> Result<()> {
    let mut tx = db::begin_write(&s.db).await?;
    let drifted: Vec<&str> = drift.resources.iter().map(|r| r.logical_id.as_str()).collect();
    audit::append(
        &mut tx,
        audit::Entry {
            actor,
            action: "drift.checked",
            subject_type: "request",
            subject_id: rid.to_string(),
            request_id: Some(rid),
            details: json!({"stack": drift.stack_name, "status": drift.status, "drifted": drifted, "error": drift.error}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Checks every live API about every `every`, one at a time; a check whose verdict differs
/// from the last one is audited (as Berth's own), so the log shows when drift appeared.
pub fn start(s: Arc<Services>, every: Duration) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(TICK).await;
            let due = match db::drift::next_due(&s.db, &db::seconds_ago(every.as_secs())).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::warn!("finding an API due for a drift check: {e}");
                    continue;
                }
            };
            let Some(rid) = due else { continue };
            let before = db::drift::get(&s.db, rid).await.ok().flatten().map(|d| d.status);
            match detect(&s, rid).await {
                Ok(drift) if before != Some(drift.status) => {
                    if let Err(e) = audited(&s, "berth", rid, &drift).await {
                        tracing::warn!(request = rid, "auditing a drift check: {e}");
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(request = rid, "checking drift: {e}"),
            }
        }
    });
}
