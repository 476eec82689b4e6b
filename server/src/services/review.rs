//! The review workflow: decisions bound to a revision, four-eyes, comments, decommissioning
//! and retries. Each transition is checked and recorded inside one write transaction, so
//! two approvers clicking at once produce exactly one decision.

use super::requests::{may_act_for_team, may_decide, visible};
use super::{parse_id, Services};
use crate::db::{self, audit, requests::RequestRecord, Tx};
use crate::deploy::pin::Pinned;
use crate::error::Result;
use app::error::AppError;
use app::model::*;
use serde_json::json;

use app::validation::NOTE_MAX as TEXT_MAX;

fn text(field: &str, label: &str, value: &str) -> Result<String, AppError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(AppError::field(field, format!("{label} is required")));
    }
    if value.chars().count() > TEXT_MAX {
        return Err(AppError::field(field, format!("{label} must be at most {TEXT_MAX} characters")));
    }
    Ok(value.to_string())
}

async fn load(tx: &mut Tx, actor: &User, id: &str) -> Result<RequestRecord> {
    let id = parse_id(id, "request")?;
    db::requests::get(&mut **tx, id)
        .await?
        .filter(|r| visible(actor, &r.team))
        .ok_or_else(|| AppError::NotFound(format!("No request {id}")).into())
}

fn check_revision(r: &RequestRecord, revision: Option<u32>) -> Result<(), AppError> {
    match revision {
        Some(rev) if i64::from(rev) != r.revision => Err(AppError::Conflict(format!(
            "Revision {rev} is no longer current; the request is at revision {}. Review it again.",
            r.revision
        ))),
        _ => Ok(()),
    }
}

async fn note(tx: &mut Tx, actor: &User, r: &RequestRecord, kind: NoteKind, body: &str, action: &str, details: serde_json::Value) -> Result<()> {
    let now = db::now();
    db::notes::insert(tx, r.id, r.revision, &actor.username, kind.as_str(), body, &now).await?;
    audit::append(
        tx,
        audit::Entry {
            actor: &actor.username,
            action,
            subject_type: "request",
            subject_id: r.id.to_string(),
            request_id: Some(r.id),
            details,
        },
    )
    .await?;
    Ok(())
}

/// The plan the approver was last shown for `subject`, for the approval's audit row: what
/// CloudFormation said each stack would do when they looked, and when. `null` when they
/// approved without looking at one.
pub(super) async fn plan_seen(tx: &mut Tx, subject: db::plans::Subject, actor: &User) -> Result<serde_json::Value> {
    Ok(match db::plans::last_seen(&mut **tx, subject, &actor.username).await? {
        Some((plan, at)) => json!({"at": at, "plan": serde_json::from_str::<serde_json::Value>(&plan)?}),
        None => serde_json::Value::Null,
    })
}

pub async fn decide(s: &Services, actor: &User, id: &str, decision: Decision) -> Result<ApiRequest> {
    let mut tx = db::begin_write(&s.db).await?;
    let r = load(&mut tx, actor, id).await?;
    may_decide(actor, &r)?;
    let status = r.status();
    if !matches!(status, RequestStatus::PendingReview | RequestStatus::DecommissionRequested) {
        return Err(AppError::Conflict(format!("Revision {} was already decided: the request is {}", r.revision, status.label().to_lowercase())).into());
    }
    let decommission = status == RequestStatus::DecommissionRequested;
    let live = r.deployed_revision.is_some();
    let now = db::now();
    let (kind, body, next, revision) = match decision {
        Decision::Approve { revision, comment } => {
            let comment = comment.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
            if let Some(c) = &comment {
                text("comment", "Comment", c)?;
            }
            (NoteKind::Approved, comment.unwrap_or_default(), if decommission { RequestStatus::Decommissioning } else { RequestStatus::Approved }, Some(revision))
        }
        Decision::Reject { reason, revision } => {
            let reason = text("reason", "A reason", &reason)?;
            // Rejecting a change to a live API leaves the API as it is.
            (NoteKind::Rejected, reason, if live { RequestStatus::Deployed } else { RequestStatus::Rejected }, revision)
        }
        Decision::RequestChanges { comment, revision } => {
            let comment = text("comment", "A comment", &comment)?;
            (NoteKind::ChangesRequested, comment, if decommission { RequestStatus::Deployed } else { RequestStatus::ChangesRequested }, revision)
        }
    };
    check_revision(&r, revision)?;
    db::requests::set_status(&mut tx, r.id, next, None, &now).await?;
    if decommission {
        db::requests::set_decommission_requested_by(&mut tx, r.id, None).await?;
    }
    let mut details = json!({"revision": r.revision, "before": status, "after": next, "comment": body});
    if kind == NoteKind::Approved {
        let job = if decommission { "decommission" } else { "deploy" };
        // What this approval lets run, pinned to the job and kept in the audit trail.
        let pinned = if decommission { None } else { Some(pin(&mut tx, s, &r).await?) };
        let approved = pinned.as_ref().map(|p| (p.digest(), p.to_json()));
        let deployment =
            db::deployments::insert(&mut tx, r.id, r.revision, job, approved.as_ref().map(|(d, j)| (d.as_str(), j.as_str())), &now).await?;
        if let Some(p) = &pinned {
            details["approved"] = json!({"digest": p.digest(), "stacks": p.stacks});
        }
        details["plan_seen"] = plan_seen(&mut tx, db::plans::Subject::Request { id: r.id, revision: r.revision }, actor).await?;
        audit::append(
            &mut tx,
            audit::Entry {
                actor: &actor.username,
                action: "deployment.queued",
                subject_type: "deployment",
                subject_id: deployment.to_string(),
                request_id: Some(r.id),
                details: json!({"revision": r.revision, "kind": job, "approved_digest": approved.map(|a| a.0)}),
            },
        )
        .await?;
    }
    let action = format!("request.{}", kind.as_str());
    note(&mut tx, actor, &r, kind, &body, &action, details).await?;
    tx.commit().await?;
    s.wake.notify_one();
    super::requests::get(s, actor, id).await
}

