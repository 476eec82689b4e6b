//! The whole journey in headless Chromium against the local AWS (localaws): an admin creates
//! an environment; a requester asks for an API (seeing validation and the preview); an
//! approver reviews the plan and approves; the deployment's events arrive live; the health
//! panel shows the running tasks; the dashboard lists the API; the audit page lists every
//! step and its CSV export downloads. On the way, every page passes axe-core's WCAG 2.1 A
//! and AA rules in the light and in the dark theme.
//!
//! Screenshots go to target/test-artifacts; with BERTH_UPDATE_SCREENSHOTS=1 the README's
//! copies in docs/screenshots are refreshed too.

use berth_tests::browser::{Browser, ColorScheme};
use berth_tests::localaws::LocalAws;
use berth_tests::{workspace, Berth, ADMIN_PASSWORD};
use fantoccini::Locator;

async fn sign_in(browser: &Browser, username: &str, password: &str, next: &str) {
    browser.open(&format!("/login?next={next}")).await.unwrap();
    browser.wait_hydrated().await.unwrap();
    browser.fill("#username", username).await.unwrap();
    browser.fill("#password", password).await.unwrap();
    browser.click("button[type=submit]").await.unwrap();
    browser.wait_for_url(next).await.unwrap();
    browser.wait_for_text(".topbar", username).await.unwrap();
}

/// axe-core finds nothing wrong with the page as it is now, light or dark.
async fn accessible(browser: &Browser, page: &str) {
    for scheme in [ColorScheme::Dark, ColorScheme::Light] {
        browser.emulate_color_scheme(scheme).await.unwrap();
        browser.assert_accessible(&format!("{page} ({scheme:?})")).await.unwrap();
    }
}

/// A screenshot for the test's artifacts and, when asked, for the README.
async fn picture(browser: &Browser, name: &str) {
    browser.screenshot(name).await.unwrap();
    if std::env::var("BERTH_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        let dir = workspace().join("docs/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), browser.client.screenshot().await.unwrap()).unwrap();
    }
}

