//! Properties of the shared validation and stack rendering, over generated input
//! (`cargo test -p app --features ssr --test properties`):
//!
//! - validation never panics, whatever is typed into any field, and neither does the
//!   preview the request form renders from a half-typed draft;
//! - every request and environment validation accepts renders stack parameters that
//!   CloudFormation accepts: each parameter the templates declare and no other, within the
//!   template's constraints, at most 4096 characters, and names within AWS's limits;
//! - the generator of valid input really produces mostly accepted input, so the second
//!   property is tested on thousands of deployable requests, not only on rejected junk.

use app::instance_types::OFFERED;
use app::model::{AutoScaling, ClusterParameters, EnvironmentInput, EnvironmentVariable, NewUser, RequestInput, ScalingMetric, Secret, StackInput, UserPatch};
use app::stacks::{self, TARGET_GROUP_NAME_MAX};
use app::validation::{self, validate_environment, validate_new_user, validate_request, validate_user_patch, RequestDraft};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use regex::Regex;
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::LazyLock;

// ---------------------------------------------------------------- the templates' rules

/// One parameter of a template, with the constraints CloudFormation checks before it
/// creates anything.
#[derive(Debug)]
struct Declared {
    kind: String,
    allowed_values: Option<Vec<String>>,
    allowed_pattern: Option<Regex>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    min_value: Option<f64>,
    max_value: Option<f64>,
}

fn declared(template: &str) -> BTreeMap<String, Declared> {
    // serde_yaml keeps short-form tags (!Ref, !Sub) as tagged values, so the whole
    // template parses; only `Parameters` matters here.
    let doc: Value = serde_yaml::from_str(template).expect("the template is YAML");
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("unexpected constraint value {other:?}"),
    };
    let number = |v: &Value| text(v).parse::<f64>().expect("a numeric constraint");
    doc["Parameters"]
        .as_mapping()
        .expect("the template declares parameters")
        .iter()
        .map(|(name, p)| {
            let get = |key: &str| p.get(key);
            let declared = Declared {
                kind: text(&p["Type"]),
                allowed_values: get("AllowedValues").map(|v| v.as_sequence().expect("a list").iter().map(text).collect()),
                // CloudFormation's AllowedPattern must match the whole value.
                allowed_pattern: get("AllowedPattern").map(|v| Regex::new(&format!("^(?:{})$", text(v))).expect("a valid pattern")),
                min_length: get("MinLength").map(|v| number(v) as usize),
                max_length: get("MaxLength").map(|v| number(v) as usize),
                min_value: get("MinValue").map(number),
                max_value: get("MaxValue").map(number),
            };
            (text(name), declared)
        })
        .collect()
}

static CLUSTER: LazyLock<BTreeMap<String, Declared>> =
    LazyLock::new(|| declared(include_str!("../../cloudformation/cluster.yaml")));
static SERVICE: LazyLock<BTreeMap<String, Declared>> =
    LazyLock::new(|| declared(include_str!("../../cloudformation/service.yaml")));

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a valid pattern")
}

