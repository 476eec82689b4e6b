//! The JSON API and the server's HTTP behaviour, against the real binary.

use berth_tests::{api_request, Berth, ADMIN_PASSWORD};
use serde_json::json;

async fn audit_actions(berth: &Berth) -> Vec<(String, String)> {
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", berth.db_path().display())).await.unwrap();
    sqlx::query_as("SELECT actor, action FROM audit_log ORDER BY id").fetch_all(&db).await.unwrap()
}

#[tokio::test]
async fn probes_answer() {
    let berth = Berth::start().await.unwrap();
    let api = berth.client();
    assert_eq!(api.get("/healthz").await.unwrap().status, 200);
    assert_eq!(api.get("/readyz").await.unwrap().status, 200);
}

#[tokio::test]
async fn sign_in_sets_a_safe_cookie_and_sign_out_ends_the_session() {
    let berth = Berth::start().await.unwrap();
    let raw = reqwest::Client::new();
    let r = raw
        .post(format!("{}/api/v1/session", berth.url))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("berth_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP by default: {cookie}");
    let session = cookie.split(';').next().unwrap().to_string();

    let me = raw.get(format!("{}/api/v1/me", berth.url)).header("cookie", &session).send().await.unwrap();
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["username"], "admin");
    assert_eq!(me["role"], "admin");
    assert_eq!(me["team"], "platform");

    // Signing in again issues a new session id.
    let again = raw
        .post(format!("{}/api/v1/session", berth.url))
        .header("cookie", &session)
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    let renewed = again.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    assert_ne!(renewed, session, "the session id must change at sign-in");
    let old = raw.get(format!("{}/api/v1/me", berth.url)).header("cookie", &session).send().await.unwrap();
    assert_eq!(old.status(), 401, "the pre-sign-in id is dead");

    let out = raw.delete(format!("{}/api/v1/session", berth.url)).header("cookie", &renewed).send().await.unwrap();
    assert_eq!(out.status(), 204);
    let after = raw.get(format!("{}/api/v1/me", berth.url)).header("cookie", &renewed).send().await.unwrap();
    assert_eq!(after.status(), 401, "sign-out invalidates the session on the server");
}

#[tokio::test]
async fn secure_cookies_can_be_required() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("berth.toml");
    std::fs::write(&config, "secure_cookies = true\n").unwrap();
    let berth = Berth::start_with(&[("BERTH_CONFIG", config.to_str().unwrap())]).await.unwrap();
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/session", berth.url))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(r.headers()["set-cookie"].to_str().unwrap().contains("Secure"));
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let berth = Berth::start().await.unwrap();
    let api = berth.client();
    let wrong = api.post("/api/v1/session", json!({"username": "admin", "password": "nope"})).await.unwrap();
    let unknown = api.post("/api/v1/session", json!({"username": "ghost", "password": "nope"})).await.unwrap();
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.content_type, "application/problem+json");
    assert_eq!(api.get("/api/v1/me").await.unwrap().status, 401);
    let actions = audit_actions(&berth).await;
    assert!(actions.contains(&("admin".into(), "auth.sign_in_failed".into())));
    assert!(actions.contains(&("ghost".into(), "auth.sign_in_failed".into())));
}

#[tokio::test]
async fn admins_manage_users_and_others_cannot() {
    let berth = Berth::start().await.unwrap();
    let admin = berth.admin().await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();

    assert_eq!(rita.get("/api/v1/users").await.unwrap().status, 403);
    let forbidden = rita
        .post("/api/v1/users", json!({"username": "x1", "password": "long-enough-1", "display_name": "X", "role": "admin", "team": "t"}))
        .await
        .unwrap();
    assert_eq!(forbidden.status, 403);
    assert_eq!(berth.client().get("/api/v1/users").await.unwrap().status, 401);

    let taken = admin
        .post("/api/v1/users", json!({"username": "RITA", "password": "long-enough-1", "display_name": "R", "role": "requester", "team": "payments"}))
        .await
        .unwrap();
    assert_eq!(taken.status, 409);
    assert_eq!(taken.error_fields(), ["username"]);

    let invalid = admin
        .post("/api/v1/users", json!({"username": "a b", "password": "short", "display_name": "", "role": "boss", "team": "Pay"}))
        .await
        .unwrap();
    assert_eq!(invalid.status, 422);
    assert_eq!(invalid.error_fields(), ["username", "password", "display_name", "team", "role"]);

    let users = admin.get("/api/v1/users").await.unwrap();
    let rita_id = users.body.as_array().unwrap().iter().find(|u| u["username"] == "rita").unwrap()["id"].as_str().unwrap().to_string();

    let promoted = admin.patch(&format!("/api/v1/users/{rita_id}"), json!({"role": "approver", "team": "platform"})).await.unwrap();
    assert_eq!(promoted.status, 200);
    assert_eq!(promoted.body["role"], "approver");
    // Her sessions end with the change; signed in again she has the new role.
    assert_eq!(rita.get("/api/v1/me").await.unwrap().status, 401, "a role change ends the sessions");
    let rita = berth.sign_in("rita", "rita-password-123").await.unwrap();
    assert_eq!(rita.get("/api/v1/me").await.unwrap().body["role"], "approver", "takes effect at once");

    let bad = admin.patch(&format!("/api/v1/users/{rita_id}"), json!({"role": "root"})).await.unwrap();
    assert_eq!(bad.status, 422);
    assert_eq!(bad.error_fields(), ["role"]);
    assert_eq!(admin.patch("/api/v1/users/999", json!({"team": "x"})).await.unwrap().status, 404);

    let disabled = admin.patch(&format!("/api/v1/users/{rita_id}"), json!({"disabled": true})).await.unwrap();
    assert_eq!(disabled.body["disabled"], true);
    assert_eq!(rita.get("/api/v1/me").await.unwrap().status, 401, "a disabled account is signed out");
    assert!(berth.sign_in("rita", "rita-password-123").await.is_err());

    let admin_id = "1";
    let last = admin.patch(&format!("/api/v1/users/{admin_id}"), json!({"role": "approver"})).await.unwrap();
    assert_eq!(last.status, 409, "the last admin cannot demote themselves: {:?}", last.body);

    let reset = admin.patch(&format!("/api/v1/users/{rita_id}"), json!({"disabled": false, "password": "a-brand-new-password"})).await.unwrap();
    assert_eq!(reset.status, 200);
    assert!(berth.sign_in("rita", "a-brand-new-password").await.is_ok());

    let actions = audit_actions(&berth).await;
    for expected in ["user.bootstrap", "user.create", "user.update", "auth.sign_in"] {
        assert!(actions.iter().any(|(_, a)| a == expected), "{expected} not audited: {actions:?}");
    }
}

