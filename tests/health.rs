//! Service and task health through the real SDK adapter: Berth deploys to localaws (moto
//! with an ECS scheduler, localaws/README.md), and the test makes tasks and targets fail
//! through localaws's control API, as they would on AWS.

use berth_tests::localaws::LocalAws;
use berth_tests::{api_request, wait_for_status, Api, Berth};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A deployed API: the server, an approver's client, the request id, its cluster and target group.
pub struct Deployed {
    pub berth: Berth,
    pub viewer: Api,
    pub id: String,
    pub cluster: String,
    pub target_group: String,
}

async fn deploy(aws: &LocalAws) -> Deployed {
    // Health is read every 300 ms while watched, so the test sees changes quickly.
    let berth = Berth::start_on_endpoint(&aws.url, "health_watch_refresh_ms = 300").await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let alice = berth.user("alice", "approver", "platform").await.unwrap();
    let created = rita.post("/api/v1/requests", api_request("orders", "/orders*")).await.unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    let before = rita.get(&format!("/api/v1/requests/{id}/health")).await.unwrap();
    assert_eq!(before.status, 409, "no service before the deployment: {}", before.body);
    let r = alice.post(&format!("/api/v1/requests/{id}/approve"), json!({"revision": 1})).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let request = wait_for_status(&rita, &id, "deployed", Duration::from_secs(90)).await;
    let env = rita.get("/api/v1/environments/staging").await.unwrap().body;
    Deployed {
        cluster: env["outputs"]["ClusterName"].as_str().expect("the cluster's name").to_string(),
        target_group: request["outputs"]["TargetGroupArn"].as_str().expect("the target group").to_string(),
        berth,
        viewer: rita,
        id,
    }
}