/// CloudFormation stack names.
static STACK_NAME: LazyLock<Regex> = LazyLock::new(|| regex("^[a-zA-Z][-a-zA-Z0-9]{0,127}$"));
/// Target groups: at most 32 alphanumerics and hyphens, no hyphen at either end.
static TARGET_GROUP_NAME: LazyLock<Regex> = LazyLock::new(|| regex("^[a-zA-Z0-9](?:[-a-zA-Z0-9]{0,30}[a-zA-Z0-9])?$"));
/// ECS service, task family and container names: up to 255 letters, digits, `_` and `-`.
static ECS_NAME: LazyLock<Regex> = LazyLock::new(|| regex("^[a-zA-Z0-9_-]{1,255}$"));
/// A container image as ECS takes it.
static IMAGE: LazyLock<Regex> = LazyLock::new(|| regex("^[a-zA-Z0-9][a-zA-Z0-9._/:@#-]{0,254}$"));
/// ALB path-pattern values: at most 128 characters of these.
static PATH_PATTERN: LazyLock<Regex> = LazyLock::new(|| regex(r#"^/[A-Za-z0-9_\-.$/~"'@:+&*?]{0,127}$"#));
static HEALTH_CHECK_PATH: LazyLock<Regex> = LazyLock::new(|| regex(r#"^/[A-Za-z0-9_\-.$/~"'@:+&]{0,1023}$"#));
static ROLE_ARN: LazyLock<Regex> = LazyLock::new(|| regex(r"^(|arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512})$"));
/// An SSM parameter name holding the AMI id: a path of non-empty segments, at most 1011
/// characters, at most 15 levels.
static SSM_PARAMETER: LazyLock<Regex> = LazyLock::new(|| regex(r"^(/[a-zA-Z0-9_.-]+){1,15}$"));
/// CloudWatch Logs group names: up to 512 of these.
static LOG_GROUP: LazyLock<Regex> = LazyLock::new(|| regex(r"^[.\-_/#A-Za-z0-9]{1,512}$"));

fn check(ok: bool, message: impl FnOnce() -> String) -> Result<(), TestCaseError> {
    if ok {
        Ok(())
    } else {
        Err(TestCaseError::fail(message()))
    }
}

/// What CloudFormation checks of a stack's parameters against its template.
fn fits_template(stack: &StackInput, template: &BTreeMap<String, Declared>) -> Result<(), TestCaseError> {
    check(STACK_NAME.is_match(&stack.stack_name), || format!("stack name {:?}", stack.stack_name))?;
    let given: BTreeMap<&str, &str> = stack.parameters.iter().map(|p| (p.key.as_str(), p.value.as_str())).collect();
    check(given.len() == stack.parameters.len(), || format!("a parameter given twice in {:?}", stack.parameters))?;
    for key in given.keys() {
        check(template.contains_key(*key), || format!("{key} is not a parameter of the template"))?;
    }
    for (key, rule) in template {
        let value = *given.get(key.as_str()).ok_or_else(|| TestCaseError::fail(format!("{key} is missing")))?;
        let fail = |why: &str| TestCaseError::fail(format!("{key} = {value:?}: {why}"));
        if value.chars().count() > 4096 {
            return Err(fail("longer than 4096 characters"));
        }
        match rule.kind.as_str() {
            "Number" => {
                let n: f64 = value.parse().map_err(|_| fail("not a number"))?;
                if rule.min_value.is_some_and(|min| n < min) || rule.max_value.is_some_and(|max| n > max) {
                    return Err(fail("out of the template's range"));
                }
            }
            "String" => {}
            kind if kind.starts_with("AWS::SSM::Parameter::Value<") => {
                if !SSM_PARAMETER.is_match(value) || value.len() > 1011 {
                    return Err(fail("not an SSM parameter name"));
                }
            }
            other => return Err(fail(&format!("unexpected type {other}"))),
        }
        let length = value.chars().count();
        if rule.min_length.is_some_and(|min| length < min) || rule.max_length.is_some_and(|max| length > max) {
            return Err(fail("length out of the template's range"));
        }
        if rule.allowed_values.as_ref().is_some_and(|values| !values.iter().any(|v| v == value)) {
            return Err(fail("not one of the allowed values"));
        }
        if rule.allowed_pattern.as_ref().is_some_and(|pattern| !pattern.is_match(value)) {
            return Err(fail("does not match the allowed pattern"));
        }
    }
    Ok(())
}

/// The names the service stack gives AWS resources, within AWS's limits.
fn names_fit_aws(stack: &StackInput) -> Result<(), TestCaseError> {
    let value = |key: &str| stack.parameters.iter().find(|p| p.key == key).map(|p| p.value.clone()).unwrap_or_default();
    let target_group = value("TargetGroupName");
    check(TARGET_GROUP_NAME.is_match(&target_group) && target_group.len() <= TARGET_GROUP_NAME_MAX, || {
        format!("target group name {target_group:?}")
    })?;
    let service = value("ServiceName");
    check(ECS_NAME.is_match(&service), || format!("ECS service, family and container name {service:?}"))?;
    check(IMAGE.is_match(&value("ImageUrl")), || format!("image {:?}", value("ImageUrl")))?;
    check(PATH_PATTERN.is_match(&value("Path")), || format!("path pattern {:?}", value("Path")))?;
    check(HEALTH_CHECK_PATH.is_match(&value("HealthCheckPath")), || format!("health-check path {:?}", value("HealthCheckPath")))?;
    check(ROLE_ARN.is_match(&value("Role")), || format!("task role {:?}", value("Role")))?;
    let log_group = format!("/berth/{}/{service}", value("StackName"));
    check(LOG_GROUP.is_match(&log_group), || format!("log group {log_group:?}"))?;
    check(STACK_NAME.is_match(&value("StackName")), || format!("cluster stack name {:?}", value("StackName")))
}

/// Both stacks of an accepted request in an accepted environment, as they are deployed.
fn deployable(env: &EnvironmentInput, input: &RequestInput, priority: u32) -> Result<(), TestCaseError> {
    let stacks = stacks::render(&env.parameters, input, Some(priority));
    fits_template(&stacks.cluster, &CLUSTER)?;
    fits_template(&stacks.service, &SERVICE)?;
    names_fit_aws(&stacks.service)?;
    check(stacks.cluster.stack_name == stacks::cluster_stack_name(&env.name), || "the cluster stack's name".into())
}

// ---------------------------------------------------------------- generators

/// Anything at all, and now and then something close to valid (the same characters a
/// valid value uses, of any length), so that both ends of every rule are reached.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<String>(),
        1 => "[a-z0-9-]{0,60}",
        1 => "/[a-zA-Z0-9*?._/-]{0,140}",
        1 => "[ -~]{0,300}",
        1 => Just(String::new()),
    ]
}

fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![any::<u32>().prop_map(|n| n.to_string()), any::<i64>().prop_map(|n| n.to_string()), text()]
}

fn any_u32() -> impl Strategy<Value = u32> {
    prop_oneof![any::<u32>(), 0..200_000u32]
}

prop_compose! {
    fn any_draft()(
        strings in prop::collection::vec(text(), 10),
        numbers in prop::collection::vec(number_text(), 7),
    ) -> RequestDraft {
        RequestDraft {
            environment: strings[0].clone(),
            service_name: strings[1].clone(),
            description: strings[2].clone(),
            image_url: strings[3].clone(),
            path: strings[4].clone(),
            health_check_path: strings[5].clone(),
            task_role_arn: strings[6].clone(),
            container_port: numbers[0].clone(),
            cpu: numbers[1].clone(),
            memory: numbers[2].clone(),
            desired_count: numbers[3].clone(),
            environment_variables: strings[7].clone(),
            secrets: strings[8].clone(),
            scaling_metric: strings[9].clone(),
            scaling_min: numbers[4].clone(),
            scaling_max: numbers[5].clone(),
            scaling_target: numbers[6].clone(),
        }
    }
}

prop_compose! {
    fn any_request()(
        strings in prop::collection::vec(text(), 7),
        numbers in prop::collection::vec(any_u32(), 4),
        role in prop::option::of(text()),
    ) -> RequestInput {
        RequestInput {
            environment: strings[0].clone(),
            service_name: strings[1].clone(),
            description: strings[2].clone(),
            image_url: strings[3].clone(),
            path: strings[4].clone(),
            health_check_path: strings[5].clone(),
            task_role_arn: role,
            container_port: numbers[0],
            cpu: numbers[1],
            memory: numbers[2],
            desired_count: numbers[3],
            ..Default::default()
        }
    }
}

prop_compose! {
    fn any_environment()(
        name in text(),
        region in text(),
        instance_type in prop_oneof![text(), prop::sample::select(OFFERED).prop_map(|t| t.name.to_string())],
        numbers in prop::collection::vec(any_u32(), 3),
        ecs_ami in prop::option::of(text()),
        role_arn in prop::option::of(text()),
        external_id in prop::option::of(text()),
    ) -> EnvironmentInput {
        EnvironmentInput {
            name,
            region,
            parameters: ClusterParameters { instance_type, desired_capacity: numbers[0], max_size: numbers[1], ecs_ami, ..Default::default() },
            rule_capacity: numbers[2],
            role_arn,
            external_id,
        }
    }
}

/// A DNS-style label as Berth wants it: a lowercase letter first, no hyphen last or twice.
fn label(max: usize) -> impl Strategy<Value = String> {
    let pattern = format!("[a-z]([a-z0-9]|-[a-z0-9]){{0,{}}}", max - 1);
    proptest::string::string_regex(&pattern)
        .expect("a valid pattern")
        .prop_map(move |s| s[..s.len().min(max)].trim_end_matches('-').to_string())
}

fn valid_image() -> impl Strategy<Value = String> {
    let component = "[a-z0-9]{1,10}([._-][a-z0-9]{1,10}){0,2}";
    let registry = prop_oneof![
        Just(String::new()),
        Just("public.ecr.aws/".to_string()),
        Just("123456789012.dkr.ecr.eu-west-1.amazonaws.com/".to_string()),
        Just("localhost:5000/".to_string()),
        "[a-z0-9]{1,10}\\.[a-z]{2,5}(:[0-9]{2,5})?/",
    ];
    let repository = proptest::string::string_regex(&format!("{component}(/{component}){{0,2}}")).unwrap();
    let tag = prop_oneof![Just(String::new()), ":[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"];
    let digest = prop_oneof![3 => Just(String::new()), 1 => "@sha256:[0-9a-f]{64}"];
    (registry, repository, tag, digest).prop_map(|(r, p, t, d)| format!("{r}{p}{t}{d}"))
}

fn valid_path() -> impl Strategy<Value = String> {
    r#"/[a-zA-Z0-9_.~$@:+&'"-]{1,60}(/[a-zA-Z0-9_.-]{1,20}){0,2}[*?]?"#
}

fn valid_ssm_parameter() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(stacks::DEFAULT_ECS_AMI.to_string()),
        Just("/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id".to_string()),
        "(/[a-zA-Z0-9_.-]{1,30}){1,6}",
    ]
}

