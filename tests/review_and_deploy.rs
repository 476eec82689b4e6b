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
    assert_eq!(stacks, [(json!("berth-staging-cluster"), json!("CREATE_COMPLETE")), (json!("berth-staging--orders"), json!("CREATE_COMPLETE"))]);
    let events = rita.get(&format!("/api/v1/requests/{id}/events")).await.unwrap().body;
    let items = events["items"].as_array().unwrap();
    assert!(items.iter().any(|e| e["stack_name"] == "berth-staging-cluster" && e["status"] == "CREATE_COMPLETE"));
    assert!(items.iter().any(|e| e["stack_name"] == "berth-staging--orders"));
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

    // A change of the environment is reviewed with its own plan before it takes effect.
    let mut bigger = json!({"name": "staging", "region": "us-east-1", "parameters": env["parameters"].clone()});
    bigger["parameters"]["MaxSize"] = json!(6);
    let asked = alice.put("/api/v1/environments/staging", bigger).await.unwrap();
    assert_eq!(asked.status, 202, "{:?}", asked.body);
    let change = asked.body["pending_change"]["id"].as_str().unwrap().to_string();
    assert_eq!(rita.get(&format!("/api/v1/environments/staging/changes/{change}/plan")).await.unwrap().status, 403);
    let plan = bob.get(&format!("/api/v1/environments/staging/changes/{change}/plan")).await.unwrap();
    assert_eq!(plan.status, 200, "{:?}", plan.body);
    assert_eq!(plan.body["stack"]["stack_name"], "berth-staging-cluster");
    assert_eq!(plan.body["stack"]["action"], "update");
    assert_eq!(plan.body["parameter_changes"], json!([{"field": "MaxSize", "before": "4", "after": "6"}]));
    assert_eq!(alice.post(&format!("/api/v1/environments/staging/changes/{change}/approve"), json!({})).await.unwrap().status, 403);
    let r = bob.post(&format!("/api/v1/environments/staging/changes/{change}/approve"), json!({})).await.unwrap();
    assert_eq!(r.body["parameters"]["MaxSize"], 6, "{:?}", r.body);

    // Decommissioning goes through review too, and whoever asked for it cannot approve it.
    let admin = berth.admin().await.unwrap();
    let asked = admin.post(&format!("/api/v1/requests/{id}/decommission"), json!({})).await.unwrap();
    assert_eq!(asked.body["status"], "decommission_requested");
    assert_eq!(asked.body["allowed"]["decide"], false, "the page offers the decision only to others");
    let own = admin.post(&format!("/api/v1/requests/{id}/approve"), approve(2)).await.unwrap();
    assert_eq!(own.status, 403);
    assert!(own.body["detail"].as_str().unwrap().contains("decommission you asked for"), "{:?}", own.body);
    assert_eq!(bob.get(&format!("/api/v1/requests/{id}")).await.unwrap().body["allowed"]["decide"], true);
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

#[tokio::test]
async fn a_stack_of_the_same_name_that_berth_did_not_create_is_refused_and_left_alone() {
    let moto = Moto::start().await.unwrap();
    let berth = berth_on(&moto).await;
    // Someone made a stack by hand under the name the API's service stack would get.
    let cfn = aws_sdk_cloudformation::Client::new(&moto.sdk_config().await);
    let template = "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n";
    cfn.create_stack().stack_name("berth-staging--orders").template_body(template).send().await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let alice = berth.user("alice", "approver", "platform").await.unwrap();
    let id = rita.post("/api/v1/requests", api_request("orders", "/orders*")).await.unwrap().body["id"].as_str().unwrap().to_string();
    // Reviewers learn it from the plan already...
    let plan = alice.get(&format!("/api/v1/requests/{id}/plan")).await.unwrap();
    assert_eq!(plan.status, 409, "{:?}", plan.body);
    assert!(plan.body["detail"].as_str().unwrap().contains("not created by Berth"), "{:?}", plan.body);
    // ...and an approved deployment fails with the reason instead of taking the stack over.
    assert_eq!(alice.post(&format!("/api/v1/requests/{id}/approve"), json!({"revision": 1})).await.unwrap().status, 200);
    let failed = wait_for_status(&rita, &id, "failed").await;
    let reason = failed["status_reason"].as_str().unwrap();
    assert!(reason.contains("berth-staging--orders") && reason.contains("not created by Berth"), "{reason}");
    let stack = cfn.describe_stacks().stack_name("berth-staging--orders").send().await.unwrap();
    let stack = &stack.stacks()[0];
    assert!(stack.parameters().is_empty() && stack.tags().is_empty(), "the hand-made stack is untouched");
}

