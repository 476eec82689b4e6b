//! Types shared by the browser, the server functions and the JSON API.
//!
//! They are plain data: the rules that apply to them live in `validation` (shared) and in
//! the server's service layer.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[cfg(feature = "ssr")]
use utoipa::ToSchema;

/// What a signed-in user may do. An admin can do everything an approver can.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Requester,
    Approver,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Requester, Role::Approver, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Requester => "requester",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Approvers and admins review requests and manage environments.
    pub fn is_platform(self) -> bool {
        matches!(self, Role::Approver | Role::Admin)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct User {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub team: String,
    pub disabled: bool,
    pub created_at: String,
    /// Signed in with an API token rather than a session: such a caller may not make
    /// more tokens. Known to the server only.
    #[serde(skip)]
    pub via_token: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(default)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    pub display_name: String,
    #[cfg_attr(feature = "ssr", schema(value_type = String, example = "requester"))]
    pub role: String,
    pub team: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(default)]
pub struct UserPatch {
    pub role: Option<String>,
    pub team: Option<String>,
    pub disabled: Option<bool>,
    pub password: Option<String>,
    pub display_name: Option<String>,
}

/// How people sign in: through the configured single sign-on provider (its button's
/// words), with a password, or both.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInMethods {
    pub single_sign_on: Option<String>,
    /// False when only the break-glass admin may use a password.
    pub passwords_for_everyone: bool,
}

/// Parameters of an environment's cluster stack, named as in the template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ClusterParameters {
    #[serde(rename = "InstanceType")]
    pub instance_type: String,
    #[serde(rename = "DesiredCapacity")]
    pub desired_capacity: u32,
    #[serde(rename = "MaxSize")]
    pub max_size: u32,
    /// An AMI id or SSM parameter name; absent means the template's default
    /// (the latest ECS-optimized Amazon Linux 2023 AMI).
    #[serde(rename = "ECSAMI", default, skip_serializing_if = "Option::is_none")]
    pub ecs_ami: Option<String>,
    /// An ACM certificate (in the environment's region): the load balancer then serves
    /// HTTPS on 443 and port 80 only redirects. Absent: plain HTTP on port 80.
    #[serde(rename = "CertificateArn", default, skip_serializing_if = "Option::is_none")]
    pub certificate_arn: Option<String>,
    /// An S3 bucket for the load balancer's access logs; absent for none.
    #[serde(rename = "AccessLogsBucket", default, skip_serializing_if = "Option::is_none")]
    pub access_logs_bucket: Option<String>,
    /// The load balancer refuses to be deleted while this is on.
    #[serde(rename = "DeletionProtection", default)]
    pub deletion_protection: bool,
    /// CloudWatch Container Insights for the cluster (on unless turned off).
    #[serde(rename = "ContainerInsights", default = "on")]
    pub container_insights: bool,
}

fn on() -> bool {
    true
}

impl Default for ClusterParameters {
    fn default() -> Self {
        ClusterParameters {
            instance_type: "t3.medium".into(),
            desired_capacity: 2,
            max_size: 4,
            ecs_ami: None,
            certificate_arn: None,
            access_logs_bucket: None,
            deletion_protection: false,
            container_insights: true,
        }
    }
}