#[tokio::test]
async fn environments_are_readable_by_everyone_signed_in() {
    let berth = Berth::start().await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let list = rita.get("/api/v1/environments").await.unwrap();
    assert_eq!(list.status, 200);
    let staging = &list.body[0];
    assert_eq!(staging["name"], "staging");
    assert_eq!(staging["stack_name"], "berth-staging-cluster");
    assert_eq!(staging["status"], "not_deployed");
    assert_eq!(staging["parameters"]["InstanceType"], "t3.medium");
    assert_eq!(rita.get("/api/v1/environments/staging").await.unwrap().body["region"], "us-east-1");
    assert_eq!(rita.get("/api/v1/environments/nowhere").await.unwrap().status, 404);
    assert_eq!(berth.client().get("/api/v1/environments").await.unwrap().status, 401);
}

#[tokio::test]
async fn a_request_is_stored_at_revision_one_with_both_stacks_rendered() {
    let berth = Berth::start().await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let r = rita.post("/api/v1/requests", api_request("orders", "/orders*")).await.unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    let body = &r.body;
    assert_eq!(body["status"], "pending_review");
    assert_eq!(body["revision"], 1);
    assert_eq!(body["team"], "payments");
    assert_eq!(body["requested_by"], "rita");
    assert_eq!(body["priority"], 1);
    assert_eq!(body["stacks"]["cluster"]["stack_name"], "berth-staging-cluster");
    assert_eq!(body["stacks"]["service"]["stack_name"], "berth-staging--orders");
    let params = body["stacks"]["service"]["parameters"].as_array().unwrap();
    let value = |k: &str| params.iter().find(|p| p["key"] == k).map(|p| p["value"].clone());
    assert_eq!(value("Path"), Some(json!("/orders*")));
    assert_eq!(value("Priority"), Some(json!("1")));
    assert_eq!(value("ContainerPort"), Some(json!("8080")));

    let id = body["id"].as_str().unwrap();
    let fetched = rita.get(&format!("/api/v1/requests/{id}")).await.unwrap();
    assert_eq!(fetched.body, r.body);

    let second = rita.post("/api/v1/requests", api_request("users", "/users*")).await.unwrap();
    assert_eq!(second.body["priority"], 2, "the lowest free priority");
    assert!(audit_actions(&berth).await.contains(&("rita".into(), "request.create".into())));
}

#[tokio::test]
async fn bad_requests_are_refused_field_by_field() {
    let berth = Berth::start().await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    assert_eq!(rita.post("/api/v1/requests", api_request("orders", "/orders*")).await.unwrap().status, 201);

    let same_name = rita.post("/api/v1/requests", api_request("orders", "/other*")).await.unwrap();
    assert_eq!(same_name.status, 409);
    assert_eq!(same_name.error_fields(), ["service_name"]);
    let same_path = rita.post("/api/v1/requests", api_request("other", "/orders*")).await.unwrap();
    assert_eq!(same_path.status, 409);
    assert_eq!(same_path.error_fields(), ["path"]);

    let mut bad = api_request("Bad_Name", "orders");
    bad["cpu"] = json!(50);
    bad["desired_count"] = json!(0);
    bad["task_role_arn"] = json!("admin");
    let r = rita.post("/api/v1/requests", bad).await.unwrap();
    assert_eq!(r.status, 422);
    assert_eq!(r.content_type, "application/problem+json");
    assert_eq!(r.error_fields(), ["service_name", "cpu", "desired_count", "path", "task_role_arn"]);
    assert_eq!(r.body["errors"][0]["message"], "Service name must start with a lowercase letter");

    let mut wrong_type = api_request("typed", "/typed*");
    wrong_type["memory"] = json!("lots");
    let r = rita.post("/api/v1/requests", wrong_type).await.unwrap();
    assert_eq!(r.status, 422);
    assert_eq!(r.error_fields(), ["memory"]);

    let mut too_big = api_request("big", "/big*");
    too_big["cpu"] = json!(4096);
    let r = rita.post("/api/v1/requests", too_big).await.unwrap();
    assert_eq!(r.status, 422);
    assert!(r.body["errors"][0]["message"].as_str().unwrap().contains("t3.medium"), "{:?}", r.body);

    let mut nowhere = api_request("lost", "/lost*");
    nowhere["environment"] = json!("mars");
    let r = rita.post("/api/v1/requests", nowhere).await.unwrap();
    assert_eq!(r.status, 422);
    assert_eq!(r.error_fields(), ["environment"]);

    let broken = rita
        .http
        .post(format!("{}/api/v1/requests", rita.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), 400);

    let list = rita.get("/api/v1/requests").await.unwrap();
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1, "nothing half-written");
}

