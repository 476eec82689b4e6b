//! 200 submissions at the same moment, from requesters of four teams, against the real
//! binary and its SQLite file: every one is answered (201, or 409 naming `path` for the
//! deliberate duplicates), and exactly the accepted ones are stored, each with its own
//! listener-rule priority and path, at revision 1, with one audit row, on an intact hash
//! chain, without a 500 or a "database is locked" on the way.
//!
//! An environment routes at most 100 APIs (the load balancer's rule quota, which
//! validation enforces), so the 200 go to two environments: 110 to the default `staging`
//! (100 distinct paths, which fill it exactly, and 10 that repeat one of those paths) and
//! 90 to `production`, created first.

use berth_tests::{api_request, Api, Berth};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Barrier;

const TEAMS: [&str; 4] = ["alpha", "bravo", "charlie", "delta"];

/// One submission: who sends it, where, and whether it repeats another's path.
struct Submission {
    user: usize,
    environment: &'static str,
    service: String,
    path: String,
    duplicate: bool,
}

fn submissions() -> Vec<Submission> {
    let mut all = Vec::new();
    for i in 0..100 {
        all.push(Submission { user: i % 4, environment: "staging", service: format!("svc-{i:03}"), path: format!("/svc-{i:03}*"), duplicate: false });
    }
    for i in 0..10 {
        // Another service on the path of svc-00i: whichever commits second is refused.
        all.push(Submission { user: (i + 1) % 4, environment: "staging", service: format!("dup-{i:03}"), path: format!("/svc-{i:03}*"), duplicate: true });
    }
    for i in 0..90 {
        all.push(Submission { user: i % 4, environment: "production", service: format!("prod-{i:03}"), path: format!("/prod/{i:03}*"), duplicate: false });
    }
    all
}

