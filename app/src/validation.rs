//! Every rule about what a user may type, compiled into both the browser (for messages as
//! the user types) and the server (the authority). Each rule returns one message per field,
//! worded for the person filling in the form.

use crate::instance_types;
use crate::model::{
    AutoScaling, ClusterParameters, EnvironmentInput, EnvironmentVariable, FieldError, NewUser, RequestInput, Role, ScalingMetric,
    Secret, UserPatch,
};
use serde::{Deserialize, Serialize};

pub const SERVICE_NAME_MAX: usize = 40;
pub const ENVIRONMENT_NAME_MAX: usize = 20;
pub const DESCRIPTION_MAX: usize = 1000;
pub const IMAGE_MAX: usize = 255;
/// ALB path-pattern values are limited to 128 characters.
pub const PATH_MAX: usize = 128;
pub const HEALTH_CHECK_PATH_MAX: usize = 1024;
pub const CPU_MIN: u32 = 128;
pub const CPU_MAX: u32 = 10240;
pub const MEMORY_MIN: u32 = 128;
pub const MEMORY_MAX: u32 = 122_880;
pub const DESIRED_COUNT_MAX: u32 = 50;
pub const PASSWORD_MIN: usize = 10;
/// The service template has this many `EnvNameNN`/`EnvValueNN` slots.
pub const ENVIRONMENT_VARIABLES_MAX: usize = 20;
/// The service template has this many `SecretNameNN`/`SecretFromNN` slots.
pub const SECRETS_MAX: usize = 10;
/// A CloudFormation parameter value holds at most 4096 bytes.
pub const VARIABLE_VALUE_MAX: usize = 4096;
pub const VARIABLE_NAME_MAX: usize = 255;
pub const SCALING_REQUESTS_MAX: u32 = 100_000;
/// `MaximumPercent` of the service template: a rolling deployment runs up to twice the tasks.
pub const DEPLOYMENT_MAXIMUM_PERCENT: u32 = 200;
/// Variables the service template sets itself (the containers cannot ask the instance
/// metadata service for the region).
/// Rows per page of every list (requests, audit, dashboard): 50 unless asked, at most 200.
pub const PAGE_LIMIT_DEFAULT: u32 = 50;
pub const PAGE_LIMIT_MAX: u32 = 200;
/// A list's cursor: the decimal position past which the next page starts, as Berth gave it
/// out (clients pass it back unread). 18 digits always fit the position's integer.
pub const CURSOR_DIGITS_MAX: usize = 18;

/// A page's length as asked for: absent means the default; out of range is refused, never
/// clamped, so a client learns that it did not get what it asked for.
pub fn page_limit(value: Option<u32>) -> Result<u32, String> {
    match value {
        None => Ok(PAGE_LIMIT_DEFAULT),
        Some(n) if (1..=PAGE_LIMIT_MAX).contains(&n) => Ok(n),
        Some(_) => Err(format!("Must be a whole number from 1 to {PAGE_LIMIT_MAX}")),
    }
}

/// A cursor as Berth writes it (see [`CURSOR_DIGITS_MAX`]).
pub fn cursor(value: &str) -> Result<i64, String> {
    if (1..=CURSOR_DIGITS_MAX).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) {
        value.parse().map_err(|_| "This cursor is not one Berth gave out; start from the first page".into())
    } else {
        Err("This cursor is not one Berth gave out; start from the first page".into())
    }
}

/// The longest ARN Berth takes (IAM and ACM allow 2048 characters).
pub const ARN_MAX: usize = 2048;
/// The longest region an environment may name (AWS's are under 20); the configured one
/// is the only one taken today.
pub const REGION_MAX: usize = 64;
pub const RESERVED_VARIABLES: [&str; 2] = ["AWS_REGION", "AWS_DEFAULT_REGION"];

/// The request form as typed: every field a string, so that "abc" in a number field
/// becomes a message next to that field rather than a failed submission.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestDraft {
    pub environment: String,
    pub service_name: String,
    pub description: String,
    pub image_url: String,
    pub container_port: String,
    pub cpu: String,
    pub memory: String,
    pub desired_count: String,
    pub path: String,
    pub health_check_path: String,
    pub task_role_arn: String,
    /// `NAME=value`, one a line.
    pub environment_variables: String,
    /// `NAME=arn`, one a line.
    pub secrets: String,
    /// Empty (no auto scaling), `cpu` or `requests`.
    pub scaling_metric: String,
    pub scaling_min: String,
    pub scaling_max: String,
    pub scaling_target: String,
}

impl RequestDraft {
    /// A new form, filled with the defaults most APIs start from.
    pub fn new_form(environment: &str) -> Self {
        RequestDraft {
            environment: environment.to_string(),
            image_url: "public.ecr.aws/nginx/nginx:stable".into(),
            container_port: "80".into(),
            cpu: "256".into(),
            memory: "512".into(),
            desired_count: "2".into(),
            health_check_path: "/".into(),
            ..Default::default()
        }
    }

    pub fn from_input(input: &RequestInput) -> Self {
        RequestDraft {
            environment: input.environment.clone(),
            service_name: input.service_name.clone(),
            description: input.description.clone(),
            image_url: input.image_url.clone(),
            container_port: input.container_port.to_string(),
            cpu: input.cpu.to_string(),
            memory: input.memory.to_string(),
            desired_count: input.desired_count.to_string(),
            path: input.path.clone(),
            health_check_path: input.health_check_path.clone(),
            task_role_arn: input.task_role_arn.clone().unwrap_or_default(),
            environment_variables: input.environment_variables.iter().map(|v| format!("{}={}\n", v.name, v.value)).collect(),
            secrets: input.secrets.iter().map(|v| format!("{}={}\n", v.name, v.value_from)).collect(),
            scaling_metric: input.autoscaling.as_ref().map(|a| a.metric.as_str().to_string()).unwrap_or_default(),
            scaling_min: input.autoscaling.as_ref().map(|a| a.min.to_string()).unwrap_or_default(),
            scaling_max: input.autoscaling.as_ref().map(|a| a.max.to_string()).unwrap_or_default(),
            scaling_target: input.autoscaling.as_ref().map(|a| a.target.to_string()).unwrap_or_default(),
        }
    }

    /// Turns the typed text into a request, or says what is wrong with each field.
    /// Numbers that do not parse are reported here; every other rule is in
    /// [`validate_request`].
    pub fn parse(&self, cluster: Option<&ClusterParameters>) -> Result<RequestInput, Vec<FieldError>> {
        let (input, mut errors) = self.read();
        let parse_failed: Vec<String> = errors.iter().map(|e| e.field.clone()).collect();
        errors.extend(
            validate_request(&input, cluster)
                .into_iter()
                .filter(|e| !parse_failed.contains(&e.field)),
        );
        if errors.is_empty() {
            Ok(input)
        } else {
            Err(errors)
        }
    }

    /// The request as typed so far, for the preview: a number that does not parse reads as 0.
    pub fn lenient(&self) -> RequestInput {
        self.read().0
    }

