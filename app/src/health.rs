//! Is an API up? The facts ECS and the load balancer report about a deployed service, and
//! the one-word verdict Berth draws from them (shared so the dashboard, the request page and
//! the API agree).

use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use utoipa::ToSchema;

/// A deployed API's health as last fetched from AWS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Health {
    pub service: ServiceState,
    /// Running tasks first, then the most recently stopped ones.
    pub tasks: Vec<TaskState>,
    /// The service's latest events, newest first.
    pub events: Vec<ServiceEvent>,
    /// The service's target group members as the load balancer sees them.
    pub targets: Vec<TargetState>,
    /// When these facts were read from AWS (RFC 3339).
    pub fetched_at: String,
    pub verdict: Verdict,
    /// Why the verdict is what it is, in a sentence.
    pub summary: String,
    /// Set when the latest read from AWS failed: these facts are from the one before.
    pub error: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ServiceState {
    /// ACTIVE, DRAINING or INACTIVE (MISSING when ECS does not know the service).
    pub status: String,
    pub desired: u32,
    pub running: u32,
    pub pending: u32,
    /// The primary deployment's rollout state: IN_PROGRESS, COMPLETED or FAILED.
    pub rollout_state: Option<String>,
    pub deployments: Vec<ServiceDeployment>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ServiceDeployment {
    pub id: String,
    /// PRIMARY, ACTIVE or INACTIVE
    pub status: String,
    pub task_definition: String,
    pub desired: u32,
    pub running: u32,
    pub pending: u32,
    pub failed: u32,
    pub rollout_state: Option<String>,
    pub rollout_state_reason: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TaskState {
    pub task_id: String,
    pub last_status: String,
    pub desired_status: String,
    /// HEALTHY, UNHEALTHY or UNKNOWN
    pub health: String,
    pub task_definition: String,
    pub started_at: Option<String>,
    pub stopped_at: Option<String>,
    pub stopped_reason: Option<String>,
    pub stop_code: Option<String>,
    pub containers: Vec<ContainerState>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ContainerState {
    pub name: String,
    pub last_status: String,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub health: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ServiceEvent {
    pub at: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TargetState {
    /// The instance id (or IP) registered in the target group.
    pub id: String,
    pub port: Option<i32>,
    /// initial, healthy, unhealthy, unused, draining, unavailable
    pub state: String,
    /// The load balancer's reason code, e.g. Target.FailedHealthChecks.
    pub reason: Option<String>,
    pub description: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Healthy,
    Degraded,
    Failing,
    Unknown,
}

impl Verdict {
    pub const ALL: [Verdict; 4] = [Verdict::Healthy, Verdict::Degraded, Verdict::Failing, Verdict::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::Degraded => "degraded",
            Verdict::Failing => "failing",
            Verdict::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A stopped task counts against the service only if it stopped this recently: ECS keeps
/// stopped tasks for about an hour, and one crash an hour ago says little about now.
pub const RECENT_STOP_SECONDS: i64 = 15 * 60;

/// The verdict from the facts. `now` and the tasks' stop times are seconds since the epoch
/// (the caller parses them) so this stays a pure function of its inputs.
///
/// - failing: nothing serves (no running task, or no healthy target while tasks are
///   wanted) or the rollout failed;
/// - degraded: it serves, but not as asked (fewer running than desired, an unhealthy
///   task or target, a rollout under way, a task that crashed recently);
/// - healthy: every desired task runs and every target is healthy;
/// - unknown: ECS does not know the service, or nothing is asked of it.
pub fn judge(service: &ServiceState, tasks: &[TaskState], targets: &[TargetState], recent_crashes: usize) -> (Verdict, String) {
    if service.status == "MISSING" || service.status == "INACTIVE" {
        return (Verdict::Unknown, format!("ECS reports the service as {}", service.status.to_lowercase()));
    }
    if service.desired == 0 {
        return (Verdict::Unknown, "The service asks for no tasks".into());
    }
    let healthy_targets = targets.iter().filter(|t| t.state == "healthy").count();
    let unhealthy_targets = targets.iter().filter(|t| t.state == "unhealthy").count();
    let unhealthy_tasks = tasks.iter().filter(|t| t.last_status == "RUNNING" && t.health == "UNHEALTHY").count();
    let counts = format!("{}/{} tasks running", service.running, service.desired);
    if service.rollout_state.as_deref() == Some("FAILED") {
        return (Verdict::Failing, format!("The rollout failed; {counts}"));
    }
    if service.running == 0 {
        return (Verdict::Failing, format!("No task is running ({counts})"));
    }
    if healthy_targets == 0 {
        let why = if targets.is_empty() { "no target is registered".to_string() } else { format!("all {} targets are unhealthy or not in service", targets.len()) };
        return (Verdict::Failing, format!("The load balancer has no healthy target: {why}"));
    }
    let mut problems = Vec::new();
    if service.running < service.desired {
        problems.push(counts.clone());
    }
    if unhealthy_tasks > 0 {
        problems.push(format!("{unhealthy_tasks} unhealthy task(s)"));
    }
    if unhealthy_targets > 0 {
        problems.push(format!("{unhealthy_targets} unhealthy target(s)"));
    }
    if recent_crashes > 0 {
        problems.push(format!("{recent_crashes} task(s) stopped in the last {} minutes", RECENT_STOP_SECONDS / 60));
    }
    if service.rollout_state.as_deref() == Some("IN_PROGRESS") {
        problems.push("a rollout is in progress".into());
    }
    if problems.is_empty() {
        (Verdict::Healthy, format!("{counts}, {healthy_targets} healthy target(s)"))
    } else {
        (Verdict::Degraded, capitalize(&problems.join(", ")))
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// One deployed API on the dashboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct DashboardItem {
    pub request_id: String,
    pub service_name: String,
    pub team: String,
    pub environment: String,
    pub status: crate::model::RequestStatus,
    pub public_url: Option<String>,
    pub verdict: Verdict,
    pub summary: String,
    /// When health was last read from AWS; `None` until the first read.
    pub fetched_at: Option<String>,
    /// What the last drift check of its service stack found.
    pub drift: crate::model::DriftStatus,
}

/// The dashboard's filters and order; every field is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(default)]
pub struct DashboardFilter {
    /// healthy, degraded, failing or unknown
    pub verdict: Option<String>,
    pub environment: Option<String>,
    pub team: Option<String>,
    /// Part of the service name.
    pub q: Option<String>,
    /// health (worst first, the default), name, environment or team
    pub sort: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

pub const SORTS: [&str; 4] = ["health", "name", "environment", "team"];

/// Worst first: what needs attention tops the dashboard.
pub fn severity(v: Verdict) -> u8 {
    match v {
        Verdict::Failing => 0,
        Verdict::Degraded => 1,
        Verdict::Unknown => 2,
        Verdict::Healthy => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(desired: u32, running: u32, rollout: &str) -> ServiceState {
        ServiceState { status: "ACTIVE".into(), desired, running, pending: desired.saturating_sub(running), rollout_state: Some(rollout.into()), deployments: vec![] }
    }

    fn task(health: &str) -> TaskState {
        TaskState {
            task_id: "t".into(),
            last_status: "RUNNING".into(),
            desired_status: "RUNNING".into(),
            health: health.into(),
            task_definition: "td".into(),
            started_at: None,
            stopped_at: None,
            stopped_reason: None,
            stop_code: None,
            containers: vec![],
        }
    }

    fn target(state: &str) -> TargetState {
        TargetState { id: "i-1".into(), port: Some(8080), state: state.into(), reason: None, description: None }
    }

    #[test]
    fn every_verdict_from_its_facts() {
        let healthy = [target("healthy"), target("healthy")];
        assert_eq!(judge(&service(2, 2, "COMPLETED"), &[task("HEALTHY"), task("HEALTHY")], &healthy, 0).0, Verdict::Healthy);
        assert_eq!(judge(&service(2, 1, "COMPLETED"), &[task("HEALTHY")], &healthy, 0).0, Verdict::Degraded);
        assert_eq!(judge(&service(2, 2, "COMPLETED"), &[task("HEALTHY"), task("UNHEALTHY")], &healthy, 0).0, Verdict::Degraded);
        assert_eq!(judge(&service(2, 2, "COMPLETED"), &[], &[target("healthy"), target("unhealthy")], 0).0, Verdict::Degraded);
        assert_eq!(judge(&service(2, 2, "COMPLETED"), &[], &healthy, 1).0, Verdict::Degraded);
        assert_eq!(judge(&service(2, 2, "IN_PROGRESS"), &[], &healthy, 0).0, Verdict::Degraded);
        assert_eq!(judge(&service(2, 0, "IN_PROGRESS"), &[], &[], 0).0, Verdict::Failing);
        assert_eq!(judge(&service(2, 2, "COMPLETED"), &[], &[target("unhealthy"), target("unhealthy")], 0).0, Verdict::Failing);
        assert_eq!(judge(&service(2, 2, "FAILED"), &[], &healthy, 0).0, Verdict::Failing);
        let missing = ServiceState { status: "MISSING".into(), ..Default::default() };
        assert_eq!(judge(&missing, &[], &[], 0).0, Verdict::Unknown);
    }

    #[test]
    fn the_summary_names_the_problems() {
        let (_, summary) = judge(&service(3, 2, "COMPLETED"), &[task("UNHEALTHY")], &[target("healthy"), target("unhealthy")], 0);
        assert_eq!(summary, "2/3 tasks running, 1 unhealthy task(s), 1 unhealthy target(s)");
    }
}
