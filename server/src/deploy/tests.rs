//! The engine against an in-memory CloudFormation that behaves like the real one.

use super::fake::{FakeCloudFormation, OneAccount};
use super::*;
use crate::config::Config;
use crate::services::{self, Services};
use app::model::{Decision, NewUser, RequestInput, Role, User};

struct World {
    services: Arc<Services>,
    cfn: Arc<FakeCloudFormation>,
    aws: Arc<OneAccount>,
    _dir: tempfile::TempDir,
    requester: User,
    approver: User,
}

impl World {
    async fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let db = db::connect(&format!("sqlite://{}", dir.path().join("t.db").display())).await.unwrap();
        db::migrate(&db).await.unwrap();
        let cfn = Arc::new(FakeCloudFormation::default());
        let config = Config { admin_password: Some("admin-password-1".into()), ..Config::default() };
        let aws = Arc::new(OneAccount::new(cfn.clone()));
        let services = Services::new(db, Arc::new(config), Templates::load(None).unwrap(), aws.clone()).unwrap();
        services::users::bootstrap_admin(&services).await.unwrap();
        services::environments::ensure_default(&services).await.unwrap();
        let admin = db::users::find_by_username(&services.db, "admin").await.unwrap().unwrap().into_user();
        let mut users = Vec::new();
        for (name, role, team) in [("rita", "requester", "payments"), ("alice", "approver", "platform")] {
            let new = NewUser { username: name.into(), password: "long-enough-pw".into(), display_name: name.into(), role: role.into(), team: team.into() };
            users.push(services::users::create(&services, &admin, new).await.unwrap());
        }
        let approver = users.pop().unwrap();
        let requester = users.pop().unwrap();
        assert_eq!(approver.role, Role::Approver);
        World { services, cfn, aws, _dir: dir, requester, approver }
    }

    fn engine(&self) -> Arc<Engine> {
        self.engine_leasing(Duration::from_secs(30))
    }

    /// An engine whose claims on jobs last `lease` without renewal.
    fn engine_leasing(&self, lease: Duration) -> Arc<Engine> {
        let settings = Settings { poll: Duration::from_millis(1), stack_timeout: Duration::from_secs(5), lease };
        Engine::new(self.services.db.clone(), self.aws.clone(), self.services.templates.clone(), self.services.feed.clone(), settings, self.services.wake.clone())
    }

    async fn approved(&self, service: &str) -> String {
        let input = RequestInput {
            environment: "staging".into(),
            service_name: service.into(),
            description: "d".into(),
            image_url: "nginx:1".into(),
            container_port: 80,
            cpu: 256,
            memory: 512,
            desired_count: 1,
            path: format!("/{service}*"),
            health_check_path: "/".into(),
            task_role_arn: None,
            ..Default::default()
        };
        let r = services::requests::create(&self.services, &self.requester, input).await.unwrap();
        self.approve(&r.id).await;
        r.id
    }

    async fn approve(&self, id: &str) {
        let r = services::requests::get(&self.services, &self.approver, id).await.unwrap();
        services::review::decide(&self.services, &self.approver, id, Decision::Approve { revision: r.revision, comment: None }).await.unwrap();
    }

    /// Runs every queued job to its end.
    async fn run(&self, engine: &Arc<Engine>) {
        for id in db::deployments::unfinished(&self.services.db).await.unwrap() {
            engine.run(id).await;
        }
    }

    async fn request(&self, id: &str) -> app::model::ApiRequest {
        services::requests::get(&self.services, &self.approver, id).await.unwrap()
    }

    async fn stack_events(&self, id: &str) -> Vec<app::model::StackEventView> {
        services::deployments::events(&self.services, &self.approver, id, None).await.unwrap().items
    }
}