    fn read(&self) -> (RequestInput, Vec<FieldError>) {
        let mut errors = Vec::new();
        let mut number = |field: &str, label: &str, text: &str| -> u32 {
            match text.trim().parse::<u32>() {
                Ok(n) => n,
                Err(_) => {
                    errors.push(FieldError::new(field, format!("{label} must be a whole number")));
                    0
                }
            }
        };
        let input = RequestInput {
            environment: self.environment.trim().to_string(),
            service_name: self.service_name.trim().to_string(),
            description: self.description.trim().to_string(),
            image_url: self.image_url.trim().to_string(),
            container_port: number("container_port", "Container port", &self.container_port),
            cpu: number("cpu", "CPU units", &self.cpu),
            memory: number("memory", "Memory", &self.memory),
            desired_count: number("desired_count", "Desired count", &self.desired_count),
            path: self.path.trim().to_string(),
            health_check_path: self.health_check_path.trim().to_string(),
            task_role_arn: Some(self.task_role_arn.trim().to_string()).filter(|s| !s.is_empty()),
            ..Default::default()
        };
        let mut input = input;
        match lines("Environment variables", &self.environment_variables) {
            Ok(pairs) => input.environment_variables = pairs.into_iter().map(|(name, value)| EnvironmentVariable { name, value }).collect(),
            Err(m) => errors.push(FieldError::new("environment_variables", m)),
        }
        match lines("Secrets", &self.secrets) {
            Ok(pairs) => input.secrets = pairs.into_iter().map(|(name, value_from)| Secret { name, value_from }).collect(),
            Err(m) => errors.push(FieldError::new("secrets", m)),
        }
        let metric = self.scaling_metric.trim();
        if !metric.is_empty() {
            let mut number = |field: &str, label: &str, text: &str| match text.trim().parse::<u32>() {
                Ok(n) => n,
                Err(_) => {
                    errors.push(FieldError::new(field, format!("{label} must be a whole number")));
                    0
                }
            };
            let min = number("scaling_min", "Minimum tasks", &self.scaling_min);
            let max = number("scaling_max", "Maximum tasks", &self.scaling_max);
            let target = number("scaling_target", "Target", &self.scaling_target);
            match ScalingMetric::parse(metric) {
                Some(metric) => input.autoscaling = Some(AutoScaling { min, max, metric, target }),
                None => errors.push(FieldError::new("scaling_metric", "Auto scaling follows cpu or requests")),
            }
        }
        (input, errors)
    }
}

/// `NAME=value` lines (blank ones skipped) as pairs, or what is wrong with the first bad line.
fn lines(label: &str, text: &str) -> Result<Vec<(String, String)>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| match line.trim_end_matches('\r').split_once('=') {
            Some((name, value)) => Ok((name.trim().to_string(), value.to_string())),
            None => Err(format!("{label}, line {}: write NAME=value", i + 1)),
        })
        .collect()
}

/// Checks a request on its own and, when the environment is known, against the
/// environment's instance type. Returns one error per bad field (empty when valid).
pub fn validate_request(input: &RequestInput, cluster: Option<&ClusterParameters>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut check = |field: &str, result: Result<(), String>| {
        if let Err(message) = result {
            errors.push(FieldError::new(field, message));
        }
    };
    check("environment", required("Environment", &input.environment));
    check("service_name", service_name(&input.service_name));
    check("description", description(&input.description));
    check("image_url", image_url(&input.image_url));
    check("container_port", container_port(input.container_port));
    check("cpu", cpu(input.cpu, cluster));
    check("memory", memory(input.memory, cluster));
    check("desired_count", desired_count(input.desired_count));
    check("path", path_pattern(&input.path));
    check("health_check_path", health_check_path(&input.health_check_path));
    if let Some(arn) = &input.task_role_arn {
        check("task_role_arn", role_arn(arn));
    }
    errors.extend(validate_service_options(input, cluster));
    errors
}

/// Environment variables, secrets, auto scaling, and whether the API fits the environment's
/// maximum capacity.
pub fn validate_service_options(input: &RequestInput, cluster: Option<&ClusterParameters>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut check = |field: &str, result: Result<(), String>| {
        if let Err(message) = result {
            errors.push(FieldError::new(field, message));
        }
    };
    check("environment_variables", environment_variables(&input.environment_variables));
    check("secrets", secrets(&input.secrets, &input.environment_variables));
    if let Some(scaling) = &input.autoscaling {
        check("scaling_min", scaling_min(scaling));
        check("scaling_max", scaling_max(scaling));
        check("scaling_target", scaling_target(scaling));
        if (1..=DESIRED_COUNT_MAX).contains(&input.desired_count) && scaling.min <= scaling.max
            && !(scaling.min..=scaling.max).contains(&input.desired_count)
        {
            check(
                "desired_count",
                Err(format!(
                    "With auto scaling the desired count is where it starts: between the minimum ({}) and the maximum ({})",
                    scaling.min, scaling.max
                )),
            );
        }
    }
    if let Some(cluster) = cluster {
        if let Err((field, message)) = capacity(input, cluster) {
            if !errors.iter().any(|e| e.field == field) {
                errors.push(FieldError::new(field, message));
            }
        }
    }
    errors
}

/// A POSIX-style variable name: letters, digits and `_`, not starting with a digit.
fn variable_name(label: &str, name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > VARIABLE_NAME_MAX {
        return Err(format!("{label}: a name must be 1 to {VARIABLE_NAME_MAX} characters"));
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("{label}: {name} is not a variable name (letters, digits and _, not starting with a digit)"));
    }
    if RESERVED_VARIABLES.contains(&name) {
        return Err(format!("{label}: {name} is set by Berth (the environment's region)"));
    }
    Ok(())
}

fn environment_variables(variables: &[EnvironmentVariable]) -> Result<(), String> {
    if variables.len() > ENVIRONMENT_VARIABLES_MAX {
        return Err(format!("At most {ENVIRONMENT_VARIABLES_MAX} environment variables"));
    }
    let mut seen = std::collections::BTreeSet::new();
    for v in variables {
        variable_name("Environment variables", &v.name)?;
        if !seen.insert(v.name.as_str()) {
            return Err(format!("Environment variables: {} is set twice", v.name));
        }
        if v.value.chars().count() > VARIABLE_VALUE_MAX {
            return Err(format!("Environment variables: the value of {} must be at most {VARIABLE_VALUE_MAX} characters", v.name));
        }
        if v.value.chars().any(char::is_control) {
            return Err(format!("Environment variables: the value of {} must be one line without control characters", v.name));
        }
    }
    Ok(())
}

fn secrets(secrets: &[Secret], variables: &[EnvironmentVariable]) -> Result<(), String> {
    if secrets.len() > SECRETS_MAX {
        return Err(format!("At most {SECRETS_MAX} secrets"));
    }
    let mut seen = std::collections::BTreeSet::new();
    for s in secrets {
        variable_name("Secrets", &s.name)?;
        if !seen.insert(s.name.as_str()) || variables.iter().any(|v| v.name == s.name) {
            return Err(format!("Secrets: {} is set twice", s.name));
        }
        secret_arn(&s.value_from).map_err(|m| format!("Secrets: {}: {m}", s.name))?;
    }
    Ok(())
}

