//! The two stacks, rendered by Berth for a real request, deploy on the local AWS and build
//! the pattern: private container hosts, a public load balancer, one rule per API.

use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus, Tag};
use base64::prelude::{Engine, BASE64_STANDARD};
use berth_tests::moto::Moto;
use berth_tests::{api_request, wait_for_status, Api, Berth};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

async fn download(api: &Api, id: &str, stack: &str) -> (String, Vec<Parameter>) {
    let template = api.http.get(format!("{}/api/v1/requests/{id}/templates/{stack}", api.base)).send().await.unwrap();
    assert_eq!(template.status(), 200);
    assert!(template.headers()["content-disposition"].to_str().unwrap().contains(".yaml"));
    let template = template.text().await.unwrap();
    let params = api.get(&format!("/api/v1/requests/{id}/parameters/{stack}")).await.unwrap();
    assert_eq!(params.status, 200);
    let params = params
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            Parameter::builder()
                .parameter_key(p["ParameterKey"].as_str().unwrap())
                .parameter_value(p["ParameterValue"].as_str().unwrap())
                .build()
        })
        .collect();
    (template, params)
}

async fn deploy(cfn: &aws_sdk_cloudformation::Client, name: &str, template: &str, params: Vec<Parameter>) {
    deploy_tagged(cfn, name, template, params, &[]).await;
}

async fn deploy_tagged(cfn: &aws_sdk_cloudformation::Client, name: &str, template: &str, params: Vec<Parameter>, tags: &[(&str, &str)]) {
    let tags = tags.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build()).collect();
    cfn.create_stack()
        .stack_name(name)
        .template_body(template)
        .set_parameters(Some(params))
        .set_tags(Some(tags))
        .capabilities(Capability::CapabilityIam)
        .send()
        .await
        .unwrap_or_else(|e| panic!("creating {name}: {e:?}"));
    let stack = cfn.describe_stacks().stack_name(name).send().await.unwrap().stacks.unwrap().remove(0);
    assert_eq!(stack.stack_status, Some(StackStatus::CreateComplete), "{name}: {:?}", stack.stack_status_reason);
}