async fn send(api: &Api, body: Value) -> (u16, Value) {
    let response = api.http.post(format!("{}/api/v1/requests", api.base)).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_simultaneous_submissions_are_each_stored_once_or_refused() {
    let berth = Berth::start().await.unwrap();
    let admin = berth.admin().await.unwrap();

    let staging = admin.get("/api/v1/environments/staging").await.unwrap();
    assert_eq!(staging.body["rule_capacity"], 100, "the default environment holds 100 APIs: {:?}", staging.body);
    let production = admin
        .post(
            "/api/v1/environments",
            json!({"name": "production", "region": "us-east-1", "rule_capacity": 100,
                   "parameters": {"InstanceType": "m5.large", "DesiredCapacity": 2, "MaxSize": 30}}),
        )
        .await
        .unwrap();
    assert_eq!(production.status, 201, "{:?}", production.body);
    // Hosts enough for 100 APIs of 2 tasks beside each other.
    berth.grow_staging(30).await.unwrap();

    let mut users = Vec::new();
    for (i, team) in TEAMS.iter().enumerate() {
        users.push(Arc::new(berth.user(&format!("requester{i}"), "requester", team).await.unwrap()));
    }

    let plan = submissions();
    let barrier = Arc::new(Barrier::new(plan.len()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for s in &plan {
        let api = users[s.user].clone();
        let barrier = barrier.clone();
        let mut body = api_request(&s.service, &s.path);
        body["environment"] = json!(s.environment);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            send(&api, body).await
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    eprintln!("{} submissions answered in {:.2?}", plan.len(), started.elapsed());

    // Every answer is 201, or 409 naming `path` for one of each duplicated pair.
    let mut created: BTreeMap<String, (&Submission, Value)> = BTreeMap::new();
    let mut refused_paths = Vec::new();
    for (s, (status, body)) in plan.iter().zip(answers) {
        match status {
            201 => {
                assert_eq!((body["revision"].as_u64(), body["status"].as_str()), (Some(1), Some("pending_review")), "{body:?}");
                assert_eq!(body["service_name"], s.service.as_str());
                created.insert(body["id"].as_str().unwrap().to_string(), (s, body));
            }
            409 => {
                let fields: Vec<_> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].clone()).collect();
                assert_eq!(fields, [json!("path")], "{} was refused for another reason: {body:?}", s.service);
                refused_paths.push(s.path.clone());
            }
            other => panic!("{} answered {other}: {body:?}\nBerth's log:\n{}", s.service, berth.log()),
        }
    }
    refused_paths.sort();
    let duplicated: Vec<_> = plan.iter().filter(|s| s.duplicate).map(|s| s.path.clone()).collect();
    assert_eq!(refused_paths, duplicated, "exactly one of each pair sharing a path is refused");
    assert_eq!(created.len(), 190);

    // Each environment's priorities are 1..=n without gaps or repeats, and paths unique.
    for (environment, count) in [("staging", 100), ("production", 90)] {
        let mine: Vec<_> = created.values().filter(|(s, _)| s.environment == environment).map(|(_, b)| b).collect();
        assert_eq!(mine.len(), count);
        let priorities: BTreeSet<u64> = mine.iter().map(|b| b["priority"].as_u64().unwrap()).collect();
        assert_eq!(priorities, (1..=count as u64).collect(), "{environment}: one priority each, lowest first");
        let paths: BTreeSet<&str> = mine.iter().map(|b| b["parameters"]["path"].as_str().unwrap()).collect();
        assert_eq!(paths.len(), count, "{environment}: one path each");
        let env = admin.get(&format!("/api/v1/environments/{environment}")).await.unwrap().body;
        assert_eq!(env["api_count"], count as u64);
    }
    let full = users[0].post("/api/v1/requests", api_request("one-too-many", "/one-too-many*")).await.unwrap();
    assert_eq!(full.status, 409, "staging is full: {:?}", full.body);

    // The API lists exactly these, page by page.
    let mut listed = BTreeSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = cursor.as_ref().map_or(String::new(), |c| format!("&cursor={c}"));
        let page = admin.get(&format!("/api/v1/requests?limit=37{query}")).await.unwrap();
        assert_eq!(page.status, 200, "{:?}", page.body);
        for item in page.body["items"].as_array().unwrap() {
            assert!(listed.insert(item["id"].as_str().unwrap().to_string()), "listed twice: {item:?}");
        }
        pages += 1;
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(listed, created.keys().cloned().collect::<BTreeSet<_>>(), "the list holds exactly the accepted requests");
    assert_eq!(pages, 6);
    // A requester sees their own team's only.
    let team_list = users[1].get("/api/v1/requests?limit=200").await.unwrap().body;
    let team_items = team_list["items"].as_array().unwrap();
    assert!(team_items.iter().all(|i| i["team"] == "bravo"));
    assert_eq!(team_items.len(), created.values().filter(|(s, _)| s.user == 1).count());

    // And so does the database.
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", berth.db_path().display())).await.unwrap();
    let rows: Vec<(i64, String, String, String, i64, i64, String)> =
        sqlx::query_as("SELECT id, environment, service_name, path, priority, revision, team FROM requests ORDER BY id").fetch_all(&db).await.unwrap();
    assert_eq!(rows.len(), created.len());
    let mut priorities = BTreeSet::new();
    let mut paths = BTreeSet::new();
    for (id, environment, service, path, priority, revision, team) in &rows {
        let (s, body) = created.get(&id.to_string()).unwrap_or_else(|| panic!("request {id} stored but never answered 201"));
        assert_eq!((environment.as_str(), service, path), (s.environment, &s.service, &s.path));
        assert_eq!(*priority as u64, body["priority"].as_u64().unwrap());
        assert_eq!(*revision, 1);
        assert_eq!(team, TEAMS[s.user]);
        assert!(priorities.insert((environment.clone(), *priority)), "priority {priority} twice in {environment}");
        assert!(paths.insert((environment.clone(), path.clone())), "path {path} twice in {environment}");
    }
    let revisions: Vec<(i64, i64)> = sqlx::query_as("SELECT request_id, revision FROM request_revisions ORDER BY request_id").fetch_all(&db).await.unwrap();
    assert_eq!(revisions, rows.iter().map(|r| (r.0, 1)).collect::<Vec<_>>(), "one revision, 1, per request");
    let audited: Vec<(i64, String)> =
        sqlx::query_as("SELECT request_id, actor FROM audit_log WHERE action = 'request.create' ORDER BY request_id").fetch_all(&db).await.unwrap();
    let expected: Vec<(i64, String)> = rows.iter().map(|r| (r.0, format!("requester{}", created[&r.0.to_string()].0.user))).collect();
    assert_eq!(audited, expected, "one audit row per stored request, by its requester");
    db.close().await;

    // The hash chain survived 200 writers.
    let verify = berth.command(&["audit", "verify"], "").unwrap();
    assert!(verify.status.success(), "{}{}", String::from_utf8_lossy(&verify.stdout), String::from_utf8_lossy(&verify.stderr));

    let log = berth.log();
    for bad in ["database is locked", "SQLITE_BUSY", "500 Internal Server Error", "panicked"] {
        assert!(!log.contains(bad), "the server log mentions {bad:?}:\n{log}");
    }
}
