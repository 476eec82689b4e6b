//! Environments in other AWS accounts and regions, on localaws (which keeps every account
//! and region apart, checks a role's trust policy and external id on AssumeRole, and runs
//! ECS in each): Berth assumes each environment's role for everything it does there, and
//! one environment whose role cannot be assumed fails alone, saying why.

use berth_tests::localaws::LocalAws;
use berth_tests::{api_request, wait_for_status, Api, Berth};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const BERTH_ACCOUNT: &str = "123456789012"; // moto's default: the account of Berth's own credentials
const EU_ACCOUNT: &str = "111111111111";
const AP_ACCOUNT: &str = "222222222222";
const EXTERNAL_ID: &str = "berth-7c1f0e";

/// Rolls iam/target-account-role.json out to `account` (trusting Berth's account, with an
/// external id when given), as a platform team would, and returns the role's ARN (the
/// stack's output). Getting into another account takes moto's account header here (on
/// AWS: that account's own administrator, or a StackSet).
fn roll_out_role(aws: &LocalAws, account: &str, external_id: Option<&str>) -> String {
    let template = berth_tests::workspace().join("iam/target-account-role.json");
    let code = r#"
import time
cfn = aws('cloudformation')
cfn.meta.events.register('before-sign', lambda request, **_: request.headers.__setitem__('x-moto-account-id', 'ACCOUNT'))
cfn.create_stack(StackName='berth-access', TemplateBody=open('TEMPLATE').read(), Capabilities=['CAPABILITY_NAMED_IAM'],
                 Parameters=[{'ParameterKey': 'BerthPrincipalArn', 'ParameterValue': 'arn:aws:iam::BERTH:root'},
                             {'ParameterKey': 'ExternalId', 'ParameterValue': 'EXTERNAL_ID'}])
for _ in range(200):
    stack = cfn.describe_stacks(StackName='berth-access')['Stacks'][0]
    if not stack['StackStatus'].endswith('IN_PROGRESS'):
        break
    time.sleep(0.1)
assert stack['StackStatus'] == 'CREATE_COMPLETE', stack
print(json.dumps({o['OutputKey']: o['OutputValue'] for o in stack['Outputs']}))
"#;
    let code = code
        .replace("ACCOUNT", account)
        .replace("TEMPLATE", &template.display().to_string())
        .replace("BERTH", BERTH_ACCOUNT)
        .replace("EXTERNAL_ID", external_id.unwrap_or_default());
    let answer = aws.boto3(&code).unwrap();
    answer["RoleArn"].as_str().expect("the stack's RoleArn output").to_string()
}

/// The stacks CloudFormation has in one account and region, by name.
fn stacks_in(aws: &LocalAws, account: &str, region: &str) -> Vec<String> {
    let answer = aws
        .boto3(&format!(
            "cfn = boto3.client('cloudformation', endpoint_url='{}', region_name='{region}', aws_access_key_id='local', aws_secret_access_key='local')\n\
             cfn.meta.events.register('before-sign', lambda request, **_: request.headers.__setitem__('x-moto-account-id', '{account}'))\n\
             print(json.dumps([s['StackName'] for s in cfn.describe_stacks()['Stacks']]))",
            aws.url
        ))
        .unwrap();
    let mut names: Vec<String> = answer.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
    names.sort();
    names
}

fn environment(name: &str, region: &str, role: Option<String>, external_id: Option<&str>) -> Value {
    json!({
        "name": name,
        "region": region,
        "parameters": {"InstanceType": "t3.medium", "DesiredCapacity": 2, "MaxSize": 4},
        "role_arn": role,
        "external_id": external_id,
    })
}

/// The role the template makes, by name (also where there is none).
fn role_in(account: &str) -> Option<String> {
    Some(format!("arn:aws:iam::{account}:role/BerthDeployer"))
}

