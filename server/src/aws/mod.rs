//! AWS as Berth needs it: small traits shaped like Berth's questions, not like the SDK, so
//! the deployment engine can be tested against an in-memory double. One module per service
//! holds the SDK adapter.

pub mod accounts;
pub mod cloudformation;
pub mod health;
mod metered;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Where an environment's resources live: a region and, for an environment in another AWS
/// account, the IAM role Berth assumes there. Every AWS call of the environment goes there.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    pub region: String,
    pub role: Option<AssumedRole>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AssumedRole {
    pub arn: String,
    pub external_id: Option<String>,
}

/// The external id stays out of logs and error messages.
impl std::fmt::Debug for AssumedRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssumedRole").field("arn", &self.arn).field("external_id", &self.external_id.as_ref().map(|_| "…")).finish()
    }
}

impl Location {
    pub fn new(region: &str, role_arn: Option<&str>, external_id: Option<&str>) -> Location {
        Location {
            region: region.to_string(),
            role: role_arn.map(|arn| AssumedRole { arn: arn.to_string(), external_id: external_id.map(str::to_string) }),
        }
    }

    pub fn of(e: &app::model::Environment) -> Location {
        Location::new(&e.region, e.role_arn.as_deref(), e.external_id.as_deref())
    }

    pub fn of_input(e: &app::model::EnvironmentInput) -> Location {
        Location::new(&e.region, e.role_arn.as_deref(), e.external_id.as_deref())
    }
}

/// AWS in every location Berth works in: one set of clients per location, made when first
/// needed and kept (with their credentials, refreshed before they expire), so the number of
/// clients and of STS calls grows with the environments, never with the callers.
#[async_trait::async_trait]
pub trait Connect: Send + Sync + 'static {
    async fn cloudformation(&self, at: &Location) -> Arc<dyn CloudFormation>;
    async fn service_health(&self, at: &Location) -> Arc<dyn ServiceHealth>;
    async fn drift(&self, at: &Location) -> Arc<dyn StackDrift>;
    /// Who Berth acts as there (its caller identity): `(account, ARN)`, or why it cannot act.
    async fn identity(&self, at: &Location) -> AwsResult<(String, String)>;
}

/// The health of a service wherever it runs, through the clients of its location.
pub struct HealthAnywhere(pub Arc<dyn Connect>);

#[async_trait::async_trait]
impl ServiceHealth for HealthAnywhere {
    async fn health(&self, service: &ServiceRef) -> AwsResult<HealthFacts> {
        self.0.service_health(&service.location).await.health(service).await
    }
}

/// An error AWS answered (or the transport failed with) after the SDK's own retries.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AwsError {
    pub code: String,
    pub message: String,
}

impl AwsError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        AwsError { code: code.to_string(), message: message.into() }
    }

    /// Throttling and server or transport trouble: worth asking again later. (The SDK has
    /// already retried with backoff; a read that still fails is retried at the next poll.)
    pub fn retryable(&self) -> bool {
        matches!(
            self.code.as_str(),
            "Throttling" | "ThrottlingException" | "RequestLimitExceeded" | "TooManyRequestsException" | "Transport"
                | "InternalFailure" | "InternalError" | "ServiceUnavailable"
        )
    }
}