prop_compose! {
    fn valid_environment()(
        name in label(validation::ENVIRONMENT_NAME_MAX),
        region in "(us|eu|ap|ca|sa|me|af)-(east|west|north|south|central|southeast|northeast)-[1-4]",
        instance in prop::sample::select(OFFERED),
        desired_capacity in 1..=validation::MAX_CLUSTER_SIZE,
        extra in 0..=validation::MAX_CLUSTER_SIZE,
        ecs_ami in prop::option::of(valid_ssm_parameter()),
        rule_capacity in 1..=app::model::DEFAULT_RULE_CAPACITY,
        // Berth's own account, or a role in another (with an external id or not).
        role in prop::option::of(("[0-9]{12}", "[A-Za-z0-9+=,.@_-]{1,64}", prop::option::of("[A-Za-z0-9+=,.@:/_-]{2,100}"))),
    ) -> EnvironmentInput {
        let (role_arn, external_id) = match role {
            Some((account, name, id)) => (Some(format!("arn:aws:iam::{account}:role/{name}")), id),
            None => (None, None),
        };
        EnvironmentInput {
            name,
            region,
            parameters: ClusterParameters {
                instance_type: instance.name.to_string(),
                desired_capacity,
                max_size: (desired_capacity + extra).min(validation::MAX_CLUSTER_SIZE),
                ecs_ami,
                ..Default::default()
            },
            rule_capacity,
            role_arn,
            external_id,
        }
    }
}