/// Both stacks of the request's current revision as they would be deployed now.
async fn pin(tx: &mut Tx, s: &Services, r: &RequestRecord) -> Result<Pinned> {
    let env = db::environments::get(&mut **tx, &r.environment)
        .await?
        .ok_or_else(|| AppError::Conflict(format!("The environment {} no longer exists", r.environment)))?;
    Ok(Pinned::of(&s.templates, &env.parameters, &r.input()?, r.priority as u32))
}

pub async fn comment(s: &Services, actor: &User, id: &str, body: &str) -> Result<Note> {
    let mut tx = db::begin_write(&s.db).await?;
    // Who may comment first: a stranger learns nothing from how their comment is judged.
    let r = load(&mut tx, actor, id).await?;
    if !actor.role.is_platform() {
        may_act_for_team(actor, &r)?;
    }
    let body = text("comment", "A comment", body)?;
    note(&mut tx, actor, &r, NoteKind::Comment, &body, "request.comment", json!({"revision": r.revision, "comment": body})).await?;
    tx.commit().await?;
    Ok(conversation(s, actor, id).await?.pop().expect("the comment just added"))
}

pub async fn decommission(s: &Services, actor: &User, id: &str) -> Result<ApiRequest> {
    let mut tx = db::begin_write(&s.db).await?;
    let r = load(&mut tx, actor, id).await?;
    may_act_for_team(actor, &r)?;
    if r.status() != RequestStatus::Deployed {
        return Err(AppError::Conflict(format!("Only a deployed API can be decommissioned; this one is {}", r.status().label().to_lowercase())).into());
    }
    db::requests::set_status(&mut tx, r.id, RequestStatus::DecommissionRequested, None, &db::now()).await?;
    db::requests::set_decommission_requested_by(&mut tx, r.id, Some(parse_id(&actor.id, "user")?)).await?;
    note(&mut tx, actor, &r, NoteKind::DecommissionRequested, "", "request.decommission_requested", json!({"revision": r.revision})).await?;
    tx.commit().await?;
    super::requests::get(s, actor, id).await
}

/// Runs a failed deployment again (same revision, same kind): nothing new to review.
pub async fn retry(s: &Services, actor: &User, id: &str) -> Result<ApiRequest> {
    let mut tx = db::begin_write(&s.db).await?;
    let r = load(&mut tx, actor, id).await?;
    if !actor.role.is_platform() {
        may_act_for_team(actor, &r)?;
    }
    let last = db::deployments::latest(&mut *tx, r.id).await?;
    let Some(last) = last.filter(|d| d.status == "failed" && r.status() == RequestStatus::Failed) else {
        return Err(AppError::Conflict("Only a failed deployment can be retried".into()).into());
    };
    if db::deployments::in_flight(&mut tx, r.id).await? {
        return Err(AppError::Conflict("A deployment of this request is already running".into()).into());
    }
    let now = db::now();
    // A retry runs what was approved, nothing else: it keeps the approval's pin.
    let approved = last.approved_digest.as_deref().zip(last.approved_stacks.as_deref());
    let deployment = db::deployments::insert(&mut tx, r.id, last.revision, &last.kind, approved, &now).await?;
    let next = if last.kind == "decommission" { RequestStatus::Decommissioning } else { RequestStatus::Approved };
    db::requests::set_status(&mut tx, r.id, next, None, &now).await?;
    note(&mut tx, actor, &r, NoteKind::Retried, "", "deployment.retry", json!({"revision": last.revision, "deployment": deployment, "kind": last.kind})).await?;
    tx.commit().await?;
    s.wake.notify_one();
    super::requests::get(s, actor, id).await
}

pub async fn conversation(s: &Services, actor: &User, id: &str) -> Result<Vec<Note>> {
    let r = super::requests::get(s, actor, id).await?;
    let rows = db::notes::list(&s.db, parse_id(&r.id, "request")?).await?;
    Ok(rows
        .into_iter()
        .map(|n| Note {
            id: n.id.to_string(),
            revision: n.revision as u32,
            author: n.author,
            kind: NoteKind::parse(&n.kind).unwrap_or(NoteKind::Comment),
            body: n.body,
            created_at: n.created_at,
        })
        .collect())
}
