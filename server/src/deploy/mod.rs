//! The deployment engine: durable jobs in SQLite, run by a worker inside the server.
//!
//! A deploy job brings the environment's cluster stack to the rendered parameters (create
//! it if missing, update it through a change set if they changed, skip it otherwise), then
//! the request's service stack the same way. A decommission job deletes the service stack.
//! Every step first looks at what AWS already has, and every mutating call carries a
//! token derived from the job and step, so a job resumed after a restart continues where
//! it stopped and never creates anything twice.
//!
//! Jobs are claimed in the database with a lease (owner, expiry) that the owner renews while
//! it works, so two processes on one database never run the same job at once, and a job of
//! a process that died is taken over once its lease expires. On shutdown the engine takes
//! no new steps, lets running ones reach a safe point (a wait between AWS calls) and hands
//! their jobs back.

pub mod feed;
pub mod ownership;
pub mod pin;
pub(crate) mod stack;
#[cfg(test)]
mod fake;

use crate::aws::{CloudFormation, Connect, Location, StackParameter, StackSpec};
use crate::db::{self, Db};
use crate::templates::Templates;
use app::model::{EnvironmentStatus, RequestInput, RequestStatus, StackInput, StackKind};
use feed::Feed;
use pin::Pinned;
use sha2::{Digest, Sha256};
use stack::{Outcome, StepError};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Clone, Debug)]
pub struct Settings {
    /// How often a changing stack is polled.
    pub poll: Duration,
    /// How long one stack may take before the deployment is failed.
    pub stack_timeout: Duration,
    /// How long a claim on a job lasts without renewal.
    pub lease: Duration,
}

pub struct Engine {
    db: Db,
    /// AWS in each environment's account and region.
    aws: Arc<dyn Connect>,
    templates: Templates,
    feed: Feed,
    settings: Settings,
    wake: Arc<Notify>,
    /// This process's name on the leases it holds.
    owner: String,
    /// The jobs this process runs, to stop them on shutdown.
    running: Mutex<HashMap<i64, tokio::task::AbortHandle>>,
    /// One lock per stack: two jobs never change the same stack at once.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Set once shutdown began: no new job or step starts.
    stopping: tokio::sync::watch::Sender<bool>,
}

/// The tag carrying the hash of the template a stack was last deployed with, so a changed
/// template is an update even when the parameters are the same.
pub const TEMPLATE_TAG: &str = "berth:template-sha256";

impl Engine {
    pub fn new(db: Db, aws: Arc<dyn Connect>, templates: Templates, feed: Feed, settings: Settings, wake: Arc<Notify>) -> Arc<Engine> {
        let owner = format!("{}-{}", std::process::id(), hex::encode(rand::random::<[u8; 6]>()));
        let stopping = tokio::sync::watch::Sender::new(false);
        Arc::new(Engine { db, aws, templates, feed, settings, wake, owner, running: Mutex::default(), locks: Mutex::default(), stopping })
    }

    /// Runs the worker until shutdown: on start and whenever woken (a job was queued) or
    /// every few seconds, it claims and starts every unfinished job no process holds.
    pub fn start(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        tracing::info!(owner = %engine.owner, "deployment worker started");
        let idle = Duration::from_secs(5).min(self.settings.lease / 3);
        tokio::spawn(async move {
            let mut stopping = engine.stopping.subscribe();
            while !engine.is_stopping() {
                match db::deployments::unfinished(&engine.db).await {
                    Ok(ids) => {
                        for id in ids {
                            if let Err(e) = engine.claim_and_run(id).await {
                                tracing::error!(deployment = id, error = %e, "cannot claim the deployment");
                            }
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "cannot read the deployment queue"),
                }
                tokio::select! {
                    _ = engine.wake.notified() => {},
                    _ = tokio::time::sleep(idle) => {},
                    _ = stopping.wait_for(|s| *s) => {},
                }
            }
        })
    }

    /// Starts the job unless this process already runs it or another holds its lease.
    async fn claim_and_run(self: &Arc<Self>, id: i64) -> Result<(), sqlx::Error> {
        if self.is_stopping() || self.running.lock().expect("not poisoned").contains_key(&id) {
            return Ok(());
        }
        if !db::deployments::claim(&self.db, id, &self.owner, &db::now(), &db::in_seconds(self.settings.lease.as_secs())).await? {
            return Ok(());
        }
        tracing::info!("claimed deployment {id} (owner {})", self.owner);
        let engine = self.clone();
        let mut running = self.running.lock().expect("not poisoned");
        let span = tracing::info_span!("deployment", deployment = id);
        let task = tokio::spawn(tracing::Instrument::instrument(async move {
            tokio::select! {
                _ = engine.run(id) => {}
                _ = engine.keep_lease(id) => {
                    tracing::warn!(deployment = id, "lost the lease on the deployment; another process has it now");
                }
            }
            engine.running.lock().expect("not poisoned").remove(&id);
            if let Err(e) = db::deployments::release(&engine.db, id, &engine.owner).await {
                tracing::warn!(deployment = id, error = %e, "cannot hand the deployment back; its lease will expire");
            }
            tracing::info!("released deployment {id} (owner {})", engine.owner);
        }, span));
        running.insert(id, task.abort_handle());
        Ok(())
    }

    /// Renews the job's lease while it runs; returns when the lease is lost (the job was
    /// taken over, or the database could not be reached for a whole lease).
    async fn keep_lease(&self, id: i64) {
        let lease = self.settings.lease;
        let mut renewed = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(lease / 3).await;
            match db::deployments::renew(&self.db, id, &self.owner, &db::in_seconds(lease.as_secs())).await {
                Ok(true) => renewed = tokio::time::Instant::now(),
                Ok(false) => {
                    if self.finished(id).await {
                        // Finished: `run` is about to return on its own.
                        std::future::pending::<()>().await
                    }
                    return;
                }
                Err(e) => {
                    tracing::warn!(deployment = id, error = %e, "cannot renew the lease on the deployment");
                    if renewed.elapsed() + lease / 3 >= lease {
                        return;
                    }
                }
            }
        }
    }

