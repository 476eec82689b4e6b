//! Renders the input of the two CloudFormation stacks from typed values. Shared with the
//! browser so the request form previews exactly what the server will deploy.

use crate::model::{ClusterParameters, Parameter, RequestInput, StackInput, Stacks};
use crate::validation::{ENVIRONMENT_VARIABLES_MAX, SECRETS_MAX};

/// The template's default for `ECSAMI`: the latest ECS-optimized Amazon Linux 2023 AMI.
/// (Amazon Linux 2 reached its end of life on 2026-06-30.)
pub const DEFAULT_ECS_AMI: &str = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id";

/// ALB target group names: at most 32 characters, alphanumerics and hyphens.
pub const TARGET_GROUP_NAME_MAX: usize = 32;

/// How a request's service stack and target group are named.
///
/// Environment and service names are DNS labels that never hold two hyphens in a row, so
/// `--` between them can be split one way only: `prod` + `eu-orders` and `prod-eu` +
/// `orders` give different names, and no service stack can be named like a cluster stack
/// (`berth-<environment>-cluster` has no `--`). Requests created before this scheme keep
/// their names ([`Naming::Legacy`], one hyphen), so their stacks are never renamed, which
/// would replace them; the deployment engine's ownership tags guard those.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Naming {
    #[default]
    Separated,
    Legacy,
}

impl Naming {
    fn separator(self) -> &'static str {
        match self {
            Naming::Separated => "--",
            Naming::Legacy => "-",
        }
    }
}

pub fn cluster_stack_name(environment: &str) -> String {
    format!("berth-{environment}-cluster")
}

pub fn service_stack_name(environment: &str, service: &str) -> String {
    service_stack_name_as(Naming::default(), environment, service)
}

pub fn service_stack_name_as(naming: Naming, environment: &str, service: &str) -> String {
    format!("berth-{environment}{}{service}", naming.separator())
}

pub fn target_group_name(environment: &str, service: &str) -> String {
    target_group_name_as(Naming::default(), environment, service)
}