#[tokio::test]
async fn an_approval_keeps_the_plan_its_approver_was_shown() {
    let moto = Moto::start().await.unwrap();
    let berth = berth_on(&moto).await;
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let alice = berth.user("alice", "approver", "platform").await.unwrap();
    let bob = berth.user("bob", "approver", "platform").await.unwrap();
    let admin = berth.admin().await.unwrap();
    let approved_row = |request: String| {
        let admin = &admin;
        async move {
            let rows = admin.get(&format!("/api/v1/audit?action=request.approved&request={request}")).await.unwrap();
            rows.body["items"][0].clone()
        }
    };

    // Alice looks at the plan of revision 1, then approves it: her audit row keeps that plan.
    let id = rita.post("/api/v1/requests", api_request("orders", "/orders*")).await.unwrap().body["id"].as_str().unwrap().to_string();
    let shown = alice.get(&format!("/api/v1/requests/{id}/plan")).await.unwrap();
    assert_eq!(shown.status, 200, "{:?}", shown.body);
    // Bob's look is his, not hers.
    assert_eq!(bob.get(&format!("/api/v1/requests/{id}/plan")).await.unwrap().status, 200);
    let r = alice.post(&format!("/api/v1/requests/{id}/approve"), json!({"revision": 1})).await.unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    let row = approved_row(id.clone()).await;
    assert_eq!(row["actor"], "alice", "{row:?}");
    let seen = &row["details"]["plan_seen"];
    assert_eq!(seen["plan"], shown.body, "the audit row holds exactly what the approver was shown");
    assert!(seen["at"].as_str().is_some_and(|at| !at.is_empty()), "{seen:?}");
    let services: Vec<_> = seen["plan"]["stacks"].as_array().unwrap().iter().map(|s| (s["stack_name"].clone(), s["action"].clone())).collect();
    assert_eq!(services, [(json!("berth-staging-cluster"), json!("create")), (json!("berth-staging--orders"), json!("create"))]);

    // Approving without looking at the plan is recorded as such.
    let other = rita.post("/api/v1/requests", api_request("billing", "/billing*")).await.unwrap().body["id"].as_str().unwrap().to_string();
    assert_eq!(bob.post(&format!("/api/v1/requests/{other}/approve"), json!({"revision": 1})).await.unwrap().status, 200);
    let row = approved_row(other).await;
    assert_eq!((row["actor"].as_str(), &row["details"]["plan_seen"]), (Some("bob"), &Value::Null), "{row:?}");
}

#[tokio::test]
async fn turning_on_https_says_which_apis_move_and_turning_it_off_under_them_is_refused() {
    let moto = Moto::start().await.unwrap();
    let berth = berth_on(&moto).await;
    let admin = berth.admin().await.unwrap();
    let alice = berth.user("alice", "approver", "platform").await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let plain = json!({"name": "edge", "region": "us-east-1", "parameters": {"InstanceType": "t3.medium", "DesiredCapacity": 1, "MaxSize": 2}});
    assert_eq!(admin.post("/api/v1/environments", plain.clone()).await.unwrap().status, 201);
    let mut orders = api_request("orders", "/orders*");
    orders["environment"] = json!("edge");
    assert_eq!(rita.post("/api/v1/requests", orders).await.unwrap().status, 201);

    // The plan of the change names the API that stays on plain HTTP until its next deployment.
    let mut secure = plain.clone();
    secure["parameters"]["CertificateArn"] = json!("arn:aws:acm:us-east-1:123456789012:certificate/abc-123");
    let asked = admin.put("/api/v1/environments/edge", secure).await.unwrap();
    assert_eq!(asked.status, 202, "{:?}", asked.body);
    let change = asked.body["pending_change"]["id"].as_str().unwrap().to_string();
    let plan = alice.get(&format!("/api/v1/environments/edge/changes/{change}/plan")).await.unwrap();
    assert_eq!(plan.status, 200, "{:?}", plan.body);
    let note = plan.body["stack"]["note"].as_str().unwrap_or_default();
    assert!(note.contains("The 1 APIs here (orders)") && note.contains("stay reachable over plain HTTP"), "{:?}", plan.body);
    assert_eq!(alice.post(&format!("/api/v1/environments/edge/changes/{change}/approve"), json!({})).await.unwrap().status, 200);

    // Back to plain HTTP under a live API: refused, by the field.
    let r = admin.put("/api/v1/environments/edge", plain).await.unwrap();
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert!(r.body["detail"].as_str().unwrap().contains("cannot go back to plain HTTP"), "{:?}", r.body);
}

