//! The deployment engine: durable jobs in SQLite, run by a worker inside the server.
//!
//! A deploy job brings the environment's cluster stack to the rendered parameters (create
//! it if missing, update it through a change set if they changed, skip it otherwise), then
//! the request's service stack the same way. A decommission job deletes the service stack.
//! Every step first looks at what AWS already has, and every mutating call carries a
//! token derived from the job and step, so a job resumed after a restart continues where
//! it stopped and never creates anything twice.

pub mod feed;
pub mod ownership;
mod stack;
#[cfg(test)]
mod fake;

use crate::aws::{CloudFormation, StackParameter, StackSpec};
use crate::db::{self, Db};
use crate::templates::Templates;
use app::model::{EnvironmentStatus, RequestInput, RequestStatus, StackInput, StackKind};
use feed::Feed;
use sha2::{Digest, Sha256};
use stack::{Outcome, StepError};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Clone, Debug)]
pub struct Settings {
    /// How often a changing stack is polled.
    pub poll: Duration,
    /// How long one stack may take before the deployment is failed.
    pub stack_timeout: Duration,
}

pub struct Engine {
    db: Db,
    cfn: Arc<dyn CloudFormation>,
    templates: Templates,
    feed: Feed,
    settings: Settings,
    wake: Arc<Notify>,
    running: Mutex<HashSet<i64>>,
    /// One lock per stack: two jobs never change the same stack at once.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The tag carrying the hash of the template a stack was last deployed with, so a changed
/// template is an update even when the parameters are the same.
pub const TEMPLATE_TAG: &str = "berth:template-sha256";

impl Engine {
    pub fn new(db: Db, cfn: Arc<dyn CloudFormation>, templates: Templates, feed: Feed, settings: Settings, wake: Arc<Notify>) -> Arc<Engine> {
        Arc::new(Engine { db, cfn, templates, feed, settings, wake, running: Mutex::default(), locks: Mutex::default() })
    }

    /// Runs the worker until the process ends: on start and whenever woken (a job was
    /// queued) or every few seconds, it starts every unfinished job not already running.
    pub fn start(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        tokio::spawn(async move {
            loop {
                match db::deployments::unfinished(&engine.db).await {
                    Ok(ids) => {
                        for id in ids {
                            if engine.running.lock().expect("not poisoned").insert(id) {
                                let engine = engine.clone();
                                tokio::spawn(async move {
                                    engine.run(id).await;
                                    engine.running.lock().expect("not poisoned").remove(&id);
                                });
                            }
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "cannot read the deployment queue"),
                }
                tokio::select! {
                    _ = engine.wake.notified() => {},
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {},
                }
            }
        })
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
        let Some(job) = db::deployments::get(&self.db, id).await? else { return Ok(()) };
        let request = db::requests::get(&self.db, job.request_id).await?.expect("a deployment's request exists");
        let env = db::environments::get(&self.db, &request.environment).await?.expect("a request's environment exists");
        let input: RequestInput = match db::requests::revision_input(&self.db, job.request_id, job.revision).await? {
            Some(json) => serde_json::from_str(&json).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            None => return Ok(()),
        };
        let decommission = job.kind == "decommission";
        if job.status == "pending" {
            let mut tx = db::begin_write(&self.db).await?;
            db::deployments::mark_running(&mut tx, id, &db::now()).await?;
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
            self.deployment_event(job.request_id, id, "running", None).await?;
        }
        let berth_id = db::installation::berth_id(&self.db).await?;
        let stacks = app::stacks::render_as(request.naming(), &env.parameters, &input, Some(request.priority as u32));
        let ctx = stack::Step { engine: self, deployment: id, request: job.request_id, environment: &env.name, berth_id: &berth_id };

        let result = if decommission {
            ctx.delete(&stacks.service.stack_name).await
        } else {
            let cluster = self.spec(&stacks.cluster, &ctx.owner(StackKind::Cluster));
            let service = self.spec(&stacks.service, &ctx.owner(StackKind::Service));
            match self.step(&ctx, StackKind::Cluster, &cluster, &env.name).await? {
                Err(e) => Err(e),
                Ok(_) => self.step(&ctx, StackKind::Service, &service, &env.name).await?,
            }
        };
        let service_stack = stacks.service.stack_name.clone();
        self.finish(&job, &request.environment, &service_stack, &input, result).await
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
        let result = ctx.ensure(kind, spec).await;
        if kind == StackKind::Cluster {
            let status = match &result {
                Ok(_) => EnvironmentStatus::Ready,
                Err(_) => EnvironmentStatus::Failed,
            };
            let outputs = match self.cfn.describe_stack(&spec.name).await {
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
        }
    }

    async fn finish(
        &self,
        job: &db::deployments::DeploymentRow,
        environment: &str,
        service_stack: &str,
        input: &RequestInput,
        result: Result<Outcome, StepError>,
    ) -> Result<(), sqlx::Error> {
        let now = db::now();
        let mut tx = db::begin_write(&self.db).await?;
        let (status, error) = match &result {
            Ok(_) if job.kind == "decommission" => {
                db::requests::set_status(&mut tx, job.request_id, RequestStatus::Decommissioned, None, &now).await?;
                ("succeeded", None)
            }
            Ok(_) => {
                let outputs = self.outputs(environment, service_stack, input).await;
                db::requests::mark_deployed(&mut tx, job.request_id, job.revision, &outputs, &now).await?;
                ("succeeded", None)
            }
            Err(e) => {
                db::requests::set_status(&mut tx, job.request_id, RequestStatus::Failed, Some(&e.to_string()), &now).await?;
                ("failed", Some(e.to_string()))
            }
        };
        db::deployments::finish(&mut tx, job.id, status, error.as_deref(), &now).await?;
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

    /// The service stack's outputs plus the API's public URL (load balancer + path).
    async fn outputs(&self, environment: &str, service_stack: &str, input: &RequestInput) -> String {
        let mut outputs = match self.cfn.describe_stack(service_stack).await {
            Ok(Some(info)) => info.outputs,
            _ => BTreeMap::new(),
        };
        if let Ok(Some(info)) = self.cfn.describe_stack(&app::stacks::cluster_stack_name(environment)).await {
            if let Some(base) = info.outputs.get("ExternalUrl") {
                outputs.insert("PublicUrl".into(), public_url(base, &input.path));
            }
        }
        serde_json::to_string(&outputs).expect("a map serializes")
    }

    async fn deployment_event(&self, request: i64, deployment: i64, status: &str, reason: Option<&str>) -> Result<(), sqlx::Error> {
        db::events::insert_deployment_event(&self.db, request, deployment, status, reason, &db::now()).await?;
        self.feed.publish(request);
        Ok(())
    }
}

/// `http://alb.example.com` + `/orders*` → `http://alb.example.com/orders`
pub fn public_url(base: &str, path: &str) -> String {
    let prefix = path.split(['*', '?']).next().unwrap_or("");
    format!("{}{}", base.trim_end_matches('/'), prefix)
}

#[cfg(test)]
mod tests;
