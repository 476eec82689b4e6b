//! When AWS or the process misbehaves, no work is lost or done twice.
//!
//! - localaws stands between Berth and moto and answers a share of AWS calls with
//!   throttling errors and 5xx, and delays others: twenty deployments all complete, once each.
//! - The server is killed with SIGKILL while deployments run; after a restart every one
//!   completes, once.
//! - Two processes share one database: SIGTERM stops one cleanly (its jobs are handed back
//!   and the other takes them); a process killed outright leaves leases that expire and
//!   are taken over. Every deployment still completes, once.
//! - A backup taken while deployments run restores into a fresh directory, where the audit
//!   log verifies and the deployments finish, once.
//! - `berth doctor` names a missing permission (IAM's policy simulator, answered by
//!   localaws) and missing site files, and passes with the shipped policy.

use berth_tests::localaws::LocalAws;
use berth_tests::{api_request, Api, Berth};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

struct Team {
    requester: Api,
    approver: Api,
}

async fn team(berth: &Berth) -> Team {
    Team { requester: berth.user("rita", "requester", "payments").await.unwrap(), approver: berth.user("alice", "approver", "platform").await.unwrap() }
}

/// Submits and approves `n` APIs, returning their ids.
async fn submit_and_approve(team: &Team, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        // One task each: twenty APIs fit the default environment beside each other.
        let mut body = api_request(&format!("svc{i:02}"), &format!("/svc{i:02}"));
        body["desired_count"] = json!(1);
        let r = team.requester.post("/api/v1/requests", body).await.unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        let r = team.approver.post(&format!("/api/v1/requests/{id}/approve"), json!({"revision": 1})).await.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
    }
    ids
}

async fn statuses(api: &Api, ids: &[String]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for id in ids {
        let r = api.get(&format!("/api/v1/requests/{id}")).await.unwrap();
        let status = r.body["status"].as_str().unwrap_or("?").to_string();
        // A failure carries its reason into the assertion message.
        let shown = if status == "failed" { format!("failed: {}", r.body["status_reason"]) } else { status };
        out.insert(id.clone(), shown);
    }
    out
}