#[tokio::test]
async fn approval_deploys_both_stacks_and_records_every_event() {
    let w = World::new().await;
    let id = w.approved("orders").await;
    w.run(&w.engine()).await;
    let r = w.request(&id).await;
    assert_eq!(r.status, RequestStatus::Deployed, "{:?}", r.status_reason);
    assert_eq!(r.deployed_revision, Some(1));
    assert_eq!(r.outputs["PublicUrl"], "http://berth-staging-cluster.elb.example.com/orders");
    let env = services::environments::get(&w.services, &w.approver, "staging").await.unwrap();
    assert_eq!(env.status, EnvironmentStatus::Ready);
    assert!(env.outputs.contains_key("ExternalUrl"));

    let events = w.stack_events(&id).await;
    let of = |stack: &str| events.iter().filter(|e| e.stack_name == stack).count();
    // Two transitions per resource, plus the stack's own start and end.
    assert!(of("berth-staging-cluster") > 40, "{}", of("berth-staging-cluster"));
    assert!(of("berth-staging--orders") >= 12);
    assert_eq!(events.last().unwrap().status, "CREATE_COMPLETE");
    let mut ids: Vec<_> = events.iter().map(|e| e.event_id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), events.len(), "each event once");
    assert_eq!(w.cfn.count("create_stack berth-staging-cluster"), 1);

    let deployments = services::deployments::list(&w.services, &w.approver, &id).await.unwrap();
    assert_eq!(deployments[0].status, "succeeded");
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log WHERE request_id = ? ORDER BY id")
        .bind(id.parse::<i64>().unwrap())
        .fetch_all(&w.services.db)
        .await
        .unwrap();
    for action in ["request.create", "deployment.queued", "request.approved", "deployment.started", "deployment.succeeded"] {
        assert!(actions.iter().any(|a| a == action), "{action} not audited: {actions:?}");
    }
    assert_eq!(deployments[0].stacks.iter().map(|s| s.status.as_str()).collect::<Vec<_>>(), ["CREATE_COMPLETE", "CREATE_COMPLETE"]);
}

#[tokio::test]
async fn a_second_api_reuses_the_cluster_and_an_update_goes_through_a_change_set() {
    let w = World::new().await;
    let engine = w.engine();
    let first = w.approved("orders").await;
    w.run(&engine).await;
    let second = w.approved("users").await;
    w.run(&engine).await;
    assert_eq!(w.request(&second).await.status, RequestStatus::Deployed);
    assert_eq!(w.cfn.count("create_stack berth-staging-cluster"), 1, "the cluster stack is created once");
    assert_eq!(w.cfn.count("create_change_set berth-staging-cluster"), 0, "unchanged: no change set");

    let mut input = w.request(&first).await.parameters;
    input.image_url = "nginx:2".into();
    services::requests::update(&w.services, &w.requester, &first, input).await.unwrap();
    w.approve(&first).await;
    w.run(&engine).await;
    let r = w.request(&first).await;
    assert_eq!((r.status, r.deployed_revision), (RequestStatus::Deployed, Some(2)));
    assert_eq!(w.cfn.count("create_change_set berth-staging--orders"), 1);
    assert_eq!(w.cfn.count("execute_change_set berth-staging--orders"), 1);
    assert_eq!(w.cfn.status("berth-staging--orders").as_deref(), Some("UPDATE_COMPLETE"));
}

#[tokio::test]
async fn a_failing_resource_fails_the_deployment_with_its_reason_and_a_retry_recreates_the_stack() {
    let w = World::new().await;
    let engine = w.engine();
    w.cfn.fail("ListenerRule");
    let id = w.approved("orders").await;
    w.run(&engine).await;
    let r = w.request(&id).await;
    assert_eq!(r.status, RequestStatus::Failed);
    let reason = r.status_reason.unwrap();
    assert!(reason.contains("ListenerRule (AWS::ElasticLoadBalancingV2::ListenerRule)") && reason.contains("boom"), "{reason}");
    assert!(reason.contains("ROLLBACK_COMPLETE"), "{reason}");
    assert_eq!(w.cfn.status("berth-staging--orders").as_deref(), Some("ROLLBACK_COMPLETE"));

    w.cfn.heal();
    services::review::retry(&w.services, &w.requester, &id).await.unwrap();
    w.run(&engine).await;
    assert_eq!(w.request(&id).await.status, RequestStatus::Deployed);
    assert_eq!(w.cfn.count("delete_stack berth-staging--orders"), 1, "the rolled-back stack is deleted first");
    assert_eq!(w.cfn.count("create_stack berth-staging--orders"), 2);
}

#[tokio::test]
async fn throttling_that_outlasts_the_retries_is_a_failed_deployment() {
    let w = World::new().await;
    w.cfn.throttle(1);
    let id = w.approved("orders").await;
    w.run(&w.engine()).await;
    let r = w.request(&id).await;
    assert_eq!(r.status, RequestStatus::Failed);
    assert!(r.status_reason.unwrap().contains("Throttling: Rate exceeded"));
    assert_eq!(services::environments::get(&w.services, &w.approver, "staging").await.unwrap().status, EnvironmentStatus::Failed);
}