#[tokio::test]
async fn requesters_see_only_their_team() {
    let berth = Berth::start().await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let tom = berth.user("tom", "requester", "search").await.unwrap();
    let alice = berth.user("alice", "approver", "platform").await.unwrap();
    let id = rita.post("/api/v1/requests", api_request("orders", "/orders*")).await.unwrap().body["id"].as_str().unwrap().to_string();
    tom.post("/api/v1/requests", api_request("search", "/search*")).await.unwrap();

    assert_eq!(tom.get(&format!("/api/v1/requests/{id}")).await.unwrap().status, 404);
    assert_eq!(tom.put(&format!("/api/v1/requests/{id}"), api_request("orders", "/x*")).await.unwrap().status, 404);
    let toms = tom.get("/api/v1/requests").await.unwrap();
    let names: Vec<_> = toms.body["items"].as_array().unwrap().iter().map(|r| r["service_name"].clone()).collect();
    assert_eq!(names, [json!("search")]);
    let asked_other = tom.get("/api/v1/requests?team=payments").await.unwrap();
    assert_eq!(asked_other.body["items"].as_array().unwrap().len(), 0);

    let all = alice.get("/api/v1/requests").await.unwrap();
    assert_eq!(all.body["items"].as_array().unwrap().len(), 2);
    let payments = alice.get("/api/v1/requests?team=payments").await.unwrap();
    assert_eq!(payments.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(alice.get("/api/v1/requests?mine=true").await.unwrap().body["items"].as_array().unwrap().len(), 0);
    assert_eq!(alice.get(&format!("/api/v1/requests/{id}")).await.unwrap().status, 200);
    assert_eq!(alice.get("/api/v1/requests?status=bogus").await.unwrap().status, 422);
    assert_eq!(alice.get("/api/v1/requests?status=pending_review").await.unwrap().body["items"].as_array().unwrap().len(), 2);
    assert_eq!(alice.get("/api/v1/requests/nope").await.unwrap().status, 404);
    let approver_edit = alice.put(&format!("/api/v1/requests/{id}"), api_request("orders", "/x*")).await.unwrap();
    assert_eq!(approver_edit.status, 403, "approvers review; the team edits");
}

#[tokio::test]
async fn editing_creates_a_new_revision() {
    let berth = Berth::start().await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let paula = berth.user("paula", "requester", "payments").await.unwrap();
    let id = rita.post("/api/v1/requests", api_request("orders", "/orders*")).await.unwrap().body["id"].as_str().unwrap().to_string();
    rita.post("/api/v1/requests", api_request("users", "/users*")).await.unwrap();

    let mut changed = api_request("orders", "/orders/v2*");
    changed["desired_count"] = json!(4);
    let r = paula.put(&format!("/api/v1/requests/{id}"), changed).await.unwrap();
    assert_eq!(r.status, 200, "a teammate may edit: {:?}", r.body);
    assert_eq!(r.body["revision"], 2);
    assert_eq!(r.body["status"], "pending_review");
    assert_eq!(r.body["parameters"]["desired_count"], 4);
    assert_eq!(r.body["priority"], 1, "the priority stays");

    let clash = rita.put(&format!("/api/v1/requests/{id}"), api_request("orders", "/users*")).await.unwrap();
    assert_eq!(clash.status, 409);
    assert_eq!(clash.error_fields(), ["path"]);
    let renamed = rita.put(&format!("/api/v1/requests/{id}"), api_request("orders2", "/orders/v2*")).await.unwrap();
    assert_eq!(renamed.status, 422);
    assert_eq!(renamed.error_fields(), ["service_name"]);

    // The freed path can be claimed by a new API (one that overlaps no /orders/v2 path).
    assert_eq!(rita.post("/api/v1/requests", api_request("legacy", "/orders")).await.unwrap().status, 201);
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", berth.db_path().display())).await.unwrap();
    let revisions: i64 = sqlx::query_scalar("SELECT count(*) FROM request_revisions WHERE request_id = ?").bind(&id).fetch_one(&db).await.unwrap();
    assert_eq!(revisions, 2);
    assert!(audit_actions(&berth).await.contains(&("paula".into(), "request.update".into())));
}

#[tokio::test]
async fn the_list_pages_with_a_cursor_and_an_environment_has_a_capacity() {
    let berth = Berth::start().await.unwrap();
    // Hosts enough for 100 APIs beside each other: the listener rules are the limit here.
    berth.grow_staging(30).await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    for i in 0..100 {
        let r = rita.post("/api/v1/requests", api_request(&format!("api{i}"), &format!("/api{i}/*"))).await.unwrap();
        assert_eq!(r.status, 201, "{:?}", r.body);
        assert_eq!(r.body["priority"], i + 1);
    }
    let full = rita.post("/api/v1/requests", api_request("one-more", "/one-more*")).await.unwrap();
    assert_eq!(full.status, 409);
    assert!(full.body["detail"].as_str().unwrap().contains("staging is full"), "{:?}", full.body);

    let mut seen = Vec::new();
    let mut path = "/api/v1/requests?limit=30".to_string();
    loop {
        let page = rita.get(&path).await.unwrap();
        assert_eq!(page.status, 200);
        seen.extend(page.body["items"].as_array().unwrap().iter().map(|r| r["service_name"].as_str().unwrap().to_string()));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/requests?limit=30&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 100);
    assert_eq!(seen.first().unwrap(), "api99", "newest first");
    assert_eq!(seen.last().unwrap(), "api0");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 100, "no request twice");
    assert_eq!(rita.get("/api/v1/requests").await.unwrap().body["items"].as_array().unwrap().len(), 50, "default limit");
    assert_eq!(rita.get("/api/v1/requests?cursor=forged").await.unwrap().status, 422);
}

#[tokio::test]
async fn the_openapi_document_lists_the_contract() {
    let berth = Berth::start().await.unwrap();
    let doc = berth.client().get("/api/v1/openapi.json").await.unwrap();
    assert_eq!(doc.status, 200);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3."));
    for (path, method) in [
        ("/api/v1/session", "post"),
        ("/api/v1/session", "delete"),
        ("/api/v1/me", "get"),
        ("/api/v1/users", "get"),
        ("/api/v1/users", "post"),
        ("/api/v1/users/{id}", "patch"),
        ("/api/v1/environments", "get"),
        ("/api/v1/environments/{name}", "get"),
        ("/api/v1/requests", "post"),
        ("/api/v1/requests", "get"),
        ("/api/v1/requests/{id}", "get"),
        ("/api/v1/requests/{id}", "put"),
    ] {
        assert!(doc.body["paths"][path][method].is_object(), "{method} {path} is not documented");
    }
    let ids: Vec<_> = doc.body["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|p| p.as_object().unwrap().values().map(|op| op["operationId"].as_str().unwrap().to_string()))
        .collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "operation ids must be unique: {ids:?}");
}

