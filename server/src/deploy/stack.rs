//! One stack brought to its desired state within a deployment, restart-safe: every step
//! starts from what CloudFormation reports, and the phase Berth reached is recorded so a
//! resumed job waits for an operation it already started instead of starting another.

use super::ownership::Owner;
use super::{Engine, TEMPLATE_TAG};
use crate::aws::{AwsError, CloudFormation, StackInfo, StackSpec};
use crate::db;
use app::model::{EnvironmentStatus, StackKind};
use std::time::{Duration, Instant};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    Deleted,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// CloudFormation refused a call (after the SDK's retries).
    #[error("{stack}: {error}")]
    Refused { stack: String, error: AwsError },
    /// The stack operation ended in a failure or rollback status.
    #[error("{stack} ended in {status}: {reason}")]
    Failed { stack: String, status: String, reason: String },
    #[error("{stack} did not finish within {minutes} minutes (last status {status})")]
    TimedOut { stack: String, minutes: u64, status: String },
    /// The stack under this name is not Berth's for this request or environment (the
    /// reason names it).
    #[error("{0}")]
    NotOwned(String),
    #[error("{0}")]
    Internal(String),
    /// Berth is shutting down: the step stopped at a safe point and the job stays unfinished.
    #[error("Berth stopped before the step was done")]
    Stopped,
}

impl From<sqlx::Error> for StepError {
    fn from(e: sqlx::Error) -> Self {
        StepError::Internal(format!("database: {e}"))
    }
}

/// Phases Berth records while it waits on CloudFormation.
const CREATING: &str = "CREATING";
const UPDATING: &str = "UPDATING";
const DELETING: &str = "DELETING";
const CLEANING: &str = "DELETING_FAILED_CREATE";

/// What became of the update a step recorded as started.
enum Update {
    Done,
    NotRun,
}

pub struct Step<'a> {
    pub engine: &'a Engine,
    /// CloudFormation in the environment's account and region.
    pub cfn: &'a dyn CloudFormation,
    pub deployment: i64,
    pub request: i64,
    pub environment: &'a str,
    /// This installation's id, tagged on the stacks it owns.
    pub berth_id: &'a str,
}

/// Whether the stack's last operation has ended, well or badly. Anything else (`*_IN_PROGRESS`,
/// but also a stack CloudFormation has only registered so far, such as moto's
/// `CREATE_PENDING`) is still moving: its parameters may be set while its resources and
/// exports do not exist yet, so it is waited for, never taken as done.
fn settled(status: &str) -> bool {
    status.ends_with("_COMPLETE") || status.ends_with("_FAILED")
}