#[tokio::test]
async fn both_stacks_deploy_the_pattern() {
    let moto = Moto::start().await.unwrap();
    let berth = Berth::start().await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let orders = rita.post("/api/v1/requests", api_request("orders", "/orders*")).await.unwrap().body;
    let users = rita.post("/api/v1/requests", api_request("users", "/users*")).await.unwrap().body;
    let id = |r: &Value| r["id"].as_str().unwrap().to_string();

    let config = moto.sdk_config().await;
    let cfn = aws_sdk_cloudformation::Client::new(&config);
    let (template, params) = download(&rita, &id(&orders), "cluster").await;
    deploy(&cfn, "berth-staging-cluster", &template, params).await;

    let exports: BTreeMap<String, String> = cfn
        .list_exports()
        .send()
        .await
        .unwrap()
        .exports
        .unwrap()
        .into_iter()
        .map(|e| (e.name.unwrap(), e.value.unwrap()))
        .collect();
    for name in [
        "ClusterName", "PublicListenerArn", "VpcId", "PublicSubnetOne", "PublicSubnetTwo", "PrivateSubnetOne",
        "PrivateSubnetTwo", "HostSecurityGroup", "ECSTaskExecutionRole", "ExternalUrl",
    ] {
        assert!(exports.contains_key(&format!("berth-staging-cluster:{name}")), "export {name} missing: {exports:?}");
    }
    let export = |n: &str| exports[&format!("berth-staging-cluster:{n}")].clone();

    let ec2 = aws_sdk_ec2::Client::new(&config);
    let private = [export("PrivateSubnetOne"), export("PrivateSubnetTwo")];
    let subnets = ec2.describe_subnets().set_subnet_ids(Some(private.to_vec())).send().await.unwrap().subnets.unwrap();
    assert_eq!(subnets.len(), 2);
    for subnet in &subnets {
        assert_eq!(subnet.map_public_ip_on_launch, Some(false), "private subnets never map public IPs");
        assert_eq!(subnet.vpc_id.as_deref(), Some(export("VpcId").as_str()));
    }

    let asg = aws_sdk_autoscaling::Client::new(&config);
    let groups = asg.describe_auto_scaling_groups().send().await.unwrap().auto_scaling_groups.unwrap();
    assert_eq!(groups.len(), 1);
    let mut zones: Vec<String> = groups[0].vpc_zone_identifier.clone().unwrap().split(',').map(str::to_string).collect();
    zones.sort();
    let mut expected = private.to_vec();
    expected.sort();
    assert_eq!(zones, expected, "container hosts live only in the private subnets");

    let templates = ec2.describe_launch_template_versions().launch_template_id(
        groups[0].launch_template.as_ref().and_then(|t| t.launch_template_id.clone()).expect("the ASG uses a launch template"),
    );
    let version = templates.send().await.unwrap().launch_template_versions.unwrap().remove(0);
    let data = version.launch_template_data.unwrap();
    let metadata = data.metadata_options.clone().unwrap();
    assert_eq!(metadata.http_tokens.unwrap().as_str(), "required", "IMDSv2 only");
    assert_eq!(metadata.http_put_response_hop_limit, Some(1), "no token for containers");
    let root = data.block_device_mappings()[0].ebs.clone().expect("an EBS root volume");
    assert_eq!((root.encrypted, root.volume_type.map(|t| t.as_str().to_string())), (Some(true), Some("gp3".to_string())));
    let user_data = String::from_utf8(BASE64_STANDARD.decode(data.user_data.as_deref().unwrap()).unwrap()).unwrap();
    assert!(
        user_data.contains("-i docker+ -d 169.254.169.254/32 -j DROP") && user_data.contains("DOCKER-USER"),
        "containers are cut off from the instance metadata service: {user_data}"
    );

    let host_sg = export("HostSecurityGroup");
    let groups = ec2.describe_security_groups().send().await.unwrap().security_groups.unwrap();
    let host = groups.iter().find(|g| g.group_id.as_deref() == Some(host_sg.as_str())).unwrap();
    let sources: Vec<String> = host
        .ip_permissions()
        .iter()
        .flat_map(|p| {
            assert!(p.ip_ranges().is_empty(), "hosts admit no address range: {p:?}");
            p.user_id_group_pairs().iter().filter_map(|g| g.group_id.clone())
        })
        .collect();
    assert!(sources.contains(&host_sg), "hosts talk to each other");
    let alb_sg = sources.iter().find(|s| **s != host_sg).expect("hosts admit the load balancer's group").clone();
    let alb = groups.iter().find(|g| g.group_id.as_deref() == Some(alb_sg.as_str())).unwrap();
    let mut ports: Vec<_> = alb.ip_permissions().iter().map(|rule| (rule.from_port, rule.to_port)).collect();
    ports.sort();
    assert_eq!(ports, [(Some(80), Some(80)), (Some(443), Some(443))], "the load balancer admits only its listener ports");
    let from_alb: Vec<_> = host
        .ip_permissions()
        .iter()
        .filter(|p| p.user_id_group_pairs().iter().any(|g| g.group_id.as_deref() == Some(alb_sg.as_str())))
        .map(|p| (p.from_port, p.to_port))
        .collect();
    assert_eq!(from_alb, [(Some(32768), Some(61000))], "the load balancer reaches the hosts' ephemeral ports only");

    let (template, params) = download(&rita, &id(&orders), "service").await;
    deploy(&cfn, "berth-staging-orders", &template, params).await;
    let (template, params) = download(&rita, &id(&users), "service").await;
    deploy(&cfn, "berth-staging-users", &template, params).await;

    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let rules = elb.describe_rules().listener_arn(export("PublicListenerArn")).send().await.unwrap().rules.unwrap();
    let routed: BTreeMap<String, Vec<String>> = rules
        .iter()
        .filter(|r| r.is_default != Some(true))
        .map(|r| {
            let paths = r.conditions().iter().flat_map(|c| c.values().to_vec()).collect();
            (r.priority.clone().unwrap(), paths)
        })
        .collect();
    assert_eq!(routed.get("1"), Some(&vec!["/orders*".to_string()]), "{routed:?}");
    assert_eq!(routed.get("2"), Some(&vec!["/users*".to_string()]), "{routed:?}");

    let ecs = aws_sdk_ecs::Client::new(&config);
    let services = ecs.describe_services().cluster(export("ClusterName")).services("orders").send().await.unwrap();
    let service = &services.services.unwrap()[0];
    assert_eq!(service.desired_count, 2);
}

