//! Review and deployment through the JSON API, with Berth deploying to a local AWS (moto)
//! through the real SDK adapter.

use berth_tests::moto::Moto;
use berth_tests::{api_request, Api, Berth};
use serde_json::{json, Value};
use std::time::Duration;

async fn berth_on(moto: &Moto) -> Berth {
    Berth::start_on(moto).await.unwrap()
}

async fn wait_for_status(api: &Api, id: &str, wanted: &str) -> Value {
    berth_tests::wait_for_status(api, id, wanted, Duration::from_secs(60)).await
}

#[tokio::test]
async fn approvers_decide_with_four_eyes_and_approval_deploys_both_stacks() {
    let moto = Moto::start().await.unwrap();
    let berth = berth_on(&moto).await;
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let alice = berth.user("alice", "approver", "platform").await.unwrap();
    let bob = berth.user("bob", "approver", "platform").await.unwrap();

    let id = rita.post("/api/v1/requests", api_request("orders", "/orders*")).await.unwrap().body["id"].as_str().unwrap().to_string();
    let approve = |rev: u64| json!({"revision": rev, "comment": "looks good"});

    assert_eq!(rita.post(&format!("/api/v1/requests/{id}/approve"), approve(1)).await.unwrap().status, 403, "requesters do not decide");
    let plan = alice.get(&format!("/api/v1/requests/{id}/plan")).await.unwrap();
    assert_eq!(plan.status, 200, "{:?}", plan.body);
    assert_eq!(plan.body["stacks"][0]["action"], "create");
    assert_eq!(plan.body["stacks"][1]["action"], "create");
    assert!(plan.body["stacks"][1]["changes"].as_array().unwrap().iter().any(|c| c["resource_type"] == "AWS::ECS::Service" && c["action"] == "Add"));

    let missing = alice.post(&format!("/api/v1/requests/{id}/reject"), json!({"reason": " "})).await.unwrap();
    assert_eq!(missing.status, 422);
    assert_eq!(missing.error_fields(), ["reason"]);
    let changes = alice.post(&format!("/api/v1/requests/{id}/request-changes"), json!({"comment": "Use port 80"})).await.unwrap();
    assert_eq!(changes.body["status"], "changes_requested");
    assert_eq!(alice.post(&format!("/api/v1/requests/{id}/approve"), approve(1)).await.unwrap().status, 409, "already decided");

    let mut revised = api_request("orders", "/orders*");
    revised["container_port"] = json!(80);
    assert_eq!(rita.put(&format!("/api/v1/requests/{id}"), revised).await.unwrap().body["revision"], 2);
    assert_eq!(alice.post(&format!("/api/v1/requests/{id}/approve"), approve(1)).await.unwrap().status, 409, "stale revision");
    rita.post(&format!("/api/v1/requests/{id}/comments"), json!({"comment": "Port fixed"})).await.unwrap();

    // Two approvers at the same moment: exactly one decision.
    let approve_path = format!("/api/v1/requests/{id}/approve");
    let (a, b) = tokio::join!(alice.post(&approve_path, approve(2)), bob.post(&approve_path, approve(2)));
    let mut statuses = [a.unwrap().status, b.unwrap().status];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);

    let deployed = wait_for_status(&rita, &id, "deployed").await;
    assert_eq!(deployed["deployed_revision"], 2);
    let url = deployed["outputs"]["PublicUrl"].as_str().unwrap();
    assert!(url.starts_with("http://") && url.ends_with("/orders"), "{url}");

    let deployments = rita.get(&format!("/api/v1/requests/{id}/deployments")).await.unwrap().body;
    assert_eq!(deployments.as_array().unwrap().len(), 1, "deployed once");
    assert_eq!(deployments[0]["status"], "succeeded");
    let stacks: Vec<_> = deployments[0]["stacks"].as_array().unwrap().iter().map(|s| (s["stack_name"].clone(), s["status"].clone())).collect();
    assert_eq!(stacks, [(json!("berth-staging-cluster"), json!("CREATE_COMPLETE")), (json!("berth-staging-orders"), json!("CREATE_COMPLETE"))]);
    let events = rita.get(&format!("/api/v1/requests/{id}/events")).await.unwrap().body;
    let items = events["items"].as_array().unwrap();
    assert!(items.iter().any(|e| e["stack_name"] == "berth-staging-cluster" && e["status"] == "CREATE_COMPLETE"));
    assert!(items.iter().any(|e| e["stack_name"] == "berth-staging-orders"));
    let env = rita.get("/api/v1/environments/staging").await.unwrap().body;
    assert_eq!(env["status"], "ready");
    assert!(env["outputs"]["ExternalUrl"].as_str().is_some(), "{env:?}");

    let notes = rita.get(&format!("/api/v1/requests/{id}/comments")).await.unwrap().body;
    let kinds: Vec<_> = notes.as_array().unwrap().iter().map(|n| n["kind"].as_str().unwrap().to_string()).collect();
    assert_eq!(kinds, ["changes_requested", "comment", "approved"]);

    // The live stream replays the feed and resumes after Last-Event-ID.
    let stream = rita.http.get(format!("{}/api/v1/requests/{id}/events/stream", berth.url)).send().await.unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut stream = stream;
    let first = tokio::time::timeout(Duration::from_secs(5), stream.chunk()).await.unwrap().unwrap().unwrap();
    let text = String::from_utf8_lossy(&first);
    assert!(text.contains("event: ") && text.contains("id: "), "{text}");
    let resumed = rita
        .http
        .get(format!("{}/api/v1/requests/{id}/events/stream", berth.url))
        .header("last-event-id", "999999")
        .send()
        .await
        .unwrap();
    let mut resumed = resumed;
    let nothing = tokio::time::timeout(Duration::from_millis(500), resumed.chunk()).await;
    assert!(nothing.is_err(), "nothing after the newest event");

    // Decommissioning goes through review too.
    assert_eq!(rita.post(&format!("/api/v1/requests/{id}/decommission"), json!({})).await.unwrap().body["status"], "decommission_requested");
    let r = bob.post(&format!("/api/v1/requests/{id}/approve"), approve(2)).await.unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    wait_for_status(&rita, &id, "decommissioned").await;
    // The freed name can be requested again.
    assert_eq!(rita.post("/api/v1/requests", api_request("orders", "/orders*")).await.unwrap().status, 201);
}

