//! The two stacks, rendered by Berth for a real request, deploy on the local AWS and build
//! the pattern: private container hosts, a public load balancer, one rule per API.

use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus};
use berth_tests::moto::Moto;
use berth_tests::{api_request, Api, Berth};
use serde_json::Value;
use std::collections::BTreeMap;

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
    cfn.create_stack()
        .stack_name(name)
        .template_body(template)
        .set_parameters(Some(params))
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
    let metadata = version.launch_template_data.unwrap().metadata_options.unwrap();
    assert_eq!(metadata.http_tokens.unwrap().as_str(), "required", "IMDSv2 only");

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
    for rule in alb.ip_permissions() {
        assert_eq!((rule.from_port, rule.to_port), (Some(80), Some(80)), "the load balancer admits only its listener port");
    }

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