#[tokio::test]
async fn pages_need_a_session() {
    let berth = Berth::start().await.unwrap();
    let raw = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = raw.get(format!("{}/requests?status=deployed", berth.url)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login?next=/requests%3Fstatus%3Ddeployed");
    let login = raw.get(format!("{}/login", berth.url)).send().await.unwrap();
    assert_eq!(login.status(), 200);
    let html = login.text().await.unwrap();
    assert!(html.contains("name=\"username\"") && html.contains("name=\"password\""));

    let admin = berth.admin().await.unwrap();
    let form = admin.http.get(format!("{}/requests/new", berth.url)).send().await.unwrap().text().await.unwrap();
    for id in ["environment", "service_name", "image_url", "cpu", "memory", "path", "health_check_path", "preview"] {
        assert!(form.contains(&format!("id=\"{id}\"")), "the server-rendered form lacks #{id}");
    }
    let missing = admin.http.get(format!("{}/no/such/page", berth.url)).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn operators_add_users_and_migrate_from_the_command_line() {
    let berth = Berth::start().await.unwrap();
    let out = berth.command(&["user", "add", "bob", "--role", "approver", "--team", "platform"], "bobs-password-1\n").unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bob = berth.sign_in("bob", "bobs-password-1").await.unwrap();
    assert_eq!(bob.get("/api/v1/me").await.unwrap().body["role"], "approver");

    let dup = berth.command(&["user", "add", "bob", "--team", "platform"], "another-password\n").unwrap();
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("taken"));

    let migrate = berth.command(&["migrate"], "").unwrap();
    assert!(migrate.status.success());
    assert!(audit_actions(&berth).await.contains(&("cli".into(), "user.create".into())));
}

#[tokio::test]
async fn a_generated_admin_password_is_written_for_its_owner_only_never_logged() {
    let berth = Berth::start_with(&[("BERTH_ADMIN_PASSWORD", "")]).await.unwrap();
    let file = std::path::PathBuf::from(format!("{}.admin-password", berth.db_path().display()));
    let password = std::fs::read_to_string(&file).expect("the password file").trim().to_string();
    assert_eq!(password.len(), 20);
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let log = berth.log();
    assert!(log.contains(&file.display().to_string()), "the log says where: {log}");
    assert!(!log.contains(&password), "never the password itself: {log}");
    assert!(berth.sign_in("admin", &password).await.is_ok());
}

fn environment(name: &str, instance_type: &str) -> serde_json::Value {
    json!({
        "name": name,
        "region": "us-east-1",
        "parameters": {"InstanceType": instance_type, "DesiredCapacity": 2, "MaxSize": 4},
    })
}

#[tokio::test]
async fn the_platform_team_manages_environments() {
    let berth = Berth::start().await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let alice = berth.user("alice", "approver", "platform").await.unwrap();

    assert_eq!(rita.post("/api/v1/environments", environment("prod", "m5.large")).await.unwrap().status, 403);
    let created = alice.post("/api/v1/environments", environment("prod", "m5.large")).await.unwrap();
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["stack_name"], "berth-prod-cluster");
    assert_eq!(created.body["status"], "not_deployed");
    assert_eq!(created.body["rule_capacity"], 100);
    assert_eq!(alice.post("/api/v1/environments", environment("prod", "m5.large")).await.unwrap().status, 409);
    // Any region (Berth's own is us-east-1 here), and another account through a role; an
    // external id only goes with a role, and each field is checked as STS would.
    let mut abroad = environment("eu", "m5.large");
    abroad["region"] = json!("eu-west-1");
    abroad["role_arn"] = json!("arn:aws:iam::111111111111:role/berth-deployer");
    let r = alice.post("/api/v1/environments", abroad.clone()).await.unwrap();
    assert_eq!((r.status, r.body["region"].as_str()), (201, Some("eu-west-1")), "{}", r.body);
    let mut bad = environment("eu2", "m5.large");
    bad["role_arn"] = json!("arn:aws:iam::111:user/x");
    bad["external_id"] = json!("has spaces");
    let r = alice.post("/api/v1/environments", bad).await.unwrap();
    assert_eq!((r.status, r.error_fields()), (422, vec!["role_arn".to_string(), "external_id".to_string()]), "{}", r.body);
    let mut lonely = environment("eu3", "m5.large");
    lonely["external_id"] = json!("berth-1234");
    assert_eq!(alice.post("/api/v1/environments", lonely).await.unwrap().error_fields(), ["external_id"]);

    let mut bad = environment("Prod!", "t2.nano");
    bad["parameters"]["MaxSize"] = json!(1);
    let r = alice.post("/api/v1/environments", bad).await.unwrap();
    assert_eq!(r.status, 422);
    assert_eq!(r.error_fields(), ["name", "parameters.InstanceType", "parameters.MaxSize"]);

    // An API that needs an m5.large's memory pins the environment's size.
    let mut big = api_request("reports", "/reports*");
    big["environment"] = json!("prod");
    big["memory"] = json!(6000);
    assert_eq!(rita.post("/api/v1/requests", big.clone()).await.unwrap().status, 201);
    big["environment"] = json!("staging");
    big["service_name"] = json!("reports2");
    big["path"] = json!("/reports2*");
    assert_eq!(rita.post("/api/v1/requests", big).await.unwrap().status, 422, "6000 MiB does not fit a t3.medium");

    let shrink = alice.put("/api/v1/environments/prod", environment("prod", "t3.medium")).await.unwrap();
    assert_eq!(shrink.status, 409);
    assert_eq!(shrink.error_fields(), ["parameters.InstanceType"]);
    assert!(shrink.body["detail"].as_str().unwrap().contains("reports"), "{:?}", shrink.body);
    let mut moved = environment("prod", "m5.large");
    moved["region"] = json!("us-west-2");
    assert_eq!(alice.put("/api/v1/environments/prod", moved).await.unwrap().error_fields(), ["region"]);
    let mut tight = environment("prod", "m5.large");
    tight["rule_capacity"] = json!(0);
    assert_eq!(alice.put("/api/v1/environments/prod", tight).await.unwrap().status, 422);

    let mut grown = environment("ignored-name", "m5.xlarge");
    grown["parameters"]["MaxSize"] = json!(8);
    grown["rule_capacity"] = json!(1);
    let r = alice.put("/api/v1/environments/prod", grown.clone()).await.unwrap();
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(r.body["name"], "prod");
    assert_eq!(r.body["parameters"]["InstanceType"], "m5.large", "nothing changes before the review");
    assert_eq!(r.body["pending_change"]["after"]["parameters"]["InstanceType"], "m5.xlarge");
    assert_eq!(r.body["pending_change"]["may_decide"], false, "not by whoever asked");
    let change = r.body["pending_change"]["id"].as_str().unwrap().to_string();
    assert_eq!(alice.put("/api/v1/environments/prod", grown).await.unwrap().status, 409, "one change waits at a time");
    // Four eyes: whoever asked cannot decide, a requester cannot either; another approver can.
    let approve = format!("/api/v1/environments/prod/changes/{change}/approve");
    let own = alice.post(&approve, json!({})).await.unwrap();
    assert_eq!(own.status, 403);
    assert!(own.body["detail"].as_str().unwrap().contains("Four eyes"), "{:?}", own.body);
    assert_eq!(rita.post(&approve, json!({})).await.unwrap().status, 403);
    let bob = berth.user("bob", "approver", "platform").await.unwrap();
    let seen = bob.get("/api/v1/environments/prod").await.unwrap().body;
    assert_eq!(seen["pending_change"]["may_decide"], true);
    let reject = format!("/api/v1/environments/prod/changes/{change}/reject");
    assert_eq!(bob.post(&reject, json!({"reason": " "})).await.unwrap().error_fields(), ["reason"]);
    let r = bob.post(&approve, json!({"reason": "capacity for the launch"})).await.unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["parameters"]["InstanceType"], "m5.xlarge");
    assert_eq!(r.body["api_count"], 1);
    assert!(r.body["pending_change"].is_null());
    assert_eq!(bob.post(&approve, json!({})).await.unwrap().status, 409, "decided already");
    let mut another = api_request("second", "/second*");
    another["environment"] = json!("prod");
    let full = rita.post("/api/v1/requests", another).await.unwrap();
    assert_eq!(full.status, 409, "a capacity of 1 holds one API");

    assert_eq!(rita.put("/api/v1/environments/prod", environment("prod", "m5.large")).await.unwrap().status, 403);
    assert_eq!(alice.put("/api/v1/environments/nope", environment("nope", "m5.large")).await.unwrap().status, 404);
    let actions = audit_actions(&berth).await;
    assert!(actions.contains(&("alice".into(), "environment.create".into())));
    assert!(actions.contains(&("alice".into(), "environment.change_requested".into())));
    assert!(actions.contains(&("bob".into(), "environment.change_approved".into())));
}