pub type AwsResult<T> = Result<T, AwsError>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackParameter {
    pub key: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackInfo {
    pub status: String,
    pub reason: Option<String>,
    pub parameters: Vec<StackParameter>,
    pub outputs: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

/// What Berth asks CloudFormation to make: a stack of a template with parameters, tagged.
#[derive(Clone, Debug)]
pub struct StackSpec {
    pub name: String,
    pub template: String,
    pub parameters: Vec<StackParameter>,
    pub tags: BTreeMap<String, String>,
    /// Also set resources changed behind the stack's back to the template (a drift-aware
    /// change set, DeploymentMode REVERT_DRIFT), even when template and parameters are the
    /// stack's own.
    pub revert_drift: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeSetInfo {
    /// CREATE_PENDING, CREATE_IN_PROGRESS, CREATE_COMPLETE, FAILED, ...
    pub status: String,
    pub reason: Option<String>,
    /// AVAILABLE, EXECUTE_IN_PROGRESS, EXECUTE_COMPLETE, UNAVAILABLE, ...
    pub execution_status: Option<String>,
    pub changes: Vec<ResourceChange>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceChange {
    /// Add, Modify, Remove, Import, Dynamic
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// True, False, Conditional (when CloudFormation says)
    pub replacement: Option<String>,
    /// In a drift-aware change set: the drifted properties the change sets back.
    pub reverts: Vec<app::model::PropertyRevert>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackEvent {
    pub event_id: String,
    pub stack_name: String,
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: Option<String>,
    /// RFC 3339
    pub timestamp: String,
}

#[async_trait::async_trait]
pub trait CloudFormation: Send + Sync + 'static {
    /// `None` when no such stack exists (or it was deleted).
    async fn describe_stack(&self, name: &str) -> AwsResult<Option<StackInfo>>;
    async fn create_stack(&self, spec: &StackSpec, token: &str) -> AwsResult<()>;
    /// An UPDATE change set named `change_set` on the existing stack.
    async fn create_change_set(&self, spec: &StackSpec, change_set: &str) -> AwsResult<()>;
    /// `None` when no such change set exists.
    async fn describe_change_set(&self, stack: &str, change_set: &str) -> AwsResult<Option<ChangeSetInfo>>;
    async fn execute_change_set(&self, stack: &str, change_set: &str, token: &str) -> AwsResult<()>;
    async fn delete_change_set(&self, stack: &str, change_set: &str) -> AwsResult<()>;
    async fn delete_stack(&self, name: &str, token: &str) -> AwsResult<()>;
    /// Events newest first, stopping after `known` (an event id already stored), if given.
    async fn stack_events(&self, name: &str, known: Option<&str>) -> AwsResult<Vec<StackEvent>>;
}

/// A drift detection as CloudFormation reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriftDetection {
    /// False while CloudFormation still compares.
    pub done: bool,
    /// Why the detection failed (or compared only part of the stack), if it says.
    pub reason: Option<String>,
    /// DRIFTED, IN_SYNC, UNKNOWN or NOT_CHECKED.
    pub stack_status: String,
}

/// One resource of a stack whose actual state differs from its template (or that is gone).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceDrift {
    pub logical_id: String,
    pub resource_type: String,
    /// MODIFIED, DELETED, IN_SYNC or NOT_CHECKED.
    pub status: String,
    pub differences: Vec<app::model::PropertyDifference>,
}

/// CloudFormation's drift detection: whether a stack's resources are still as its template
/// says, or were changed behind it.
#[async_trait::async_trait]
pub trait StackDrift: Send + Sync + 'static {
    /// Starts a detection; its id.
    async fn detect_drift(&self, stack: &str) -> AwsResult<String>;
    async fn drift_detection(&self, id: &str) -> AwsResult<DriftDetection>;
    /// The last detection's resources that are modified or deleted.
    async fn drifted_resources(&self, stack: &str) -> AwsResult<Vec<ResourceDrift>>;
}

/// What Berth asks about a deployed service: its ECS service and the target group the
/// load balancer sends its traffic to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServiceRef {
    pub location: Location,
    pub cluster: String,
    pub service: String,
    pub target_group: Option<String>,
}

/// What ECS and the load balancer say about a service, before Berth judges it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthFacts {
    pub service: app::health::ServiceState,
    pub tasks: Vec<app::health::TaskState>,
    pub events: Vec<app::health::ServiceEvent>,
    pub targets: Vec<app::health::TargetState>,
}

#[async_trait::async_trait]
pub trait ServiceHealth: Send + Sync + 'static {
    async fn health(&self, service: &ServiceRef) -> AwsResult<HealthFacts>;
}

/// RFC 3339, or empty when AWS gave no time.
pub fn timestamp(t: Option<&aws_smithy_types::DateTime>) -> String {
    t.and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok()).unwrap_or_default()
}

/// The SDK configuration: the standard credential chain, region and endpoint settings
/// (`AWS_ENDPOINT_URL` points it at a local emulator), with retries and backoff for
/// throttling and server errors.
pub async fn sdk_config() -> aws_config::SdkConfig {
    let retry = aws_config::retry::RetryConfig::standard()
        .with_max_attempts(8)
        .with_initial_backoff(Duration::from_millis(500))
        .with_max_backoff(Duration::from_secs(20));
    aws_config::defaults(aws_config::BehaviorVersion::latest()).retry_config(retry).load().await
}

/// Turns any SDK error into what AWS said, or what went wrong on the way.
pub fn sdk_error<E, R>(e: aws_smithy_runtime_api::client::result::SdkError<E, R>) -> AwsError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    match &e {
        SdkError::ServiceError(service) => {
            let err = service.err();
            AwsError::new(err.code().unwrap_or("Unknown"), err.message().unwrap_or("no message"))
        }
        _ => match credentials_error(&e) {
            Some(credentials) => credentials,
            None => AwsError::new("Transport", aws_smithy_types::error::display::DisplayErrorContext(&e).to_string()),
        },
    }
}

/// The code of a call that never left because its credentials could not be had (most
/// often: a role Berth may not assume). Asking again does not help, except after a timeout.
pub const NO_CREDENTIALS: &str = "CredentialsUnavailable";

/// A call that failed for want of credentials, with the reason the provider gave (for an
/// assumed role, what STS answered), found in the error's chain of causes.
fn credentials_error(e: &(dyn std::error::Error + 'static)) -> Option<AwsError> {
    use aws_credential_types::provider::error::CredentialsError;
    let mut cause = Some(e);
    while let Some(err) = cause {
        if let Some(credentials) = err.downcast_ref::<CredentialsError>() {
            let code = if matches!(credentials, CredentialsError::ProviderTimedOut(_)) { "Transport" } else { NO_CREDENTIALS };
            let reason = aws_smithy_types::error::display::DisplayErrorContext(credentials).to_string();
            return Some(AwsError::new(code, format!("Berth has no credentials for this account: {reason}")));
        }
        cause = err.source();
    }
    None
}