fn certificate(moto: &Moto) -> String {
    let arn = moto
        .boto3("print(json.dumps(aws('acm').request_certificate(DomainName='api.example.com')['CertificateArn']))")
        .unwrap();
    arn.as_str().unwrap().to_string()
}

async fn approve(approver: &Api, requester: &Api, id: &str) -> Value {
    let r = approver.post(&format!("/api/v1/requests/{id}/approve"), json!({"revision": 1})).await.unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    wait_for_status(requester, id, "deployed", Duration::from_secs(60)).await
}

#[tokio::test]
async fn an_api_with_https_variables_a_secret_and_auto_scaling_deploys_and_so_does_a_plain_one() {
    let moto = Moto::start().await.unwrap();
    let berth = Berth::start_on(&moto).await.unwrap();
    let admin = berth.admin().await.unwrap();
    let certificate = certificate(&moto);
    let secure = admin
        .post(
            "/api/v1/environments",
            json!({"name": "secure", "region": "us-east-1", "rule_capacity": 10, "parameters": {
                "InstanceType": "t3.medium", "DesiredCapacity": 2, "MaxSize": 4, "CertificateArn": certificate,
                "AccessLogsBucket": "acme-alb-logs", "DeletionProtection": true, "ContainerInsights": true}}),
        )
        .await
        .unwrap();
    assert_eq!(secure.status, 201, "{:?}", secure.body);
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let alice = berth.user("alice", "approver", "platform").await.unwrap();

    let secret = "arn:aws:ssm:us-east-1:123456789012:parameter/payments/orders/db-password";
    let mut orders = api_request("orders", "/orders*");
    orders["environment"] = json!("secure");
    orders["environment_variables"] = json!([{"name": "LOG_LEVEL", "value": "debug"}, {"name": "FEATURES", "value": "a=1,b=2"}]);
    orders["secrets"] = json!([{"name": "DB_PASSWORD", "value_from": secret}]);
    orders["autoscaling"] = json!({"min": 2, "max": 4, "metric": "requests", "target": 500});
    let orders = rita.post("/api/v1/requests", orders).await.unwrap();
    assert_eq!(orders.status, 201, "{:?}", orders.body);
    let users = rita.post("/api/v1/requests", api_request("users", "/users*")).await.unwrap().body;
    let id = |r: &Value| r["id"].as_str().unwrap().to_string();

    let orders = approve(&alice, &rita, &id(&orders.body)).await;
    let users = approve(&alice, &rita, &id(&users)).await;
    let https_url = orders["outputs"]["PublicUrl"].as_str().unwrap();
    assert!(https_url.starts_with("https://") && https_url.ends_with("/orders"), "{https_url}");
    let http_url = users["outputs"]["PublicUrl"].as_str().unwrap();
    assert!(http_url.starts_with("http://"), "{http_url}");

    let config = moto.sdk_config().await;
    let cfn = aws_sdk_cloudformation::Client::new(&config);
    let outputs = |stack: &'static str| {
        let cfn = cfn.clone();
        async move {
            let stack = cfn.describe_stacks().stack_name(stack).send().await.unwrap().stacks.unwrap().remove(0);
            stack.outputs.unwrap_or_default().into_iter().map(|o| (o.output_key.unwrap(), o.output_value.unwrap())).collect::<BTreeMap<_, _>>()
        }
    };
    let secure = outputs("berth-secure-cluster").await;
    let staging = outputs("berth-staging-cluster").await;
    assert!(secure.contains_key("HttpsListenerArn") && !staging.contains_key("HttpsListenerArn"));

    // HTTPS: 443 with a current TLS policy, 80 only redirects, the API's rule on 443.
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let listeners = elb.describe_listeners().listener_arns(&secure["HttpsListenerArn"]).listener_arns(&secure["PublicListenerArn"]).send().await.unwrap();
    for listener in listeners.listeners.unwrap() {
        let action = listener.default_actions.unwrap().remove(0);
        match listener.port {
            Some(443) => {
                assert_eq!(listener.ssl_policy.as_deref(), Some("ELBSecurityPolicy-TLS13-1-2-2021-06"));
                assert_eq!(listener.certificates.unwrap()[0].certificate_arn.as_deref(), Some(certificate.as_str()));
            }
            Some(80) => {
                let redirect = action.redirect_config.expect("port 80 redirects");
                assert_eq!((redirect.protocol.as_deref(), redirect.port.as_deref()), (Some("HTTPS"), Some("443")));
            }
            other => panic!("unexpected listener on {other:?}"),
        }
    }
    let paths = |listener: String| {
        let elb = elb.clone();
        async move {
            let rules = elb.describe_rules().listener_arn(listener).send().await.unwrap().rules.unwrap();
            rules.into_iter().filter(|r| r.is_default != Some(true)).flat_map(|r| r.conditions.unwrap_or_default()).flat_map(|c| c.values.unwrap_or_default()).collect::<Vec<_>>()
        }
    };
    assert_eq!(paths(secure["HttpsListenerArn"].clone()).await, ["/orders*"]);
    assert!(paths(secure["PublicListenerArn"].clone()).await.is_empty(), "port 80 only redirects");
    assert_eq!(paths(staging["PublicListenerArn"].clone()).await, ["/users*"], "without a certificate the rule is on port 80");

    let balancers = elb.describe_load_balancers().send().await.unwrap().load_balancers.unwrap();
    let secure_lb = balancers.iter().find(|b| secure["LoadBalancerFullName"].ends_with(b.load_balancer_arn.as_deref().unwrap().rsplit_once("loadbalancer/").unwrap().1)).unwrap();
    let attributes: BTreeMap<String, String> = elb
        .describe_load_balancer_attributes()
        .load_balancer_arn(secure_lb.load_balancer_arn.clone().unwrap())
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()
        .into_iter()
        .map(|a| (a.key.unwrap(), a.value.unwrap()))
        .collect();
    for (key, value) in [
        ("routing.http.drop_invalid_header_fields.enabled", "true"),
        ("deletion_protection.enabled", "true"),
        ("access_logs.s3.enabled", "true"),
        ("access_logs.s3.bucket", "acme-alb-logs"),
    ] {
        assert_eq!(attributes.get(key).map(String::as_str), Some(value), "{key}: {attributes:?}");
    }

    // The task definitions: per-environment families, variables and the secret.
    let ecs = aws_sdk_ecs::Client::new(&config);
    let family = |family: &'static str| {
        let ecs = ecs.clone();
        async move {
            let arns = ecs.list_task_definitions().family_prefix(family).send().await.unwrap().task_definition_arns.unwrap();
            assert!(!arns.is_empty(), "a task definition in family {family}");
            ecs.describe_task_definition().task_definition(arns.last().unwrap()).send().await.unwrap().task_definition.unwrap()
        }
    };
    let orders_task = family("berth-secure--orders").await;
    let container = &orders_task.container_definitions.as_ref().unwrap()[0];
    let variables: BTreeMap<String, String> =
        container.environment().iter().map(|v| (v.name.clone().unwrap(), v.value.clone().unwrap())).collect();
    assert_eq!(variables.get("LOG_LEVEL").map(String::as_str), Some("debug"));
    assert_eq!(variables.get("FEATURES").map(String::as_str), Some("a=1,b=2"));
    assert_eq!(variables.get("AWS_REGION").map(String::as_str), Some("us-east-1"), "the region without IMDS");
    assert_eq!(container.secrets().len(), 1);
    assert_eq!((container.secrets()[0].name.as_str(), container.secrets()[0].value_from.as_str()), ("DB_PASSWORD", secret));
    let users_task = family("berth-staging--users").await;
    assert!(users_task.container_definitions.unwrap()[0].secrets().is_empty());

    // The orders API reads its own secret and nothing else; users has no role of its own.
    let roles = moto
        .boto3(
            "iam = aws('iam')\n\
             out = {}\n\
             for role in iam.list_roles()['Roles']:\n\
             \x20   if 'TaskExecutionRole' in role['RoleName'] and '-cluster-' not in role['RoleName']:\n\
             \x20       out[role['RoleName']] = [iam.get_role_policy(RoleName=role['RoleName'], PolicyName=p)['PolicyDocument'] \
             for p in iam.list_role_policies(RoleName=role['RoleName'])['PolicyNames']]\n\
             print(json.dumps(out))",
        )
        .unwrap();
    let roles = roles.as_object().unwrap();
    assert_eq!(roles.len(), 1, "only the API with secrets has its own execution role: {roles:?}");
    let (name, policies) = roles.iter().next().unwrap();
    assert!(name.starts_with("berth-secure--orders"), "{name}");
    let statement = &policies[0]["Statement"][0];
    assert_eq!(statement["Resource"], json!([secret]), "exactly the secret's ARN: {statement}");

    // Auto scaling on requests per target, between 2 and 4 tasks.
    let scaling = moto
        .boto3(
            "a = aws('application-autoscaling')\n\
             print(json.dumps({'targets': a.describe_scalable_targets(ServiceNamespace='ecs')['ScalableTargets'], \
             'policies': a.describe_scaling_policies(ServiceNamespace='ecs')['ScalingPolicies']}, default=str))",
        )
        .unwrap();
    let targets = scaling["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 1, "only orders scales: {targets:?}");
    assert!(targets[0]["ResourceId"].as_str().unwrap().ends_with("/orders"));
    assert_eq!((targets[0]["MinCapacity"].as_u64(), targets[0]["MaxCapacity"].as_u64()), (Some(2), Some(4)));
    let tracking = &scaling["policies"][0]["TargetTrackingScalingPolicyConfiguration"];
    assert_eq!(tracking["TargetValue"].as_f64(), Some(500.0), "{tracking}");
    assert_eq!(tracking["PredefinedMetricSpecification"]["PredefinedMetricType"], "ALBRequestCountPerTarget");

    // Both clusters place tasks through their capacity provider.
    let clusters = ecs.describe_clusters().clusters(&secure["ClusterName"]).clusters(&staging["ClusterName"]).send().await.unwrap();
    for cluster in clusters.clusters.unwrap() {
        let providers = cluster.capacity_providers.unwrap_or_default();
        assert_eq!(providers.len(), 1, "{:?}", cluster.cluster_name);
        assert_eq!(cluster.default_capacity_provider_strategy.unwrap()[0].capacity_provider, providers[0]);
    }
}

