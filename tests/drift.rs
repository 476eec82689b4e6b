//! Drift on localaws (which answers CloudFormation's drift detection as AWS does): a deployed
//! API is in sync, changing its service and target group behind Berth's back is reported
//! property by property, and the periodic checker finds it by itself.

use berth_tests::localaws::LocalAws;
use berth_tests::{api_request, wait_for_status, Api, Berth};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn deployed(berth: &Berth) -> (Api, Api, String) {
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let alice = berth.user("alice", "approver", "platform").await.unwrap();
    let created = rita.post("/api/v1/requests", api_request("orders", "/orders*")).await.unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    let drift = rita.get(&format!("/api/v1/requests/{id}/drift")).await.unwrap();
    assert_eq!((drift.status, drift.body["status"].as_str()), (200, Some("not_checked")), "{}", drift.body);
    assert_eq!(rita.post(&format!("/api/v1/requests/{id}/drift"), json!({})).await.unwrap().status, 409, "nothing deployed to compare");
    let r = alice.post(&format!("/api/v1/requests/{id}/approve"), json!({"revision": 1})).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    wait_for_status(&rita, &id, "deployed", Duration::from_secs(90)).await;
    (rita, alice, id)
}

/// Changes the running service and its target group the way someone in the console would.
fn change_behind_berths_back(aws: &LocalAws, cluster: &str, service: &str, target_group: &str) {
    aws.boto3(&format!(
        "aws('ecs').update_service(cluster='{cluster}', service='{service}', desiredCount=3)\n\
         aws('elbv2').modify_target_group(TargetGroupArn='{target_group}', HealthCheckPath='/changed-by-hand')\n\
         print(json.dumps(True))"
    ))
    .unwrap();
}

fn difference<'a>(drift: &'a Value, path: &str) -> &'a Value {
    drift["resources"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["differences"].as_array().unwrap())
        .find(|d| d["path"] == path)
        .unwrap_or_else(|| panic!("no difference at {path}: {drift:#}"))
}