/// `aws`, `aws-cn`, `aws-us-gov`...
fn aws_partition(value: &str) -> bool {
    value.starts_with("aws") && value.chars().all(|c| c.is_ascii_lowercase() || c == '-')
}

/// The name a secret's ARN points at (`team/db-password` for
/// `arn:aws:ssm:eu-west-1:123456789012:parameter/team/db-password` or
/// `arn:aws:secretsmanager:eu-west-1:123456789012:secret:team/db-password-AbCdEf`), once
/// [`secret_arn`] accepted it.
pub fn secret_name(value_from: &str) -> Option<&str> {
    let rest = value_from.splitn(6, ':').nth(5)?;
    rest.strip_prefix("parameter/").or_else(|| rest.strip_prefix("secret:"))
}

/// An SSM parameter or Secrets Manager secret ARN, whole: the execution role is allowed
/// exactly these ARNs, so a name alone or a JSON-key suffix would not be readable.
pub fn secret_arn(value: &str) -> Result<(), String> {
    let message = "must be the ARN of an SSM parameter (arn:aws:ssm:REGION:ACCOUNT:parameter/NAME) \
                   or of a Secrets Manager secret (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)";
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let [arn, partition, service, region_name, account, rest] = parts[..] else { return Err(message.into()) };
    let ok_head = arn == "arn"
        && aws_partition(partition)
        && region(region_name).is_ok()
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit());
    let name = match service {
        "ssm" => rest.strip_prefix("parameter/").filter(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c))),
        "secretsmanager" => rest.strip_prefix("secret:").filter(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))),
        _ => None,
    };
    match name {
        Some(name) if ok_head && !name.is_empty() && value.len() <= ARN_MAX => Ok(()),
        _ => Err(message.into()),
    }
}

fn scaling_min(s: &AutoScaling) -> Result<(), String> {
    if (1..=DESIRED_COUNT_MAX).contains(&s.min) {
        Ok(())
    } else {
        Err(format!("Minimum tasks must be between 1 and {DESIRED_COUNT_MAX}"))
    }
}

fn scaling_max(s: &AutoScaling) -> Result<(), String> {
    if s.max > DESIRED_COUNT_MAX {
        Err(format!("Maximum tasks must be at most {DESIRED_COUNT_MAX}"))
    } else if s.max < s.min.max(1) {
        Err("Maximum tasks must be at least the minimum".into())
    } else {
        Ok(())
    }
}

fn scaling_target(s: &AutoScaling) -> Result<(), String> {
    match s.metric {
        ScalingMetric::Cpu if !(1..=100).contains(&s.target) => Err("The CPU target is a percentage between 1 and 100".into()),
        ScalingMetric::Requests if !(1..=SCALING_REQUESTS_MAX).contains(&s.target) => {
            Err(format!("The request target is between 1 and {SCALING_REQUESTS_MAX} requests per task per minute"))
        }
        _ => Ok(()),
    }
}

/// How many tasks of this size the environment holds at its maximum size.
pub fn tasks_that_fit(cpu_units: u32, memory_mib: u32, cluster: &ClusterParameters) -> Option<u32> {
    let instance = instance_types::find(&cluster.instance_type)?;
    if cpu_units == 0 || memory_mib == 0 {
        return None;
    }
    let per_instance = (instance.cpu_units() / cpu_units).min(instance.usable_memory_mib() / memory_mib);
    Some(per_instance.saturating_mul(cluster.max_size))
}

/// The most tasks the API runs outside deployments: the scaling maximum, if it scales.
fn steady_tasks(input: &RequestInput) -> u32 {
    input.autoscaling.as_ref().map_or(input.desired_count, |s| s.max.max(input.desired_count))
}

/// The most tasks the API runs at once: its steady count during a rolling deployment,
/// which starts new tasks before it stops old ones.
pub fn peak_tasks(input: &RequestInput) -> u32 {
    // Typed numbers can be anything: u64 cannot overflow here.
    let peak = (u64::from(steady_tasks(input)) * u64::from(DEPLOYMENT_MAXIMUM_PERCENT)).div_ceil(100);
    u32::try_from(peak).unwrap_or(u32::MAX)
}

/// Whether the API's peak fits the environment at its maximum size; else the field to
/// change and what fits.
pub fn capacity(input: &RequestInput, cluster: &ClusterParameters) -> Result<(), (&'static str, String)> {
    let Some(fit) = tasks_that_fit(input.cpu, input.memory, cluster) else { return Ok(()) };
    let peak = peak_tasks(input);
    if fit == 0 || peak <= fit {
        return Ok(());
    }
    let field = count_field(input);
    let most = u64::from(fit) * 100 / u64::from(DEPLOYMENT_MAXIMUM_PERCENT);
    let what_fits = if most == 0 {
        "Not even one task leaves room for a deployment: ask for less CPU or memory per task".to_string()
    } else {
        format!("At most {most} {} fit; or ask for less CPU or memory per task", tasks(most))
    };
    Err((
        field,
        format!(
            "Does not fit: at its maximum size ({} × {}) the environment holds {fit} tasks of {} CPU units and {} MiB, \
             and a deployment runs up to {DEPLOYMENT_MAXIMUM_PERCENT} % of the tasks ({peak}). {what_fits}.",
            cluster.max_size, cluster.instance_type, input.cpu, input.memory
        ),
    ))
}

/// The field that sets how many tasks an API runs at most: its scaling maximum when it
/// scales beyond its desired count, else the desired count.
fn count_field(input: &RequestInput) -> &'static str {
    match &input.autoscaling {
        Some(s) if s.max > input.desired_count => "scaling_max",
        _ => "desired_count",
    }
}

fn tasks(n: u64) -> &'static str {
    if n == 1 { "task" } else { "tasks" }
}

