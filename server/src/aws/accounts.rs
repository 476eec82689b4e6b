//! The SDK clients of every location (account, region, role) Berth works in.
//!
//! Berth's own credentials come from the standard chain. For an environment in another
//! account they are the base of an STS `AssumeRole` into the environment's role; the
//! clients of one location share one identity cache, which keeps the assumed credentials
//! and renews them shortly before they expire, so a location costs one `AssumeRole` per
//! session (an hour), whatever the number of calls. A role that cannot be assumed fails the
//! calls of its own location only, with what STS said.

use super::*;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::SharedCredentialsProvider;
use std::collections::HashMap;
use std::time::Instant;

/// How long a caller-identity answer is reused: checking access on every look at an
/// environment would cost an STS call per viewer. A failure is asked again sooner, so a
/// fixed trust policy shows within a minute.
const IDENTITY_FRESH_FOR: Duration = Duration::from_secs(300);
const FAILURE_FRESH_FOR: Duration = Duration::from_secs(30);

/// A page waits for the access check: it gets one retry and a few seconds, not the long
/// backoff deployments get.
const IDENTITY_ATTEMPTS: u32 = 2;
const IDENTITY_TIMEOUT: Duration = Duration::from_secs(5);

/// The name of Berth's sessions in the target accounts' CloudTrail.
const SESSION_NAME: &str = "berth";

struct AtLocation {
    cloudformation: Arc<super::cloudformation::SdkCloudFormation>,
    health: Arc<dyn ServiceHealth>,
    sts: aws_sdk_sts::Client,
    identity: tokio::sync::Mutex<Option<(Instant, AwsResult<(String, String)>)>>,
}

pub struct SdkAccounts {
    base: aws_config::SdkConfig,
    by_location: tokio::sync::Mutex<HashMap<Location, Arc<AtLocation>>>,
}

impl SdkAccounts {
    pub fn new(base: aws_config::SdkConfig) -> Self {
        SdkAccounts { base, by_location: Default::default() }
    }

    async fn at(&self, at: &Location) -> Arc<AtLocation> {
        let mut all = self.by_location.lock().await;
        if let Some(clients) = all.get(at) {
            return clients.clone();
        }
        let config = self.config(at).await;
        let clients = Arc::new(AtLocation {
            cloudformation: Arc::new(super::cloudformation::SdkCloudFormation::new(&config)),
            health: Arc::new(super::health::SdkServiceHealth::new(&config)),
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(&config)
                    .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(IDENTITY_ATTEMPTS))
                    .timeout_config(aws_config::timeout::TimeoutConfig::builder().operation_timeout(IDENTITY_TIMEOUT).build())
                    .build(),
            ),
            identity: Default::default(),
        });
        all.insert(at.clone(), clients.clone());
        clients
    }

    /// The base configuration in the location's region, with the assumed role's credentials
    /// when it names one. Its STS client runs in Berth's own region, with Berth's own
    /// credentials (and endpoint settings).
    async fn config(&self, at: &Location) -> aws_config::SdkConfig {
        let mut config = self.base.to_builder().region(aws_config::Region::new(at.region.clone()));
        if let Some(role) = &at.role {
            let mut assume = AssumeRoleProvider::builder(role.arn.clone()).session_name(SESSION_NAME).configure(&self.base);
            if let Some(id) = &role.external_id {
                assume = assume.external_id(id.clone());
            }
            config = config.credentials_provider(SharedCredentialsProvider::new(assume.build().await));
        }
        config.build()
    }
}

#[async_trait::async_trait]
impl Connect for SdkAccounts {
    async fn cloudformation(&self, at: &Location) -> Arc<dyn CloudFormation> {
        self.at(at).await.cloudformation.clone()
    }

    async fn service_health(&self, at: &Location) -> Arc<dyn ServiceHealth> {
        self.at(at).await.health.clone()
    }

    async fn drift(&self, at: &Location) -> Arc<dyn StackDrift> {
        self.at(at).await.cloudformation.clone()
    }

    async fn identity(&self, at: &Location) -> AwsResult<(String, String)> {
        let clients = self.at(at).await;
        let mut known = clients.identity.lock().await;
        if let Some((when, answer)) = known.as_ref() {
            if when.elapsed() < if answer.is_ok() { IDENTITY_FRESH_FOR } else { FAILURE_FRESH_FOR } {
                return answer.clone();
            }
        }
        let answer = clients
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(sdk_error)
            .map(|me| (me.account().unwrap_or_default().to_string(), me.arn().unwrap_or_default().to_string()));
        *known = Some((Instant::now(), answer.clone()));
        answer
    }
}