/// Requests `service` in `environment` and has it approved; returns the request's id.
async fn request(requester: &Api, approver: &Api, service: &str, environment: &str) -> String {
    let mut body = api_request(service, &format!("/{service}*"));
    body["environment"] = json!(environment);
    let created = requester.post("/api/v1/requests", body).await.unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    let approved = approver.post(&format!("/api/v1/requests/{id}/approve"), json!({"revision": 1})).await.unwrap();
    assert_eq!(approved.status, 200, "{}", approved.body);
    id
}

async fn healthy(api: &Api, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let r = api.get(&format!("/api/v1/requests/{id}/health")).await.unwrap();
        if r.status == 200 && r.body["verdict"] == "healthy" {
            return r.body;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "request {id} never turned healthy: {} {:#}", r.status, r.body);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn environments_in_other_accounts_and_regions_deploy_and_report_there() {
    let aws = LocalAws::start().await.unwrap();
    assert_eq!(Some(roll_out_role(&aws, EU_ACCOUNT, Some(EXTERNAL_ID))), role_in(EU_ACCOUNT));
    assert_eq!(Some(roll_out_role(&aws, AP_ACCOUNT, None)), role_in(AP_ACCOUNT));
    let berth = Berth::start_on_endpoint(&aws.url, "health_watch_refresh_ms = 300").await.unwrap();
    let admin = berth.admin().await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let alice = berth.user("alice", "approver", "platform").await.unwrap();

    // Two environments elsewhere: eu-west-1 in one account (a role with an external id),
    // us-west-2 in another (a role without), beside staging in Berth's own us-east-1.
    let eu = admin.post("/api/v1/environments", environment("eu", "eu-west-1", role_in(EU_ACCOUNT), Some(EXTERNAL_ID))).await.unwrap();
    assert_eq!(eu.status, 201, "{}", eu.body);
    assert_eq!(eu.body["role_arn"], role_in(EU_ACCOUNT).unwrap());
    let ap = admin.post("/api/v1/environments", environment("ap", "us-west-2", role_in(AP_ACCOUNT), None)).await.unwrap();
    assert_eq!(ap.status, 201, "{}", ap.body);

    // Each environment says who Berth is there.
    for (name, account, arn) in [
        ("eu", EU_ACCOUNT, format!("arn:aws:sts::{EU_ACCOUNT}:assumed-role/BerthDeployer/berth")),
        ("ap", AP_ACCOUNT, format!("arn:aws:sts::{AP_ACCOUNT}:assumed-role/BerthDeployer/berth")),
    ] {
        let env = alice.get(&format!("/api/v1/environments/{name}")).await.unwrap().body;
        assert_eq!(env["access"]["ok"], true, "{env:#}");
        assert_eq!(env["access"]["account"], account);
        assert_eq!(env["access"]["message"], arn.as_str());
    }
    let staging = alice.get("/api/v1/environments/staging").await.unwrap().body;
    assert_eq!((staging["access"]["ok"].as_bool(), staging["access"]["account"].as_str()), (Some(true), Some(BERTH_ACCOUNT)), "{staging:#}");
    // The external id opens the role: approvers see it, requesters do not.
    assert_eq!(alice.get("/api/v1/environments/eu").await.unwrap().body["external_id"], EXTERNAL_ID);
    assert_eq!(rita.get("/api/v1/environments/eu").await.unwrap().body["external_id"], Value::Null);
    assert_eq!(rita.get("/api/v1/environments").await.unwrap().body.as_array().unwrap().iter().find(|e| e["name"] == "eu").unwrap()["external_id"], Value::Null);

    // A role whose trust policy wants an external id that the environment lacks, and a
    // role that does not exist: each environment says why Berth cannot act there.
    for (name, role, external_id) in [("wrong-id", role_in(EU_ACCOUNT), Some("not-the-id")), ("nowhere", role_in("333333333333"), None)] {
        let r = admin.post("/api/v1/environments", environment(name, "eu-west-1", role, external_id)).await.unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
        let env = alice.get(&format!("/api/v1/environments/{name}")).await.unwrap().body;
        assert_eq!(env["access"]["ok"], false, "{env:#}");
        let message = env["access"]["message"].as_str().unwrap();
        assert!(message.contains("AccessDenied") && message.contains("sts:AssumeRole"), "{message}");
        assert!(!message.contains("not-the-id"), "the external id stays out of messages: {message}");
    }

    // One API per environment, approved at once: the one whose role cannot be assumed
    // fails with what STS said, and the others deploy in their own accounts and regions.
    let broken = request(&rita, &alice, "orders", "wrong-id").await;
    let ids = [
        ("staging", request(&rita, &alice, "orders", "staging").await),
        ("eu", request(&rita, &alice, "orders", "eu").await),
        ("ap", request(&rita, &alice, "orders", "ap").await),
    ];
    let failed = wait_for_status(&rita, &broken, "failed", Duration::from_secs(60)).await;
    let reason = failed["status_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("no credentials for this account") && reason.contains("AccessDenied"), "{failed:#}");
    for (_, id) in &ids {
        wait_for_status(&rita, id, "deployed", Duration::from_secs(120)).await;
    }

    // The stacks are where their environments are, and nowhere else.
    assert_eq!(stacks_in(&aws, BERTH_ACCOUNT, "us-east-1"), ["berth-staging--orders", "berth-staging-cluster"]);
    assert_eq!(stacks_in(&aws, EU_ACCOUNT, "eu-west-1"), ["berth-eu--orders", "berth-eu-cluster"]);
    assert_eq!(stacks_in(&aws, AP_ACCOUNT, "us-west-2"), ["berth-ap--orders", "berth-ap-cluster"]);
    for (account, region) in [(BERTH_ACCOUNT, "eu-west-1"), (BERTH_ACCOUNT, "us-west-2"), (EU_ACCOUNT, "us-east-1"), (AP_ACCOUNT, "eu-west-1")] {
        let there = stacks_in(&aws, account, region);
        assert!(there.iter().all(|s| s == "berth-access"), "no environment's stack in {account} {region}: {there:?}");
    }

    // Health is read from each, and each API's events are its own environment's stacks'.
    for (env, id) in &ids {
        let h = healthy(&rita, id).await;
        assert_eq!(h["targets"].as_array().unwrap().len(), 2, "{h:#}");
        let request = rita.get(&format!("/api/v1/requests/{id}")).await.unwrap().body;
        let zone_region = if *env == "staging" { "us-east-1" } else if *env == "eu" { "eu-west-1" } else { "us-west-2" };
        assert!(request["outputs"]["PublicUrl"].as_str().unwrap().starts_with("http"), "{request:#}");
        assert!(request["outputs"]["TargetGroupArn"].as_str().unwrap().contains(&format!(":{zone_region}:")), "{request:#}");
        let events = rita.get(&format!("/api/v1/requests/{id}/events")).await.unwrap().body;
        let stacks: std::collections::BTreeSet<&str> = events["items"].as_array().unwrap().iter().map(|e| e["stack_name"].as_str().unwrap()).collect();
        assert_eq!(stacks, [format!("berth-{env}-cluster"), format!("berth-{env}--orders")].iter().map(String::as_str).collect(), "{env}");
    }

    // An environment holding APIs keeps its account: another account's role is refused, and
    // another role in the same account is a change like any other.
    let moved = admin.put("/api/v1/environments/eu", environment("eu", "eu-west-1", role_in(AP_ACCOUNT), None)).await.unwrap();
    assert_eq!((moved.status, moved.error_fields()), (409, vec!["role_arn".to_string()]), "{}", moved.body);
    let same_account = format!("arn:aws:iam::{EU_ACCOUNT}:role/platform/BerthDeployer2");
    let renamed = admin.put("/api/v1/environments/eu", environment("eu", "eu-west-1", Some(same_account.clone()), Some(EXTERNAL_ID))).await.unwrap();
    assert_eq!(renamed.status, 202, "{}", renamed.body);
    assert_eq!(renamed.body["pending_change"]["after"]["role_arn"], same_account.as_str());
}