#[tokio::test]
async fn from_a_new_environment_to_a_healthy_api_in_the_browser() {
    let aws = LocalAws::start().await.unwrap();
    let berth = Berth::start_on_endpoint(&aws.url, "health_watch_refresh_ms = 500").await.unwrap();
    berth.user("rita", "requester", "payments").await.unwrap();
    berth.user("alice", "approver", "platform").await.unwrap();

    // The admin creates an environment, with a mistake first.
    let browser = Browser::start(&berth.url).await.unwrap();
    browser.open("/login").await.unwrap();
    browser.wait_hydrated().await.unwrap();
    accessible(&browser, "sign-in").await;
    sign_in(&browser, "admin", ADMIN_PASSWORD, "/environments").await;
    browser.wait_hydrated().await.unwrap();
    // Reached by client-side navigation: the page's chunk and data arrive after the URL.
    browser.wait_ready("#env-name").await.unwrap();
    browser.fill("#env-name", "Prod!").await.unwrap();
    browser.click(".env-form button[type=submit]").await.unwrap();
    browser.wait_for_text("#env-name-error", "lowercase").await.unwrap();
    accessible(&browser, "environments, with a field error").await;
    browser.fill("#env-name", "prod").await.unwrap();
    browser.click(".env-form button[type=submit]").await.unwrap();
    browser.wait_for_url("/environments/prod").await.unwrap();
    browser.wait_for_text("main", "0 of 100 listener rules").await.unwrap();
    accessible(&browser, "environment").await;
    for (path, ready) in [("/admin/users", "rita"), ("/tokens", "API tokens"), ("/no-such-page", "Not found")] {
        browser.open(path).await.unwrap();
        browser.wait_hydrated().await.unwrap();
        browser.wait_for_text("main", ready).await.unwrap();
        accessible(&browser, path).await;
    }
    browser.close().await.unwrap();

    // The requester fills the form: a message next to a bad field, the live preview.
    let browser = Browser::start(&berth.url).await.unwrap();
    sign_in(&browser, "rita", "rita-password-123", "/requests").await;
    browser.open("/requests/new").await.unwrap();
    browser.wait_hydrated().await.unwrap();
    browser.client.find(Locator::Css("#environment option[value=prod]")).await.unwrap().click().await.unwrap();
    browser.type_until("#service_name", "Orders API", "#service_name-error", "lowercase").await.unwrap();
    browser.fill("#service_name", "orders").await.unwrap();
    browser.fill("#description", "Orders for the shop").await.unwrap();
    browser.fill("#image_url", "nginx:1.27").await.unwrap();
    browser.fill("#path", "/orders*").await.unwrap();
    let preview = browser.wait_for_text("#preview", "berth-prod--orders").await.unwrap();
    assert!(preview.contains("berth-prod-cluster") && preview.contains("/orders*"), "{preview}");
    accessible(&browser, "request form").await;
    picture(&browser, "request-form").await;
    browser.click(".request-form button[type=submit]").await.unwrap();
    let url = browser.wait_for_url("/requests/1").await.unwrap();
    assert!(url.ends_with("/requests/1"), "{url}");
    browser.wait_for_text("main", "Pending review").await.unwrap();
    browser.open("/requests").await.unwrap();
    browser.wait_for_text("#request-list", "orders").await.unwrap();
    accessible(&browser, "requests").await;
    picture(&browser, "requests").await;
    browser.close().await.unwrap();

    // The approver reviews the plan and approves; the deployment shows up live.
    let browser = Browser::start(&berth.url).await.unwrap();
    sign_in(&browser, "alice", "alice-password-123", "/requests").await;
    browser.wait_for_text("#review-link", "1").await.unwrap();
    browser.open("/requests/1").await.unwrap();
    browser.wait_hydrated().await.unwrap();
    let plan = browser.wait_for_text("#plan", "AWS::ECS::Service").await.unwrap();
    assert!(plan.contains("AWS::ElasticLoadBalancingV2::ListenerRule"), "{plan}");
    accessible(&browser, "request, in review").await;
    browser.fill("#approve-text", "Looks right").await.unwrap();
    browser.click("#approve").await.unwrap();
    browser.wait_for_text("#events", "CREATE_COMPLETE").await.unwrap();
    browser.wait_for_text("#public-url", "/orders").await.unwrap();
    browser.wait_for_text("main", "Deployed").await.unwrap();
    // Health: both tasks run behind healthy targets, refreshed without a reload.
    browser.wait_for_text("#health-counts", "2 / 2 / 0").await.unwrap();
    let tasks = browser.wait_for_text("#health-tasks", "RUNNING").await.unwrap();
    assert_eq!(tasks.matches("RUNNING").count(), 4, "two tasks, last and desired status: {tasks}");
    browser.wait_for_text("#health-targets", "healthy").await.unwrap();
    browser.wait_for_text("#health", "healthy").await.unwrap();
    accessible(&browser, "request, deployed").await;
    picture(&browser, "request-detail").await;
    browser.open("/dashboard").await.unwrap();
    let board = browser.wait_for_text("#dashboard", "orders").await.unwrap();
    assert!(board.contains("prod") && board.contains("payments"), "{board}");
    browser.wait_for_text("#dashboard", "healthy").await.unwrap();
    accessible(&browser, "dashboard").await;
    picture(&browser, "dashboard").await;
    browser.close().await.unwrap();

    // The admin finds every step in the audit log and downloads it as CSV.
    let browser = Browser::start(&berth.url).await.unwrap();
    sign_in(&browser, "admin", ADMIN_PASSWORD, "/audit").await;
    let rows = browser.wait_for_text("#audit-list", "deployment").await.unwrap();
    for action in ["environment.create", "request.create", "request.approved", "deployment.queued", "deployment.started", "deployment.succeeded"] {
        assert!(rows.contains(action), "{action} in the audit page: {rows}");
    }
    browser.wait_for_text("#chain-state", "Chain verified").await.unwrap();
    accessible(&browser, "audit").await;
    picture(&browser, "audit").await;
    let href = browser.client.find(Locator::Css("#audit-exports a")).await.unwrap().attr("href").await.unwrap().unwrap();
    assert!(href.contains("format=csv"), "{href}");
    // The download, with the page's own session.
    let csv = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0]).then(r => r.text().then(t => done([r.status, r.headers.get('content-type'), t])));",
            vec![serde_json::json!(href)],
        )
        .await
        .unwrap();
    assert_eq!(csv[0], 200);
    assert!(csv[1].as_str().unwrap().starts_with("text/csv"), "{}", csv[1]);
    let text = csv[2].as_str().unwrap();
    assert!(text.lines().next().unwrap().contains("action") && text.contains("request.create") && text.contains("alice"), "{text}");
    browser.close().await.unwrap();
}