/// Whether the API fits beside the other APIs of its environment: their tasks at their
/// steady maximum plus this API's peak (a deployment's headroom), within the CPU units and
/// memory of the environment at its maximum size. Counted per resource, since ECS may place
/// a task on any host; [`capacity`] checks that this API's own tasks pack onto the hosts.
/// Else the field to change and what fits beside the others.
pub fn room(input: &RequestInput, others: &[RequestInput], cluster: &ClusterParameters) -> Result<(), (&'static str, String)> {
    let Some(instance) = instance_types::find(&cluster.instance_type) else { return Ok(()) };
    if input.cpu == 0 || input.memory == 0 || others.is_empty() {
        return Ok(());
    }
    let hosts = u64::from(cluster.max_size);
    let (total_cpu, total_memory) = (u64::from(instance.cpu_units()) * hosts, u64::from(instance.usable_memory_mib()) * hosts);
    let held = |size: fn(&RequestInput) -> u32| -> u64 { others.iter().map(|o| u64::from(steady_tasks(o)) * u64::from(size(o))).sum() };
    let (used_cpu, used_memory) = (held(|o| o.cpu), held(|o| o.memory));
    let peak = u64::from(peak_tasks(input));
    let (cpu, memory) = (u64::from(input.cpu), u64::from(input.memory));
    if used_cpu + peak * cpu <= total_cpu && used_memory + peak * memory <= total_memory {
        return Ok(());
    }
    let free_tasks = (total_cpu.saturating_sub(used_cpu) / cpu).min(total_memory.saturating_sub(used_memory) / memory);
    let most = free_tasks * 100 / u64::from(DEPLOYMENT_MAXIMUM_PERCENT);
    let what_fits = if most == 0 {
        "There is no room for even one task with a deployment's headroom: ask the platform team for a larger environment".to_string()
    } else {
        format!("At most {most} {} of this size fit beside them; or ask for less CPU or memory per task, or a larger environment", tasks(most))
    };
    let field = count_field(input);
    Err((
        field,
        format!(
            "Does not fit beside the other {} APIs of the environment: at its maximum size ({} × {}) it has {total_cpu} CPU units \
             and {total_memory} MiB, they hold up to {used_cpu} CPU units and {used_memory} MiB, and this API needs up to {} CPU units \
             and {} MiB while it deploys ({peak} tasks). {what_fits}.",
            others.len(),
            cluster.max_size,
            cluster.instance_type,
            peak * cpu,
            peak * memory
        ),
    ))
}

fn required(label: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err(format!("{label} is required"))
    } else {
        Ok(())
    }
}

/// A DNS-style label: it becomes part of stack, service and target-group names.
fn dns_label(label: &str, value: &str, max: usize) -> Result<(), String> {
    required(label, value)?;
    if value.len() > max {
        return Err(format!("{label} must be at most {max} characters"));
    }
    if !value.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(format!("{label} must start with a lowercase letter"));
    }
    if !value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Err(format!("{label} may contain only lowercase letters, digits and hyphens"));
    }
    if value.ends_with('-') {
        return Err(format!("{label} must not end with a hyphen"));
    }
    if value.contains("--") {
        return Err(format!("{label} must not contain two hyphens in a row"));
    }
    Ok(())
}

/// Service names Berth keeps for itself: `cluster` is the environment's own stack (and
/// was its name under the old naming), `berth` and `default` would read as Berth's own.
pub const RESERVED_SERVICE_NAMES: [&str; 3] = ["cluster", "berth", "default"];

pub fn service_name(value: &str) -> Result<(), String> {
    if value.len() < 2 && !value.is_empty() {
        return Err("Service name must be at least 2 characters".into());
    }
    dns_label("Service name", value, SERVICE_NAME_MAX)?;
    if RESERVED_SERVICE_NAMES.contains(&value) {
        return Err(format!("{value} is reserved by Berth; choose another service name"));
    }
    Ok(())
}

pub fn environment_name(value: &str) -> Result<(), String> {
    dns_label("Environment name", value, ENVIRONMENT_NAME_MAX)
}

fn description(value: &str) -> Result<(), String> {
    required("Description", value)?;
    if value.chars().count() > DESCRIPTION_MAX {
        return Err(format!("Description must be at most {DESCRIPTION_MAX} characters"));
    }
    Ok(())
}

/// A container image reference: `[registry[:port]/]repository[:tag][@digest]`.
pub fn image_url(value: &str) -> Result<(), String> {
    required("Container image", value)?;
    if value.len() > IMAGE_MAX {
        return Err(format!("Container image must be at most {IMAGE_MAX} characters"));
    }
    if value.chars().any(char::is_whitespace) {
        return Err("Container image must not contain spaces".into());
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._-/:@".contains(c);
    if !value.chars().all(allowed) {
        return Err("Container image may contain only letters, digits and . _ - / : @".into());
    }
    if !value.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err("Container image must start with a letter or digit".into());
    }
    let without_digest = value.split('@').next().unwrap_or(value);
    let last_slash = without_digest.rfind('/').map(|i| i + 1).unwrap_or(0);
    let repository = match without_digest[last_slash..].find(':') {
        Some(colon) => &without_digest[..last_slash + colon],
        None => without_digest,
    };
    let repository_path = repository.split_once('/').map_or(repository, |(host, rest)| {
        // The first component is a registry host only when it looks like one.
        if host.contains('.') || host.contains(':') || host == "localhost" {
            rest
        } else {
            repository
        }
    });
    if repository_path.chars().any(|c| c.is_ascii_uppercase()) {
        return Err("Container image repository names must be lowercase".into());
    }
    if !image_reference(value) {
        return Err("Container image is not a valid image reference: [registry/]repository[:tag][@digest], \
                    repository names of lowercase letters and digits with . _ - between them"
            .into());
    }
    Ok(())
}

/// The grammar of `field_rules::IMAGE`, written out (no regex engine in the browser's
/// wasm): `[host[:port]/]path[:tag][@digest]`, the first component being a host only when
/// it has a dot or a port or is `localhost`.
fn image_reference(value: &str) -> bool {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    let lower = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    // [a-z0-9]+([._-]+[a-z0-9]+)*
    let path_component = |p: &str| p.starts_with(lower) && p.ends_with(lower) && p.chars().all(|c| lower(c) || "._-".contains(c));
    let host_label = |h: &str| h.starts_with(alnum) && h.chars().all(|c| alnum(c) || c == '-');
    let registry = |first: &str| {
        let (name, port) = match first.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (first, None),
        };
        let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        port_ok && (name == "localhost" || name.contains('.') || port.is_some()) && name.split('.').all(host_label)
    };
    let tag_ok = |t: &str| {
        t.len() <= 128 && t.starts_with(|c: char| alnum(c) || c == '_') && t.chars().all(|c| alnum(c) || "_.-".contains(c))
    };
    // [a-z0-9]+([._-][a-z0-9]+)*:[A-Za-z0-9_-]+
    let digest_ok = |d: &str| {
        d.split_once(':').is_some_and(|(algorithm, encoded)| {
            path_component(algorithm)
                && !algorithm.as_bytes().windows(2).any(|w| !lower(w[0] as char) && !lower(w[1] as char))
                && !encoded.is_empty()
                && encoded.chars().all(|c| alnum(c) || "_-".contains(c))
        })
    };
    let path_and_tag = |rest: &str| {
        let (head, last) = rest.rsplit_once('/').map_or(("", rest), |(h, l)| (h, l));
        let (last, tag) = match last.split_once(':') {
            Some((l, t)) => (l, Some(t)),
            None => (last, None),
        };
        tag.is_none_or(tag_ok) && (head.is_empty() || head.split('/').all(path_component)) && path_component(last)
    };
    let (name, digest) = match value.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (value, None),
    };
    if !digest.is_none_or(digest_ok) {
        return false;
    }
    match name.split_once('/') {
        Some((first, rest)) if registry(first) && path_and_tag(rest) => true,
        _ => path_and_tag(name),
    }
}

