//! CloudFormation through the AWS SDK.

use super::*;
use aws_sdk_cloudformation::types::{Capability, ChangeSetType, DeploymentMode, Parameter, ResourceChangeDetail, Tag};
use aws_sdk_cloudformation::Client;

pub struct SdkCloudFormation {
    client: Client,
}

impl SdkCloudFormation {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        let config = aws_sdk_cloudformation::config::Builder::from(config).interceptor(super::metered::Metered).build();
        SdkCloudFormation { client: Client::from_conf(config) }
    }
}

fn parameters(spec: &StackSpec) -> Vec<Parameter> {
    spec.parameters.iter().map(|p| Parameter::builder().parameter_key(&p.key).parameter_value(&p.value).build()).collect()
}

fn tags(spec: &StackSpec) -> Vec<Tag> {
    spec.tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// A detail of a drift-aware change that sets a drifted property back: the live value it
/// replaces and the template's.
fn revert(detail: &ResourceChangeDetail) -> Option<app::model::PropertyRevert> {
    let target = detail.target()?;
    let drift = target.drift()?;
    Some(app::model::PropertyRevert {
        path: target.path().or(target.name()).unwrap_or_default().to_string(),
        live: drift.actual_value().or(target.before_value()).unwrap_or_default().to_string(),
        approved: target.after_value().or(drift.previous_value()).unwrap_or_default().to_string(),
    })
}

/// CloudFormation answers a missing stack with a ValidationError, not a 404.
fn is_missing(e: &AwsError) -> bool {
    e.code == "ValidationError" && e.message.contains("does not exist")
}

#[async_trait::async_trait]
impl CloudFormation for SdkCloudFormation {
    async fn describe_stack(&self, name: &str) -> AwsResult<Option<StackInfo>> {
        let out = match self.client.describe_stacks().stack_name(name).send().await.map_err(sdk_error) {
            Ok(out) => out,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(stack) = out.stacks().first() else { return Ok(None) };
        let status = stack.stack_status().map(|s| s.as_str().to_string()).unwrap_or_default();
        if status == "DELETE_COMPLETE" {
            return Ok(None);
        }
        Ok(Some(StackInfo {
            status,
            reason: stack.stack_status_reason().map(str::to_string),
            parameters: stack
                .parameters()
                .iter()
                .map(|p| StackParameter {
                    key: p.parameter_key().unwrap_or_default().to_string(),
                    value: p.parameter_value().unwrap_or_default().to_string(),
                })
                .collect(),
            outputs: stack
                .outputs()
                .iter()
                .map(|o| (o.output_key().unwrap_or_default().to_string(), o.output_value().unwrap_or_default().to_string()))
                .collect(),
            tags: stack.tags().iter().map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string())).collect(),
        }))
    }

    async fn create_stack(&self, spec: &StackSpec, token: &str) -> AwsResult<()> {
        self.client
            .create_stack()
            .stack_name(&spec.name)
            .template_body(&spec.template)
            .set_parameters(Some(parameters(spec)))
            .set_tags(Some(tags(spec)))
            .capabilities(Capability::CapabilityIam)
            .client_request_token(token)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn create_change_set(&self, spec: &StackSpec, change_set: &str) -> AwsResult<()> {
        self.client
            .create_change_set()
            .stack_name(&spec.name)
            .change_set_name(change_set)
            .change_set_type(ChangeSetType::Update)
            .template_body(&spec.template)
            .set_parameters(Some(parameters(spec)))
            .set_tags(Some(tags(spec)))
            .capabilities(Capability::CapabilityIam)
            .set_deployment_mode(spec.revert_drift.then_some(DeploymentMode::RevertDrift))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn describe_change_set(&self, stack: &str, change_set: &str) -> AwsResult<Option<ChangeSetInfo>> {
        let out = match self.client.describe_change_set().stack_name(stack).change_set_name(change_set).send().await.map_err(sdk_error) {
            Ok(out) => out,
            // No such change set, whether reported as ChangeSetNotFound or, like a missing
            // stack, as a ValidationError saying it "does not exist".
            Err(e) if e.code == "ChangeSetNotFound" || e.code == "ChangeSetNotFoundException" || is_missing(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(ChangeSetInfo {
            status: out.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
            reason: out.status_reason().map(str::to_string),
            execution_status: out.execution_status().map(|s| s.as_str().to_string()),
            changes: out
                .changes()
                .iter()
                .filter_map(|c| c.resource_change())
                .map(|r| ResourceChange {
                    action: r.action().map(|a| a.as_str().to_string()).unwrap_or_default(),
                    logical_id: r.logical_resource_id().unwrap_or_default().to_string(),
                    resource_type: r.resource_type().unwrap_or_default().to_string(),
                    replacement: r.replacement().map(|x| x.as_str().to_string()),
                    reverts: r.details().iter().filter_map(revert).collect(),
                })
                .collect(),
        }))
    }

    async fn execute_change_set(&self, stack: &str, change_set: &str, token: &str) -> AwsResult<()> {
        self.client
            .execute_change_set()
            .stack_name(stack)
            .change_set_name(change_set)
            .client_request_token(token)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn delete_change_set(&self, stack: &str, change_set: &str) -> AwsResult<()> {
        self.client.delete_change_set().stack_name(stack).change_set_name(change_set).send().await.map_err(sdk_error)?;
        Ok(())
    }

    async fn delete_stack(&self, name: &str, token: &str) -> AwsResult<()> {
        self.client.delete_stack().stack_name(name).client_request_token(token).send().await.map_err(sdk_error)?;
        Ok(())
    }

    async fn stack_events(&self, name: &str, known: Option<&str>) -> AwsResult<Vec<StackEvent>> {
        let mut events = Vec::new();
        let mut next: Option<String> = None;
        // Bounded: a stack's history can be long, and what was stored before is not needed again.
        for _ in 0..20 {
            let out = self.client.describe_stack_events().stack_name(name).set_next_token(next.take()).send().await.map_err(sdk_error)?;
            for e in out.stack_events() {
                let id = e.event_id().unwrap_or_default();
                if Some(id) == known {
                    return Ok(events);
                }
                events.push(StackEvent {
                    event_id: id.to_string(),
                    stack_name: e.stack_name().unwrap_or(name).to_string(),
                    logical_id: e.logical_resource_id().unwrap_or_default().to_string(),
                    resource_type: e.resource_type().unwrap_or_default().to_string(),
                    status: e.resource_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                    reason: e.resource_status_reason().map(str::to_string),
                    timestamp: timestamp(e.timestamp()),
                });
            }
            match out.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_string()),
                _ => break,
            }
        }
        Ok(events)
    }
}

#[async_trait::async_trait]
impl StackDrift for SdkCloudFormation {
    async fn detect_drift(&self, stack: &str) -> AwsResult<String> {
        let out = self.client.detect_stack_drift().stack_name(stack).send().await.map_err(sdk_error)?;
        Ok(out.stack_drift_detection_id().unwrap_or_default().to_string())
    }

    async fn drift_detection(&self, id: &str) -> AwsResult<DriftDetection> {
        let out = self.client.describe_stack_drift_detection_status().stack_drift_detection_id(id).send().await.map_err(sdk_error)?;
        Ok(DriftDetection {
            done: out.detection_status().is_some_and(|s| s.as_str() != "DETECTION_IN_PROGRESS"),
            reason: out.detection_status_reason().map(str::to_string),
            stack_status: out.stack_drift_status().map(|s| s.as_str().to_string()).unwrap_or_else(|| "UNKNOWN".into()),
        })
    }

    async fn drifted_resources(&self, stack: &str) -> AwsResult<Vec<ResourceDrift>> {
        use aws_sdk_cloudformation::types::StackResourceDriftStatus;
        let mut drifted = Vec::new();
        let mut next: Option<String> = None;
        // Bounded: a service stack has a handful of resources, a cluster stack a few dozen.
        for _ in 0..10 {
            let out = self
                .client
                .describe_stack_resource_drifts()
                .stack_name(stack)
                .stack_resource_drift_status_filters(StackResourceDriftStatus::Modified)
                .stack_resource_drift_status_filters(StackResourceDriftStatus::Deleted)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(sdk_error)?;
            for r in out.stack_resource_drifts() {
                drifted.push(ResourceDrift {
                    logical_id: r.logical_resource_id().unwrap_or_default().to_string(),
                    resource_type: r.resource_type().unwrap_or_default().to_string(),
                    status: r.stack_resource_drift_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                    differences: r
                        .property_differences()
                        .iter()
                        .map(|d| app::model::PropertyDifference {
                            path: d.property_path().unwrap_or_default().to_string(),
                            expected: d.expected_value().unwrap_or_default().to_string(),
                            actual: d.actual_value().unwrap_or_default().to_string(),
                            kind: d.difference_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
                        })
                        .collect(),
                });
            }
            match out.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_string()),
                _ => break,
            }
        }
        Ok(drifted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudformation::types::{LiveResourceDrift, ResourceTargetDefinition};

    fn detail(target: ResourceTargetDefinition) -> ResourceChangeDetail {
        ResourceChangeDetail::builder().target(target).build()
    }

    #[test]
    fn a_drift_aware_detail_is_a_revert_from_the_live_value_to_the_template_s() {
        let drifted = ResourceTargetDefinition::builder()
            .name("DesiredCount")
            .path("/Properties/DesiredCount")
            .before_value("3")
            .after_value("2")
            .drift(LiveResourceDrift::builder().previous_value("2").actual_value("3").build())
            .build();
        assert_eq!(
            revert(&detail(drifted)),
            Some(app::model::PropertyRevert { path: "/Properties/DesiredCount".into(), live: "3".into(), approved: "2".into() })
        );
        // An ordinary change of a property (from the template) sets nothing back.
        let changed = ResourceTargetDefinition::builder().name("Image").before_value("nginx:1").after_value("nginx:2").build();
        assert_eq!(revert(&detail(changed)), None);
    }
}