#[tokio::test]
async fn reviewers_download_templates_and_parameter_files() {
    let berth = Berth::start().await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let id = rita.post("/api/v1/requests", api_request("orders", "/orders*")).await.unwrap().body["id"].as_str().unwrap().to_string();
    let template = rita.http.get(format!("{}/api/v1/requests/{id}/templates/service", berth.url)).send().await.unwrap();
    assert_eq!(template.status(), 200);
    assert_eq!(template.headers()["content-disposition"], "attachment; filename=\"berth-staging--orders.yaml\"");
    assert!(template.text().await.unwrap().contains("AWS::ECS::Service"));
    let params = rita.get(&format!("/api/v1/requests/{id}/parameters/cluster")).await.unwrap();
    assert_eq!(params.body[0], json!({"ParameterKey": "InstanceType", "ParameterValue": "t3.medium"}));
    assert_eq!(rita.get(&format!("/api/v1/requests/{id}/parameters/database")).await.unwrap().status, 404);
    let tom = berth.user("tom", "requester", "search").await.unwrap();
    assert_eq!(tom.get(&format!("/api/v1/requests/{id}/parameters/service")).await.unwrap().status, 404);
}

#[tokio::test]
async fn task_roles_are_limited_to_the_ones_berth_may_pass() {
    let berth = Berth::start().await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let mut body = api_request("orders", "/orders*");
    body["task_role_arn"] = json!("arn:aws:iam::123456789012:role/AdminEverything");
    let r = rita.post("/api/v1/requests", body.clone()).await.unwrap();
    assert_eq!((r.status, r.error_fields()), (422, vec!["task_role_arn".to_string()]));
    assert!(r.body["errors"][0]["message"].as_str().unwrap().contains("berth-payments--"));
    // Another team's role, a role of team "pay" vs "pay-ments", and the cluster's own roles.
    for foreign in ["berth-search--indexer", "berth-payments-cluster-ECSTaskExecutionRole-1ABC", "berth-staging-cluster-EC2Role-XYZ", "berth-payments--"] {
        body["task_role_arn"] = json!(format!("arn:aws:iam::123456789012:role/{foreign}"));
        let r = rita.post("/api/v1/requests", body.clone()).await.unwrap();
        assert_eq!((r.status, r.error_fields()), (422, vec!["task_role_arn".to_string()]), "{foreign}");
    }
    body["task_role_arn"] = json!("arn:aws:iam::123456789012:role/berth-payments--orders-task");
    assert_eq!(rita.post("/api/v1/requests", body).await.unwrap().status, 201);
}

#[tokio::test]
async fn the_wasm_and_pages_are_sent_compressed_to_browsers_that_ask() {
    let berth = Berth::start().await.unwrap();
    let raw = reqwest::Client::new();
    let wasm = raw.get(format!("{}/pkg/berth.wasm", berth.url)).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(wasm.status(), 200);
    assert_eq!(wasm.headers()["content-encoding"], "gzip");
    let plain = raw.get(format!("{}/pkg/berth.wasm", berth.url)).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none(), "only when asked");
    let page = raw.get(format!("{}/login", berth.url)).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(page.headers()["content-encoding"], "gzip");
}