fn container_port(value: u32) -> Result<(), String> {
    if (1..=65535).contains(&value) {
        Ok(())
    } else {
        Err("Container port must be between 1 and 65535".into())
    }
}

fn cpu(value: u32, cluster: Option<&ClusterParameters>) -> Result<(), String> {
    if !(CPU_MIN..=CPU_MAX).contains(&value) {
        return Err(format!("CPU units must be between {CPU_MIN} and {CPU_MAX} (1024 = one vCPU)"));
    }
    if let Some(instance) = cluster.and_then(|c| instance_types::find(&c.instance_type)) {
        if value > instance.cpu_units() {
            return Err(format!(
                "{value} CPU units do not fit on a {} ({} vCPU = {} units)",
                instance.name,
                instance.vcpus,
                instance.cpu_units()
            ));
        }
    }
    Ok(())
}

fn memory(value: u32, cluster: Option<&ClusterParameters>) -> Result<(), String> {
    if !(MEMORY_MIN..=MEMORY_MAX).contains(&value) {
        return Err(format!("Memory must be between {MEMORY_MIN} and {MEMORY_MAX} MiB"));
    }
    if let Some(instance) = cluster.and_then(|c| instance_types::find(&c.instance_type)) {
        if value > instance.usable_memory_mib() {
            return Err(format!(
                "{value} MiB does not fit on a {} (at most {} MiB is available to containers)",
                instance.name,
                instance.usable_memory_mib()
            ));
        }
    }
    Ok(())
}

fn desired_count(value: u32) -> Result<(), String> {
    if (1..=DESIRED_COUNT_MAX).contains(&value) {
        Ok(())
    } else {
        Err(format!("Desired count must be between 1 and {DESIRED_COUNT_MAX}"))
    }
}

/// Characters an ALB path-pattern condition accepts (plus the wildcards `*` and `?`).
fn path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-.$/~\"'@:+&*?".contains(c)
}

pub fn path_pattern(value: &str) -> Result<(), String> {
    required("Path", value)?;
    if !value.starts_with('/') {
        return Err("Path must start with /".into());
    }
    if value.len() > PATH_MAX {
        return Err(format!("Path must be at most {PATH_MAX} characters"));
    }
    if !value.chars().all(path_char) {
        return Err("Path may contain only letters, digits, * ? and _ - . $ / ~ \" ' @ : + &".into());
    }
    if value.trim_start_matches('/').trim_start_matches('*').is_empty() {
        return Err("Path must name a prefix such as /orders*; / and /* belong to the load balancer's default".into());
    }
    // The load balancer is shared: a pattern that opens with a wildcard (`/?*`, `/*?`,
    // `/**`) matches nearly every path, ahead of other teams' rules.
    if !value[1..].starts_with(|c: char| c != '*' && c != '?' && c != '/') {
        return Err("Path must start with a literal segment such as /orders, before any * or ?".into());
    }
    Ok(())
}

pub fn health_check_path(value: &str) -> Result<(), String> {
    required("Health-check path", value)?;
    if !value.starts_with('/') {
        return Err("Health-check path must start with /".into());
    }
    if value.len() > HEALTH_CHECK_PATH_MAX {
        return Err(format!("Health-check path must be at most {HEALTH_CHECK_PATH_MAX} characters"));
    }
    if value.contains(['*', '?']) || !value.chars().all(path_char) {
        return Err("Health-check path must be a plain path without wildcards or a query".into());
    }
    Ok(())
}

/// `arn:<partition>:iam::<12 digits>:role/<path and name>`: the account, when it is one.
fn role_arn_account(value: &str) -> Option<&str> {
    let mut parts = value.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let name = resource.strip_prefix("role/")?;
    let name_ok = !name.is_empty()
        && name.len() <= 512
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c));
    let well_formed = partition.starts_with("aws") && value.len() <= ARN_MAX && account.len() == 12 && account.chars().all(|c| c.is_ascii_digit()) && name_ok;
    well_formed.then_some(account)
}

/// A task role: `arn:<partition>:iam::<12 digits>:role/<path and name>`.
pub fn role_arn(value: &str) -> Result<(), String> {
    match role_arn_account(value) {
        Some(_) => Ok(()),
        None => Err("Task role must be an IAM role ARN like arn:aws:iam::123456789012:role/my-api".to_string()),
    }
}

/// The AWS account of an environment's role, or why it is not a role ARN.
pub fn environment_role_account(value: &str) -> Result<&str, String> {
    role_arn_account(value)
        .ok_or_else(|| "Role must be the ARN of the IAM role Berth assumes in the environment's account, like arn:aws:iam::123456789012:role/berth-deployer".to_string())
}

pub const EXTERNAL_ID_MIN: usize = 2;
pub const EXTERNAL_ID_MAX: usize = 1224;

/// STS's rule for `ExternalId`: 2 to 1,224 of letters, digits and `+=,.@:/-_`.
pub fn external_id(value: &str) -> Result<(), String> {
    let ok = (EXTERNAL_ID_MIN..=EXTERNAL_ID_MAX).contains(&value.len())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@:/-_".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!("External id must be {EXTERNAL_ID_MIN} to {EXTERNAL_ID_MAX} letters, digits or +=,.@:/-_ (as STS takes it)"))
    }
}

/// A comment's or a decision's reason, in characters.
pub const NOTE_MAX: usize = 4000;
pub const USERNAME_MAX: usize = 64;
/// Characters, not bytes: a password is typed, and the schema counts characters.
pub const PASSWORD_MAX: usize = 256;
pub const DISPLAY_NAME_MAX: usize = 100;
pub const TEAM_MAX: usize = 40;

/// Names Berth itself acts under in the audit log (`berth` for the deployment engine,
/// `system` for start-up, `cli` for the command line) and look-alikes: an account of that
/// name would be taken for them.
pub const RESERVED_USERNAMES: [&str; 6] = ["berth", "system", "cli", "root", "anonymous", "unknown"];

pub fn username(value: &str) -> Result<(), String> {
    required("Username", value)?;
    if !(2..=USERNAME_MAX).contains(&value.len()) {
        return Err(format!("Username must be 2 to {USERNAME_MAX} characters"));
    }
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c)) {
        return Err("Username may contain only letters, digits and . _ - @".into());
    }
    if RESERVED_USERNAMES.iter().any(|r| r.eq_ignore_ascii_case(value)) {
        return Err(format!("{value} is a name Berth uses for itself; choose another username"));
    }
    Ok(())
}

pub fn password(value: &str) -> Result<(), String> {
    if value.chars().count() < PASSWORD_MIN {
        return Err(format!("Password must be at least {PASSWORD_MIN} characters"));
    }
    if value.chars().count() > PASSWORD_MAX {
        return Err(format!("Password must be at most {PASSWORD_MAX} characters"));
    }
    Ok(())
}

pub fn display_name(value: &str) -> Result<(), String> {
    required("Display name", value)?;
    if value.chars().count() > DISPLAY_NAME_MAX {
        return Err(format!("Display name must be at most {DISPLAY_NAME_MAX} characters"));
    }
    Ok(())
}