/// Asks for the health until `done` holds (the poller refreshes every 300 ms while watched).
async fn health_until(api: &Api, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let r = api.get(&format!("/api/v1/requests/{id}/health")).await.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        if done(&r.body) {
            return r.body;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "health never showed {what}: {:#}", r.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn running(h: &Value) -> Vec<&Value> {
    h["tasks"].as_array().unwrap().iter().filter(|t| t["last_status"] == "RUNNING").collect()
}

#[tokio::test]
async fn a_deployed_api_reports_each_health_state() {
    let aws = LocalAws::start().await.unwrap();
    let d = deploy(&aws).await;
    let (api, id) = (&d.viewer, d.id.as_str());

    // Healthy: both tasks run, both targets are in service, the rollout completed.
    let h = health_until(api, id, "two running tasks", |h| h["verdict"] == "healthy").await;
    assert_eq!((h["service"]["status"].as_str(), h["service"]["desired"].as_u64(), h["service"]["running"].as_u64()), (Some("ACTIVE"), Some(2), Some(2)));
    assert_eq!(h["service"]["pending"], 0);
    assert_eq!(h["service"]["rollout_state"], "COMPLETED");
    assert_eq!(h["service"]["deployments"][0]["status"], "PRIMARY");
    assert_eq!(running(&h).len(), 2);
    for task in running(&h) {
        assert_eq!(task["desired_status"], "RUNNING");
        assert_eq!(task["health"], "HEALTHY");
        assert!(task["started_at"].as_str().is_some_and(|t| t.starts_with("20")), "{task}");
        assert!(task["task_definition"].as_str().unwrap().contains(':'), "family:revision");
    }
    let targets = h["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2);
    assert!(targets.iter().all(|t| t["state"] == "healthy" && t["id"].as_str().unwrap().starts_with("i-") && t["port"].is_number()));
    assert!(h["events"].as_array().unwrap().iter().any(|e| e["message"].as_str().unwrap().contains("steady state")), "{}", h["events"]);
    assert!(h["fetched_at"].as_str().unwrap().ends_with('Z'));

    // A task's container exits 137: the stopped task shows why, ECS replaces it, and the
    // crash makes the API degraded for a while.
    let victim = running(&h)[0]["task_id"].as_str().unwrap().to_string();
    aws.control("/_localaws/tasks/stop", json!({"cluster": d.cluster, "task": victim, "reason": "Essential container in task exited", "exit_code": 137}))
        .await
        .unwrap();
    let h = health_until(api, id, "the stopped task and its replacement", |h| {
        running(h).len() == 2 && h["tasks"].as_array().unwrap().iter().any(|t| t["last_status"] == "STOPPED")
    })
    .await;
    let stopped = h["tasks"].as_array().unwrap().iter().find(|t| t["task_id"] == victim.as_str()).expect("the stopped task is listed");
    assert_eq!(stopped["last_status"], "STOPPED");
    assert_eq!(stopped["stopped_reason"], "Essential container in task exited");
    assert_eq!(stopped["stop_code"], "EssentialContainerExited");
    assert_eq!(stopped["containers"][0]["exit_code"], 137);
    assert!(stopped["stopped_at"].is_string());
    assert_eq!(h["verdict"], "degraded");
    assert!(h["summary"].as_str().unwrap().contains("stopped"), "{}", h["summary"]);

    // One running task fails its container health check.
    let sick = running(&h)[0]["task_id"].as_str().unwrap().to_string();
    aws.control("/_localaws/tasks/health", json!({"cluster": d.cluster, "task": sick, "health": "UNHEALTHY"})).await.unwrap();
    let h = health_until(api, id, "an unhealthy task", |h| running(h).iter().any(|t| t["health"] == "UNHEALTHY")).await;
    assert_eq!(h["verdict"], "degraded");
    assert!(h["summary"].as_str().unwrap().contains("unhealthy task"));

    // The load balancer fails every target's health check: nothing serves.
    aws.control(
        "/_localaws/targets/health",
        json!({"target_group_arn": d.target_group, "state": "unhealthy", "reason": "Target.FailedHealthChecks", "description": "Health checks failed with these codes: [502]"}),
    )
    .await
    .unwrap();
    let h = health_until(api, id, "unhealthy targets", |h| h["verdict"] == "failing").await;
    let targets = h["targets"].as_array().unwrap();
    assert!(!targets.is_empty() && targets.iter().all(|t| t["state"] == "unhealthy" && t["reason"] == "Target.FailedHealthChecks"));
    assert!(targets[0]["description"].as_str().unwrap().contains("502"));

    // The dashboard agrees, and filters and sorts by it.
    let board = api.get("/api/v1/dashboard").await.unwrap().body;
    let item = &board["items"][0];
    assert_eq!((item["service_name"].as_str(), item["verdict"].as_str(), item["team"].as_str()), (Some("orders"), Some("failing"), Some("payments")));
    assert!(item["public_url"].as_str().unwrap().ends_with("/orders"));
    assert_eq!(api.get("/api/v1/dashboard?verdict=healthy").await.unwrap().body["items"].as_array().unwrap().len(), 0);
    assert_eq!(api.get("/api/v1/dashboard?verdict=failing&sort=name").await.unwrap().body["items"].as_array().unwrap().len(), 1);
    let bad = api.get("/api/v1/dashboard?sort=colour").await.unwrap();
    assert_eq!((bad.status, bad.error_fields()), (422, vec!["sort".to_string()]));
    // Another team does not see it at all.
    let other = d.berth.user("bob", "requester", "search").await.unwrap();
    assert_eq!(other.get("/api/v1/dashboard").await.unwrap().body["items"].as_array().unwrap().len(), 0);
    assert_eq!(other.get(&format!("/api/v1/requests/{id}/health")).await.unwrap().status, 404);

    // Targets recover; with the scheduler stopped and the tasks gone, no task runs: failing.
    aws.control("/_localaws/targets/health", json!({"target_group_arn": d.target_group, "state": "healthy"})).await.unwrap();
    aws.control("/_localaws/scheduler", json!({"paused": true})).await.unwrap();
    // Stop whatever runs, including a replacement started just before the pause.
    let started = Instant::now();
    let h = loop {
        let h = api.get(&format!("/api/v1/requests/{id}/health")).await.unwrap().body;
        if running(&h).is_empty() && h["service"]["running"] == 0 {
            break h;
        }
        for task in running(&h) {
            let _ = aws.control("/_localaws/tasks/stop", json!({"cluster": d.cluster, "task": task["task_id"], "reason": "Scaling activity initiated by deployment"})).await;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "tasks keep running: {h:#}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(h["verdict"], "failing", "{h:#}");
    assert!(h["summary"].as_str().unwrap().contains("No task is running"), "{}", h["summary"]);
}

#[tokio::test]
async fn many_viewers_cost_the_aws_calls_of_one() {
    let aws = LocalAws::start().await.unwrap();
    let d = deploy(&aws).await;
    health_until(&d.viewer, &d.id, "healthy", |h| h["verdict"] == "healthy").await;
    let ecs_calls = |stats: Value| -> u64 {
        stats["calls"].as_object().unwrap().iter().filter(|(k, _)| k.starts_with("ecs:") || k.starts_with("elasticloadbalancing:")).map(|(_, v)| v.as_u64().unwrap()).sum()
    };
    let watch = |viewers: usize| {
        let clients: Vec<Api> = (0..viewers).map(|_| Api { base: d.viewer.base.clone(), http: d.viewer.http.clone() }).collect();
        let id = d.id.clone();
        async move {
            let until = Instant::now() + Duration::from_secs(3);
            let tasks = clients.into_iter().map(|api| {
                let id = id.clone();
                tokio::spawn(async move {
                    while Instant::now() < until {
                        assert_eq!(api.get(&format!("/api/v1/requests/{id}/health")).await.unwrap().status, 200);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                })
            });
            futures_join(tasks.collect()).await;
        }
    };
    aws.reset_stats().await;
    watch(1).await;
    let one = ecs_calls(aws.stats().await.unwrap());
    aws.reset_stats().await;
    watch(30).await;
    let thirty = ecs_calls(aws.stats().await.unwrap());
    // Each refresh is 5 calls (service, running and stopped tasks, their details, targets):
    // about ten refreshes in 3 s at 300 ms, whoever watches.
    assert!(one >= 5, "one viewer keeps the service refreshed: {one} calls");
    assert!(thirty <= one + 10, "30 viewers cost {thirty} AWS calls, one viewer {one}");
}

async fn futures_join(handles: Vec<tokio::task::JoinHandle<()>>) {
    for handle in handles {
        handle.await.unwrap();
    }
}

#[tokio::test]
async fn the_health_panel_follows_the_service_without_a_reload() {
    let aws = LocalAws::start().await.unwrap();
    let d = deploy(&aws).await;
    let browser = berth_tests::browser::Browser::start(&d.berth.url).await.unwrap();
    browser.open(&format!("/login?next=/requests/{}", d.id)).await.unwrap();
    browser.wait_hydrated().await.unwrap();
    browser.fill("#username", "rita").await.unwrap();
    browser.fill("#password", "rita-password-123").await.unwrap();
    browser.click("button[type=submit]").await.unwrap();
    browser.wait_for_url(&format!("/requests/{}", d.id)).await.unwrap();
    browser.wait_hydrated().await.unwrap();
    browser.wait_for_text("#health-counts", "2 / 2 / 0").await.unwrap();
    browser.wait_for_text("#health-summary", "2 healthy target").await.unwrap();
    // The load balancer starts failing the targets: the open page shows it by itself.
    aws.control(
        "/_localaws/targets/health",
        json!({"target_group_arn": d.target_group, "state": "unhealthy", "reason": "Target.FailedHealthChecks", "description": "Health checks failed with these codes: [502]"}),
    )
    .await
    .unwrap();
    browser.wait_for_text("#health", "failing").await.unwrap();
    let targets = browser.wait_for_text("#health-targets", "Target.FailedHealthChecks").await.unwrap();
    assert!(targets.contains("502"), "{targets}");
    browser.screenshot("health-failing").await.unwrap();
    browser.close().await.unwrap();
}