#[tokio::test]
async fn nobody_approves_their_own_request() {
    let moto = Moto::start().await.unwrap();
    let berth = berth_on(&moto).await;
    let alice = berth.user("alice", "approver", "platform").await.unwrap();
    let admin = berth.admin().await.unwrap();
    let id = alice.post("/api/v1/requests", api_request("tools", "/tools*")).await.unwrap().body["id"].as_str().unwrap().to_string();
    let own = alice.post(&format!("/api/v1/requests/{id}/approve"), json!({"revision": 1})).await.unwrap();
    assert_eq!(own.status, 403);
    assert!(own.body["detail"].as_str().unwrap().contains("Four eyes"));
    // An admin who revised it may not approve that revision either.
    let mut revised = api_request("tools", "/tools/v2*");
    revised["description"] = json!("Revised by the admin");
    assert_eq!(admin.put(&format!("/api/v1/requests/{id}"), revised).await.unwrap().status, 200);
    assert_eq!(admin.post(&format!("/api/v1/requests/{id}/approve"), json!({"revision": 2})).await.unwrap().status, 403);
    let rejected = berth.user("bob", "approver", "platform").await.unwrap()
        .post(&format!("/api/v1/requests/{id}/reject"), json!({"reason": "Use the shared tools API"})).await.unwrap();
    assert_eq!(rejected.body["status"], "rejected");
    assert_eq!(alice.post(&format!("/api/v1/requests/{id}/retry"), json!({})).await.unwrap().status, 409);
}
