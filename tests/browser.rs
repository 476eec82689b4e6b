//! Journeys in headless Chromium: a requester signs in, fills the form (seeing validation
//! and the preview), submits and finds the request in the list; an admin reads the audit
//! log and sees the state of its hash chain; a user manages their API tokens; a page whose
//! wasm cannot run still works through its forms and says why it does not update.

use berth_tests::browser::Browser;
use berth_tests::Berth;
use fantoccini::Locator;

#[tokio::test]
async fn a_requester_signs_in_and_requests_an_api() {
    let berth = Berth::start().await.unwrap();
    berth.user("rita", "requester", "payments").await.unwrap();
    let browser = Browser::start(&berth.url).await.unwrap();

    browser.open("/requests").await.unwrap();
    browser.wait_for_url("/login?next=/requests").await.unwrap();
    browser.wait_hydrated().await.unwrap();
    browser.fill("#username", "rita").await.unwrap();
    browser.fill("#password", "wrong-password").await.unwrap();
    browser.click("button[type=submit]").await.unwrap();
    browser.wait_for_text(".auth", "Sign in to continue").await.unwrap();
    browser.fill("#password", "rita-password-123").await.unwrap();
    browser.click("button[type=submit]").await.unwrap();
    browser.wait_for_url("/requests").await.unwrap();
    browser.wait_for_text(".topbar", "rita").await.unwrap();
    browser.wait_for_text("main", "No requests match.").await.unwrap();

    browser.open("/requests/new").await.unwrap();
    browser.wait_hydrated().await.unwrap();
    browser.type_until("#service_name", "Orders_API", "#service_name-error", "Service name must start with a lowercase letter").await.unwrap();
    browser.fill("#service_name", "orders").await.unwrap();
    browser.wait_for_text("#preview", "berth-staging--orders").await.unwrap();
    assert_eq!(browser.text("#service_name-error").await.unwrap(), "");
    browser.fill("#cpu", "9000").await.unwrap();
    browser.wait_for_text("#cpu-error", "do not fit on a t3.medium").await.unwrap();
    browser.fill("#cpu", "512").await.unwrap();
    // What fits the environment at its maximum size, with a deployment's headroom.
    browser.fill("#cpu", "2048").await.unwrap();
    browser.fill("#memory", "3000").await.unwrap();
    browser.fill("#desired_count", "3").await.unwrap();
    browser.wait_for_text("#desired_count-error", "At most 2 tasks fit").await.unwrap();
    browser.fill("#desired_count", "2").await.unwrap();
    browser.fill("#memory", "512").await.unwrap();
    browser.fill("#cpu", "512").await.unwrap();
    assert_eq!(browser.text("#desired_count-error").await.unwrap(), "");
    // The estimated cost follows the form: one task less is a smaller share of the hosts.
    let two_tasks = browser.wait_for_text("#cost-api", "/ month (estimate)").await.unwrap();
    browser.fill("#desired_count", "1").await.unwrap();
    let one_task = text_other_than(&browser, "#cost-api", &two_tasks).await;
    assert!(one_task.contains("/ month (estimate)"), "{one_task}");
    browser.fill("#desired_count", "2").await.unwrap();
    assert_eq!(text_other_than(&browser, "#cost-api", &one_task).await, two_tasks);
    browser.fill("#environment_variables", "LOG_LEVEL=debug\n1BAD=x").await.unwrap();
    browser.wait_for_text("#environment_variables-error", "1BAD is not a variable name").await.unwrap();
    browser.fill("#environment_variables", "LOG_LEVEL=debug").await.unwrap();
    browser.fill("#secrets", "DB_PASSWORD=db-password").await.unwrap();
    browser.wait_for_text("#secrets-error", "must be the ARN of an SSM parameter").await.unwrap();
    browser.fill("#secrets", "DB_PASSWORD=arn:aws:ssm:us-east-1:123456789012:parameter/payments/orders/db").await.unwrap();
    browser.wait_for_text("#preview", "LOG_LEVEL").await.unwrap();
    assert_eq!(browser.text("#secrets-error").await.unwrap(), "");
    let protocol = browser.text("#environment-protocol").await.unwrap();
    assert!(protocol.contains("plain HTTP"), "{protocol}");
    browser.fill("#description", "Orders for the shop").await.unwrap();
    browser.fill("#path", "/orders*").await.unwrap();
    browser.fill("#image_url", "nginx:1.27").await.unwrap();
    let preview = browser.wait_for_text("#preview", "/orders*").await.unwrap();
    assert!(preview.contains("berth-staging-cluster"), "cluster stack in the preview: {preview}");
    assert!(preview.contains("512"), "cpu in the preview: {preview}");
    browser.screenshot("request-form").await.unwrap();

    browser.click(".request-form button[type=submit]").await.unwrap();
    let url = browser.wait_for_url("/requests/1").await.unwrap();
    assert!(url.ends_with("/requests/1"), "{url}");
    browser.wait_for_text("main", "Pending review").await.unwrap();
    browser.wait_for_text("main", "berth-staging--orders").await.unwrap();
    // The approver's view shows the estimate the form showed.
    assert_eq!(browser.text("#cost-api").await.unwrap(), two_tasks);
    browser.screenshot("request-detail").await.unwrap();

    browser.open("/requests").await.unwrap();
    let list = browser.wait_for_text("#request-list", "orders").await.unwrap();
    assert!(list.contains("payments") && list.contains("Pending review"), "{list}");
    browser.screenshot("request-list").await.unwrap();
    browser.close().await.unwrap();
}