prop_compose! {
    /// A request meant to be accepted in `env` (CPU and memory sized for its instance type).
    fn valid_request_in(env: EnvironmentInput)(
        service_name in label(validation::SERVICE_NAME_MAX).prop_map(|s| if s.len() < 2 { format!("{s}1") } else { s }),
        description in "[ -~]{1,200}|\\PC{1,100}",
        image_url in valid_image(),
        container_port in 1..=65535u32,
        cpu_share in 0.0..=1.0f64,
        memory_share in 0.0..=1.0f64,
        desired_count in 1..=validation::DESIRED_COUNT_MAX,
        path in valid_path(),
        health_check_path in r#"/[a-zA-Z0-9_.~$@:+&'"-]{0,40}(/[a-zA-Z0-9_.-]{1,20}){0,3}"#,
        task_role_arn in prop::option::of("arn:aws(-us-gov|-cn)?:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_-]{1,40}(/[A-Za-z0-9+=,.@_-]{1,20}){0,2}"),
        variables in prop::collection::btree_map("APP_[A-Z0-9_]{0,20}", "[ -~]{0,80}|\\PC{0,40}", 0..=validation::ENVIRONMENT_VARIABLES_MAX),
        secrets in prop::collection::btree_map(
            "SECRET_[A-Z0-9_]{0,20}",
            "arn:aws:(ssm:[a-z]{2}-[a-z]{4,7}-[1-4]:[0-9]{12}:parameter/[a-z]{1,8}/[A-Za-z0-9_.-]{1,40}|secretsmanager:[a-z]{2}-[a-z]{4,7}-[1-4]:[0-9]{12}:secret:[a-z]{1,8}/[A-Za-z0-9/_+=.@-]{1,40})",
            0..=validation::SECRETS_MAX,
        ),
        scaling in prop::option::of((prop::sample::select(ScalingMetric::ALL.to_vec()), 0.0..=1.0f64, 1..=100u32)),
        env in Just(env),
    ) -> RequestInput {
        let instance = app::instance_types::find(&env.parameters.instance_type).expect("an offered type");
        let scale = |min: u32, max: u32, share: f64| min + ((max - min) as f64 * share) as u32;
        let cpu = scale(validation::CPU_MIN, instance.cpu_units().min(validation::CPU_MAX), cpu_share);
        let memory = scale(validation::MEMORY_MIN, instance.usable_memory_mib().min(validation::MEMORY_MAX), memory_share);
        // At most half of what the environment holds: a deployment runs twice the tasks.
        let room = (validation::tasks_that_fit(cpu, memory, &env.parameters).unwrap_or(2) / 2).clamp(1, validation::DESIRED_COUNT_MAX);
        let desired_count = desired_count.min(room);
        let autoscaling = scaling.map(|(metric, share, target)| AutoScaling {
            min: 1,
            max: scale(desired_count, room, share),
            metric,
            target,
        });
        RequestInput {
            environment: env.name.clone(),
            service_name,
            description: description.trim().to_string(),
            image_url,
            container_port,
            cpu,
            memory,
            desired_count,
            path,
            health_check_path,
            task_role_arn,
            environment_variables: variables.into_iter().map(|(name, value)| EnvironmentVariable { name, value }).collect(),
            secrets: secrets.into_iter().map(|(name, value_from)| Secret { name, value_from }).collect(),
            autoscaling,
        }
    }
}