impl ClusterParameters {
    /// Whether the environment's APIs are served over HTTPS.
    pub fn https(&self) -> bool {
        self.certificate_arn.is_some()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EnvironmentStatus {
    NotDeployed,
    Deploying,
    Ready,
    Failed,
}

impl EnvironmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EnvironmentStatus::NotDeployed => "not_deployed",
            EnvironmentStatus::Deploying => "deploying",
            EnvironmentStatus::Ready => "ready",
            EnvironmentStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::NotDeployed, Self::Deploying, Self::Ready, Self::Failed]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Environment {
    pub name: String,
    pub region: String,
    pub stack_name: String,
    pub parameters: ClusterParameters,
    pub status: EnvironmentStatus,
    pub outputs: BTreeMap<String, String>,
    /// How many APIs (listener rules) the environment's load balancer may route.
    pub rule_capacity: u32,
    /// Live APIs (requests not rejected or decommissioned) in the environment.
    pub api_count: u32,
    /// A change of the cluster stack waiting for review, if any.
    #[serde(default)]
    pub pending_change: Option<EnvironmentChange>,
    /// The IAM role Berth assumes in the environment's AWS account for every call it makes
    /// there; absent: Berth's own account and credentials.
    #[serde(default)]
    pub role_arn: Option<String>,
    /// The external id the role's trust policy asks for; shown to approvers and admins only.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Whether Berth can act in the environment's account and region, as last checked
    /// (when one environment is read; lists leave it out).
    #[serde(default)]
    pub access: Option<EnvironmentAccess>,
}

/// What Berth found when it last checked its access to an environment's account: who it
/// is there, or why it cannot act there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct EnvironmentAccess {
    pub ok: bool,
    /// The AWS account Berth's calls land in, when known.
    pub account: Option<String>,
    /// The identity Berth acts as there (an assumed-role ARN), or what AWS answered.
    pub message: String,
    pub checked_at: String,
}

/// A change of an environment (its cluster stack's parameters, region or capacity) asked
/// for by one approver or admin, which takes effect only once another one approves it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct EnvironmentChange {
    /// Decisions name it, so that a decision always binds to the change that was reviewed.
    pub id: String,
    /// Username of whoever asked for it: they may not decide it (four eyes).
    pub requested_by: String,
    pub requested_at: String,
    /// The environment as it will be once approved.
    pub after: EnvironmentInput,
    /// Whether the signed-in user may approve or reject it.
    pub may_decide: bool,
}

/// An approver's decision on an environment change.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(default)]
pub struct EnvironmentDecisionBody {
    /// Why, for the record (optional).
    pub reason: Option<String>,
}

/// Why an approver rejects an environment change (required).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RejectChangeBody {
    pub reason: String,
}

/// What approving an environment change would do to its cluster stack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct EnvironmentPlan {
    pub change: String,
    pub parameter_changes: Vec<ParameterChange>,
    pub stack: StackPlan,
}

/// An environment as created or changed by the platform team.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct EnvironmentInput {
    pub name: String,
    pub region: String,
    pub parameters: ClusterParameters,
    #[serde(default = "default_rule_capacity")]
    pub rule_capacity: u32,
    /// An IAM role in the environment's account for Berth to assume (see `iam/`); absent:
    /// the environment lives in Berth's own account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The external id the role's trust policy requires, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// The default quota of rules per Application Load Balancer.
pub const DEFAULT_RULE_CAPACITY: u32 = 100;

fn default_rule_capacity() -> u32 {
    DEFAULT_RULE_CAPACITY
}

/// The two CloudFormation stacks of an API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StackKind {
    Cluster,
    Service,
}

impl StackKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StackKind::Cluster => "cluster",
            StackKind::Service => "service",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [StackKind::Cluster, StackKind::Service].into_iter().find(|k| k.as_str() == s)
    }
}

/// What a requester asks for: one public API behind the environment's load balancer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(default)]
pub struct RequestInput {
    pub environment: String,
    pub service_name: String,
    pub description: String,
    pub image_url: String,
    pub container_port: u32,
    pub cpu: u32,
    pub memory: u32,
    pub desired_count: u32,
    pub path: String,
    pub health_check_path: String,
    pub task_role_arn: Option<String>,
    /// Plain environment variables of the container, in order.
    pub environment_variables: Vec<EnvironmentVariable>,
    /// Environment variables whose values ECS reads from SSM Parameter Store or Secrets
    /// Manager when a task starts; only these the task's execution role may read.
    pub secrets: Vec<Secret>,
    /// Target-tracking auto scaling; absent: `desired_count` tasks, always.
    pub autoscaling: Option<AutoScaling>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct EnvironmentVariable {
    pub name: String,
    pub value: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Secret {
    /// The environment variable the container sees.
    pub name: String,
    /// ARN of an SSM parameter (`arn:aws:ssm:<region>:<account>:parameter/<team>/...`) or
    /// a Secrets Manager secret (`arn:aws:secretsmanager:<region>:<account>:secret:<team>/...`).
    pub value_from: String,
}

/// What auto scaling keeps at its target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ScalingMetric {
    /// Average CPU utilisation of the service's tasks, in percent.
    #[default]
    Cpu,
    /// Requests per task per minute, from the load balancer.
    Requests,
}

impl ScalingMetric {
    pub const ALL: [ScalingMetric; 2] = [ScalingMetric::Cpu, ScalingMetric::Requests];