#[tokio::test]
async fn the_server_repeats_the_browser_s_messages() {
    let berth = Berth::start().await.unwrap();
    berth.user("rita", "requester", "payments").await.unwrap();
    let existing = berth.sign_in("rita", "rita-password-123").await.unwrap();
    existing.post("/api/v1/requests", berth_tests::api_request("orders", "/orders*")).await.unwrap();
    let browser = Browser::start(&berth.url).await.unwrap();
    browser.open("/login").await.unwrap();
    browser.wait_hydrated().await.unwrap();
    browser.fill("#username", "rita").await.unwrap();
    browser.fill("#password", "rita-password-123").await.unwrap();
    browser.click("button[type=submit]").await.unwrap();
    browser.wait_for_url("/requests").await.unwrap();
    browser.wait_for_text(".topbar", "rita").await.unwrap();
    browser.open("/requests/new").await.unwrap();
    browser.wait_hydrated().await.unwrap();
    // Valid in the browser, refused by the server: the name is taken in the environment.
    browser.type_until("#service_name", "orders", "#preview", "berth-staging--orders").await.unwrap();
    browser.fill("#description", "Again").await.unwrap();
    browser.fill("#path", "/orders-again*").await.unwrap();
    browser.click(".request-form button[type=submit]").await.unwrap();
    browser.wait_for_text("#service_name-error", "staging already has an API named orders").await.unwrap();
    browser.close().await.unwrap();
}

#[tokio::test]
async fn an_approver_approves_and_the_requester_sees_it_deployed() {
    let moto = berth_tests::moto::Moto::start().await.unwrap();
    let berth = Berth::start_on(&moto).await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    berth.user("alice", "approver", "platform").await.unwrap();
    let created = rita.post("/api/v1/requests", berth_tests::api_request("orders", "/orders*")).await.unwrap();
    let id = created.body["id"].as_str().unwrap().to_string();

    let browser = Browser::start(&berth.url).await.unwrap();
    sign_in(&browser, "alice", "alice-password-123").await;
    browser.wait_for_text("#review-link", "1").await.unwrap();
    browser.open(&format!("/requests/{id}")).await.unwrap();
    browser.wait_hydrated().await.unwrap();
    browser.wait_for_text("#plan", "AWS::ECS::Service").await.unwrap();
    browser.screenshot("review").await.unwrap();
    browser.fill("#approve-text", "Ship it").await.unwrap();
    browser.click("#approve").await.unwrap();
    // The deployment runs on the local AWS; its outcome arrives live, without a reload.
    browser.wait_for_text("#public-url", "/orders").await.unwrap();
    browser.wait_for_text("#events", "CREATE_COMPLETE").await.unwrap();
    browser.wait_for_text("main", "Deployed").await.unwrap();
    browser.screenshot("deployed").await.unwrap();
    browser.close().await.unwrap();

    let browser = Browser::start(&berth.url).await.unwrap();
    sign_in(&browser, "rita", "rita-password-123").await;
    browser.open(&format!("/requests/{id}")).await.unwrap();
    browser.wait_hydrated().await.unwrap();
    let conversation = browser.wait_for_text("#conversation", "approved").await.unwrap();
    assert!(conversation.contains("alice") && conversation.contains("Ship it"), "{conversation}");
    assert!(browser.client.find(fantoccini::Locator::Css("#approve")).await.is_err(), "no decision for the requester");
    browser.wait_for_text("#public-url", "/orders").await.unwrap();
    browser.close().await.unwrap();
}