/// The statuses in which a stack's outputs are those of its current template.
fn complete(status: &str) -> bool {
    matches!(status, "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "UPDATE_ROLLBACK_COMPLETE" | "IMPORT_COMPLETE")
}

/// "No updates are to be performed" comes in a few wordings.
pub(crate) fn no_changes(reason: Option<&str>) -> bool {
    reason.is_some_and(|r| r.contains("didn't contain changes") || r.contains("No updates are to be performed"))
}

/// Whether the stack already runs `spec`: its template (by hash tag) and parameter values.
pub(crate) fn unchanged(info: &StackInfo, spec: &StackSpec) -> bool {
    let same_template = info.tags.get(TEMPLATE_TAG) == spec.tags.get(TEMPLATE_TAG);
    same_template
        && spec
            .parameters
            .iter()
            .all(|p| info.parameters.iter().any(|q| q.key == p.key && q.value == p.value))
}

impl Step<'_> {
    /// Whom a stack of this kind belongs to in this deployment.
    pub fn owner(&self, kind: StackKind) -> Owner {
        Owner {
            berth_id: self.berth_id.to_string(),
            environment: self.environment.to_string(),
            kind,
            request: (kind == StackKind::Service).then_some(self.request),
        }
    }

    /// Refuses to act on a stack this Berth did not create for this owner (recorded, so
    /// the deployment shows why).
    async fn ensure_owned(&self, kind: StackKind, name: &str, info: &StackInfo) -> Result<(), StepError> {
        let owner = self.owner(kind);
        match owner.check(&self.engine.db, name, info, self.deployment).await? {
            None => Ok(()),
            Some(reason) => {
                self.record(kind.as_str(), name, "NOT_OWNED", Some(&reason)).await?;
                Err(StepError::NotOwned(reason))
            }
        }
    }

    fn token(&self, kind: &str, action: &str) -> String {
        format!("berth-{}-{kind}-{action}", self.deployment)
    }

    async fn record(&self, kind: &str, stack: &str, status: &str, reason: Option<&str>) -> Result<(), StepError> {
        db::deployments::record_stack(&self.engine.db, self.deployment, kind, stack, status, reason, &db::now()).await?;
        self.engine.feed.publish(self.request);
        Ok(())
    }

    fn refused(stack: &str) -> impl Fn(AwsError) -> StepError + '_ {
        move |error| StepError::Refused { stack: stack.to_string(), error }
    }

    /// Creates, updates or leaves the stack so that it matches `spec`.
    pub async fn ensure(&self, kind: StackKind, spec: &StackSpec) -> Result<Outcome, StepError> {
        if self.engine.is_stopping() {
            return Err(StepError::Stopped);
        }
        let k = kind.as_str();
        let name = spec.name.as_str();
        let recorded = db::deployments::stack(&self.engine.db, self.deployment, k).await?;
        let mut phase = recorded.as_ref().map(|r| r.status.clone()).unwrap_or_default();
        let started = recorded.map(|r| r.started_at).unwrap_or_else(db::now);
        if phase.is_empty() {
            self.record(k, name, "PENDING", None).await?;
        }
        let deadline = Instant::now() + self.engine.settings.stack_timeout;
        loop {
            let Some(info) = self.observe(kind, deadline, name, &started).await? else { continue };
            match info {
                None if phase == CREATING && self.stack_was_seen(name).await => {
                    return self.judge(k, name, "DELETE_COMPLETE", &["CREATE_COMPLETE"], Outcome::Created, None).await;
                }
                None => {
                    self.begin(kind, name, CREATING).await?;
                    phase = CREATING.into();
                    match self.cfn.create_stack(spec, &self.token(k, "create")).await {
                        // The stack appeared since we looked: most likely our own create, whose
                        // answer was lost and which was sent again. Look at it again.
                        Err(e) if e.code == "AlreadyExistsException" => {}
                        other => other.map_err(Self::refused(name))?,
                    }
                }
                Some(s) if !settled(&s.status) => {
                    self.wait(deadline, name, &s.status).await?;
                }
                // A stack that differs from what this step asked for is not its create: another
                // job or a person made it in between; it is then brought to `spec` as any other.
                Some(s) if phase == CREATING && (unchanged(&s, spec) || !complete(&s.status)) => {
                    return self.judge(k, name, &s.status, &["CREATE_COMPLETE"], Outcome::Created, s.reason.as_deref()).await;
                }
                Some(s) if phase == UPDATING => match self.update_state(k, name, &s, spec).await? {
                    Update::Done => {
                        return self.judge(k, name, &s.status, &["UPDATE_COMPLETE"], Outcome::Updated, s.reason.as_deref()).await;
                    }
                    Update::NotRun => {
                        // Recorded but never executed (Berth stopped in between), or gone
                        // without running: the stack still runs what it ran before.
                        if !self.update(kind, spec, deadline).await? {
                            self.record(k, name, "UNCHANGED", Some("CloudFormation found nothing to change")).await?;
                            return Ok(Outcome::Unchanged);
                        }
                        self.wait(deadline, name, &s.status).await?;
                    }
                },
                Some(s) if s.status == "ROLLBACK_COMPLETE" => {
                    // A create that failed earlier leaves an empty stack that can only be deleted.
                    self.record(k, name, CLEANING, None).await?;
                    phase = CLEANING.into();
                    self.cfn.delete_stack(name, &self.token(k, "cleanup")).await.map_err(Self::refused(name))?;
                    self.wait(deadline, name, &s.status).await?;
                }
                Some(s) if s.status.ends_with("_FAILED") => {
                    let reason = format!("the stack needs attention before Berth can change it ({})", s.reason.unwrap_or_default());
                    self.record(k, name, &s.status, Some(&reason)).await?;
                    return Err(StepError::Failed { stack: name.into(), status: s.status, reason });
                }
                // A drift-aware step asks CloudFormation even then: only it knows what drifted.
                Some(s) if unchanged(&s, spec) && !spec.revert_drift => {
                    self.record(k, name, "UNCHANGED", None).await?;
                    return Ok(Outcome::Unchanged);
                }
                Some(s) => {
                    if !self.update(kind, spec, deadline).await? {
                        self.record(k, name, "UNCHANGED", Some("CloudFormation found nothing to change")).await?;
                        return Ok(Outcome::Unchanged);
                    }
                    phase = UPDATING.into();
                    self.wait(deadline, name, &s.status).await?;
                }
            }
        }
    }

    /// Waits until the stack is complete and has every output in `required` (the cluster
    /// stack, before a service stack that imports them is touched). Whatever a restart
    /// interrupted, and whichever job brought the cluster stack there, a service step never
    /// starts before the exports it imports exist.
    pub async fn outputs_ready(&self, name: &str, required: &[String]) -> Result<(), StepError> {
        if self.engine.is_stopping() {
            return Err(StepError::Stopped);
        }
        let deadline = Instant::now() + self.engine.settings.stack_timeout;
        loop {
            let Some(info) = self.describe(deadline, name).await? else { continue };
            let status = match info {
                Some(s) if complete(&s.status) && required.iter().all(|k| s.outputs.contains_key(k)) => return Ok(()),
                Some(s) if settled(&s.status) && !complete(&s.status) => {
                    let reason = format!("the cluster stack is {}; service stacks wait for it to be complete", s.status);
                    return Err(StepError::Failed { stack: name.into(), status: s.status, reason });
                }
                Some(s) => s.status,
                None => "missing".to_string(),
            };
            self.wait(deadline, name, &status).await?;
        }
    }

    /// The stack's state; `None` (ask again) after a read AWS could not answer for now.
    async fn describe(&self, deadline: Instant, name: &str) -> Result<Option<Option<StackInfo>>, StepError> {
        match self.cfn.describe_stack(name).await {
            Ok(info) => Ok(Some(info)),
            Err(e) if e.retryable() => {
                tracing::warn!(stack = name, error = %e, "reading the stack failed; polling again");
                self.wait(deadline, name, "unknown").await?;
                Ok(None)
            }
            Err(e) => Err(Self::refused(name)(e)),
        }
    }

    /// The stack's state as `describe` gives it, with its new events stored on the way;
    /// a stack that is not this owner's is refused before anything of it is read or changed.
    async fn observe(&self, kind: StackKind, deadline: Instant, name: &str, started: &str) -> Result<Option<Option<StackInfo>>, StepError> {
        let seen = self.describe(deadline, name).await?;
        if let Some(Some(info)) = &seen {
            self.ensure_owned(kind, name, info).await?;
            self.collect_events(name, started).await;
        }
        Ok(seen)
    }

    /// Whether this deployment already stored an event of the stack (it existed, then vanished).
    async fn stack_was_seen(&self, name: &str) -> bool {
        matches!(db::events::newest_event_id(&self.engine.db, self.request, name).await, Ok(Some(_)))
    }

    async fn begin(&self, kind: StackKind, name: &str, phase: &str) -> Result<(), StepError> {
        self.record(kind.as_str(), name, phase, None).await?;
        if kind == StackKind::Cluster {
            db::environments::set_status(&self.engine.db, self.environment, EnvironmentStatus::Deploying, None, &db::now()).await?;
        }
        Ok(())
    }

    /// Whether this step's update ran: never from the recorded phase alone (it is written
    /// before ExecuteChangeSet is sent), but from the change set itself and the stack's last
    /// operation.
    async fn update_state(&self, k: &str, name: &str, stack: &StackInfo, spec: &StackSpec) -> Result<Update, StepError> {
        let change_set = self.cfn.describe_change_set(name, &self.token(k, "update")).await.map_err(Self::refused(name))?;
        Ok(match change_set.as_ref().and_then(|c| c.execution_status.as_deref()) {
            Some(status) if status.starts_with("EXECUTE_") => Update::Done,
            Some(_) => Update::NotRun,
            // CloudFormation removes a stack's change sets once one is executed: the stack
            // then runs this step's parameters and template, or rolled back from them.
            None if unchanged(stack, spec) || stack.status.contains("ROLLBACK") => Update::Done,
            None => Update::NotRun,
        })
    }

    /// Creates (or finds) this step's change set and executes it. `false` when
    /// CloudFormation reports nothing to change.
    async fn update(&self, kind: StackKind, spec: &StackSpec, deadline: Instant) -> Result<bool, StepError> {
        let k = kind.as_str();
        let name = spec.name.as_str();
        let change_set = self.token(k, "update");
        loop {
            match self.cfn.describe_change_set(name, &change_set).await.map_err(Self::refused(name))? {
                None => {
                    self.cfn.create_change_set(spec, &change_set).await.map_err(Self::refused(name))?;
                }
                Some(c) if c.status == "CREATE_PENDING" || c.status == "CREATE_IN_PROGRESS" => {
                    self.wait(deadline, name, &c.status).await?;
                }
                Some(c) if c.status == "FAILED" && no_changes(c.reason.as_deref()) => {
                    // Best effort: a leftover empty change set harms nothing.
                    let _ = self.cfn.delete_change_set(name, &change_set).await;
                    return Ok(false);
                }
                Some(c) if c.status == "CREATE_COMPLETE" => {
                    self.begin(kind, name, UPDATING).await?;
                    if matches!(c.execution_status.as_deref(), None | Some("AVAILABLE")) {
                        self
                            .cfn
                            .execute_change_set(name, &change_set, &self.token(k, "execute"))
                            .await
                            .map_err(Self::refused(name))?;
                    }
                    return Ok(true);
                }
                Some(c) => {
                    let reason = c.reason.unwrap_or_else(|| format!("change set {}", c.status));
                    return Err(StepError::Refused { stack: name.into(), error: AwsError::new("ChangeSetFailed", reason) });
                }
            }
        }
    }

    /// Deletes the stack (decommissioning).
    pub async fn delete(&self, name: &str) -> Result<Outcome, StepError> {
        if self.engine.is_stopping() {
            return Err(StepError::Stopped);
        }
        let k = StackKind::Service.as_str();
        let recorded = db::deployments::stack(&self.engine.db, self.deployment, k).await?;
        let started = recorded.as_ref().map(|r| r.started_at.clone()).unwrap_or_else(db::now);
        let mut requested = recorded.is_some_and(|r| r.status == DELETING);
        let deadline = Instant::now() + self.engine.settings.stack_timeout;
        loop {
            let Some(info) = self.observe(StackKind::Service, deadline, name, &started).await? else { continue };
            match info {
                None => {
                    self.record(k, name, "DELETE_COMPLETE", None).await?;
                    return Ok(Outcome::Deleted);
                }
                Some(s) if !settled(&s.status) => self.wait(deadline, name, &s.status).await?,
                Some(s) if requested && s.status == "DELETE_FAILED" => {
                    return self.judge(k, name, &s.status, &[], Outcome::Deleted, s.reason.as_deref()).await;
                }
                Some(s) => {
                    self.record(k, name, DELETING, None).await?;
                    self.cfn.delete_stack(name, &self.token(k, "delete")).await.map_err(Self::refused(name))?;
                    requested = true;
                    self.wait(deadline, name, &s.status).await?;
                }
            }
        }
    }

    /// Success when `status` is one of `success`; otherwise a failure naming the first
    /// resource that failed and why.
    async fn judge(
        &self,
        kind: &str,
        name: &str,
        status: &str,
        success: &[&str],
        outcome: Outcome,
        stack_reason: Option<&str>,
    ) -> Result<Outcome, StepError> {
        if success.contains(&status) {
            self.record(kind, name, status, None).await?;
            return Ok(outcome);
        }
        let reason = match db::events::first_failure(&self.engine.db, self.deployment, name).await? {
            Some(e) => format!(
                "{} ({}): {}",
                e.logical_id.unwrap_or_default(),
                e.resource_type.unwrap_or_default(),
                e.reason.unwrap_or_default()
            ),
            None => stack_reason.unwrap_or("no reason given").to_string(),
        };
        self.record(kind, name, status, Some(&reason)).await?;
        Err(StepError::Failed { stack: name.into(), status: status.into(), reason })
    }

    /// The safe point of every step: between AWS calls, with the phase reached recorded.
    /// Shutdown stops the step here.
    async fn wait(&self, deadline: Instant, name: &str, status: &str) -> Result<(), StepError> {
        if self.engine.is_stopping() {
            return Err(StepError::Stopped);
        }
        if Instant::now() >= deadline {
            return Err(StepError::TimedOut {
                stack: name.into(),
                minutes: self.engine.settings.stack_timeout.as_secs().div_ceil(60),
                status: status.into(),
            });
        }
        tokio::select! {
            _ = tokio::time::sleep(self.engine.settings.poll) => Ok(()),
            _ = self.engine.stopped() => Err(StepError::Stopped),
        }
    }

    /// Stores the stack's new events of this deployment (from shortly before it touched the
    /// stack) and tells live viewers. Failing to read events never fails a deployment.
    async fn collect_events(&self, name: &str, started: &str) {
        let known = db::events::newest_event_id(&self.engine.db, self.request, name).await.ok().flatten();
        let events = match self.cfn.stack_events(name, known.as_deref()).await {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(stack = name, error = %e, "cannot read stack events");
                return;
            }
        };
        let since = OffsetDateTime::parse(started, &Rfc3339).map(|t| t - Duration::from_secs(5)).ok();
        let mut fresh: Vec<_> = events
            .into_iter()
            .filter(|e| match (since, OffsetDateTime::parse(&e.timestamp, &Rfc3339)) {
                (Some(since), Ok(at)) => at >= since,
                _ => true,
            })
            .collect();
        fresh.reverse();
        match db::events::insert_stack_events(&self.engine.db, self.request, self.deployment, &fresh).await {
            Ok(0) => {}
            Ok(_) => self.engine.feed.publish(self.request),
            Err(e) => tracing::warn!(stack = name, error = %e, "cannot store stack events"),
        }
    }
}