/// What the form can produce, against every environment option: 16 environments (certificate,
/// access logs, deletion protection, Container Insights, each on and off) and 24 APIs
/// (HTTPS or not, no/all environment variables, no/all secrets, no/CPU/request auto scaling),
/// each rendered by Berth and deployed on the local AWS.
#[tokio::test]
async fn every_combination_the_forms_can_produce_deploys() {
    let moto = Moto::start().await.unwrap();
    let berth = Berth::start().await.unwrap();
    let admin = berth.admin().await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let certificate = certificate(&moto);
    let cfn = aws_sdk_cloudformation::Client::new(&moto.sdk_config().await);
    let mut environments = Vec::new();
    for bits in 0..16u32 {
        let https = bits & 1 != 0;
        let name = format!("combo{bits}");
        let mut parameters = json!({"InstanceType": "t3.medium", "DesiredCapacity": 1, "MaxSize": 4,
            "DeletionProtection": bits & 4 != 0, "ContainerInsights": bits & 8 != 0});
        if https {
            parameters["CertificateArn"] = json!(certificate);
        }
        if bits & 2 != 0 {
            parameters["AccessLogsBucket"] = json!("acme-alb-logs");
        }
        let r = admin.post("/api/v1/environments", json!({"name": name, "region": "us-east-1", "parameters": parameters})).await.unwrap();
        assert_eq!(r.status, 201, "{:?}", r.body);
        environments.push((name, https, false));
    }
    let secret = |i: usize| {
        if i % 2 == 0 {
            format!("arn:aws:ssm:us-east-1:123456789012:parameter/payments/api/secret-{i}")
        } else {
            format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:payments/api-{i}-AbCdEf")
        }
    };
    let mut n = 0;
    for https in [true, false] {
        for variables in [0, 20] {
            for secrets in [0, 10] {
                for scaling in [None, Some("cpu"), Some("requests")] {
                    // Spread over the environments of the same protocol.
                    let env = environments.iter_mut().filter(|(_, h, _)| *h == https).nth(n % 8).unwrap();
                    n += 1;
                    let service = format!("api{n}");
                    let mut body = api_request(&service, &format!("/{service}*"));
                    body["environment"] = json!(env.0);
                    body["environment_variables"] =
                        json!((0..variables).map(|i| json!({"name": format!("VAR_{i}"), "value": format!("value {i}")})).collect::<Vec<_>>());
                    body["secrets"] =
                        json!((0..secrets).map(|i| json!({"name": format!("SECRET_{i}"), "value_from": secret(i)})).collect::<Vec<_>>());
                    if let Some(metric) = scaling {
                        body["autoscaling"] = json!({"min": 1, "max": 3, "metric": metric, "target": 70});
                    }
                    let created = rita.post("/api/v1/requests", body).await.unwrap();
                    assert_eq!(created.status, 201, "{service}: {:?}", created.body);
                    let id = created.body["id"].as_str().unwrap().to_string();
                    if !env.2 {
                        let (template, params) = download(&rita, &id, "cluster").await;
                        deploy(&cfn, &format!("berth-{}-cluster", env.0), &template, params).await;
                        env.2 = true;
                    }
                    let (template, params) = download(&rita, &id, "service").await;
                    deploy(&cfn, &format!("berth-{}--{service}", env.0), &template, params).await;
                }
            }
        }
    }
    assert_eq!(n, 24);
}