/// The element's text once it is no longer `before`.
async fn text_other_than(browser: &Browser, css: &str, before: &str) -> String {
    let started = std::time::Instant::now();
    loop {
        let now = browser.text(css).await.unwrap();
        if now != before {
            return now;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "{css} stayed {before:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn sign_in(browser: &Browser, username: &str, password: &str) {
    browser.open("/login").await.unwrap();
    browser.wait_hydrated().await.unwrap();
    browser.fill("#username", username).await.unwrap();
    browser.fill("#password", password).await.unwrap();
    browser.click("button[type=submit]").await.unwrap();
    browser.wait_for_url("/requests").await.unwrap();
}

#[tokio::test]
async fn an_admin_reads_the_audit_log_and_sees_the_chain_verified() {
    let berth = Berth::start().await.unwrap();
    berth.user("rita", "requester", "payments").await.unwrap();
    let browser = Browser::start(&berth.url).await.unwrap();
    browser.open("/login?next=/audit").await.unwrap();
    browser.wait_hydrated().await.unwrap();
    browser.fill("#username", "admin").await.unwrap();
    browser.fill("#password", berth_tests::ADMIN_PASSWORD).await.unwrap();
    browser.click("button[type=submit]").await.unwrap();
    browser.wait_for_url("/audit").await.unwrap();

    let rows = browser.wait_for_text("#audit-list", "user.create").await.unwrap();
    assert!(rows.contains("auth.sign_in") && rows.contains("environment.create"), "{rows}");
    // The first start's admin and environment, two admin sign-ins, rita's account and sign-in.
    browser.wait_for_text("#chain-state", "Chain verified: 6 rows").await.unwrap();
    browser.screenshot("audit-log").await.unwrap();

    browser.fill("#audit-filters input[name=action]", "user.create").await.unwrap();
    browser.click("#audit-filters button[type=submit]").await.unwrap();
    browser.wait_for_url("action=user.create").await.unwrap();
    let filtered = browser.wait_for_text("#audit-list", "user.create").await.unwrap();
    assert!(!filtered.contains("auth.sign_in"), "{filtered}");
    let exports = browser.client.find(Locator::Css("#audit-exports a")).await.unwrap();
    let href = exports.attr("href").await.unwrap().unwrap_or_default();
    assert_eq!(href, "/api/v1/audit/export?format=csv&action=user.create", "the export keeps the filters");

    // Someone with the database file rewrites rita's creation.
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", berth.db_path().display())).await.unwrap();
    sqlx::query("DROP TRIGGER audit_log_no_update").execute(&db).await.unwrap();
    sqlx::query("UPDATE audit_log SET details = replace(details, 'requester', 'admin') WHERE action = 'user.create'")
        .execute(&db)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        browser.open("/audit").await.unwrap();
        if browser.wait_for_text("#chain-state", "Broken at row 4").await.is_ok() {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "the broken chain was never reported");
    }
    browser.screenshot("audit-log-broken").await.unwrap();
    browser.close().await.unwrap();
}

#[tokio::test]
async fn a_user_creates_an_api_token_sees_it_once_and_revokes_it() {
    let berth = Berth::start().await.unwrap();
    berth.user("rita", "requester", "payments").await.unwrap();
    let browser = Browser::start(&berth.url).await.unwrap();
    sign_in(&browser, "rita", "rita-password-123").await;
    browser.open("/tokens").await.unwrap();
    browser.wait_hydrated().await.unwrap();
    browser.fill("#new-token input[name=name]", "ci pipeline").await.unwrap();
    browser.click("#new-token button[type=submit]").await.unwrap();
    let shown = browser.wait_for_text("#created-token", "berth_").await.unwrap();
    let token = shown.split_whitespace().find(|w| w.starts_with("berth_")).unwrap().to_string();
    browser.wait_for_text("#token-list", "ci pipeline").await.unwrap();
    browser.screenshot("api-tokens").await.unwrap();
    // The token works for scripts…
    let script = reqwest::Client::new();
    let me = script.get(format!("{}/api/v1/me", berth.url)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(me.status(), 200);
    // …is not shown again on the next visit, and stops working once revoked.
    browser.open("/tokens").await.unwrap();
    browser.wait_hydrated().await.unwrap();
    let page = browser.wait_for_text("#token-list", "active").await.unwrap();
    assert!(!page.contains(&token));
    browser.click("#token-list button.danger").await.unwrap();
    browser.wait_for_text("#token-list", "revoked").await.unwrap();
    let me = script.get(format!("{}/api/v1/me", berth.url)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(me.status(), 401);
    browser.close().await.unwrap();
}

/// Copies the site with every wasm file (the main module and the pages' chunks) replaced by
/// bytes that are not wasm, as a truncated download or a broken build would leave them.
fn site_with_broken_wasm() -> tempfile::TempDir {
    fn copy(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let (source, target) = (entry.path(), to.join(entry.file_name()));
            let name = entry.file_name().to_string_lossy().to_string();
            if source.is_dir() {
                copy(&source, &target);
            } else if name.ends_with(".wasm") {
                std::fs::write(&target, b"this is not a wasm module").unwrap();
            } else if !(name.ends_with(".wasm.gz") || name.ends_with(".wasm.br")) {
                std::fs::copy(&source, &target).unwrap();
            }
        }
    }
    let site = tempfile::tempdir().unwrap();
    copy(&berth_tests::site_root(), site.path());
    site
}

#[tokio::test]
async fn a_page_whose_wasm_cannot_run_still_works_through_its_forms_and_says_so() {
    let site = site_with_broken_wasm();
    let berth = Berth::start_with(&[("BERTH_SITE_ROOT", site.path().to_str().unwrap())]).await.unwrap();
    berth.user("rita", "requester", "payments").await.unwrap();
    let browser = Browser::start_allowing_console_errors(&berth.url).await.unwrap();
    browser.open("/login").await.unwrap();
    let notice = browser.wait_for_text("#script-notice", "could not start its script").await.unwrap();
    assert!(notice.contains("forms and links still work"), "{notice}");
    assert!(browser.client.find(Locator::Css("body[data-hydrated]")).await.is_err(), "nothing hydrated");
    let errors = browser.console_errors().await.unwrap();
    assert!(errors.iter().any(|e| e.contains("WebAssembly")), "the console says why: {errors:?}");

    // Signing in and asking for an API are plain form posts answered by redirects.
    browser.fill("#username", "rita").await.unwrap();
    browser.fill("#password", "rita-password-123").await.unwrap();
    browser.click("button[type=submit]").await.unwrap();
    browser.wait_for_url("/requests").await.unwrap();
    browser.wait_for_text(".topbar", "rita").await.unwrap();
    browser.open("/requests/new").await.unwrap();
    browser.wait_for_text("#script-notice", "could not start its script").await.unwrap();
    browser.fill("#service_name", "orders").await.unwrap();
    browser.fill("#description", "Orders, without a script").await.unwrap();
    browser.fill("#path", "/orders*").await.unwrap();
    browser.click(".request-form button[type=submit]").await.unwrap();
    browser.wait_for_url("/requests/1").await.unwrap();
    browser.wait_for_text("main", "Pending review").await.unwrap();
    browser.close().await.unwrap();
}

async fn signed_in_browser(berth: &Berth, username: &str, password: &str) -> Browser {
    let browser = Browser::start(&berth.url).await.unwrap();
    sign_in(&browser, username, password).await;
    browser
}

#[tokio::test]
async fn an_environment_change_is_decided_by_someone_else_on_its_page() {
    // A local AWS answers the change's plan.
    let moto = berth_tests::moto::Moto::start().await.unwrap();
    let berth = Berth::start_on(&moto).await.unwrap();
    let alice = berth.user("alice", "approver", "platform").await.unwrap();
    berth.user("bob", "approver", "platform").await.unwrap();
    let change = serde_json::json!({"name": "staging", "region": "us-east-1", "parameters": {"InstanceType": "m5.large", "DesiredCapacity": 2, "MaxSize": 4}});
    assert_eq!(alice.put("/api/v1/environments/staging", change).await.unwrap().status, 202);

    // Whoever asked sees the change waiting, and no way to decide it.
    let browser = signed_in_browser(&berth, "alice", "alice-password-123").await;
    browser.open("/environments/staging").await.unwrap();
    browser.wait_for_text("#pending-change", "m5.large").await.unwrap();
    browser.wait_for_text("#four-eyes", "Another approver").await.unwrap();
    assert!(browser.client.find(Locator::Css("#approve-change")).await.is_err(), "no decision for whoever asked");
    browser.close().await.unwrap();

    // Another approver approves it there; it takes effect.
    let browser = signed_in_browser(&berth, "bob", "bob-password-123").await;
    browser.open("/environments/staging").await.unwrap();
    browser.wait_hydrated().await.unwrap();
    browser.wait_for_text("#pending-change", "Asked for by alice").await.unwrap();
    browser.wait_for_text("#plan", "berth-staging-cluster").await.unwrap();
    browser.click("#approve-change").await.unwrap();
    browser.wait_for_text("#environment-facts", "m5.large").await.unwrap();
    browser.close().await.unwrap();
}

#[tokio::test]
async fn a_drifted_api_is_shown_and_set_back_through_review_from_its_page() {
    let aws = berth_tests::localaws::LocalAws::start().await.unwrap();
    let berth = Berth::start_on_endpoint(&aws.url, "drift_check_minutes = 0").await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let alice = berth.user("alice", "approver", "platform").await.unwrap();
    let created = rita.post("/api/v1/requests", berth_tests::api_request("orders", "/orders*")).await.unwrap();
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(alice.post(&format!("/api/v1/requests/{id}/approve"), serde_json::json!({"revision": 1})).await.unwrap().status, 200);
    berth_tests::wait_for_status(&rita, &id, "deployed", std::time::Duration::from_secs(90)).await;
    let env = rita.get("/api/v1/environments/staging").await.unwrap().body;
    let request = rita.get(&format!("/api/v1/requests/{id}")).await.unwrap().body;
    aws.boto3(&format!(
        "aws('ecs').update_service(cluster='{}', service='{}', desiredCount=5)\nprint(json.dumps(True))",
        env["outputs"]["ClusterName"].as_str().unwrap(),
        request["outputs"]["ServiceName"].as_str().unwrap()
    ))
    .unwrap();

    // The team checks from the page, sees what differs, and asks for it to be set back.
    let browser = signed_in_browser(&berth, "rita", "rita-password-123").await;
    browser.open(&format!("/requests/{id}")).await.unwrap();
    browser.wait_hydrated().await.unwrap();
    browser.wait_for_text("#drift-status", "Not checked").await.unwrap();
    browser.click("#drift-check button").await.unwrap();
    browser.wait_for_text("#drift-status", "Drifted").await.unwrap();
    let differences = browser.wait_for_text("#drift-resources", "/DesiredCount").await.unwrap();
    assert!(differences.contains('5'), "{differences}");
    browser.click("#drift-revert button").await.unwrap();
    browser.wait_for_text("#reverts-drift", "back to revision 1").await.unwrap();
    browser.wait_for_text("h1", "Pending review").await.unwrap();
    browser.close().await.unwrap();

    // An approver sees, in the plan, each property the deployment sets back, and approves.
    let browser = signed_in_browser(&berth, "alice", "alice-password-123").await;
    browser.open(&format!("/requests/{id}")).await.unwrap();
    browser.wait_hydrated().await.unwrap();
    let plan = browser.wait_for_text("#plan", "/Properties/DesiredCount").await.unwrap();
    assert!(plan.contains("sets") && plan.contains('5') && plan.contains('2'), "{plan}");
    browser.click("#approve").await.unwrap();
    browser.wait_for_text("h1", "Deployed").await.unwrap();
    browser.close().await.unwrap();
    let check = rita.post(&format!("/api/v1/requests/{id}/drift"), serde_json::json!({})).await.unwrap().body;
    assert_eq!(check["status"], "in_sync", "{check:#}");
}