/// The sum of the series of `name` whose labels include every one of `labels`.
fn metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(series, _)| (series.starts_with(&format!("{name}{{")) || *series == name) && labels.iter().all(|label| series.contains(label)))
        .filter_map(|(_, value)| value.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn metrics_are_served_apart_and_move_when_berth_works() {
    let moto = Moto::start().await.unwrap();
    let addr = format!("127.0.0.1:{}", berth_tests::free_port());
    let berth = Berth::start_on_endpoint(&moto.endpoint, &format!("metrics_addr = \"{addr}\"")).await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let alice = berth.user("alice", "approver", "platform").await.unwrap();
    let scrape = || {
        let addr = addr.clone();
        async move {
            let r = reqwest::get(format!("http://{addr}/metrics")).await.unwrap();
            assert_eq!(r.status(), 200);
            r.text().await.unwrap()
        }
    };
    // Not on the public address.
    assert_eq!(reqwest::get(format!("{}/metrics", berth.url)).await.unwrap().status(), 404);
    let before = scrape().await;

    let id = rita.post("/api/v1/requests", api_request("orders", "/orders*")).await.unwrap().body["id"].as_str().unwrap().to_string();
    assert_eq!(alice.post(&format!("/api/v1/requests/{id}/approve"), json!({"revision": 1})).await.unwrap().status, 200);
    wait_for_status(&rita, &id, "deployed").await;
    let after = scrape().await;

    let created = ["route=\"/api/v1/requests\"", "method=\"POST\"", "status=\"201\""];
    assert_eq!(metric(&after, "berth_http_requests_total", &created) - metric(&before, "berth_http_requests_total", &created), 1.0, "{after}");
    assert!(metric(&after, "berth_http_request_duration_seconds_count", &["route=\"/api/v1/requests\""]) >= 1.0, "{after}");
    assert!(!after.contains(&format!("/api/v1/requests/{id}\"")), "routes by template, never by id");
    assert_eq!(metric(&after, "berth_deployments_started_total", &["kind=\"deploy\""]), 1.0, "{after}");
    assert_eq!(metric(&after, "berth_deployments_finished_total", &["kind=\"deploy\"", "outcome=\"succeeded\""]), 1.0, "{after}");
    assert_eq!(metric(&after, "berth_deployment_duration_seconds_count", &["kind=\"deploy\""]), 1.0, "{after}");
    for stack in ["cluster", "service"] {
        assert_eq!(metric(&after, "berth_stack_step_duration_seconds_count", &[&format!("stack=\"{stack}\""), "outcome=\"succeeded\""]), 1.0, "{after}");
    }
    assert!(metric(&after, "berth_aws_calls_total", &["operation=\"CreateStack\"", "outcome=\"ok\""]) >= 2.0, "{after}");
    assert!(metric(&after, "berth_aws_call_duration_seconds_count", &["operation=\"DescribeStacks\""]) >= 1.0, "{after}");
    assert_eq!(metric(&after, "berth_deployment_queue_depth", &[]), 0.0);
    assert!(metric(&after, "berth_audit_rows", &[]) > metric(&before, "berth_audit_rows", &[]), "{after}");
    assert!(after.contains("berth_audit_last_checkpoint_age_seconds") && after.contains("berth_health_watched_oldest_seconds"), "{after}");

    // An open event stream is counted while it lasts.
    let stream = rita.http.get(format!("{}/api/v1/requests/{id}/events/stream", berth.url)).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(metric(&scrape().await, "berth_long_reads_open", &["kind=\"stream\""]), 1.0);
    drop(stream);
}