/// An environment and an API deployed with the templates of before (Amazon Linux 2, HTTP,
/// launch type EC2) are updated by the current Berth only through a plan an approver sees.
#[tokio::test]
async fn stacks_of_the_earlier_templates_update_through_a_reviewed_plan() {
    let moto = Moto::start().await.unwrap();
    let berth = Berth::start_on(&moto).await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let alice = berth.user("alice", "approver", "platform").await.unwrap();
    let created = rita.post("/api/v1/requests", api_request("orders", "/orders*")).await.unwrap().body;
    let id = created["id"].as_str().unwrap().to_string();

    // As the earlier Berth deployed them: its parameters, its templates, its stack names and
    // tags (no installation tag yet), and its records of that deployment.
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", berth.db_path().display())).await.unwrap();
    sqlx::query("UPDATE requests SET legacy_names = 1 WHERE id = ?").bind(&id).execute(&db).await.unwrap();
    let at = "2026-11-20T10:00:00Z";
    let deployment: i64 = sqlx::query_scalar(
        "INSERT INTO deployments (request_id, revision, kind, status, created_at, started_at, finished_at)
         VALUES (?1, 1, 'deploy', 'succeeded', ?2, ?2, ?2) RETURNING id",
    )
    .bind(&id)
    .bind(at)
    .fetch_one(&db)
    .await
    .unwrap();
    for (kind, stack) in [("cluster", "berth-staging-cluster"), ("service", "berth-staging-orders")] {
        sqlx::query("INSERT INTO deployment_stacks (deployment_id, kind, stack_name, status, started_at) VALUES (?, ?, ?, 'CREATE_COMPLETE', ?)")
            .bind(deployment)
            .bind(kind)
            .bind(stack)
            .bind(at)
            .execute(&db)
            .await
            .unwrap();
    }
    let config = moto.sdk_config().await;
    let cfn = aws_sdk_cloudformation::Client::new(&config);
    let old = |file: &str| std::fs::read_to_string(berth_tests::workspace().join("tests/fixtures/templates-2026-11").join(file)).unwrap();
    let parameters = |pairs: &[(&str, &str)]| {
        pairs.iter().map(|(k, v)| Parameter::builder().parameter_key(*k).parameter_value(*v).build()).collect::<Vec<_>>()
    };
    deploy_tagged(
        &cfn,
        "berth-staging-cluster",
        &old("cluster.yaml"),
        parameters(&[
            ("InstanceType", "t3.medium"),
            ("DesiredCapacity", "2"),
            ("MaxSize", "4"),
            ("ECSAMI", "/aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id"),
        ]),
        &[("berth:environment", "staging")],
    )
    .await;
    deploy_tagged(
        &cfn,
        "berth-staging-orders",
        &old("service.yaml"),
        parameters(&[
            ("StackName", "berth-staging-cluster"),
            ("ServiceName", "orders"),
            ("ImageUrl", "nginx:1.27"),
            ("ContainerPort", "8080"),
            ("ContainerCpu", "256"),
            ("ContainerMemory", "512"),
            ("Path", "/orders*"),
            ("Priority", "1"),
            ("DesiredCount", "2"),
            ("HealthCheckPath", "/health"),
            ("TargetGroupName", "staging-orders"),
            ("Role", ""),
        ]),
        &[("berth:environment", "staging"), ("berth:request", &id)],
    )
    .await;

    let plan = alice.get(&format!("/api/v1/requests/{id}/plan")).await.unwrap();
    assert_eq!(plan.status, 200, "{:?}", plan.body);
    let stacks = plan.body["stacks"].as_array().unwrap();
    let changes = |i: usize| -> Vec<(String, String)> {
        stacks[i]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["action"].as_str().unwrap().to_string(), c["logical_id"].as_str().unwrap().to_string()))
            .collect()
    };
    assert_eq!((stacks[0]["action"].as_str(), stacks[1]["action"].as_str()), (Some("update"), Some("update")), "{stacks:?}");
    let cluster = changes(0);
    for added in ["CapacityProvider", "ClusterCapacityProviders", "S3GatewayEndpoint", "DynamoDBGatewayEndpoint"] {
        assert!(cluster.contains(&("Add".into(), added.into())), "{added} in {cluster:?}");
    }
    assert!(cluster.iter().any(|(action, id)| action == "Modify" && id == "ContainerInstanceLaunchTemplate"), "{cluster:?}");
    // The service stack's changes, or (as on AWS, where its change set cannot import what
    // the cluster stack's update will export) a note that they follow the cluster's update.
    let note = stacks[1]["note"].as_str().unwrap_or_default();
    assert!(
        changes(1).iter().any(|(_, id)| id == "TaskDefinition") || note.contains("once the cluster stack is updated"),
        "{:?}",
        stacks[1]
    );
    // Nothing moved before the approval.
    let template = cfn.get_template().stack_name("berth-staging-cluster").send().await.unwrap().template_body.unwrap();
    assert!(!template.contains("CapacityProvider"), "the plan changed nothing");

    let deployed = approve(&alice, &rita, &id).await;
    assert!(deployed["outputs"]["PublicUrl"].as_str().unwrap().starts_with("http://"));
    let stack = cfn.describe_stacks().stack_name("berth-staging-cluster").send().await.unwrap().stacks.unwrap().remove(0);
    let ami = stack.parameters().iter().find(|p| p.parameter_key.as_deref() == Some("ECSAMI")).unwrap();
    // The Amazon Linux 2023 parameter, or (as moto records it) the AMI it resolved to.
    let al2023 = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id";
    let resolved = moto
        .boto3(&format!("print(json.dumps(aws('ssm').get_parameter(Name='{al2023}')['Parameter']['Value']))"))
        .unwrap();
    let value = ami.parameter_value.clone().unwrap();
    assert!(value == al2023 || resolved.as_str() == Some(value.as_str()), "ECSAMI is {value}, not Amazon Linux 2023 ({resolved})");
    let ecs = aws_sdk_ecs::Client::new(&config);
    let families = ecs.list_task_definition_families().send().await.unwrap().families.unwrap();
    assert!(families.contains(&"berth-staging-orders".to_string()), "{families:?}");
}