pub fn team(value: &str) -> Result<(), String> {
    dns_label("Team", value, TEAM_MAX)
}

fn role(value: &str) -> Result<Role, String> {
    Role::parse(value).ok_or_else(|| "Role must be requester, approver or admin".to_string())
}

pub fn validate_new_user(user: &NewUser) -> Result<Role, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut check = |field: &str, result: Result<(), String>| {
        if let Err(message) = result {
            errors.push(FieldError::new(field, message));
        }
    };
    check("username", username(&user.username));
    check("password", password(&user.password));
    check("display_name", display_name(&user.display_name));
    check("team", team(&user.team));
    let parsed = role(&user.role);
    check("role", parsed.clone().map(|_| ()));
    match parsed {
        Ok(r) if errors.is_empty() => Ok(r),
        _ => Err(errors),
    }
}

pub fn validate_user_patch(patch: &UserPatch) -> Result<Option<Role>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut parsed_role = None;
    if let Some(r) = &patch.role {
        match role(r) {
            Ok(r) => parsed_role = Some(r),
            Err(m) => errors.push(FieldError::new("role", m)),
        }
    }
    if let Some(Err(m)) = patch.team.as_deref().map(team) {
        errors.push(FieldError::new("team", m));
    }
    if let Some(Err(m)) = patch.password.as_deref().map(password) {
        errors.push(FieldError::new("password", m));
    }
    if let Some(Err(m)) = patch.display_name.as_deref().map(display_name) {
        errors.push(FieldError::new("display_name", m));
    }
    if errors.is_empty() {
        Ok(parsed_role)
    } else {
        Err(errors)
    }
}

/// AWS region names such as us-east-1, eu-west-2, ap-southeast-3, us-gov-west-1.
pub fn region(value: &str) -> Result<(), String> {
    let parts: Vec<&str> = value.split('-').collect();
    let well_formed = parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
        && parts.last().is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
        && parts[0].len() == 2;
    if well_formed {
        Ok(())
    } else {
        Err("Region must be an AWS region name such as us-east-1".into())
    }
}

pub const MAX_CLUSTER_SIZE: u32 = 100;

/// Checks an environment's settings; one message per bad field, named as in the API body
/// (`parameters.InstanceType` and so on).
pub fn validate_environment(input: &EnvironmentInput) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut check = |field: &str, result: Result<(), String>| {
        if let Err(message) = result {
            errors.push(FieldError::new(field, message));
        }
    };
    let p = &input.parameters;
    check("name", environment_name(&input.name));
    check("region", region(&input.region));
    check(
        "parameters.InstanceType",
        match instance_types::find(&p.instance_type) {
            Some(_) => Ok(()),
            None => Err(format!(
                "Instance type must be one of {}",
                instance_types::OFFERED.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
            )),
        },
    );
    check(
        "parameters.DesiredCapacity",
        if (1..=MAX_CLUSTER_SIZE).contains(&p.desired_capacity) {
            Ok(())
        } else {
            Err(format!("Desired capacity must be between 1 and {MAX_CLUSTER_SIZE} instances"))
        },
    );
    check(
        "parameters.MaxSize",
        if p.max_size > MAX_CLUSTER_SIZE {
            Err(format!("Maximum size must be at most {MAX_CLUSTER_SIZE} instances"))
        } else if p.max_size < p.desired_capacity {
            Err("Maximum size must be at least the desired capacity".into())
        } else {
            Ok(())
        },
    );
    if let Some(ami) = &p.ecs_ami {
        check(
            "parameters.ECSAMI",
            if ssm_parameter_name(ami) {
                Ok(())
            } else {
                Err("ECSAMI must be the name of an SSM parameter holding an AMI id, e.g. /aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id".into())
            },
        );
    }
    check(
        "rule_capacity",
        if (1..=crate::model::DEFAULT_RULE_CAPACITY).contains(&input.rule_capacity) {
            Ok(())
        } else {
            Err(format!("Rule capacity must be between 1 and {} (the load balancer's quota)", crate::model::DEFAULT_RULE_CAPACITY))
        },
    );
    if let Some(role) = &input.role_arn {
        check("role_arn", environment_role_account(role).map(|_| ()));
    }
    if let Some(id) = &input.external_id {
        check(
            "external_id",
            match input.role_arn {
                None => Err("An external id goes with a role: name the role Berth assumes".into()),
                Some(_) => external_id(id),
            },
        );
    }
    errors.extend(validate_environment_options(input));
    errors
}

/// The load balancer's certificate and access logs.
pub fn validate_environment_options(input: &EnvironmentInput) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let p = &input.parameters;
    if let Some(arn) = &p.certificate_arn {
        if let Err(m) = certificate_arn(arn, &input.region) {
            errors.push(FieldError::new("parameters.CertificateArn", m));
        }
    }
    if let Some(bucket) = &p.access_logs_bucket {
        if let Err(m) = bucket_name(bucket) {
            errors.push(FieldError::new("parameters.AccessLogsBucket", m));
        }
    }
    errors
}

/// `arn:aws:acm:<region>:<account>:certificate/<id>`, in the environment's region (a load
/// balancer takes certificates from its own region only).
pub fn certificate_arn(value: &str, environment_region: &str) -> Result<(), String> {
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let well_formed = matches!(
        parts[..],
        ["arn", partition, "acm", region_name, account, resource]
            if aws_partition(partition)
                && region(region_name).is_ok()
                && account.len() == 12
                && account.chars().all(|c| c.is_ascii_digit())
                && resource.strip_prefix("certificate/").is_some_and(|id| !id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    );
    if !well_formed || value.len() > ARN_MAX {
        return Err("Certificate must be an ACM certificate ARN like arn:aws:acm:eu-west-1:123456789012:certificate/1234abcd-…".into());
    }
    if parts[3] != environment_region {
        return Err(format!("The certificate is in {}; the load balancer needs one from {environment_region}", parts[3]));
    }
    Ok(())
}

/// S3 bucket naming rules (general purpose buckets).
pub fn bucket_name(value: &str) -> Result<(), String> {
    let ok = (3..=63).contains(&value.len())
        && value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !value.contains("..")
        // Not formatted as an IP address (four numbers with dots between).
        && !(value.split('.').count() == 4 && value.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())));
    if ok {
        Ok(())
    } else {
        Err("Access logs bucket must be an S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens".into())
    }
}

/// An SSM parameter name as a path: `/a/b/c`, at most 15 levels and 1011 characters, each
/// level of letters, digits and `_ . -`.
fn ssm_parameter_name(value: &str) -> bool {
    let levels: Vec<&str> = value.strip_prefix('/').map(|rest| rest.split('/').collect()).unwrap_or_default();
    value.len() <= 1011
        && (1..=15).contains(&levels.len())
        && levels.iter().all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)))
}