#[tokio::test]
async fn a_stack_that_never_settles_times_out() {
    let w = World::new().await;
    let id = w.approved("orders").await;
    w.cfn.stall(true);
    let settings = Settings { poll: Duration::from_millis(5), stack_timeout: Duration::from_millis(200), lease: Duration::from_secs(30) };
    let engine = Engine::new(w.services.db.clone(), w.aws.clone(), w.services.templates.clone(), w.services.feed.clone(), settings, w.services.wake.clone());
    w.run(&engine).await;
    let r = w.request(&id).await;
    assert_eq!(r.status, RequestStatus::Failed);
    assert!(r.status_reason.unwrap().contains("did not finish within"));
}

#[tokio::test]
async fn a_restart_mid_deployment_resumes_without_creating_twice() {
    let w = World::new().await;
    let id = w.approved("orders").await;
    let job = db::deployments::unfinished(&w.services.db).await.unwrap()[0];
    // The first process starts the job and dies while CloudFormation is still creating.
    w.cfn.stall(true);
    let lease = Duration::from_millis(300);
    let first = w.engine_leasing(lease);
    let task = tokio::spawn({
        let first = first.clone();
        async move { first.run(job).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    task.abort();
    let _ = task.await;
    // An aborted task hands its pooled connection back asynchronously (a killed process
    // would simply drop its locks).
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(w.cfn.status("berth-staging-cluster").as_deref(), Some("CREATE_IN_PROGRESS"));
    assert_eq!(w.request(&id).await.status, RequestStatus::Deploying);

    w.cfn.stall(false);
    // The dead process's claim on the job runs out; then the next process takes it over.
    tokio::time::sleep(lease * 2).await;
    let second = w.engine_leasing(lease);
    w.run(&second).await;
    let r = w.request(&id).await;
    assert_eq!(r.status, RequestStatus::Deployed, "{:?}", r.status_reason);
    assert_eq!(w.cfn.count("create_stack berth-staging-cluster"), 1);
    assert_eq!(w.cfn.count("create_stack berth-staging--orders"), 1);
    let deployments = services::deployments::list(&w.services, &w.approver, &id).await.unwrap();
    assert_eq!(deployments.len(), 1);
}

/// The window of issue 15, point 0, hit on purpose: the first process sent the cluster
/// stack's CreateStack and died while CloudFormation had only registered the stack (its
/// parameters are set, its resources and exports do not exist yet). After the restart
/// another job comes first: it must wait for the cluster stack, never create its service
/// stack against exports that are not there.
#[tokio::test]
async fn after_a_restart_a_service_stack_waits_for_the_cluster_stacks_exports() {
    let w = World::new().await;
    let a = w.approved("orders").await;
    let b = w.approved("users").await;
    let jobs = db::deployments::unfinished(&w.services.db).await.unwrap();
    w.cfn.hold_creates(true);
    let first = w.engine();
    let task = tokio::spawn({
        let first = first.clone();
        let job = jobs[0];
        async move { first.run(job).await }
    });
    while w.cfn.status("berth-staging-cluster").as_deref() != Some("CREATE_PENDING") {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    task.abort();
    let _ = task.await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let second = w.engine();
    let resumed_b = tokio::spawn({
        let second = second.clone();
        let job = jobs[1];
        async move { second.run(job).await }
    });
    // Job b sees the registered stack for a while before CloudFormation gets on with it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    w.cfn.hold_creates(false);
    resumed_b.await.unwrap();
    w.run(&second).await;
    for id in [&a, &b] {
        let r = w.request(id).await;
        assert_eq!(r.status, RequestStatus::Deployed, "{id}: {:?}", r.status_reason);
    }
    assert_eq!(w.cfn.count("create_stack berth-staging--orders"), 1);
    assert_eq!(w.cfn.count("create_stack berth-staging--users"), 1);
}

/// Issue 15, point 1: Berth records UPDATING, then dies before ExecuteChangeSet reaches
/// CloudFormation. The stack still shows its previous UPDATE_COMPLETE; the resumed job must
/// execute the change set, not take the old status for its own update.
#[tokio::test]
async fn an_update_interrupted_before_its_change_set_ran_is_executed_on_resume() {
    let w = World::new().await;
    let engine = w.engine();
    let id = w.approved("orders").await;
    w.run(&engine).await;
    for image in ["nginx:2", "nginx:3"] {
        let mut input = w.request(&id).await.parameters;
        input.image_url = image.into();
        services::requests::update(&w.services, &w.requester, &id, input).await.unwrap();
        w.approve(&id).await;
        if image == "nginx:2" {
            w.run(&engine).await;
            assert_eq!(w.cfn.status("berth-staging--orders").as_deref(), Some("UPDATE_COMPLETE"));
        }
    }
    let job = db::deployments::unfinished(&w.services.db).await.unwrap()[0];
    w.cfn.hang_executes(true);
    let first = w.engine();
    let task = tokio::spawn({
        let first = first.clone();
        async move { first.run(job).await }
    });
    while db::deployments::stack(&w.services.db, job, "service").await.unwrap().is_none_or(|s| s.status != "UPDATING") {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    task.abort();
    let _ = task.await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(w.cfn.parameter("berth-staging--orders", "ImageUrl").as_deref(), Some("nginx:2"), "the change set did not run");

    w.cfn.hang_executes(false);
    w.run(&w.engine()).await;
    let r = w.request(&id).await;
    assert_eq!((r.status, r.deployed_revision), (RequestStatus::Deployed, Some(3)), "{:?}", r.status_reason);
    assert_eq!(w.cfn.parameter("berth-staging--orders", "ImageUrl").as_deref(), Some("nginx:3"), "what runs is what was approved");
}

/// Issue 15, point 2: while Berth waits for a slow AWS answer at the end of a deployment,
/// it holds no write lock: another writer gets in at once instead of failing with
/// "database is locked" after the busy timeout.
#[tokio::test]
async fn a_slow_aws_answer_never_holds_the_database_write_lock() {
    let w = World::new().await;
    let id = w.approved("orders").await;
    w.cfn.slow_describes_once_complete("berth-staging--orders");
    let job = db::deployments::unfinished(&w.services.db).await.unwrap()[0];
    let engine = w.engine();
    let run = tokio::spawn({
        let engine = engine.clone();
        async move { engine.run(job).await }
    });
    while w.cfn.describes_waiting() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let write = async {
        let mut tx = db::begin_write(&w.services.db).await?;
        sqlx::query("UPDATE users SET display_name = 'Rita' WHERE username = 'rita'").execute(&mut *tx).await?;
        tx.commit().await
    };
    let written = write.await;
    w.cfn.answer_describes();
    run.await.unwrap();
    written.expect("another writer is not blocked while AWS is slow");
    assert_eq!(w.request(&id).await.status, RequestStatus::Deployed);
}

/// Issue 15, point 4: the environment's parameters change between the approval and the
/// run. The deployment applies nothing, the request asks for a new review naming the
/// difference, and the audit trail holds both what was approved and what changed.
#[tokio::test]
async fn a_deployment_that_would_differ_from_its_approval_stops_and_asks_for_review() {
    let w = World::new().await;
    let id = w.approved("orders").await;
    sqlx::query("UPDATE environments SET instance_type = 'm5.large' WHERE name = 'staging'").execute(&w.services.db).await.unwrap();
    w.run(&w.engine()).await;
    let r = w.request(&id).await;
    assert_eq!(r.status, RequestStatus::PendingReview);
    let reason = r.status_reason.unwrap();
    assert!(reason.starts_with("Changed since approval") && reason.contains("InstanceType: \"t3.medium\" → \"m5.large\""), "{reason}");
    assert_eq!(w.cfn.count("create_stack berth-staging-cluster"), 0, "nothing was applied");
    let details: Vec<String> = sqlx::query_scalar("SELECT details FROM audit_log WHERE action IN ('request.approved', 'deployment.changed_since_approval') ORDER BY id")
        .fetch_all(&w.services.db)
        .await
        .unwrap();
    assert_eq!(details.len(), 2, "{details:?}");
    assert!(details[0].contains("\"InstanceType\":\"t3.medium\"") && details[0].contains("digest"), "the approval keeps what it approved: {}", details[0]);
    assert!(details[1].contains("m5.large"), "{}", details[1]);

    // Approving what would now run deploys it.
    w.approve(&id).await;
    w.run(&w.engine()).await;
    assert_eq!(w.request(&id).await.status, RequestStatus::Deployed);
    assert_eq!(w.cfn.parameter("berth-staging-cluster", "InstanceType").as_deref(), Some("m5.large"));
}

/// The same when Berth is upgraded with a new template between approval and run.
#[tokio::test]
async fn a_new_template_after_approval_is_not_applied_without_review() {
    let w = World::new().await;
    let id = w.approved("orders").await;
    let dir = tempfile::tempdir().unwrap();
    let templates = Templates::load(None).unwrap();
    std::fs::write(dir.path().join("cluster.yaml"), templates.body(StackKind::Cluster)).unwrap();
    std::fs::write(dir.path().join("service.yaml"), format!("{}\n# upgraded\n", templates.body(StackKind::Service))).unwrap();
    let upgraded = Templates::load(Some(dir.path())).unwrap();
    let settings = Settings { poll: Duration::from_millis(1), stack_timeout: Duration::from_secs(5), lease: Duration::from_secs(30) };
    let engine = Engine::new(w.services.db.clone(), w.aws.clone(), upgraded, w.services.feed.clone(), settings, w.services.wake.clone());
    w.run(&engine).await;
    let r = w.request(&id).await;
    assert_eq!(r.status, RequestStatus::PendingReview);
    assert!(r.status_reason.unwrap().contains("berth-staging--orders: the template changed"));
    assert_eq!(w.cfn.count("create_stack berth-staging--orders"), 0);
}

#[tokio::test]
async fn concurrent_deployments_share_the_cluster_stack_safely() {
    let w = World::new().await;
    let a = w.approved("orders").await;
    let b = w.approved("users").await;
    let engine = w.engine();
    let jobs = db::deployments::unfinished(&w.services.db).await.unwrap();
    let runs = jobs.into_iter().map(|id| {
        let engine = engine.clone();
        tokio::spawn(async move { engine.run(id).await })
    });
    futures::future::join_all(runs).await;
    assert_eq!(w.request(&a).await.status, RequestStatus::Deployed);
    assert_eq!(w.request(&b).await.status, RequestStatus::Deployed);
    assert_eq!(w.cfn.count("create_stack berth-staging-cluster"), 1);
}

#[tokio::test]
async fn decommissioning_deletes_the_service_stack() {
    let w = World::new().await;
    let engine = w.engine();
    let id = w.approved("orders").await;
    w.run(&engine).await;
    services::review::decommission(&w.services, &w.requester, &id).await.unwrap();
    w.approve(&id).await;
    w.run(&engine).await;
    assert_eq!(w.request(&id).await.status, RequestStatus::Decommissioned);
    assert_eq!(w.cfn.status("berth-staging--orders"), None);
    assert!(w.cfn.status("berth-staging-cluster").is_some(), "the cluster stays");
}

/// A stack made by hand (no owner tags) under the name Berth would use.
async fn made_by_hand(w: &World, name: &str) {
    let spec = StackSpec { name: name.into(), template: "Resources: {}".into(), parameters: vec![], tags: BTreeMap::new(), revert_drift: false };
    w.cfn.create_stack(&spec, "by-hand").await.unwrap();
    while w.cfn.status(name).as_deref() != Some("CREATE_COMPLETE") {
        w.cfn.describe_stack(name).await.unwrap();
    }
}

#[tokio::test]
async fn a_stack_berth_did_not_create_for_the_request_is_refused_and_left_alone() {
    let w = World::new().await;
    let engine = w.engine();
    made_by_hand(&w, "berth-staging--orders").await;
    let id = w.approved("orders").await;
    w.run(&engine).await;
    let r = w.request(&id).await;
    assert_eq!(r.status, RequestStatus::Failed);
    assert!(r.status_reason.as_deref().unwrap().contains("not created by Berth for request"), "{:?}", r.status_reason);
    assert_eq!(w.cfn.count("create_change_set berth-staging--orders"), 0, "never updated");
    assert_eq!(w.cfn.count("delete_stack berth-staging--orders"), 0, "never deleted");
    assert!(w.stack_events(&id).await.iter().all(|e| e.stack_name != "berth-staging--orders"), "nor its events read");
}

#[tokio::test]
async fn a_cluster_stack_made_by_hand_is_never_taken_over() {
    let w = World::new().await;
    let engine = w.engine();
    made_by_hand(&w, "berth-staging-cluster").await;
    let id = w.approved("orders").await;
    w.run(&engine).await;
    let r = w.request(&id).await;
    assert_eq!(r.status, RequestStatus::Failed);
    assert!(r.status_reason.as_deref().unwrap().contains("the cluster of environment staging"), "{:?}", r.status_reason);
    assert_eq!(w.cfn.count("create_change_set berth-staging-cluster"), 0);
    assert_eq!(w.cfn.count("create_stack berth-staging--orders"), 0, "nothing is built on a foreign cluster");
}

#[tokio::test]
async fn stacks_are_tagged_with_their_owner() {
    let w = World::new().await;
    let engine = w.engine();
    let id = w.approved("orders").await;
    w.run(&engine).await;
    let berth_id = db::installation::berth_id(&w.services.db).await.unwrap();
    let service = w.cfn.describe_stack("berth-staging--orders").await.unwrap().unwrap().tags;
    assert_eq!(service.get(ownership::INSTALLATION_TAG), Some(&berth_id));
    assert_eq!(service.get(ownership::REQUEST_TAG), Some(&id));
    assert_eq!(service.get(ownership::KIND_TAG).map(String::as_str), Some("service"));
    let cluster = w.cfn.describe_stack("berth-staging-cluster").await.unwrap().unwrap().tags;
    assert_eq!(cluster.get(ownership::ENVIRONMENT_TAG).map(String::as_str), Some("staging"));
    assert_eq!(cluster.get(ownership::REQUEST_TAG), None);
}

#[test]
fn public_urls_drop_the_wildcard() {
    assert_eq!(public_url("http://alb.example.com/", "/orders*"), "http://alb.example.com/orders");
    assert_eq!(public_url("http://alb.example.com", "/api/v1/orders"), "http://alb.example.com/api/v1/orders");
}

/// The request state machine: the transitions the API tests do not walk, allowed and refused.
#[tokio::test]
async fn state_machine_edges() {
    use app::error::AppError;
    let w = World::new().await;
    let engine = w.engine();
    let id = w.approved("orders").await;
    let conflict = |r: crate::error::Result<app::model::ApiRequest>| matches!(r.map_err(AppError::from), Err(AppError::Conflict(_)));

    // Approved, not yet deployed: no edits, no decommissioning, no retry.
    let input = w.request(&id).await.parameters;
    assert!(conflict(services::requests::update(&w.services, &w.requester, &id, input.clone()).await));
    assert!(conflict(services::review::decommission(&w.services, &w.requester, &id).await));
    assert!(conflict(services::review::retry(&w.services, &w.requester, &id).await));
    w.run(&engine).await;
    assert_eq!(w.request(&id).await.status, RequestStatus::Deployed);
    assert!(conflict(services::review::retry(&w.services, &w.requester, &id).await), "nothing failed");

    // Rejecting a change to a live API leaves it live, at its deployed revision.
    let mut changed = input.clone();
    changed.desired_count = 3;
    services::requests::update(&w.services, &w.requester, &id, changed).await.unwrap();
    let reject = Decision::Reject { reason: "Not now".into(), revision: Some(2) };
    let r = services::review::decide(&w.services, &w.approver, &id, reject).await.unwrap();
    assert_eq!((r.status, r.deployed_revision, r.revision), (RequestStatus::Deployed, Some(1), 2));

    // Asking for changes on a decommissioning request keeps the API.
    services::review::decommission(&w.services, &w.requester, &id).await.unwrap();
    let changes = Decision::RequestChanges { comment: "Keep it a week".into(), revision: None };
    assert_eq!(services::review::decide(&w.services, &w.approver, &id, changes).await.unwrap().status, RequestStatus::Deployed);

    // Approving a decommission starts it at once.
    services::review::decommission(&w.services, &w.requester, &id).await.unwrap();
    let r = services::review::decide(&w.services, &w.approver, &id, Decision::Approve { revision: 2, comment: None }).await.unwrap();
    assert_eq!(r.status, RequestStatus::Decommissioning);
    assert!(conflict(services::requests::update(&w.services, &w.requester, &id, input).await));
    w.run(&engine).await;
    assert_eq!(w.request(&id).await.status, RequestStatus::Decommissioned);
    assert!(conflict(services::review::decommission(&w.services, &w.requester, &id).await));
}