#[tokio::test]
async fn drift_behind_berths_back_is_reported_property_by_property() {
    let aws = LocalAws::start().await.unwrap();
    // Only on demand here: the periodic checker has a test of its own.
    let berth = Berth::start_on_endpoint(&aws.url, "drift_check_minutes = 0").await.unwrap();
    let (rita, alice, id) = deployed(&berth).await;

    let check = rita.post(&format!("/api/v1/requests/{id}/drift"), json!({})).await.unwrap();
    assert_eq!(check.status, 200, "{}", check.body);
    assert_eq!(check.body["status"], "in_sync", "{:#}", check.body);
    assert_eq!(check.body["stack_name"], "berth-staging--orders");
    assert!(check.body["checked_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(check.body["resources"], json!([]));

    let env = rita.get("/api/v1/environments/staging").await.unwrap().body;
    let request = rita.get(&format!("/api/v1/requests/{id}")).await.unwrap().body;
    let (cluster, service, target_group) = (
        env["outputs"]["ClusterName"].as_str().unwrap(),
        request["outputs"]["ServiceName"].as_str().unwrap(),
        request["outputs"]["TargetGroupArn"].as_str().unwrap(),
    );
    change_behind_berths_back(&aws, cluster, service, target_group);

    let check = alice.post(&format!("/api/v1/requests/{id}/drift"), json!({})).await.unwrap();
    assert_eq!(check.status, 200, "{}", check.body);
    let drift = check.body;
    assert_eq!(drift["status"], "drifted", "{drift:#}");
    let kinds: Vec<&str> = drift["resources"].as_array().unwrap().iter().map(|r| r["resource_type"].as_str().unwrap()).collect();
    assert_eq!(kinds.len(), 2, "{drift:#}");
    assert!(kinds.contains(&"AWS::ECS::Service") && kinds.contains(&"AWS::ElasticLoadBalancingV2::TargetGroup"), "{kinds:?}");
    let count = difference(&drift, "/DesiredCount");
    assert_eq!((count["expected"].as_str(), count["actual"].as_str(), count["kind"].as_str()), (Some("2"), Some("3"), Some("NOT_EQUAL")));
    let path = difference(&drift, "/HealthCheckPath");
    assert_eq!((path["expected"].as_str(), path["actual"].as_str()), (request["parameters"]["health_check_path"].as_str(), Some("/changed-by-hand")));

    // Kept: the next look shows the same, without asking AWS again.
    let kept = rita.get(&format!("/api/v1/requests/{id}/drift")).await.unwrap().body;
    assert_eq!(kept, drift);
    // Another team sees nothing of it.
    let tom = berth.user("tom", "requester", "search").await.unwrap();
    assert_eq!(tom.get(&format!("/api/v1/requests/{id}/drift")).await.unwrap().status, 404);
    assert_eq!(tom.post(&format!("/api/v1/requests/{id}/drift"), json!({})).await.unwrap().status, 404);

    // Both checks are in the audit log, with who asked and what differed.
    let admin = berth.admin().await.unwrap();
    let audit = admin.get(&format!("/api/v1/audit?request={id}")).await.unwrap().body;
    let checks: Vec<&Value> = audit["items"].as_array().unwrap().iter().filter(|e| e["action"] == "drift.checked").collect();
    assert_eq!(checks.len(), 2, "{audit:#}");
    assert!(checks.iter().any(|e| e["actor"] == "alice" && e["details"]["status"] == "drifted"), "{checks:#?}");
}

#[tokio::test]
async fn the_periodic_checker_finds_drift_by_itself() {
    let aws = LocalAws::start().await.unwrap();
    let berth = Berth::start_on_endpoint(&aws.url, "drift_check_minutes = 1").await.unwrap();
    let (rita, _, id) = deployed(&berth).await;
    let started = Instant::now();
    loop {
        let drift = rita.get(&format!("/api/v1/requests/{id}/drift")).await.unwrap().body;
        if drift["status"] == "in_sync" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "never checked by itself: {drift:#}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let admin = berth.admin().await.unwrap();
    let audit = admin.get(&format!("/api/v1/audit?request={id}")).await.unwrap().body;
    assert!(
        audit["items"].as_array().unwrap().iter().any(|e| e["action"] == "drift.checked" && e["actor"] == "berth"),
        "a first verdict is audited as Berth's own: {audit:#}"
    );
}

/// What the service and its target group are on AWS now: (desired count, health check path).
fn on_aws(aws: &LocalAws, cluster: &str, service: &str, target_group: &str) -> (i64, String) {
    let found = aws
        .boto3(&format!(
            "s = aws('ecs').describe_services(cluster='{cluster}', services=['{service}'])['services'][0]\n\
             g = aws('elbv2').describe_target_groups(TargetGroupArns=['{target_group}'])['TargetGroups'][0]\n\
             print(json.dumps([s['desiredCount'], g['HealthCheckPath']]))"
        ))
        .unwrap();
    (found[0].as_i64().unwrap(), found[1].as_str().unwrap().to_string())
}

#[tokio::test]
async fn a_drifted_api_is_set_back_to_its_revision_through_review() {
    let aws = LocalAws::start().await.unwrap();
    let berth = Berth::start_on_endpoint(&aws.url, "drift_check_minutes = 0").await.unwrap();
    let (rita, alice, id) = deployed(&berth).await;
    let revert = format!("/api/v1/requests/{id}/drift/revert");

    // Nothing to set back before a check finds drift.
    let refused = rita.post(&revert, json!({})).await.unwrap();
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert_eq!(rita.post(&format!("/api/v1/requests/{id}/drift"), json!({})).await.unwrap().body["status"], "in_sync");
    assert_eq!(rita.post(&revert, json!({})).await.unwrap().status, 409, "in sync: nothing to set back");

    let env = rita.get("/api/v1/environments/staging").await.unwrap().body;
    let request = rita.get(&format!("/api/v1/requests/{id}")).await.unwrap().body;
    assert_eq!(request["allowed"]["revert_drift"], true);
    let (cluster, service, target_group) = (
        env["outputs"]["ClusterName"].as_str().unwrap().to_string(),
        request["outputs"]["ServiceName"].as_str().unwrap().to_string(),
        request["outputs"]["TargetGroupArn"].as_str().unwrap().to_string(),
    );
    let health_path = request["parameters"]["health_check_path"].as_str().unwrap().to_string();
    change_behind_berths_back(&aws, &cluster, &service, &target_group);
    assert_eq!(on_aws(&aws, &cluster, &service, &target_group), (3, "/changed-by-hand".to_string()));
    assert_eq!(rita.post(&format!("/api/v1/requests/{id}/drift"), json!({})).await.unwrap().body["status"], "drifted");

    // Another team cannot ask; the owning team can: a new revision, the deployed parameters.
    let tom = berth.user("tom", "requester", "search").await.unwrap();
    assert_eq!(tom.post(&revert, json!({})).await.unwrap().status, 404);
    let asked = rita.post(&revert, json!({})).await.unwrap();
    assert_eq!(asked.status, 200, "{}", asked.body);
    let r = asked.body;
    assert_eq!((r["revision"].as_u64(), r["status"].as_str(), r["reverts_drift"].as_bool()), (Some(2), Some("pending_review"), Some(true)), "{r:#}");
    assert_eq!(r["parameters"], request["parameters"], "the deployed revision's parameters");
    assert_eq!(r["deployed_revision"], 1);
    assert_eq!(rita.post(&revert, json!({})).await.unwrap().status, 409, "already waiting for review");
    assert_eq!(on_aws(&aws, &cluster, &service, &target_group).0, 3, "nothing changes before review");

    // Four eyes: who asked cannot approve; an approver sees what will be set back.
    assert_eq!(rita.post(&format!("/api/v1/requests/{id}/approve"), json!({"revision": 2})).await.unwrap().status, 403);
    let plan = alice.get(&format!("/api/v1/requests/{id}/plan")).await.unwrap();
    assert_eq!(plan.status, 200, "{}", plan.body);
    let service_plan = plan.body["stacks"].as_array().unwrap().iter().find(|s| s["kind"] == "service").unwrap().clone();
    assert_eq!(service_plan["action"], "update", "{service_plan:#}");
    let reverts: Vec<(String, String, String)> = service_plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["reverts"].as_array().cloned().unwrap_or_default())
        .map(|p| (p["path"].as_str().unwrap().to_string(), p["live"].as_str().unwrap().to_string(), p["approved"].as_str().unwrap().to_string()))
        .collect();
    assert!(reverts.contains(&("/Properties/DesiredCount".into(), "3".into(), "2".into())), "{service_plan:#}");
    assert!(reverts.contains(&("/Properties/HealthCheckPath".into(), "/changed-by-hand".into(), health_path.clone())), "{service_plan:#}");

    let approved = alice.post(&format!("/api/v1/requests/{id}/approve"), json!({"revision": 2})).await.unwrap();
    assert_eq!(approved.status, 200, "{}", approved.body);
    wait_for_status(&rita, &id, "deployed", Duration::from_secs(90)).await;
    assert_eq!(on_aws(&aws, &cluster, &service, &target_group), (2, health_path), "set back to revision 1's");
    let check = rita.post(&format!("/api/v1/requests/{id}/drift"), json!({})).await.unwrap().body;
    assert_eq!(check["status"], "in_sync", "{check:#}");
    assert_eq!(rita.get(&format!("/api/v1/requests/{id}")).await.unwrap().body["deployed_revision"], 2);

    // The audit log says who asked, what had drifted, and who approved.
    let admin = berth.admin().await.unwrap();
    let audit = admin.get(&format!("/api/v1/audit?request={id}")).await.unwrap().body;
    let items = audit["items"].as_array().unwrap();
    let asked = items.iter().find(|e| e["action"] == "request.revert_drift").unwrap_or_else(|| panic!("{audit:#}"));
    assert_eq!((asked["actor"].as_str(), asked["details"]["reverts_to"].as_u64()), (Some("rita"), Some(1)));
    assert_eq!(asked["details"]["drifted"].as_array().unwrap().len(), 2, "{asked:#}");
    assert!(items.iter().any(|e| e["action"] == "request.approved" && e["actor"] == "alice" && e["details"]["revision"] == 2), "{audit:#}");
}