fn valid_deployment() -> impl Strategy<Value = (EnvironmentInput, RequestInput, u32)> {
    valid_environment().prop_flat_map(|env| {
        let capacity = env.rule_capacity;
        (Just(env.clone()), valid_request_in(env), 1..=capacity)
    })
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() })
}

// ---------------------------------------------------------------- properties

#[test]
fn validation_and_the_form_preview_never_panic() {
    runner(3000)
        .run(&(any_draft(), any_environment()), |(draft, env)| {
            let _ = draft.parse(None);
            let _ = draft.parse(Some(&env.parameters));
            // What the form previews while someone types, valid or not.
            let lenient = draft.lenient();
            let _ = stacks::render(&env.parameters, &lenient, None);
            let _ = stacks::render(&env.parameters, &lenient, Some(1));
            let _ = validate_environment(&env);
            Ok(())
        })
        .unwrap();
    runner(3000)
        .run(&(any_request(), any_environment()), |(input, env)| {
            let _ = validate_request(&input, None);
            let _ = validate_request(&input, Some(&env.parameters));
            let _ = RequestDraft::from_input(&input).parse(Some(&env.parameters));
            let _ = stacks::render(&env.parameters, &input, Some(env.rule_capacity));
            Ok(())
        })
        .unwrap();
    let user = (text(), text(), text(), text(), text());
    let patch = (prop::option::of(text()), prop::option::of(text()), prop::option::of(any::<bool>()), prop::option::of(text()), prop::option::of(text()));
    runner(2000)
        .run(&(user, patch), |((username, password, display_name, role, team), (r, t, disabled, p, d))| {
            let _ = validate_new_user(&NewUser { username, password, display_name, role, team });
            let _ = validate_user_patch(&UserPatch { role: r, team: t, disabled, password: p, display_name: d });
            Ok(())
        })
        .unwrap();
}