#[tokio::test]
async fn pages_link_the_site_files_under_a_path_named_for_their_contents_kept_for_good() {
    let berth = Berth::start().await.unwrap();
    let raw = reqwest::Client::new();
    let page = raw.get(format!("{}/login", berth.url)).send().await.unwrap().text().await.unwrap();
    let at = page.find("/assets/").expect("the page links its files under /assets/<hash>");
    let root = &page[at..(at + "/assets/".len() + 16).min(page.len())];
    let hash = &root["/assets/".len()..];
    assert!(hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()), "{root}");
    for file in ["berth.js", "berth.wasm", "berth.css"] {
        assert!(page.contains(&format!("{root}/pkg/{file}")), "the page links {file} under {root}");
        let r = raw.get(format!("{}{root}/pkg/{file}", berth.url)).header("accept-encoding", "br").send().await.unwrap();
        assert_eq!(r.status(), 200, "{file}");
        assert_eq!(r.headers()["cache-control"], "public, max-age=31536000, immutable", "{file}");
        assert_eq!(r.headers()["vary"], "accept-encoding");
        assert_eq!(r.headers()["content-encoding"], "br");
    }
    // Another build's path is not this build's files.
    let stale = raw.get(format!("{}/assets/0123456789abcdef/pkg/berth.js", berth.url)).send().await.unwrap();
    assert_eq!(stale.status(), 404);
    // The plain names still answer, checked again before each reuse.
    let plain = raw.get(format!("{}/pkg/berth.js", berth.url)).send().await.unwrap();
    assert_eq!((plain.status().as_u16(), plain.headers()["cache-control"].to_str().unwrap()), (200, "no-cache"));
}

#[tokio::test]
async fn service_options_are_checked_by_the_server_with_a_message_per_field() {
    let berth = Berth::start().await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let alice = berth.user("alice", "approver", "platform").await.unwrap();

    let mut orders = api_request("orders", "/orders*");
    orders["environment_variables"] = json!([{"name": "LOG_LEVEL", "value": "debug"}, {"name": "AWS_REGION", "value": "eu-west-1"}]);
    orders["secrets"] = json!([{"name": "DB", "value_from": "db-password"}]);
    orders["autoscaling"] = json!({"min": 3, "max": 2, "metric": "cpu", "target": 150});
    let r = rita.post("/api/v1/requests", orders.clone()).await.unwrap();
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert_eq!(r.error_fields(), ["environment_variables", "secrets", "scaling_max", "scaling_target"]);

    // Another team's secret is refused: the execution role would let orders read it.
    orders["environment_variables"] = json!([{"name": "LOG_LEVEL", "value": "debug"}]);
    orders["secrets"] = json!([{"name": "DB", "value_from": "arn:aws:ssm:us-east-1:123456789012:parameter/billing/db"}]);
    orders["autoscaling"] = json!({"min": 2, "max": 6, "metric": "requests", "target": 1000});
    let r = rita.post("/api/v1/requests", orders.clone()).await.unwrap();
    assert_eq!(r.error_fields(), ["secrets"], "{:?}", r.body);
    assert!(r.body["errors"][0]["message"].as_str().unwrap().contains("team payments"));
    orders["secrets"] = json!([{"name": "DB", "value_from": "arn:aws:secretsmanager:us-east-1:123456789012:secret:payments/db-AbCdEf"}]);
    let created = rita.post("/api/v1/requests", orders.clone()).await.unwrap();
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["parameters"]["autoscaling"]["metric"], "requests");
    let service = &created.body["stacks"]["service"]["parameters"];
    let value = |key: &str| service.as_array().unwrap().iter().find(|p| p["key"] == key).unwrap()["value"].clone();
    assert_eq!((value("ScalingMax"), value("SecretName01"), value("EnvValue01")), (json!("6"), json!("DB"), json!("debug")));

    // An API whose peak (a deployment's headroom) does not fit the environment's maximum
    // size is refused with what fits.
    // (In an environment of its own, so that no other API's tasks count.)
    assert_eq!(alice.post("/api/v1/environments", environment("lone", "t3.medium")).await.unwrap().status, 201);
    let mut big = api_request("reports", "/reports*");
    big["environment"] = json!("lone");
    big["cpu"] = json!(2048);
    big["memory"] = json!(3000);
    big["desired_count"] = json!(3);
    let r = rita.post("/api/v1/requests", big.clone()).await.unwrap();
    assert_eq!((r.status, r.error_fields()), (422, vec!["desired_count".to_string()]), "{:?}", r.body);
    let message = r.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("At most 2 tasks fit"), "{message}");
    big["desired_count"] = json!(2);
    assert_eq!(rita.post("/api/v1/requests", big).await.unwrap().status, 201);

    // Environment options: a certificate of the environment's region, a bucket name.
    let mut secure = environment("secure", "t3.medium");
    secure["parameters"]["CertificateArn"] = json!("arn:aws:acm:eu-west-1:123456789012:certificate/abc-123");
    secure["parameters"]["AccessLogsBucket"] = json!("Not_A_Bucket");
    let r = alice.post("/api/v1/environments", secure.clone()).await.unwrap();
    assert_eq!(r.error_fields(), ["parameters.CertificateArn", "parameters.AccessLogsBucket"], "{:?}", r.body);
    assert!(r.body["errors"][0]["message"].as_str().unwrap().contains("us-east-1"));
    secure["parameters"]["CertificateArn"] = json!("arn:aws:acm:us-east-1:123456789012:certificate/abc-123");
    secure["parameters"]["AccessLogsBucket"] = json!("acme-alb-logs");
    secure["parameters"]["DeletionProtection"] = json!(true);
    let r = alice.post("/api/v1/environments", secure).await.unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["parameters"]["ContainerInsights"], true, "on unless turned off");
    assert_eq!(r.body["parameters"]["DeletionProtection"], true);
    let mut api = api_request("secure-api", "/secure*");
    api["environment"] = json!("secure");
    let r = rita.post("/api/v1/requests", api).await.unwrap();
    let cluster = &r.body["stacks"]["cluster"]["parameters"];
    let value = |key: &str| cluster.as_array().unwrap().iter().find(|p| p["key"] == key).unwrap()["value"].clone();
    assert_eq!(value("CertificateArn"), json!("arn:aws:acm:us-east-1:123456789012:certificate/abc-123"));
    assert_eq!((value("DeletionProtection"), value("ContainerInsights")), (json!("true"), json!("enabled")));
    assert_eq!(value("ECSAMI"), json!("/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"));
    let service = &r.body["stacks"]["service"]["parameters"];
    assert_eq!(service.as_array().unwrap().iter().find(|p| p["key"] == "Https").unwrap()["value"], "true");
}