    async fn finished(&self, id: i64) -> bool {
        matches!(db::deployments::get(&self.db, id).await, Ok(Some(job)) if job.status != "pending" && job.status != "running")
    }

    pub fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Resolves once shutdown has begun.
    async fn stopped(&self) {
        let mut stopping = self.stopping.subscribe();
        let _ = stopping.wait_for(|s| *s).await;
    }

    /// Stops taking jobs and steps, gives running steps up to `grace` to reach a safe point,
    /// then stops what is still running and hands every job back for another process.
    pub async fn shutdown(&self, grace: Duration) {
        self.stopping.send_replace(true);
        let deadline = tokio::time::Instant::now() + grace;
        while !self.running.lock().expect("not poisoned").is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let left: Vec<(i64, tokio::task::AbortHandle)> = self.running.lock().expect("not poisoned").drain().collect();
        for (id, task) in left {
            tracing::warn!(deployment = id, "the deployment step did not reach a safe point in time; stopping it");
            task.abort();
            if let Err(e) = db::deployments::release(&self.db, id, &self.owner).await {
                tracing::warn!(deployment = id, error = %e, "cannot hand the deployment back; its lease will expire");
            }
        }
        tracing::info!("deployment worker stopped");
    }

    fn lock_for(&self, stack: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks.lock().expect("not poisoned").entry(stack.to_string()).or_default().clone()
    }