async fn wait_all_deployed(api: &Api, ids: &[String], timeout: Duration) {
    let started = Instant::now();
    loop {
        let now = statuses(api, ids).await;
        if now.values().all(|s| s == "deployed") {
            return;
        }
        assert!(!now.values().any(|s| s.starts_with("failed")), "a deployment failed: {now:?}");
        assert!(started.elapsed() < timeout, "not all deployed in time: {now:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Every request has exactly one deployment, and it succeeded; AWS holds exactly one service
/// stack per request, created once, and one ECS service each.
async fn exactly_once(berth: &Berth, api: &Api, aws: &LocalAws, ids: &[String]) {
    for id in ids {
        let deployments = api.get(&format!("/api/v1/requests/{id}/deployments")).await.unwrap().body;
        let list = deployments.as_array().unwrap();
        assert_eq!(list.len(), 1, "request {id}: {deployments:#}");
        assert_eq!(list[0]["status"], "succeeded");
    }
    let config = aws.sdk_config().await;
    let cfn = aws_sdk_cloudformation::Client::new(&config);
    let mut stacks = Vec::new();
    let mut next = None;
    loop {
        let page = cfn.list_stacks().set_next_token(next).send().await.unwrap();
        stacks.extend(page.stack_summaries().iter().map(|s| (s.stack_name().unwrap().to_string(), s.stack_status().unwrap().as_str().to_string())));
        next = page.next_token().map(str::to_string);
        if next.is_none() {
            break;
        }
    }
    let service_stacks: Vec<&(String, String)> = stacks.iter().filter(|(name, _)| name.starts_with("berth-staging--svc")).collect();
    assert_eq!(service_stacks.len(), ids.len(), "one service stack per request: {stacks:?}");
    assert!(service_stacks.iter().all(|(_, status)| status == "CREATE_COMPLETE"), "{service_stacks:?}");
    for (name, _) in service_stacks {
        let events = cfn.describe_stack_events().stack_name(name).send().await.unwrap();
        let creates = events.stack_events().iter().filter(|e| e.logical_resource_id() == Some(name.as_str()) && e.resource_status().map(|s| s.as_str()) == Some("CREATE_IN_PROGRESS")).count();
        assert_eq!(creates, 1, "{name} was created once");
    }
    let env = api.get("/api/v1/environments/staging").await.unwrap().body;
    let cluster = env["outputs"]["ClusterName"].as_str().unwrap();
    let ecs = aws_sdk_ecs::Client::new(&config);
    let services = ecs.list_services().cluster(cluster).max_results(100).send().await.unwrap();
    assert_eq!(services.service_arns().len(), ids.len(), "{:?}", services.service_arns());
    assert!(!berth.log().contains("panicked"));
}

#[tokio::test]
async fn twenty_deployments_complete_once_each_through_throttling_errors_and_delays() {
    let aws = LocalAws::start().await.unwrap();
    let berth = Berth::start_on_endpoint(&aws.url, "").await.unwrap();
    let team = team(&berth).await;
    // A quarter of all AWS calls throttled, one in ten answered 500/503 without reaching
    // moto, and a third of the rest delayed.
    aws.control("/_localaws/faults", json!({"throttle": 0.25, "server_error": 0.1, "delay_share": 0.3, "delay_ms": 150, "seed": 7}))
        .await
        .unwrap();
    let ids = submit_and_approve(&team, 20).await;
    wait_all_deployed(&team.requester, &ids, Duration::from_secs(300)).await;
    let faults = aws.stats().await.unwrap()["faults"].clone();
    aws.control("/_localaws/faults", json!({})).await.unwrap();
    assert!(faults["throttle"].as_u64().unwrap() >= 20 && faults["server_error"].as_u64().unwrap() >= 5 && faults["delay"].as_u64().unwrap() >= 10, "faults were injected: {faults}");
    exactly_once(&berth, &team.requester, &aws, &ids).await;
}

#[tokio::test]
async fn deployments_killed_mid_way_complete_once_after_a_restart() {
    let aws = LocalAws::start().await.unwrap();
    let mut berth = Berth::start_on_endpoint(&aws.url, "").await.unwrap();
    let team = team(&berth).await;
    // Every CloudFormation call takes 300 ms, so the kill lands in the middle of the work.
    aws.control("/_localaws/faults", json!({"delay_share": 1.0, "delay_ms": 300, "services": ["cloudformation"]})).await.unwrap();
    let ids = submit_and_approve(&team, 6).await;
    // Kill once some work has started and some is still to do.
    let started = Instant::now();
    loop {
        let now = statuses(&team.requester, &ids).await;
        let deploying = now.values().filter(|s| *s == "deploying").count();
        if deploying > 0 && now.values().any(|s| s != "deployed") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "nothing started deploying: {now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    berth.kill();
    let before: Value = json!(format!("{:?}", statuses_from_db(&berth).await));
    berth.restart().await.unwrap();
    // Sessions live in the database: the same clients carry on.
    wait_all_deployed(&team.requester, &ids, Duration::from_secs(180)).await;
    aws.control("/_localaws/faults", json!({})).await.unwrap();
    assert!(before.as_str().unwrap().contains("deploying") || before.as_str().unwrap().contains("approved"), "the kill happened mid-way: {before}");
    exactly_once(&berth, &team.requester, &aws, &ids).await;
}

/// Waits until some request deploys, then a little longer, so work is half done.
async fn until_mid_way(api: &Api, ids: &[String]) {
    let started = Instant::now();
    loop {
        let now = statuses(api, ids).await;
        if now.values().any(|s| s == "deploying") && now.values().any(|s| s != "deployed") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "nothing started deploying: {now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
}

#[tokio::test]
async fn two_processes_on_one_database_never_run_a_job_twice_and_take_over_a_stopped_ones() {
    let aws = LocalAws::start().await.unwrap();
    let mut first = Berth::start_on_endpoint(&aws.url, "shutdown_grace_seconds = 10").await.unwrap();
    let mut second = first.start_sharing().await.unwrap();
    let team = team(&first).await;
    aws.control("/_localaws/faults", json!({"delay_share": 1.0, "delay_ms": 300, "services": ["cloudformation"]})).await.unwrap();
    let ids = submit_and_approve(&team, 6).await;
    until_mid_way(&team.requester, &ids).await;
    let (by_first, by_second) = (claimed(&first.log()), claimed(&second.log()));
    assert!(!by_first.is_empty(), "{}", first.log());
    assert!(by_first.is_disjoint(&by_second), "a job claimed by both processes at once: {by_first:?} {by_second:?}");

    // SIGTERM: the first process takes no new step, stops its running ones at a safe point,
    // hands their jobs back and exits by itself, well within its grace.
    let status = first.terminate(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "{status}: {}", first.log());
    assert!(first.log().contains("deployment worker stopped") && first.log().contains("released deployment "), "{}", first.log());
    assert!(!first.log().contains("did not reach a safe point"), "{}", first.log());
    // The second process takes the handed-back jobs without waiting for any lease to expire.
    let started = Instant::now();
    while claimed(&second.log()).is_empty() {
        assert!(started.elapsed() < Duration::from_secs(20), "the second process took nothing over: {}", second.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;

    // Killed outright, the second process leaves its leases behind; the first, started
    // again, takes the jobs over once they expire.
    second.kill();
    let before_restart = first.log().len();
    first.restart().await.unwrap();
    wait_all_deployed(&team.requester, &ids, Duration::from_secs(180)).await;
    aws.control("/_localaws/faults", json!({})).await.unwrap();
    exactly_once(&first, &team.requester, &aws, &ids).await;
    assert!(!claimed(&first.log()[before_restart..]).is_empty(), "the restarted process took over: {}", first.log());
    assert!(!second.log().contains("panicked"));
}

/// The deployment ids a process's log says it claimed.
fn claimed(log: &str) -> std::collections::BTreeSet<i64> {
    log.lines()
        .filter_map(|l| l.split("claimed deployment ").nth(1)?.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .collect()
}

/// The requests' statuses as the killed server left them in its database.
async fn statuses_from_db(berth: &Berth) -> Vec<(i64, String)> {
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", berth.db_path().display())).await.unwrap();
    let rows = sqlx::query_as("SELECT id, status FROM requests ORDER BY id").fetch_all(&db).await.unwrap();
    db.close().await;
    rows
}

#[tokio::test]
async fn a_backup_taken_mid_deployment_restores_elsewhere_where_the_deployments_finish() {
    let aws = LocalAws::start().await.unwrap();
    let mut berth = Berth::start_on_endpoint(&aws.url, "").await.unwrap();
    let team = team(&berth).await;
    aws.control("/_localaws/faults", json!({"delay_share": 1.0, "delay_ms": 300, "services": ["cloudformation"]})).await.unwrap();
    let ids = submit_and_approve(&team, 3).await;
    until_mid_way(&team.requester, &ids).await;

    // While Berth runs and deploys.
    let backups = tempfile::tempdir().unwrap();
    let copy = backups.path().join("berth-backup.db");
    let copy_arg = copy.to_str().unwrap();
    let out = berth.command(&["backup", copy_arg], "").unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{said}");
    assert!(said.contains("audit rows"), "{said}");
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777, 0o600, "for its owner only");
    }
    let again = berth.command(&["backup", copy_arg], "").unwrap();
    assert!(!again.status.success(), "a backup never overwrites a file");
    let refused = berth.command(&["restore", copy_arg], "").unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("stop it first"), "{}", String::from_utf8_lossy(&refused.stderr));
    let snapshot = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", copy.display())).await.unwrap();
    let before: Vec<(i64, String)> = sqlx::query_as("SELECT id, status FROM requests ORDER BY id").fetch_all(&snapshot).await.unwrap();
    snapshot.close().await;
    berth.kill();

    // A fresh directory with the backup and the audit key, which is kept apart from it.
    let fresh = tempfile::tempdir().unwrap();
    let database = fresh.path().join("berth.db");
    let key = |db: &std::path::Path| std::path::PathBuf::from(format!("{}.audit-key", db.display()));
    std::fs::copy(key(&berth.db_path()), key(&database)).unwrap();
    let out = berth.command_on(&database, &["restore", copy_arg], "").unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let verify = berth.command_on(&database, &["audit", "verify"], "").unwrap();
    assert!(verify.status.success(), "{}{}", String::from_utf8_lossy(&verify.stdout), String::from_utf8_lossy(&verify.stderr));

    let restored = berth.start_alike(&database).await.unwrap();
    let requester = restored.sign_in("rita", "rita-password-123").await.unwrap();
    wait_all_deployed(&requester, &ids, Duration::from_secs(180)).await;
    aws.control("/_localaws/faults", json!({})).await.unwrap();
    assert!(before.iter().any(|(_, status)| status != "deployed"), "the backup was taken mid-way: {before:?}");
    exactly_once(&restored, &requester, &aws, &ids).await;
}

#[tokio::test]
async fn an_older_binary_refuses_a_database_a_newer_one_migrated() {
    let mut berth = Berth::start().await.unwrap();
    berth.kill();
    // As a newer Berth would have left it: one migration more than this binary knows.
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", berth.db_path().display())).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (99991231000000, 'from the future', 1, x'00', 1)",
    )
    .execute(&db)
    .await
    .unwrap();
    db.close().await;
    let out = berth.command(&["migrate"], "").unwrap();
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("migrated by a newer Berth") && said.contains("99991231000000"), "{said}");
    // And so does the server: it does not start on it.
    assert!(berth.restart().await.is_err(), "the server must not start on a newer database");
    assert!(berth.log().contains("migrated by a newer Berth"), "{}", berth.log());
}

#[tokio::test]
async fn the_doctor_names_what_is_missing_and_passes_with_the_shipped_policy() {
    let aws = LocalAws::start().await.unwrap();
    let berth = Berth::start_on_endpoint(&aws.url, "").await.unwrap();
    // Two operators' identities: the shipped policy, and the same without one action.
    let policy = std::fs::read_to_string(berth_tests::workspace().join("iam/berth-policy.json")).unwrap();
    let short = policy.replace("\"cloudformation:CreateChangeSet\",", "");
    assert_ne!(short, policy);
    let keys = aws
        .boto3(&format!(
            "iam = aws('iam')\nout = {{}}\n\
             for name, doc in [('full', {policy:?}), ('short', {short:?})]:\n\
             \x20   arn = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(json.loads(doc), separators=(',', ':')))['Policy']['Arn']\n\
             \x20   iam.create_user(UserName=name)\n\
             \x20   iam.attach_user_policy(UserName=name, PolicyArn=arn)\n\
             \x20   key = iam.create_access_key(UserName=name)['AccessKey']\n\
             \x20   out[name] = [key['AccessKeyId'], key['SecretAccessKey']]\n\
             print(json.dumps(out))"
        ))
        .unwrap();
    let site = berth_tests::site_root();
    let doctor = |who: &str, site: &str| {
        let (id, secret) = (keys[who][0].as_str().unwrap().to_string(), keys[who][1].as_str().unwrap().to_string());
        let env = [("AWS_ENDPOINT_URL", aws.url.as_str()), ("AWS_ACCESS_KEY_ID", id.as_str()), ("AWS_SECRET_ACCESS_KEY", secret.as_str()), ("BERTH_SITE_ROOT", site)];
        let out = berth.command_with(&berth.db_path(), &["doctor"], "", &env).unwrap();
        (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };

    let (ok, said) = doctor("full", site.to_str().unwrap());
    assert!(ok, "{said}");
    assert!(said.contains("ok    permissions: arn:aws:iam::123456789012:user/full may do all"), "{said}");
    assert!(said.contains("ok    AWS identity: arn:aws:iam::123456789012:user/full") && said.contains("Berth can start."), "{said}");
    assert!(said.contains("ok    database") && said.contains("ok    site files") && said.contains("staging (us-east-1)"), "{said}");

    let (ok, said) = doctor("short", site.to_str().unwrap());
    assert!(!ok, "a missing permission fails: {said}");
    assert!(said.contains("FAIL  permissions") && said.contains("cloudformation:CreateChangeSet on arn:aws:cloudformation:us-east-1:123456789012:"), "{said}");
    assert!(!said.contains("cloudformation:CreateStack on"), "only what is missing: {said}");

    let (ok, said) = doctor("full", "/nonexistent/site");
    assert!(!ok && said.contains("FAIL  site files: /nonexistent/site/pkg lacks berth.js"), "{said}");
}