/// The service stack's name and target group of a request as the API shows them.
fn service_names(r: &berth_tests::Reply) -> (String, String) {
    let service = &r.body["stacks"]["service"];
    let target_group = service["parameters"].as_array().unwrap().iter().find(|p| p["key"] == "TargetGroupName").unwrap()["value"].clone();
    (service["stack_name"].as_str().unwrap().to_string(), target_group.as_str().unwrap().to_string())
}

#[tokio::test]
async fn stack_names_never_collide_and_paths_never_overlap() {
    let berth = Berth::start().await.unwrap();
    let admin = berth.admin().await.unwrap();
    for name in ["prod", "prod-eu"] {
        let env = json!({"name": name, "region": "us-east-1", "parameters": {"InstanceType": "t3.medium", "DesiredCapacity": 1, "MaxSize": 2}});
        assert_eq!(admin.post("/api/v1/environments", env).await.unwrap().status, 201);
    }
    let rita = berth.user("rita", "requester", "payments").await.unwrap();

    // A service named like the cluster stack's suffix is refused, with its reason by the field.
    let r = rita.post("/api/v1/requests", api_request("cluster", "/cluster*")).await.unwrap();
    assert_eq!((r.status, r.error_fields()), (422, vec!["service_name".to_string()]));
    assert!(r.body["errors"][0]["message"].as_str().unwrap().contains("reserved"), "{:?}", r.body);

    // prod + eu-orders and prod-eu + orders: different stacks and target groups.
    let mut a = api_request("eu-orders", "/eu-orders*");
    a["environment"] = json!("prod");
    let mut b = api_request("orders", "/orders*");
    b["environment"] = json!("prod-eu");
    let (a, b) = (rita.post("/api/v1/requests", a).await.unwrap(), rita.post("/api/v1/requests", b).await.unwrap());
    assert_eq!((a.status, b.status), (201, 201), "{:?} {:?}", a.body, b.body);
    let (stack_a, group_a) = service_names(&a);
    let (stack_b, group_b) = service_names(&b);
    assert_eq!(stack_a, "berth-prod--eu-orders");
    assert_ne!(stack_a, stack_b);
    assert_ne!(group_a, group_b);
    let mut cluster_like = api_request("eu-cluster", "/eu-cluster*");
    cluster_like["environment"] = json!("prod");
    let c = rita.post("/api/v1/requests", cluster_like).await.unwrap();
    assert_eq!(c.status, 201);
    assert_ne!(service_names(&c).0, "berth-prod-eu-cluster", "never the cluster stack of prod-eu");

    // Patterns that open with a wildcard would take every other team's traffic.
    for greedy in ["/?*", "/*?", "/**"] {
        let r = rita.post("/api/v1/requests", api_request("greedy", greedy)).await.unwrap();
        assert_eq!((r.status, r.error_fields()), (422, vec!["path".to_string()]), "{greedy}");
    }
    // An overlapping pattern in the same environment is refused, naming the other API...
    let tom = berth.user("tom", "requester", "search").await.unwrap();
    let mut overlapping = api_request("order-search", "/orders/search*");
    overlapping["environment"] = json!("prod-eu");
    let r = tom.post("/api/v1/requests", overlapping.clone()).await.unwrap();
    assert_eq!((r.status, r.error_fields()), (409, vec!["path".to_string()]), "{:?}", r.body);
    let detail = r.body["detail"].as_str().unwrap();
    assert!(detail.contains("orders") && detail.contains(&format!("request {}", b.body["id"].as_str().unwrap())), "{detail}");
    // ...and accepted in another environment, or once it no longer overlaps.
    overlapping["environment"] = json!("prod");
    assert_eq!(tom.post("/api/v1/requests", overlapping).await.unwrap().status, 201);
}

#[tokio::test]
async fn an_api_must_fit_beside_the_other_apis_of_its_environment() {
    let berth = Berth::start().await.unwrap();
    let admin = berth.admin().await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    // 2 × t3.medium at most: 4096 CPU units.
    let env = json!({"name": "small", "region": "us-east-1", "parameters": {"InstanceType": "t3.medium", "DesiredCapacity": 1, "MaxSize": 2}});
    assert_eq!(admin.post("/api/v1/environments", env.clone()).await.unwrap().status, 201);
    let api = |service: &str, desired: u32| {
        let mut body = api_request(service, &format!("/{service}*"));
        body["environment"] = json!("small");
        body["cpu"] = json!(512);
        body["desired_count"] = json!(desired);
        body
    };
    // Two APIs of 2 tasks of 512 each fit, each with room to deploy (4 × 512 at its peak).
    let orders = rita.post("/api/v1/requests", api("orders", 2)).await.unwrap();
    assert_eq!(orders.status, 201, "{:?}", orders.body);
    let orders = orders.body["id"].as_str().unwrap().to_string();
    assert_eq!(rita.post("/api/v1/requests", api("billing", 2)).await.unwrap().status, 201);
    // A third of 3 tasks fits the hosts alone, not beside them: the field says what fits.
    let r = rita.post("/api/v1/requests", api("parcels", 3)).await.unwrap();
    assert_eq!((r.status, r.error_fields()), (422, vec!["desired_count".to_string()]), "{:?}", r.body);
    let message = r.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("beside the other 2 APIs") && message.contains("At most 2 tasks"), "{message}");
    assert_eq!(rita.post("/api/v1/requests", api("parcels", 2)).await.unwrap().status, 201);
    // A revision of an API is counted once, not beside itself.
    let mut revised = api("orders", 2);
    revised["image_url"] = json!("nginx:1.28");
    assert_eq!(rita.put(&format!("/api/v1/requests/{orders}"), revised).await.unwrap().status, 200);

    // The environment cannot shrink under them.
    let mut smaller = env.clone();
    smaller["parameters"]["MaxSize"] = json!(1);
    let r = admin.put("/api/v1/environments/small", smaller).await.unwrap();
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert!(r.body["detail"].as_str().unwrap().contains("beside the other"), "{:?}", r.body);
}