    async fn run(self: &Arc<Self>, id: i64) {
        if let Err(e) = self.try_run(id).await {
            // Only the database can fail here; the job stays unfinished and is retried.
            tracing::error!(deployment = id, error = %e, "deployment bookkeeping failed; will retry");
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    }

    async fn try_run(self: &Arc<Self>, id: i64) -> Result<(), sqlx::Error> {
        let Some(mut job) = db::deployments::get(&self.db, id).await? else { return Ok(()) };
        let request = db::requests::get(&self.db, job.request_id).await?.expect("a deployment's request exists");
        let env = db::environments::get(&self.db, &request.environment).await?.expect("a request's environment exists");
        let input: RequestInput = match db::requests::revision_input(&self.db, job.request_id, job.revision).await? {
            Some(json) => serde_json::from_str(&json).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            None => return Ok(()),
        };
        let decommission = job.kind == "decommission";
        if let (false, Some(approved)) = (decommission, job.approved_digest.as_deref()) {
            let now = Pinned::of(&self.templates, &env.parameters, &input, request.priority as u32);
            if now.digest() != approved {
                return self.changed_since_approval(&job, &now).await;
            }
        }
        if job.status == "pending" {
            let mut tx = db::begin_write(&self.db).await?;
            let started = db::now();
            db::deployments::mark_running(&mut tx, id, &started).await?;
            job.started_at = Some(started);
            let status = if decommission { RequestStatus::Decommissioning } else { RequestStatus::Deploying };
            db::requests::set_status(&mut tx, job.request_id, status, None, &db::now()).await?;
            db::audit::append(
                &mut tx,
                db::audit::Entry {
                    actor: "berth",
                    action: "deployment.started",
                    subject_type: "deployment",
                    subject_id: id.to_string(),
                    request_id: Some(job.request_id),
                    details: serde_json::json!({"revision": job.revision, "kind": job.kind}),
                },
            )
            .await?;
            tx.commit().await?;
            metrics::counter!(crate::metrics::DEPLOYMENTS_STARTED, "kind" => job.kind.clone()).increment(1);
            self.deployment_event(job.request_id, id, "running", None).await?;
        }
        let berth_id = db::installation::berth_id(&self.db).await?;
        let stacks = app::stacks::render_as(request.naming(), &env.parameters, &input, Some(request.priority as u32));
        // The environment's own account and region: a role that cannot be assumed fails
        // this deployment with what STS said, and no other environment's.
        let cfn = self.aws.cloudformation(&Location::of(&env)).await;
        let ctx = stack::Step { engine: self, cfn: cfn.as_ref(), deployment: id, request: job.request_id, environment: &env.name, berth_id: &berth_id };

        if self.is_stopping() {
            return Ok(());
        }
        let result = if decommission {
            ctx.delete(&stacks.service.stack_name).await
        } else {
            let cluster = self.spec(&stacks.cluster, &ctx.owner(StackKind::Cluster));
            // A revision that reverts drift sets the service stack's drifted resources back.
            let revert_drift = db::requests::revision_reverts_drift(&self.db, job.request_id, job.revision).await?;
            let service = StackSpec { revert_drift, ..self.spec(&stacks.service, &ctx.owner(StackKind::Service)) };
            match self.step(&ctx, StackKind::Cluster, &cluster, &env.name).await? {
                Err(e) => Err(e),
                Ok(_) => match ctx.outputs_ready(&cluster.name, &self.templates.imported_outputs()).await {
                    Err(e) => Err(e),
                    Ok(()) => self.step(&ctx, StackKind::Service, &service, &env.name).await?,
                },
            }
        };
        if matches!(result, Err(StepError::Stopped)) {
            // Handed back unfinished: whoever takes the job resumes it from what AWS shows.
            return Ok(());
        }
        let service_stack = stacks.service.stack_name.clone();
        self.finish(cfn.as_ref(), &job, &request.environment, &service_stack, &input, result).await
    }

    /// One stack, under its lock; keeps the environment's status in step with its cluster stack.
    async fn step(
        &self,
        ctx: &stack::Step<'_>,
        kind: StackKind,
        spec: &StackSpec,
        environment: &str,
    ) -> Result<Result<Outcome, StepError>, sqlx::Error> {
        let lock = self.lock_for(&spec.name);
        let _guard = lock.lock().await;
        let started = std::time::Instant::now();
        let result = ctx.ensure(kind, spec).await;
        if !matches!(result, Err(StepError::Stopped)) {
            let outcome = if result.is_ok() { "succeeded" } else { "failed" };
            metrics::histogram!(crate::metrics::STACK_STEP_DURATION, "stack" => kind.as_str(), "outcome" => outcome).record(started.elapsed().as_secs_f64());
        }
        if kind == StackKind::Cluster && !matches!(result, Err(StepError::Stopped)) {
            let status = match &result {
                Ok(_) => EnvironmentStatus::Ready,
                Err(_) => EnvironmentStatus::Failed,
            };
            let outputs = match ctx.cfn.describe_stack(&spec.name).await {
                Ok(Some(info)) => Some(serde_json::to_string(&info.outputs).expect("a map serializes")),
                _ => None,
            };
            db::environments::set_status(&self.db, environment, status, outputs.as_deref(), &db::now()).await?;
        }
        Ok(result)
    }

    /// The stack as Berth wants it, tagged with its template's hash and its owner.
    fn spec(&self, stack: &StackInput, owner: &ownership::Owner) -> StackSpec {
        let template = self.templates.body(owner.kind).to_string();
        let mut tags = owner.tags();
        tags.insert(TEMPLATE_TAG.to_string(), hex::encode(Sha256::digest(template.as_bytes())));
        StackSpec {
            name: stack.stack_name.clone(),
            template,
            parameters: stack.parameters.iter().map(|p| StackParameter { key: p.key.clone(), value: p.value.clone() }).collect(),
            tags,
            revert_drift: false,
        }
    }

    async fn finish(
        &self,
        cfn: &dyn CloudFormation,
        job: &db::deployments::DeploymentRow,
        environment: &str,
        service_stack: &str,
        input: &RequestInput,
        result: Result<Outcome, StepError>,
    ) -> Result<(), sqlx::Error> {
        // AWS is read before the write lock is taken: its answer can take as long as the
        // SDK's retries, and every other writer (sign-ins, decisions) would wait that long.
        let outputs = match &result {
            Ok(_) if job.kind != "decommission" => Some(outputs(cfn, environment, service_stack, input).await),
            _ => None,
        };
        let now = db::now();
        let mut tx = db::begin_write(&self.db).await?;
        let (status, error) = match (&result, outputs) {
            (Ok(_), None) => {
                db::requests::set_status(&mut tx, job.request_id, RequestStatus::Decommissioned, None, &now).await?;
                ("succeeded", None)
            }
            (Ok(_), Some(outputs)) => {
                db::requests::mark_deployed(&mut tx, job.request_id, job.revision, &outputs, &now).await?;
                ("succeeded", None)
            }
            (Err(e), _) => {
                db::requests::set_status(&mut tx, job.request_id, RequestStatus::Failed, Some(&e.to_string()), &now).await?;
                ("failed", Some(e.to_string()))
            }
        };
        db::deployments::finish(&mut tx, job.id, status, error.as_deref(), &now).await?;
        metrics::counter!(crate::metrics::DEPLOYMENTS_FINISHED, "kind" => job.kind.clone(), "outcome" => status).increment(1);
        if let (Some(from), Some(to)) = (job.started_at.as_deref().and_then(db::parse_time), db::parse_time(&now)) {
            let took = (to - from).as_seconds_f64();
            metrics::histogram!(crate::metrics::DEPLOYMENT_DURATION, "kind" => job.kind.clone(), "outcome" => status).record(took);
        }
        let action = match (job.kind.as_str(), status) {
            ("decommission", "succeeded") => "deployment.decommissioned",
            (_, "succeeded") => "deployment.succeeded",
            _ => "deployment.failed",
        };
        db::audit::append(
            &mut tx,
            db::audit::Entry {
                actor: "berth",
                action,
                subject_type: "deployment",
                subject_id: job.id.to_string(),
                request_id: Some(job.request_id),
                details: serde_json::json!({"revision": job.revision, "kind": job.kind, "error": error}),
            },
        )
        .await?;
        tx.commit().await?;
        self.deployment_event(job.request_id, job.id, status, error.as_deref()).await
    }

    /// Stops a deployment whose stacks would differ from what its approver approved: nothing
    /// is applied, the request goes back to review, and the difference is shown and audited.
    async fn changed_since_approval(&self, job: &db::deployments::DeploymentRow, now: &Pinned) -> Result<(), sqlx::Error> {
        let approved: Option<Pinned> = job.approved_stacks.as_deref().and_then(|j| serde_json::from_str(j).ok());
        let differences = approved.map(|a| now.differences(&a)).unwrap_or_default();
        let shown = if differences.is_empty() { "the rendered stacks differ".to_string() } else { differences.join("; ") };
        let reason = format!("Changed since approval: {shown}. Nothing was applied; the change needs a new review.");
        let at = db::now();
        let mut tx = db::begin_write(&self.db).await?;
        db::deployments::finish(&mut tx, job.id, "failed", Some(&reason), &at).await?;
        db::requests::set_status(&mut tx, job.request_id, RequestStatus::PendingReview, Some(&reason), &at).await?;
        db::audit::append(
            &mut tx,
            db::audit::Entry {
                actor: "berth",
                action: "deployment.changed_since_approval",
                subject_type: "deployment",
                subject_id: job.id.to_string(),
                request_id: Some(job.request_id),
                details: serde_json::json!({
                    "revision": job.revision,
                    "approved_digest": job.approved_digest,
                    "digest": now.digest(),
                    "differences": differences,
                    "stacks": now.stacks,
                }),
            },
        )
        .await?;
        tx.commit().await?;
        self.wake.notify_one();
        self.deployment_event(job.request_id, job.id, "failed", Some(&reason)).await
    }

    async fn deployment_event(&self, request: i64, deployment: i64, status: &str, reason: Option<&str>) -> Result<(), sqlx::Error> {
        db::events::insert_deployment_event(&self.db, request, deployment, status, reason, &db::now()).await?;
        self.feed.publish(request);
        Ok(())
    }
}

/// The service stack's outputs plus the API's public URL (load balancer + path).
async fn outputs(cfn: &dyn CloudFormation, environment: &str, service_stack: &str, input: &RequestInput) -> String {
    let mut outputs = match cfn.describe_stack(service_stack).await {
        Ok(Some(info)) => info.outputs,
        _ => BTreeMap::new(),
    };
    if let Ok(Some(info)) = cfn.describe_stack(&app::stacks::cluster_stack_name(environment)).await {
        if let Some(base) = info.outputs.get("ExternalUrl") {
            outputs.insert("PublicUrl".into(), public_url(base, &input.path));
        }
    }
    serde_json::to_string(&outputs).expect("a map serializes")
}

/// `http://alb.example.com` + `/orders*` → `http://alb.example.com/orders`
pub fn public_url(base: &str, path: &str) -> String {
    let prefix = path.split(['*', '?']).next().unwrap_or("");
    format!("{}{}", base.trim_end_matches('/'), prefix)
}

#[cfg(test)]
mod tests;
