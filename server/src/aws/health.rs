//! A service's health through the AWS SDK: ECS for the service and its tasks, Elastic Load
//! Balancing for its targets. Five calls per look, whatever the number of tasks.

use super::*;
use app::health::{ContainerState, ServiceDeployment, ServiceEvent, ServiceState, TargetState, TaskState};
use aws_sdk_ecs::types::DesiredStatus;

/// The most events and stopped tasks shown: enough to see what happened lately.
const EVENTS: usize = 20;
const STOPPED_TASKS: usize = 10;

pub struct SdkServiceHealth {
    ecs: aws_sdk_ecs::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
}

impl SdkServiceHealth {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        let ecs = aws_sdk_ecs::config::Builder::from(config).interceptor(super::metered::Metered).build();
        let elb = aws_sdk_elasticloadbalancingv2::config::Builder::from(config).interceptor(super::metered::Metered).build();
        SdkServiceHealth { ecs: aws_sdk_ecs::Client::from_conf(ecs), elb: aws_sdk_elasticloadbalancingv2::Client::from_conf(elb) }
    }

    async fn service(&self, r: &ServiceRef) -> AwsResult<(ServiceState, Vec<ServiceEvent>)> {
        let out = self.ecs.describe_services().cluster(&r.cluster).services(&r.service).send().await.map_err(sdk_error)?;
        let Some(s) = out.services().first() else {
            // ECS answers an unknown service with a "failure", not an error.
            return Ok((ServiceState { status: "MISSING".into(), ..Default::default() }, vec![]));
        };
        let deployments: Vec<ServiceDeployment> = s
            .deployments()
            .iter()
            .map(|d| ServiceDeployment {
                id: d.id().unwrap_or_default().to_string(),
                status: d.status().unwrap_or_default().to_string(),
                task_definition: short_arn(d.task_definition().unwrap_or_default()),
                desired: count(d.desired_count()),
                running: count(d.running_count()),
                pending: count(d.pending_count()),
                failed: count(d.failed_tasks()),
                rollout_state: d.rollout_state().map(|s| s.as_str().to_string()),
                rollout_state_reason: d.rollout_state_reason().map(str::to_string),
                created_at: d.created_at().map(|t| timestamp(Some(t))),
                updated_at: d.updated_at().map(|t| timestamp(Some(t))),
            })
            .collect();
        let rollout_state = deployments.iter().find(|d| d.status == "PRIMARY").and_then(|d| d.rollout_state.clone());
        let state = ServiceState {
            status: s.status().unwrap_or("UNKNOWN").to_string(),
            desired: count(s.desired_count()),
            running: count(s.running_count()),
            pending: count(s.pending_count()),
            rollout_state,
            deployments,
        };
        let events = s
            .events()
            .iter()
            .take(EVENTS)
            .map(|e| ServiceEvent { at: timestamp(e.created_at()), message: e.message().unwrap_or_default().to_string() })
            .collect();
        Ok((state, events))
    }

    async fn task_arns(&self, r: &ServiceRef, status: DesiredStatus) -> AwsResult<Vec<String>> {
        let out = self
            .ecs
            .list_tasks()
            .cluster(&r.cluster)
            .service_name(&r.service)
            .desired_status(status)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(out.task_arns().to_vec())
    }

    async fn tasks(&self, r: &ServiceRef) -> AwsResult<Vec<TaskState>> {
        let mut arns = self.task_arns(r, DesiredStatus::Running).await?;
        arns.extend(self.task_arns(r, DesiredStatus::Stopped).await?);
        // DescribeTasks takes at most 100 tasks; running ones come first.
        arns.truncate(100);
        if arns.is_empty() {
            return Ok(vec![]);
        }
        let out = self.ecs.describe_tasks().cluster(&r.cluster).set_tasks(Some(arns)).send().await.map_err(sdk_error)?;
        let mut tasks: Vec<TaskState> = out.tasks().iter().map(task_state).collect();
        // Running tasks first; stopped ones newest first, only the latest few.
        tasks.sort_by(|a, b| (a.last_status == "STOPPED").cmp(&(b.last_status == "STOPPED")).then(b.stopped_at.cmp(&a.stopped_at)));
        let running = tasks.iter().filter(|t| t.last_status != "STOPPED").count();
        tasks.truncate(running + STOPPED_TASKS);
        Ok(tasks)
    }

    async fn targets(&self, r: &ServiceRef) -> AwsResult<Vec<TargetState>> {
        let Some(group) = &r.target_group else { return Ok(vec![]) };
        let out = self.elb.describe_target_health().target_group_arn(group).send().await.map_err(sdk_error)?;
        Ok(out
            .target_health_descriptions()
            .iter()
            .map(|d| {
                let health = d.target_health();
                TargetState {
                    id: d.target().and_then(|t| t.id()).unwrap_or_default().to_string(),
                    port: d.target().and_then(|t| t.port()),
                    state: health.and_then(|h| h.state()).map(|s| s.as_str().to_string()).unwrap_or_else(|| "unavailable".into()),
                    reason: health.and_then(|h| h.reason()).map(|r| r.as_str().to_string()),
                    description: health.and_then(|h| h.description()).map(str::to_string),
                }
            })
            .collect())
    }
}

fn task_state(t: &aws_sdk_ecs::types::Task) -> TaskState {
    let arn = t.task_arn().unwrap_or_default();
    TaskState {
        task_id: arn.rsplit('/').next().unwrap_or(arn).to_string(),
        last_status: t.last_status().unwrap_or("UNKNOWN").to_string(),
        desired_status: t.desired_status().unwrap_or("UNKNOWN").to_string(),
        health: t.health_status().map(|h| h.as_str().to_string()).unwrap_or_else(|| "UNKNOWN".into()),
        task_definition: short_arn(t.task_definition_arn().unwrap_or_default()),
        started_at: t.started_at().map(|d| timestamp(Some(d))),
        stopped_at: t.stopped_at().map(|d| timestamp(Some(d))),
        stopped_reason: t.stopped_reason().map(str::to_string),
        stop_code: t.stop_code().map(|c| c.as_str().to_string()),
        containers: t
            .containers()
            .iter()
            .map(|c| ContainerState {
                name: c.name().unwrap_or_default().to_string(),
                last_status: c.last_status().unwrap_or_default().to_string(),
                exit_code: c.exit_code(),
                reason: c.reason().map(str::to_string),
                health: c.health_status().map(|h| h.as_str().to_string()),
            })
            .collect(),
    }
}

/// `family:revision` out of a task definition ARN: what people recognise.
fn short_arn(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or(arn).to_string()
}

fn count(n: i32) -> u32 {
    n.max(0) as u32
}

#[async_trait::async_trait]
impl ServiceHealth for SdkServiceHealth {
    async fn health(&self, r: &ServiceRef) -> AwsResult<HealthFacts> {
        let (service, events) = self.service(r).await?;
        let (tasks, targets) = tokio::try_join!(self.tasks(r), self.targets(r))?;
        Ok(HealthFacts { service, tasks, events, targets })
    }
}