/// The document states the rules the server enforces (from the same constants), the
/// server refuses what the document forbids (never clamps it), and creating operations
/// link to those that use their ids.
#[tokio::test]
async fn the_openapi_document_states_the_rules_and_the_server_holds_to_them() {
    let berth = Berth::start().await.unwrap();
    let admin = berth.admin().await.unwrap();
    let doc = berth.client().get("/api/v1/openapi.json").await.unwrap().body;
    let schemas = &doc["components"]["schemas"];
    let cpu = &schemas["RequestInput"]["properties"]["cpu"];
    assert_eq!((cpu["minimum"].as_u64(), cpu["maximum"].as_u64()), (Some(128), Some(10240)), "{cpu}");
    let service = &schemas["RequestInput"]["properties"]["service_name"];
    assert_eq!((service["maxLength"].as_u64(), service["pattern"].as_str()), (Some(40), Some("^[a-z](-?[a-z0-9])+$")));
    assert!(service["not"]["pattern"].as_str().unwrap().contains("cluster"), "reserved names are stated: {service}");
    assert!(schemas["RequestInput"]["required"].as_array().unwrap().contains(&json!("service_name")));
    // Any region, and a role in another account with its external id, as STS takes them.
    let environment = &schemas["EnvironmentInput"]["properties"];
    assert!(environment["region"]["enum"].is_null(), "no one-region rule: {}", environment["region"]);
    assert_eq!(environment["region"]["pattern"], "^[a-z0-9]{2}(-[a-z0-9]+)+-[0-9]+$");
    assert_eq!(environment["role_arn"]["pattern"], "^arn:aws[^:]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$");
    assert_eq!((environment["external_id"]["minLength"].as_u64(), environment["external_id"]["maxLength"].as_u64()), (Some(2), Some(1224)));
    let types = &schemas["ClusterParameters"]["properties"]["InstanceType"]["enum"];
    assert!(types.as_array().unwrap().contains(&json!("t3.medium")) && types.as_array().unwrap().contains(&json!("m5.large")), "{types}");
    let list = &doc["paths"]["/api/v1/requests"]["get"]["parameters"];
    let limit = list.as_array().unwrap().iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!((limit["schema"]["minimum"].as_u64(), limit["schema"]["maximum"].as_u64()), (Some(1), Some(200)));
    let audit = &doc["paths"]["/api/v1/audit"]["get"]["parameters"];
    let from = audit.as_array().unwrap().iter().find(|p| p["name"] == "from").unwrap();
    assert!(from["schema"]["anyOf"].to_string().contains("date-time"), "{from}");
    let events = &doc["paths"]["/api/v1/requests/{id}/events"]["get"]["parameters"];
    assert!(events.as_array().unwrap().iter().any(|p| p["name"] == "after" && p["in"] == "query"), "{events}");
    let links = &doc["paths"]["/api/v1/requests"]["post"]["responses"]["201"]["links"];
    for target in ["approve_request", "add_comment", "retry_deployment", "update_request", "get_request_parameters", "get_request_template"] {
        assert_eq!(links[target]["parameters"]["id"], "$response.body#/id", "{target} in {links}");
    }
    assert_eq!(doc["paths"]["/api/v1/users"]["post"]["responses"]["201"]["links"]["update_user"]["operationId"], "update_user");
    // Each error answer's problem exactly: a 422 always lists the fields.
    let problem = |path: &str, method: &str, status: &str| doc["paths"][path][method]["responses"][status]["content"]["application/problem+json"]["schema"].clone();
    let invalid = problem("/api/v1/requests", "post", "422");
    assert_eq!((invalid["required"].clone(), invalid["properties"]["status"]["const"].clone()), (json!(["errors"]), json!(422)), "{invalid}");
    let missing = problem("/api/v1/requests/{id}", "get", "404");
    assert_eq!(missing["properties"]["type"]["const"], "urn:berth:problem:not-found", "{missing}");
    assert!(doc["paths"]["/api/v1/session"]["post"]["responses"]["429"]["headers"]["Retry-After"].is_object());

    // Out of range is refused with the parameter named, on every list.
    for path in ["/api/v1/requests?limit=201", "/api/v1/requests?limit=0", "/api/v1/audit?limit=2147483648", "/api/v1/dashboard?limit=500", "/api/v1/audit/export?limit=lots"] {
        let r = admin.get(path).await.unwrap();
        assert_eq!((r.status, r.error_fields()), (422, vec!["limit".to_string()]), "{path}: {:?}", r.body);
    }
    assert_eq!(admin.get("/api/v1/requests?limit=200").await.unwrap().status, 200);
    // A cursor is the decimal position Berth gave out.
    assert_eq!(admin.get("/api/v1/requests?cursor=12").await.unwrap().status, 200);
    assert_eq!(admin.get("/api/v1/requests?cursor=-12").await.unwrap().error_fields(), ["cursor"]);
    // A body is an object: serde would read `[null, null]` as a struct's fields.
    assert_eq!(admin.patch("/api/v1/users/1", json!([null, null])).await.unwrap().status, 400);
    // A whole number written as a float is that number.
    let user = json!({"username": "fred", "password": "fred-password-1", "display_name": "Fred", "role": "requester", "team": "payments"});
    assert_eq!(admin.post("/api/v1/users", user).await.unwrap().status, 201);
    let token = admin.post("/api/v1/tokens", json!({"name": "ci", "expires_in_days": 30.0})).await.unwrap();
    assert_eq!(token.status, 201, "{:?}", token.body);
    // An environment keeps its name; a body's name that is no name at all is refused.
    let env = admin.get("/api/v1/environments/staging").await.unwrap().body;
    let renamed = json!({"name": "Not A Name", "region": env["region"], "parameters": env["parameters"], "rule_capacity": env["rule_capacity"]});
    assert_eq!(admin.put("/api/v1/environments/staging", renamed).await.unwrap().error_fields(), ["name"]);
}