    /// As the service template's `ScalingMetric` parameter names it.
    pub fn as_str(self) -> &'static str {
        match self {
            ScalingMetric::Cpu => "cpu",
            ScalingMetric::Requests => "requests",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            ScalingMetric::Cpu => "Average CPU % of the tasks",
            ScalingMetric::Requests => "Requests per task per minute",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct AutoScaling {
    /// Fewest tasks (at least 1).
    pub min: u32,
    /// Most tasks; the environment's maximum capacity must hold twice this many (deployments).
    pub max: u32,
    pub metric: ScalingMetric,
    /// The value to keep the metric at: a percentage for `cpu`, requests per minute for `requests`.
    pub target: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    PendingReview,
    ChangesRequested,
    Rejected,
    Approved,
    Deploying,
    Deployed,
    Failed,
    DecommissionRequested,
    Decommissioning,
    Decommissioned,
}

impl RequestStatus {
    pub const ALL: [RequestStatus; 10] = [
        RequestStatus::PendingReview,
        RequestStatus::ChangesRequested,
        RequestStatus::Rejected,
        RequestStatus::Approved,
        RequestStatus::Deploying,
        RequestStatus::Deployed,
        RequestStatus::Failed,
        RequestStatus::DecommissionRequested,
        RequestStatus::Decommissioning,
        RequestStatus::Decommissioned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::PendingReview => "pending_review",
            RequestStatus::ChangesRequested => "changes_requested",
            RequestStatus::Rejected => "rejected",
            RequestStatus::Approved => "approved",
            RequestStatus::Deploying => "deploying",
            RequestStatus::Deployed => "deployed",
            RequestStatus::Failed => "failed",
            RequestStatus::DecommissionRequested => "decommission_requested",
            RequestStatus::Decommissioning => "decommissioning",
            RequestStatus::Decommissioned => "decommissioned",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            RequestStatus::PendingReview => "Pending review",
            RequestStatus::ChangesRequested => "Changes requested",
            RequestStatus::Rejected => "Rejected",
            RequestStatus::Approved => "Approved",
            RequestStatus::Deploying => "Deploying",
            RequestStatus::Deployed => "Deployed",
            RequestStatus::Failed => "Failed",
            RequestStatus::DecommissionRequested => "Decommission requested",
            RequestStatus::Decommissioning => "Decommissioning",
            RequestStatus::Decommissioned => "Decommissioned",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// A request in one of these states no longer holds its name, path or priority.
    pub fn releases_claims(self) -> bool {
        matches!(self, RequestStatus::Rejected | RequestStatus::Decommissioned)
    }

    /// The requester may edit (and so resubmit) the request in these states.
    pub fn editable(self) -> bool {
        matches!(
            self,
            RequestStatus::PendingReview
                | RequestStatus::ChangesRequested
                | RequestStatus::Deployed
                | RequestStatus::Failed
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Parameter {
    pub key: String,
    pub value: String,
}

/// The input of one CloudFormation stack: its name and parameter list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct StackInput {
    pub stack_name: String,
    pub parameters: Vec<Parameter>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Stacks {
    pub cluster: StackInput,
    pub service: StackInput,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ApiRequest {
    pub id: String,
    pub status: RequestStatus,
    pub team: String,
    /// Username of the requester.
    pub requested_by: String,
    pub environment: String,
    pub service_name: String,
    pub revision: u32,
    /// The listener rule priority allocated to this API in its environment.
    pub priority: u32,
    pub parameters: RequestInput,
    pub stacks: Stacks,
    pub created_at: String,
    pub updated_at: String,
    /// Who wrote the current revision (they may not decide it either).
    pub revision_author: String,
    /// The revision live on AWS, once a deployment succeeded.
    pub deployed_revision: Option<u32>,
    /// Why the last deployment failed.
    pub status_reason: Option<String>,
    /// The service stack's outputs, with `PublicUrl` (the load balancer's address + path).
    pub outputs: BTreeMap<String, String>,
    /// What the signed-in user may do with the request now (the server decides; the UI
    /// only offers these).
    pub allowed: Allowed,
    /// What the API is estimated to cost a month, and what this revision changes.
    #[serde(default)]
    pub estimate: crate::cost::CostSummary,
    /// The current revision brings resources changed behind Berth's back (drift) back to
    /// the deployed revision: its parameters are the deployed revision's, and deploying it
    /// sets the drifted properties back (a drift-aware CloudFormation change set).
    #[serde(default)]
    pub reverts_drift: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Allowed {
    pub decide: bool,
    pub edit: bool,
    pub decommission: bool,
    pub retry: bool,
    pub plan: bool,
    /// Ask (for review) to bring a deployed API's drifted resources back to its revision.
    #[serde(default)]
    pub revert_drift: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    Comment,
    Approved,
    Rejected,
    ChangesRequested,
    DecommissionRequested,
    Retried,
}

impl NoteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoteKind::Comment => "comment",
            NoteKind::Approved => "approved",
            NoteKind::Rejected => "rejected",
            NoteKind::ChangesRequested => "changes_requested",
            NoteKind::DecommissionRequested => "decommission_requested",
            NoteKind::Retried => "retried",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        use NoteKind::*;
        [Comment, Approved, Rejected, ChangesRequested, DecommissionRequested, Retried].into_iter().find(|k| k.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            NoteKind::Comment => "commented",
            NoteKind::Approved => "approved",
            NoteKind::Rejected => "rejected",
            NoteKind::ChangesRequested => "asked for changes",
            NoteKind::DecommissionRequested => "asked to decommission",
            NoteKind::Retried => "retried the deployment",
        }
    }
}

/// A decision or comment on a request, bound to the revision it was made on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Note {
    pub id: String,
    pub revision: u32,
    pub author: String,
    pub kind: NoteKind,
    pub body: String,
    pub created_at: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(default)]
pub struct ApproveBody {
    /// The revision the approver reviewed; it must still be the current one.
    pub revision: u32,
    pub comment: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(default)]
pub struct RejectBody {
    pub reason: String,
    /// When given, it must still be the current revision.
    pub revision: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(default)]
pub struct CommentBody {
    pub comment: String,
    /// When given, it must still be the current revision.
    pub revision: Option<u32>,
}

/// A reviewer's decision on the current revision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    Approve { revision: u32, comment: Option<String> },
    Reject { reason: String, revision: Option<u32> },
    RequestChanges { comment: String, revision: Option<u32> },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct DeploymentStack {
    pub stack_name: String,
    pub kind: StackKind,
    /// A CloudFormation stack status, or PENDING / UNCHANGED / CREATING / UPDATING / DELETING
    /// while Berth is acting on it.
    pub status: String,
    pub status_reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Deployment {
    pub id: String,
    pub revision: u32,
    /// deploy or decommission
    pub kind: String,
    /// pending, running, succeeded or failed
    pub status: String,
    pub error: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub stacks: Vec<DeploymentStack>,
}

/// A CloudFormation stack event, as stored by Berth (it outlives the stack).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct StackEventView {
    /// The cursor: pass it as `after` to get only newer events.
    pub cursor: String,
    pub event_id: String,
    pub stack_name: String,
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: Option<String>,
    pub timestamp: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct EventPage {
    pub items: Vec<StackEventView>,
    pub next_cursor: Option<String>,
}

/// One item of a request's live feed (the SSE stream).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FeedItem {
    Stack(StackEventView),
    Deployment { cursor: String, deployment_id: String, status: String, reason: Option<String>, timestamp: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PlannedChange {
    /// Add, Modify, Remove (as CloudFormation says)
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// True, False or Conditional, when CloudFormation says.
    pub replacement: Option<String>,
    /// The drifted properties this change sets back to the template (a drift-aware plan):
    /// what AWS has now, and what the deployed revision says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reverts: Vec<PropertyRevert>,
}

/// One property a drift-aware change sets back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PropertyRevert {
    /// The property's path in the resource, e.g. `/Properties/DesiredCount`.
    pub path: String,
    /// Its value on AWS now.
    pub live: String,
    /// The value the deployed revision's template gives it.
    pub approved: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct StackPlan {
    pub stack_name: String,
    pub kind: StackKind,
    /// create, update, unchanged, delete or busy
    pub action: String,
    pub changes: Vec<PlannedChange>,
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ParameterChange {
    pub field: String,
    pub before: String,
    pub after: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Plan {
    pub revision: u32,
    /// Against the last deployed revision; empty for a first deployment.
    pub parameter_changes: Vec<ParameterChange>,
    pub stacks: Vec<StackPlan>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RequestSummary {
    pub id: String,
    pub status: RequestStatus,
    pub team: String,
    pub requested_by: String,
    pub environment: String,
    pub service_name: String,
    pub path: String,
    pub revision: u32,
    pub created_at: String,
    pub updated_at: String,
    /// Seconds since the request was created, as the server saw it.
    pub age_seconds: i64,
}

/// Filters of the request list; every field is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(default)]
pub struct RequestFilter {
    pub status: Option<String>,
    pub environment: Option<String>,
    pub team: Option<String>,
    pub mine: Option<bool>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// The review queue: requests awaiting a decision, oldest first.
    pub queue: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Filters of the audit log, as typed in a query string or the filter form: the service
/// checks each one and names the bad ones. Every field is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(default)]
pub struct AuditFilter {
    /// Username of whoever acted (exact match).
    pub actor: Option<String>,
    /// What was done (exact match), e.g. `request.create`, `user.update`, `auth.sign_in_failed`.
    pub action: Option<String>,
    /// Id of the API request the rows are about.
    pub request: Option<String>,
    /// From this day (`YYYY-MM-DD`, UTC, inclusive) or instant (RFC 3339).
    pub from: Option<String>,
    /// Up to this day (`YYYY-MM-DD`, UTC, inclusive) or instant (RFC 3339).
    pub to: Option<String>,
    /// Rows per page: 1 to 200, default 50. Not used by the export.
    #[cfg_attr(feature = "ssr", param(value_type = Option<u32>))]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page. Not used by the export.
    pub cursor: Option<String>,
}

/// One row of the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct AuditEntry {
    pub id: String,
    /// When the row was written (RFC 3339, UTC).
    pub at: String,
    /// Username of whoever acted; `system` for start-up, `cli` for the command line, and
    /// the name as typed for a failed sign-in.
    pub actor: String,
    pub action: String,
    /// What the action was about, as `type:id`: `request:12`, `user:3`, `environment:staging`.
    #[cfg_attr(feature = "ssr", schema(example = "request:12"))]
    pub subject: String,
    /// The API request the row is about, if any: what the `request` filter matches.
    pub request_id: Option<String>,
    /// What changed, as a JSON object: usually `before` and `after`.
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub details: serde_json::Value,
    /// The hash of the row before it (64 zeros for the first row).
    pub prev_hash: String,
    /// SHA-256 (hex) over a canonical encoding of the row and `prev_hash`.
    pub hash: String,
}

/// The result of recomputing the audit log's hash chain from its first row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ChainStatus {
    /// Rows whose hash checked out: all of them when the chain is intact.
    pub verified_rows: u64,
    /// The hash of the last verified row. Kept somewhere else, it shows later whether rows
    /// were cut off the end of the log, which the chain alone cannot.
    pub last_hash: Option<String>,
    /// The first row that does not check out; absent when the chain is intact.
    pub broken: Option<ChainBreak>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ChainBreak {
    /// Id of the first row that does not check out.
    pub id: String,
    /// The hash the row would have if nothing had changed since the row before it.
    pub expected_hash: String,
    pub stored_hash: String,
    pub reason: String,
    /// What kind of tampering the break shows.
    pub kind: ChainProblem,
}

/// How a verified audit log can fail to check out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChainProblem {
    /// A row's content or hash differs from what was written.
    Edited,
    /// A row does not link to the one before it (removed, added or moved rows).
    Unlinked,
    /// The hashes check out but a signature does not: the chain was hashed again after a change.
    Rehashed,
    /// Fewer rows than a checkpoint (or the id counter) says the log had.
    Truncated,
    /// A checkpoint whose signature does not check out.
    ForgedCheckpoint,
}

impl ChainProblem {
    pub fn label(self) -> &'static str {
        match self {
            ChainProblem::Edited => "edited row",
            ChainProblem::Unlinked => "broken link",
            ChainProblem::Rehashed => "re-hashed chain",
            ChainProblem::Truncated => "truncated",
            ChainProblem::ForgedCheckpoint => "forged checkpoint",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        FieldError { field: field.to_string(), message: message.into() }
    }
}

/// Look up the message for `field` in a list of field errors.
pub fn error_for<'a>(errors: &'a [FieldError], field: &str) -> Option<&'a str> {
    errors.iter().find(|e| e.field == field).map(|e| e.message.as_str())
}

pub type Outputs = BTreeMap<String, String>;

/// Webhook deliveries as admins see them: what each URL still has to send, and what was
/// given up after every retry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct WebhookStatus {
    pub hooks: Vec<WebhookBacklog>,
    pub failures: Vec<WebhookFailure>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct WebhookBacklog {
    pub url: String,
    pub pending: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct WebhookFailure {
    pub id: String,
    pub url: String,
    pub event_id: String,
    pub attempts: u32,
    pub error: String,
    pub failed_at: String,
}

/// A personal API token as listed: never the token itself, which is shown once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    /// After this it signs nobody in.
    pub expires_at: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NewToken {
    /// What the token is for, e.g. "deploy pipeline".
    pub name: String,
    /// Days until it expires: the server's default when absent, at most its maximum.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// A token just created: `token` goes in `Authorization: Bearer <token>` and is not shown again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CreatedToken {
    pub id: String,
    pub name: String,
    pub token: String,
    pub created_at: String,
    pub expires_at: String,
}

/// Whether an API's stack is still what Berth deployed, as CloudFormation's drift detection
/// last found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DriftStatus {
    /// Every resource CloudFormation compared is as the template says.
    InSync,
    /// A resource was changed or deleted behind Berth's back.
    Drifted,
    /// CloudFormation could not tell (a failed detection, or nothing it can compare).
    Unknown,
    /// Not checked yet.
    NotChecked,
}

impl DriftStatus {
    pub const ALL: [DriftStatus; 4] = [DriftStatus::InSync, DriftStatus::Drifted, DriftStatus::Unknown, DriftStatus::NotChecked];

    pub fn as_str(self) -> &'static str {
        match self {
            DriftStatus::InSync => "in_sync",
            DriftStatus::Drifted => "drifted",
            DriftStatus::Unknown => "unknown",
            DriftStatus::NotChecked => "not_checked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            DriftStatus::InSync => "In sync",
            DriftStatus::Drifted => "Drifted",
            DriftStatus::Unknown => "Unknown",
            DriftStatus::NotChecked => "Not checked",
        }
    }

    /// CloudFormation's stack drift status.
    pub fn from_cloudformation(status: &str) -> Self {
        match status {
            "IN_SYNC" => DriftStatus::InSync,
            "DRIFTED" => DriftStatus::Drifted,
            _ => DriftStatus::Unknown,
        }
    }
}

/// One property whose actual value differs from the template's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PropertyDifference {
    /// e.g. `/DesiredCount`
    pub path: String,
    pub expected: String,
    pub actual: String,
    /// ADD, REMOVE or NOT_EQUAL
    pub kind: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct DriftedResource {
    pub logical_id: String,
    pub resource_type: String,
    /// MODIFIED or DELETED
    pub status: String,
    pub differences: Vec<PropertyDifference>,
}

/// An API's drift: its service stack compared with what Berth deployed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Drift {
    pub status: DriftStatus,
    pub stack_name: String,
    /// When CloudFormation last compared (RFC 3339), if ever.
    pub checked_at: Option<String>,
    /// The resources that differ, with each property's expected and actual value.
    pub resources: Vec<DriftedResource>,
    /// Why the last check did not finish (what AWS said).
    pub error: Option<String>,
}