/// The message for a CPU or memory size that does not fit `cluster`'s instance type.
pub fn fits(cpu_units: u32, memory_mib: u32, cluster: &ClusterParameters) -> Result<(), String> {
    cpu(cpu_units, Some(cluster))?;
    memory(memory_mib, Some(cluster))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A request every rule accepts (also the starting point of `field_rules`' tests).
    pub(crate) fn good() -> RequestInput {
        RequestInput {
            environment: "staging".into(),
            service_name: "orders".into(),
            description: "Order API".into(),
            image_url: "public.ecr.aws/nginx/nginx:1.27".into(),
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

    fn fields(input: &RequestInput) -> Vec<String> {
        validate_request(input, None).into_iter().map(|e| e.field).collect()
    }

    fn bad(mutate: impl FnOnce(&mut RequestInput)) -> Vec<String> {
        let mut input = good();
        mutate(&mut input);
        fields(&input)
    }

    #[test]
    fn an_api_must_fit_beside_the_others_of_its_environment() {
        // 2 × t3.medium: 4096 CPU units, 7680 MiB.
        let cluster = ClusterParameters { instance_type: "t3.medium".into(), desired_capacity: 1, max_size: 2, ..Default::default() };
        let api = |cpu, memory, desired_count| RequestInput { cpu, memory, desired_count, ..good() };
        // Alone it fits: 4 tasks of 512 CPU units at its peak.
        assert_eq!(room(&api(512, 512, 2), &[], &cluster), Ok(()));
        // Beside 4 tasks of 512 (2048 held), its peak of 2048 still fits exactly...
        let others = [api(512, 512, 2), api(512, 512, 2)];
        assert_eq!(room(&api(512, 512, 2), &others, &cluster), Ok(()));
        // ...one more task (peak 6 × 512) does not, and the message says what does.
        let (field, message) = room(&api(512, 512, 3), &others, &cluster).unwrap_err();
        assert_eq!(field, "desired_count");
        assert!(message.contains("beside the other 2 APIs") && message.contains("At most 2 tasks"), "{message}");
        // Memory counts too, and a scaling maximum is the number to lower.
        let mut scaling = api(256, 3000, 1);
        scaling.autoscaling = Some(AutoScaling { min: 1, max: 2, metric: ScalingMetric::Cpu, target: 50 });
        let (field, message) = room(&scaling, &[api(256, 3000, 1)], &cluster).unwrap_err();
        assert_eq!(field, "scaling_max", "{message}");
    }

    #[test]
    fn a_complete_request_is_valid() {
        assert!(validate_request(&good(), None).is_empty());
    }

    #[test]
    fn environment_is_required() {
        assert_eq!(bad(|i| i.environment.clear()), ["environment"]);
    }

    #[test]
    fn service_names_are_dns_labels() {
        for ok in ["ab", "orders", "orders-v2", "a1", &"a".repeat(SERVICE_NAME_MAX)] {
            assert!(service_name(ok).is_ok(), "{ok} should be accepted");
        }
        for (value, message) in [
            ("", "Service name is required"),
            ("a", "Service name must be at least 2 characters"),
            ("Orders", "Service name must start with a lowercase letter"),
            ("1orders", "Service name must start with a lowercase letter"),
            ("orders_v2", "Service name may contain only lowercase letters, digits and hyphens"),
            ("orders-", "Service name must not end with a hyphen"),
            ("or--ders", "Service name must not contain two hyphens in a row"),
            ("cluster", "cluster is reserved by Berth; choose another service name"),
        ] {
            assert_eq!(service_name(value).unwrap_err(), message, "{value}");
        }
        assert!(service_name(&"a".repeat(SERVICE_NAME_MAX + 1)).unwrap_err().contains("at most 40"));
    }

    #[test]
    fn description_is_required_and_bounded() {
        assert_eq!(bad(|i| i.description = "  ".into()), ["description"]);
        assert_eq!(bad(|i| i.description = "x".repeat(DESCRIPTION_MAX + 1)), ["description"]);
        assert!(bad(|i| i.description = "é".repeat(DESCRIPTION_MAX)).is_empty());
    }

    #[test]
    fn image_references() {
        for ok in [
            "nginx",
            "nginx:1.27",
            "library/nginx:latest",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders:v1.2.3",
            "localhost:5000/team/api:Tag_1",
            "ghcr.io/acme/api@sha256:0123abcd",
        ] {
            assert!(image_url(ok).is_ok(), "{ok} should be accepted: {:?}", image_url(ok));
        }
        for bad in ["", "nginx latest", "Nginx", "acme/Orders:v1", "-nginx", "nginx:", "nginx!", "ghcr.io/"] {
            assert!(image_url(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn numbers_have_ranges() {
        assert_eq!(bad(|i| i.container_port = 0), ["container_port"]);
        assert_eq!(bad(|i| i.container_port = 65536), ["container_port"]);
        assert!(bad(|i| i.container_port = 65535).is_empty());
        assert_eq!(bad(|i| i.cpu = 127), ["cpu"]);
        assert_eq!(bad(|i| i.cpu = CPU_MAX + 1), ["cpu"]);
        assert_eq!(bad(|i| i.memory = 64), ["memory"]);
        assert_eq!(bad(|i| i.memory = MEMORY_MAX + 1), ["memory"]);
        assert_eq!(bad(|i| i.desired_count = 0), ["desired_count"]);
        assert_eq!(bad(|i| i.desired_count = DESIRED_COUNT_MAX + 1), ["desired_count"]);
    }

    #[test]
    fn cpu_and_memory_must_fit_the_instance_type() {
        let cluster = |t: &str| ClusterParameters { instance_type: t.into(), desired_capacity: 2, max_size: 4, ..Default::default() };
        let mut input = good();
        input.cpu = 4096;
        input.memory = 3000;
        let errors = validate_request(&input, Some(&cluster("t3.medium")));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "cpu");
        assert!(errors[0].message.contains("do not fit on a t3.medium"), "{}", errors[0].message);
        assert!(validate_request(&input, Some(&cluster("m5.xlarge"))).is_empty());
        input.cpu = 1024;
        input.memory = 4096;
        let errors = validate_request(&input, Some(&cluster("t3.medium")));
        assert_eq!(errors[0].field, "memory");
        assert!(errors[0].message.contains("does not fit on a t3.medium"));
    }

    #[test]
    fn path_patterns() {
        for ok in ["/orders*", "/orders", "/api/v1/orders/*", "/a?c"] {
            assert!(path_pattern(ok).is_ok(), "{ok}");
        }
        assert_eq!(path_pattern("orders").unwrap_err(), "Path must start with /");
        assert!(path_pattern("/").unwrap_err().contains("default"));
        assert!(path_pattern("/*").unwrap_err().contains("default"));
        assert!(path_pattern("/**").is_err());
        for greedy in ["/?*", "/*?", "/?", "//orders*", "/*orders"] {
            assert!(path_pattern(greedy).unwrap_err().contains("literal segment"), "{greedy}");
        }
        assert!(path_pattern("/orders%20").is_err());
        assert!(path_pattern("/or ders").is_err());
        assert!(path_pattern(&format!("/{}", "a".repeat(PATH_MAX))).is_err());
        assert_eq!(bad(|i| i.path.clear()), ["path"]);
    }

    #[test]
    fn health_check_paths() {
        assert!(health_check_path("/healthz").is_ok());
        assert!(health_check_path("healthz").is_err());
        assert!(health_check_path("/health*").is_err());
        assert!(health_check_path("/health?deep=1").is_err());
        assert_eq!(bad(|i| i.health_check_path.clear()), ["health_check_path"]);
    }

    #[test]
    fn task_role_arns() {
        assert!(role_arn("arn:aws:iam::123456789012:role/orders-task").is_ok());
        assert!(role_arn("arn:aws-us-gov:iam::123456789012:role/path/to/role").is_ok());
        for bad in [
            "",
            "orders-task",
            "arn:aws:iam::12345:role/x",
            "arn:aws:iam::123456789012:user/x",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/a b",
        ] {
            assert!(role_arn(bad).is_err(), "{bad}");
        }
        assert_eq!(bad(|i| i.task_role_arn = Some("nope".into())), ["task_role_arn"]);
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let errors = fields(&RequestInput::default());
        for field in [
            "environment",
            "service_name",
            "description",
            "image_url",
            "container_port",
            "cpu",
            "memory",
            "desired_count",
            "path",
            "health_check_path",
        ] {
            assert!(errors.contains(&field.to_string()), "{field} missing from {errors:?}");
        }
    }

    #[test]
    fn a_draft_reports_unparsable_numbers_once() {
        let mut draft = RequestDraft::from_input(&good());
        draft.cpu = "lots".into();
        draft.memory = " 1024 ".into();
        let errors = draft.parse(None).unwrap_err();
        assert_eq!(errors, vec![FieldError::new("cpu", "CPU units must be a whole number")]);
        draft.cpu = "512".into();
        let input = draft.parse(None).unwrap();
        assert_eq!((input.cpu, input.memory), (512, 1024));
    }

    #[test]
    fn a_draft_trims_and_drops_an_empty_role() {
        let mut draft = RequestDraft::from_input(&good());
        draft.service_name = "  orders ".into();
        draft.task_role_arn = "  ".into();
        let input = draft.parse(None).unwrap();
        assert_eq!(input.service_name, "orders");
        assert_eq!(input.task_role_arn, None);
    }

    #[test]
    fn new_users() {
        let user = NewUser {
            username: "alice".into(),
            password: "correct horse battery".into(),
            display_name: "Alice".into(),
            role: "requester".into(),
            team: "payments".into(),
        };
        assert_eq!(validate_new_user(&user), Ok(Role::Requester));
        let bad = NewUser { username: "a b".into(), password: "short".into(), role: "boss".into(), team: "".into(), ..user };
        let fields: Vec<_> = validate_new_user(&bad).unwrap_err().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["username", "password", "team", "role"]);
        for actor in ["berth", "System", "cli"] {
            assert!(username(actor).unwrap_err().contains("Berth uses"), "{actor}");
        }
    }

    #[test]
    fn user_patches() {
        assert_eq!(validate_user_patch(&UserPatch::default()), Ok(None));
        let patch = UserPatch { role: Some("approver".into()), ..Default::default() };
        assert_eq!(validate_user_patch(&patch), Ok(Some(Role::Approver)));
        let patch = UserPatch { role: Some("root".into()), password: Some("x".into()), ..Default::default() };
        let fields: Vec<_> = validate_user_patch(&patch).unwrap_err().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["role", "password"]);
    }

    #[test]
    fn environments() {
        let good = EnvironmentInput {
            name: "production".into(),
            region: "eu-west-1".into(),
            parameters: ClusterParameters { instance_type: "m5.large".into(), desired_capacity: 2, max_size: 4, ..Default::default() },
            rule_capacity: 100,
            role_arn: None,
            external_id: None,
        };
        assert!(validate_environment(&good).is_empty());
        let in_another_account = EnvironmentInput {
            role_arn: Some("arn:aws:iam::222222222222:role/berth/deployer".into()),
            external_id: Some("berth-7f3a:prod".into()),
            ..good.clone()
        };
        assert!(validate_environment(&in_another_account).is_empty());
        assert_eq!(environment_role_account("arn:aws:iam::222222222222:role/berth/deployer"), Ok("222222222222"));
        let fields_of = |e: EnvironmentInput| validate_environment(&e).into_iter().map(|e| e.field).collect::<Vec<_>>();
        for role in ["arn:aws:iam::22222222222:role/x", "arn:aws:iam::222222222222:user/x", "arn:aws:sts::222222222222:role/x", "role/x"] {
            assert_eq!(fields_of(EnvironmentInput { role_arn: Some(role.into()), ..good.clone() }), ["role_arn"], "{role}");
        }
        for id in ["x", "has space", "ünï", &"a".repeat(EXTERNAL_ID_MAX + 1)] {
            assert_eq!(fields_of(EnvironmentInput { external_id: Some(id.into()), ..in_another_account.clone() }), ["external_id"], "{id}");
        }
        assert_eq!(fields_of(EnvironmentInput { external_id: Some("abc".into()), ..good.clone() }), ["external_id"], "an external id without a role");
        for r in ["us-east-1", "ap-southeast-3", "us-gov-west-1"] {
            assert!(region(r).is_ok(), "{r}");
        }
        for r in ["", "useast1", "us-east", "US-EAST-1", "us-east-x"] {
            assert!(region(r).is_err(), "{r}");
        }
        let fields = |e: EnvironmentInput| validate_environment(&e).into_iter().map(|e| e.field).collect::<Vec<_>>();
        let mut bad = good.clone();
        bad.parameters.instance_type = "t2.nano".into();
        bad.parameters.desired_capacity = 5;
        bad.parameters.ecs_ami = Some("ami-123".into());
        bad.rule_capacity = 0;
        assert_eq!(fields(bad), ["parameters.InstanceType", "parameters.MaxSize", "parameters.ECSAMI", "rule_capacity"]);
        let mut zero = good.clone();
        zero.parameters.desired_capacity = 0;
        zero.name = "Prod".into();
        assert_eq!(fields(zero), ["name", "parameters.DesiredCapacity"]);
        let mut ssm = good;
        ssm.parameters.ecs_ami = Some("/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id".into());
        assert!(validate_environment(&ssm).is_empty());
        for bad in ["/", "//x", "/x/", "x/y", "/a b"] {
            ssm.parameters.ecs_ami = Some(bad.into());
            assert_eq!(fields(ssm.clone()), ["parameters.ECSAMI"], "{bad}");
        }
    }

    #[test]
    fn environment_names() {
        assert!(environment_name("staging").is_ok());
        assert!(environment_name("prod-eu-1").is_ok());
        assert!(environment_name("Prod").is_err());
        assert!(environment_name(&"a".repeat(ENVIRONMENT_NAME_MAX + 1)).is_err());
    }
}