/// `<environment>-<service>-<length of the environment name>` when it fits (target group
/// names may not hold `--`; the length says where the environment name ends, so
/// `prod` + `eu-orders` and `prod-eu` + `orders` differ); otherwise a prefix of it plus a
/// hash of the environment and service, so the name stays the same for the same API and
/// differs between APIs. Legacy requests keep `<environment>-<service>`.
pub fn target_group_name_as(naming: Naming, environment: &str, service: &str) -> String {
    let (full, hashed) = match naming {
        Naming::Separated => (format!("{environment}-{service}-{}", environment.len()), format!("{environment}/{service}")),
        Naming::Legacy => (format!("{environment}-{service}"), format!("{environment}-{service}")),
    };
    if full.len() <= TARGET_GROUP_NAME_MAX {
        return full;
    }
    let hash = format!("{:08x}", fnv1a(hashed.as_bytes()) as u32);
    // Valid names are ASCII, but the form previews whatever is typed: cut on a character.
    let mut keep = TARGET_GROUP_NAME_MAX - hash.len() - 1;
    while !full.is_char_boundary(keep) {
        keep -= 1;
    }
    let prefix = full[..keep].trim_end_matches('-');
    format!("{prefix}-{hash}")
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

fn param(key: &str, value: impl ToString) -> Parameter {
    Parameter { key: key.to_string(), value: value.to_string() }
}

pub fn cluster_stack(environment: &str, cluster: &ClusterParameters) -> StackInput {
    // Every parameter is rendered, defaults included, so that comparing a deployed stack's
    // parameters with these tells exactly whether it needs an update.
    let parameters = vec![
        param("InstanceType", &cluster.instance_type),
        param("DesiredCapacity", cluster.desired_capacity),
        param("MaxSize", cluster.max_size),
        param("ECSAMI", cluster.ecs_ami.as_deref().unwrap_or(DEFAULT_ECS_AMI)),
    ];
    let mut stack = StackInput { stack_name: cluster_stack_name(environment), parameters };
    stack.parameters.extend(load_balancer_options(cluster));
    stack
}

/// The cluster stack's load balancer and cluster options.
fn load_balancer_options(cluster: &ClusterParameters) -> Vec<Parameter> {
    let flag = |on: bool| if on { "true" } else { "false" };
    vec![
        param("CertificateArn", cluster.certificate_arn.as_deref().unwrap_or_default()),
        param("AccessLogsBucket", cluster.access_logs_bucket.as_deref().unwrap_or_default()),
        param("DeletionProtection", flag(cluster.deletion_protection)),
        param("ContainerInsights", if cluster.container_insights { "enabled" } else { "disabled" }),
    ]
}

/// `EnvName01`, `SecretFrom10`: the numbered slots of the service template.
fn slot(prefix: &str, index: usize) -> String {
    format!("{prefix}{:02}", index + 1)
}

/// What the service needs to run and scale, and which listener its rule goes on. Every
/// slot is rendered, empty ones too, so a variable removed in a new revision is removed
/// from the stack as well.
pub fn service_options(input: &RequestInput, cluster: &ClusterParameters) -> Vec<Parameter> {
    let mut parameters = vec![param("Https", if cluster.https() { "true" } else { "false" })];
    let scaling = input.autoscaling.as_ref();
    parameters.extend([
        param("ScalingMin", scaling.map_or(0, |s| s.min)),
        param("ScalingMax", scaling.map_or(0, |s| s.max)),
        param("ScalingMetric", scaling.map_or("cpu", |s| s.metric.as_str())),
        param("ScalingTarget", scaling.map_or(60, |s| s.target)),
    ]);
    for i in 0..ENVIRONMENT_VARIABLES_MAX {
        let v = input.environment_variables.get(i);
        parameters.push(param(&slot("EnvName", i), v.map_or("", |v| v.name.as_str())));
        parameters.push(param(&slot("EnvValue", i), v.map_or("", |v| v.value.as_str())));
    }
    for i in 0..SECRETS_MAX {
        let v = input.secrets.get(i);
        parameters.push(param(&slot("SecretName", i), v.map_or("", |v| v.name.as_str())));
        parameters.push(param(&slot("SecretFrom", i), v.map_or("", |v| v.value_from.as_str())));
    }
    parameters
}

/// Whether a rendered service stack puts its API behind the HTTPS listener.
pub fn served_over_https(service: &StackInput) -> bool {
    service.parameters.iter().any(|p| p.key == "Https" && p.value == "true")
}

/// Whether a parameter is worth showing: the empty variable and secret slots are not.
pub fn shown(parameter: &Parameter) -> bool {
    let slot = ["EnvName", "EnvValue", "SecretName", "SecretFrom"]
        .iter()
        .any(|p| parameter.key.strip_prefix(p).is_some_and(|n| n.len() == 2 && n.chars().all(|c| c.is_ascii_digit())));
    !(slot && parameter.value.is_empty())
}

/// The service stack; `priority` is `None` in a preview, before the server allocates one.
pub fn service_stack(input: &RequestInput, priority: Option<u32>) -> StackInput {
    service_stack_as(Naming::default(), input, priority)
}

pub fn service_stack_as(naming: Naming, input: &RequestInput, priority: Option<u32>) -> StackInput {
    let priority = priority.map_or_else(|| "assigned on submit".to_string(), |p| p.to_string());
    let parameters = vec![
        param("StackName", cluster_stack_name(&input.environment)),
        param("ServiceName", &input.service_name),
        param("ImageUrl", &input.image_url),
        param("ContainerPort", input.container_port),
        param("ContainerCpu", input.cpu),
        param("ContainerMemory", input.memory),
        param("Path", &input.path),
        param("Priority", priority),
        param("DesiredCount", input.desired_count),
        param("HealthCheckPath", &input.health_check_path),
        param("TargetGroupName", target_group_name_as(naming, &input.environment, &input.service_name)),
        param("Role", input.task_role_arn.as_deref().unwrap_or_default()),
    ];
    StackInput { stack_name: service_stack_name_as(naming, &input.environment, &input.service_name), parameters }
}

pub fn render(cluster: &ClusterParameters, input: &RequestInput, priority: Option<u32>) -> Stacks {
    render_as(Naming::default(), cluster, input, priority)
}

pub fn render_as(naming: Naming, cluster: &ClusterParameters, input: &RequestInput, priority: Option<u32>) -> Stacks {
    let mut service = service_stack_as(naming, input, priority);
    service.parameters.extend(service_options(input, cluster));
    Stacks { cluster: cluster_stack(&input.environment, cluster), service }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> RequestInput {
        RequestInput {
            environment: "staging".into(),
            service_name: "orders".into(),
            description: "d".into(),
            image_url: "nginx:1.27".into(),
            container_port: 8080,
            cpu: 256,
            memory: 512,
            desired_count: 2,
            path: "/orders*".into(),
            health_check_path: "/health".into(),
            task_role_arn: None,
            ..Default::default()
        }
    }

    fn cluster() -> ClusterParameters {
        ClusterParameters { instance_type: "t3.medium".into(), desired_capacity: 2, max_size: 4, ..Default::default() }
    }

    fn value<'a>(stack: &'a StackInput, key: &str) -> Option<&'a str> {
        stack.parameters.iter().find(|p| p.key == key).map(|p| p.value.as_str())
    }

    #[test]
    fn renders_both_stacks() {
        let stacks = render(&cluster(), &input(), Some(7));
        assert_eq!(stacks.cluster.stack_name, "berth-staging-cluster");
        assert_eq!(value(&stacks.cluster, "InstanceType"), Some("t3.medium"));
        assert_eq!(value(&stacks.cluster, "ECSAMI"), Some(DEFAULT_ECS_AMI));
        assert_eq!(stacks.service.stack_name, "berth-staging--orders");
        assert_eq!(value(&stacks.service, "StackName"), Some("berth-staging-cluster"));
        assert_eq!(value(&stacks.service, "Priority"), Some("7"));
        assert_eq!(value(&stacks.service, "ContainerCpu"), Some("256"));
        assert_eq!(value(&stacks.service, "TargetGroupName"), Some("staging-orders-7"));
        assert_eq!(value(&stacks.service, "Role"), Some(""));
    }

    #[test]
    fn optional_parameters_appear_when_set() {
        let mut i = input();
        i.task_role_arn = Some("arn:aws:iam::123456789012:role/x".into());
        let mut c = cluster();
        c.ecs_ami = Some("/my/ami".into());
        let stacks = render(&c, &i, None);
        assert_eq!(value(&stacks.service, "Role"), Some("arn:aws:iam::123456789012:role/x"));
        assert_eq!(value(&stacks.cluster, "ECSAMI"), Some("/my/ami"));
        assert_eq!(value(&stacks.service, "Priority"), Some("assigned on submit"));
    }

    #[test]
    fn the_default_ami_is_amazon_linux_2023() {
        assert!(DEFAULT_ECS_AMI.contains("amazon-linux-2023"));
        assert_eq!(value(&render(&cluster(), &input(), None).cluster, "ECSAMI"), Some(DEFAULT_ECS_AMI));
    }

    #[test]
    fn service_options_fill_slots_and_follow_the_environment() {
        use crate::model::{AutoScaling, EnvironmentVariable, ScalingMetric, Secret};
        let mut i = input();
        i.environment_variables = vec![EnvironmentVariable { name: "LOG_LEVEL".into(), value: "debug".into() }];
        i.secrets = vec![Secret { name: "DB".into(), value_from: "arn:aws:ssm:us-east-1:123456789012:parameter/payments/db".into() }];
        i.autoscaling = Some(AutoScaling { min: 2, max: 6, metric: ScalingMetric::Requests, target: 500 });
        let mut c = cluster();
        c.certificate_arn = Some("arn:aws:acm:us-east-1:123456789012:certificate/abc".into());
        let stacks = render(&c, &i, Some(1));
        let service = &stacks.service;
        assert_eq!(value(service, "Https"), Some("true"));
        assert_eq!(value(service, "EnvName01"), Some("LOG_LEVEL"));
        assert_eq!(value(service, "EnvValue01"), Some("debug"));
        assert_eq!(value(service, "EnvName02"), Some(""));
        assert_eq!(value(service, "EnvName20"), Some(""), "every slot is rendered");
        assert_eq!(value(service, "SecretFrom01"), Some("arn:aws:ssm:us-east-1:123456789012:parameter/payments/db"));
        assert_eq!(value(service, "SecretName10"), Some(""));
        assert_eq!((value(service, "ScalingMin"), value(service, "ScalingMax")), (Some("2"), Some("6")));
        assert_eq!((value(service, "ScalingMetric"), value(service, "ScalingTarget")), (Some("requests"), Some("500")));
        assert_eq!(value(&stacks.cluster, "CertificateArn"), c.certificate_arn.as_deref());
        assert_eq!(value(&stacks.cluster, "ContainerInsights"), Some("enabled"));
        let plain = render(&cluster(), &input(), Some(1));
        assert_eq!(value(&plain.service, "Https"), Some("false"));
        assert_eq!(value(&plain.service, "ScalingMax"), Some("0"), "no auto scaling");
        assert_eq!(value(&plain.cluster, "CertificateArn"), Some(""));
        let shown: Vec<_> = stacks.service.parameters.iter().filter(|p| shown(p)).map(|p| p.key.as_str()).collect();
        assert!(shown.contains(&"EnvName01") && !shown.contains(&"EnvName02") && shown.contains(&"Role"), "{shown:?}");
    }

    #[test]
    fn target_group_names_fit_and_stay_distinct() {
        let long_a = target_group_name("production-eu-west", "customer-accounts-service-v2");
        let long_b = target_group_name("production-eu-west", "customer-accounts-service-v3");
        for name in [&long_a, &long_b] {
            assert!(name.len() <= TARGET_GROUP_NAME_MAX, "{name}");
            assert!(!name.starts_with('-') && !name.ends_with('-'), "{name}");
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "{name}");
        }
        assert_ne!(long_a, long_b);
        assert_eq!(long_a, target_group_name("production-eu-west", "customer-accounts-service-v2"));
    }

    #[test]
    fn a_long_name_typed_with_other_alphabets_previews_without_panicking() {
        let name = target_group_name("staging", "abcdefghijklmné-service");
        assert!(name.len() <= TARGET_GROUP_NAME_MAX, "{name}");
    }

    #[test]
    fn names_never_collide_across_environments_or_with_the_cluster_stack() {
        assert_ne!(service_stack_name("prod", "eu-orders"), service_stack_name("prod-eu", "orders"));
        assert_ne!(target_group_name("prod", "eu-orders"), target_group_name("prod-eu", "orders"));
        assert_ne!(service_stack_name("prod", "cluster"), cluster_stack_name("prod"));
        assert_ne!(service_stack_name("prod", "eu-cluster"), cluster_stack_name("prod-eu"));
        // Requests from before keep the names their stacks already have.
        assert_eq!(service_stack_name_as(Naming::Legacy, "staging", "orders"), "berth-staging-orders");
        assert_eq!(target_group_name_as(Naming::Legacy, "staging", "orders"), "staging-orders");
        let legacy = render_as(Naming::Legacy, &cluster(), &input(), Some(1));
        assert_eq!(legacy.service.stack_name, "berth-staging-orders");
    }

    #[test]
    fn stack_names_are_valid_for_cloudformation() {
        let name = service_stack_name(&"e".repeat(20), &"s".repeat(40));
        assert!(name.len() <= 128);
        assert!(name.starts_with(|c: char| c.is_ascii_alphabetic()));
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }
}