/// A valid request and environment with one field replaced by anything at all: what
/// validation lets through of that must deploy too.
fn mutated_deployment() -> impl Strategy<Value = (EnvironmentInput, RequestInput, u32)> {
    (valid_deployment(), 0..10usize, text(), any_u32()).prop_map(|((mut env, mut input, priority), field, junk, n)| {
        match field {
            0 => input.service_name = junk,
            1 => input.image_url = junk,
            2 => input.path = junk,
            3 => input.health_check_path = junk,
            4 => input.task_role_arn = Some(junk),
            5 => env.parameters.ecs_ami = Some(junk),
            6 => {
                env.name = junk;
                input.environment = env.name.clone();
            }
            7 => input.description = junk,
            8 => input.container_port = n,
            _ => input.desired_count = n,
        }
        (env, input, priority)
    })
}

#[test]
fn what_validation_lets_through_of_a_mutated_request_deploys() {
    let accepted = AtomicUsize::new(0);
    runner(5000)
        .run(&mutated_deployment(), |(env, input, priority)| {
            if validate_environment(&env).is_empty() && validate_request(&input, Some(&env.parameters)).is_empty() {
                accepted.fetch_add(1, Ordering::Relaxed);
                deployable(&env, &input, priority)?;
            }
            Ok(())
        })
        .unwrap();
    eprintln!("mutated input accepted: {}", accepted.load(Ordering::Relaxed));
}

#[test]
fn valid_input_is_accepted_and_deployable() {
    let (total, accepted) = (AtomicUsize::new(0), AtomicUsize::new(0));
    runner(5000)
        .run(&valid_deployment(), |(env, input, priority)| {
            total.fetch_add(1, Ordering::Relaxed);
            let env_errors = validate_environment(&env);
            prop_assert!(env_errors.is_empty(), "{env:?} refused: {env_errors:?}");
            let errors = validate_request(&input, Some(&env.parameters));
            if errors.is_empty() {
                accepted.fetch_add(1, Ordering::Relaxed);
                deployable(&env, &input, priority)?;
                // The form reads the same request back from its text.
                let parsed = RequestDraft::from_input(&input).parse(Some(&env.parameters));
                prop_assert_eq!(parsed.as_ref(), Ok(&input));
            }
            Ok(())
        })
        .unwrap();
    let (total, accepted) = (total.load(Ordering::Relaxed), accepted.load(Ordering::Relaxed));
    eprintln!("valid input accepted: {accepted} of {total}");
    assert!(accepted * 10 >= total * 9, "the generator of valid input is off: only {accepted} of {total} accepted");
}

#[test]
fn the_templates_declare_what_berth_renders() {
    // The checks above are only as good as the parsed templates.
    assert_eq!(SERVICE["TargetGroupName"].max_length, Some(32));
    assert_eq!(SERVICE["Priority"].max_value, Some(50000.0));
    assert_eq!(CLUSTER["InstanceType"].allowed_values.as_ref().map(Vec::len), Some(OFFERED.len()));
    assert!(CLUSTER["ECSAMI"].kind.starts_with("AWS::SSM::Parameter::Value<"));
}
