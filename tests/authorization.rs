//! The authorization matrix: every JSON API operation (read from the OpenAPI document, so a
//! new route without an entry here fails) and every server function (read from
//! app/src/api.rs) × five users → the expected outcome.
//!
//! Writes are sent with bodies that are well-formed but invalid (or aimed at a stale
//! revision), so an allowed caller gets 409/422 and nothing changes between rows, while a
//! refused caller gets 401, 403 or 404. "ok" means anything but those three; no answer may
//! ever be a 5xx.

use berth_tests::moto::Moto;
use berth_tests::{api_request, Api, Berth};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Anonymous, requester of team A (owns request A), requester of team B, approver, admin.
const WHO: [&str; 5] = ["anonymous", "requester A", "requester B", "approver", "admin"];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    Ok,
    Unauthorized,
    Forbidden,
    NotFound,
}
use Expect::*;

const SIGNED_IN: [Expect; 5] = [Unauthorized, Ok, Ok, Ok, Ok];
const TEAM_A: [Expect; 5] = [Unauthorized, Ok, NotFound, Ok, Ok];
const ADMIN_ONLY: [Expect; 5] = [Unauthorized, Forbidden, Forbidden, Forbidden, Ok];
const PLATFORM: [Expect; 5] = [Unauthorized, Forbidden, Forbidden, Ok, Ok];
/// Decisions: the requester may not decide (four eyes), the other team cannot see it.
const DECIDE: [Expect; 5] = [Unauthorized, Forbidden, NotFound, Ok, Ok];
/// Acting for the owning team (edit, decommission): team A and admins.
const OWNING_TEAM: [Expect; 5] = [Unauthorized, Ok, NotFound, Forbidden, Ok];
const EVERYONE: [Expect; 5] = [Ok, Ok, Ok, Ok, Ok];
/// Plans create and delete change sets on AWS: approvers and admins only.
const PLANNERS: [Expect; 5] = [Unauthorized, Forbidden, NotFound, Ok, Ok];
/// Token revocation: the owner (requester A) and admins; others do not see it.
const TOKEN_OWNER: [Expect; 5] = [Unauthorized, Ok, NotFound, NotFound, Ok];

fn outcome(status: u16) -> Expect {
    match status {
        401 => Unauthorized,
        403 => Forbidden,
        404 => NotFound,
        _ => Ok,
    }
}

struct World {
    berth: Berth,
    _moto: Moto,
    clients: Vec<Api>,
    request: String,
    user_b: String,
    token: String,
    token_fn: String,
}

async fn world() -> World {
    let moto = Moto::start().await.unwrap();
    let berth = Berth::start_on(&moto).await.unwrap();
    let requester_a = berth.user("rita", "requester", "payments").await.unwrap();
    let requester_b = berth.user("bob", "requester", "search").await.unwrap();
    let approver = berth.user("alice", "approver", "platform").await.unwrap();
    let admin = berth.admin().await.unwrap();
    let r = requester_a.post("/api/v1/requests", api_request("ledger", "/ledger")).await.unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let request = r.body["id"].as_str().unwrap().to_string();
    let me_b = requester_b.get("/api/v1/me").await.unwrap();
    let token = requester_a.post("/api/v1/tokens", json!({"name": "api row"})).await.unwrap().body["id"].as_str().unwrap().to_string();
    let token_fn = requester_a.post("/api/v1/tokens", json!({"name": "fn row"})).await.unwrap().body["id"].as_str().unwrap().to_string();
    World {
        clients: vec![berth.client(), requester_a, requester_b, approver, admin],
        berth,
        _moto: moto,
        request,
        user_b: me_b.body["id"].as_str().unwrap().to_string(),
        token,
        token_fn,
    }
}

/// Method, path template (as in the OpenAPI document), body, expected outcome per user.
fn api_rows() -> Vec<(&'static str, &'static str, Value, [Expect; 5])> {
    let invalid_request = api_request("Not A Valid Name!", "/matrix");
    let invalid_environment = json!({"name": "Bad Name!", "region": "us-east-1", "parameters": {"InstanceType": "t3.medium", "DesiredCapacity": 1, "MaxSize": 1}});
    let none = Value::Null;
    vec![
        // Wrong credentials: the same 401 whoever asks.
        ("post", "/api/v1/session", json!({"username": "nobody", "password": "wrong"}), [Unauthorized; 5]),
        ("get", "/api/v1/me", none.clone(), SIGNED_IN),
        ("get", "/api/v1/tokens", none.clone(), SIGNED_IN),
        ("post", "/api/v1/tokens", json!({"name": ""}), SIGNED_IN),
        ("delete", "/api/v1/tokens/{id}", none.clone(), TOKEN_OWNER),
        ("get", "/api/v1/users", none.clone(), ADMIN_ONLY),
        ("post", "/api/v1/users", json!({"username": "", "password": "", "display_name": "", "role": "requester", "team": ""}), ADMIN_ONLY),
        ("patch", "/api/v1/users/{id}", json!({"role": "emperor"}), ADMIN_ONLY),
        ("get", "/api/v1/environments", none.clone(), SIGNED_IN),
        ("get", "/api/v1/environments/{name}", none.clone(), SIGNED_IN),
        ("post", "/api/v1/environments", invalid_environment.clone(), PLATFORM),
        ("put", "/api/v1/environments/{name}", invalid_environment, PLATFORM),
        // No change waits for review: approvers and admins learn that (409), nobody else may ask.
        ("get", "/api/v1/environments/{name}/changes/{change}/plan", none.clone(), PLATFORM),
        ("post", "/api/v1/environments/{name}/changes/{change}/approve", json!({}), PLATFORM),
        ("post", "/api/v1/environments/{name}/changes/{change}/reject", json!({"reason": "no"}), PLATFORM),
        ("post", "/api/v1/requests", invalid_request.clone(), SIGNED_IN),
        ("get", "/api/v1/requests", none.clone(), SIGNED_IN),
        ("get", "/api/v1/requests/{id}", none.clone(), TEAM_A),
        ("put", "/api/v1/requests/{id}", invalid_request, OWNING_TEAM),
        ("get", "/api/v1/requests/{id}/templates/{stack}", none.clone(), TEAM_A),
        ("get", "/api/v1/requests/{id}/parameters/{stack}", none.clone(), TEAM_A),
        ("post", "/api/v1/requests/{id}/approve", json!({"revision": 99}), DECIDE),
        ("post", "/api/v1/requests/{id}/reject", json!({"reason": "no", "revision": 99}), DECIDE),
        ("post", "/api/v1/requests/{id}/request-changes", json!({"comment": "fix", "revision": 99}), DECIDE),
        // Not deployed: the owner and admins get 409, an approver of another team 403.
        ("post", "/api/v1/requests/{id}/decommission", json!({}), OWNING_TEAM),
        // Not failed: 409 for whoever may retry (the team and the platform team).
        ("post", "/api/v1/requests/{id}/retry", json!({}), TEAM_A),
        ("get", "/api/v1/requests/{id}/comments", none.clone(), TEAM_A),
        ("post", "/api/v1/requests/{id}/comments", json!({"comment": ""}), TEAM_A),
        ("get", "/api/v1/requests/{id}/deployments", none.clone(), TEAM_A),
        ("get", "/api/v1/requests/{id}/events", none.clone(), TEAM_A),
        ("get", "/api/v1/requests/{id}/events/stream", none.clone(), TEAM_A),
        ("get", "/api/v1/requests/{id}/plan", none.clone(), PLANNERS),
        ("get", "/api/v1/requests/{id}/health", none.clone(), TEAM_A),
        ("get", "/api/v1/requests/{id}/drift", none.clone(), TEAM_A),
        // Not deployed: 409 for whoever may see the request.
        ("post", "/api/v1/requests/{id}/drift", json!({}), TEAM_A),
        ("post", "/api/v1/requests/{id}/drift/revert", json!({}), TEAM_A),
        ("get", "/api/v1/dashboard", none.clone(), SIGNED_IN),
        ("get", "/api/v1/webhooks", none.clone(), ADMIN_ONLY),
        // Everyone signed in reads the audit log; requesters only their team's part.
        ("get", "/api/v1/audit", none.clone(), SIGNED_IN),
        ("get", "/api/v1/audit/export", none.clone(), SIGNED_IN),
        ("get", "/api/v1/audit/verify", none.clone(), ADMIN_ONLY),
        ("get", "/healthz", none.clone(), EVERYONE),
        ("get", "/readyz", none.clone(), EVERYONE),
        ("get", "/api/v1/openapi.json", none.clone(), EVERYONE),
        // Last: it ends the session.
        ("delete", "/api/v1/session", none, EVERYONE),
    ]
}

/// Server function, form arguments (`{id}`, `{token}` filled in), expected outcome.
fn fn_rows() -> Vec<(&'static str, &'static str, [Expect; 5])> {
    vec![
        ("current_user", "", EVERYONE),
        ("list_environments", "", SIGNED_IN),
        ("get_environment", "name=staging", SIGNED_IN),
        ("save_environment", "form[name]=Bad+Name!&form[region]=us-east-1", PLATFORM),
        ("decide_environment_change", "name=staging&change=999&decision=approve", PLATFORM),
        ("get_environment_plan", "name=staging&change=999", PLATFORM),
        ("submit_request", "draft[service_name]=Not+Valid!&draft[environment]=staging", SIGNED_IN),
        ("list_requests", "", SIGNED_IN),
        ("get_request", "id={id}", TEAM_A),
        ("get_activity", "id={id}", TEAM_A),
        ("get_plan", "id={id}", PLANNERS),
        ("get_health", "id={id}", TEAM_A),
        ("get_drift", "id={id}", TEAM_A),
        ("check_drift", "id={id}", TEAM_A),
        ("revert_drift", "id={id}", TEAM_A),
        ("decide_request", "id={id}&form[decision]=approve&form[revision]=99", DECIDE),
        ("add_comment", "id={id}&comment=", TEAM_A),
        ("decommission_request", "id={id}", OWNING_TEAM),
        ("retry_request", "id={id}", TEAM_A),
        ("review_count", "", SIGNED_IN),
        ("list_audit", "", SIGNED_IN),
        ("verify_audit", "", ADMIN_ONLY),
        ("list_users", "", ADMIN_ONLY),
        ("create_user", "user[username]=&user[role]=requester", ADMIN_ONLY),
        ("update_user", "id={user}&form[role]=emperor", ADMIN_ONLY),
        ("get_webhook_status", "", ADMIN_ONLY),
        ("get_dashboard", "", SIGNED_IN),
        ("list_tokens", "", SIGNED_IN),
        ("create_token", "name=", SIGNED_IN),
        ("revoke_token", "id={token}", TOKEN_OWNER),
        // Wrong credentials: 401 for everyone, whoever asks.
        ("sign_in", "username=somebody&password=wrong", [Unauthorized; 5]),
        ("sign_out", "", EVERYONE),
        // How to sign in is for everyone to know, signed in or not.
        ("sign_in_options", "", EVERYONE),
    ]
}

#[tokio::test]
async fn every_route_and_server_function_by_every_kind_of_user() {
    let w = world().await;
    let spec = w.clients[4].get("/api/v1/openapi.json").await.unwrap().body;
    let mut documented: BTreeSet<(String, String)> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| ops.as_object().unwrap().keys().map(move |m| (m.clone(), path.clone())))
        .collect();
    // The document itself is the one route it does not describe.
    documented.insert(("get".into(), "/api/v1/openapi.json".into()));
    let rows = api_rows();
    let listed: BTreeSet<(String, String)> = rows.iter().map(|(m, p, _, _)| (m.to_string(), p.to_string())).collect();
    assert_eq!(documented, listed, "every documented operation has a row, and every row is documented");

    let mut failures = Vec::new();
    for (method, template, body, expected) in &rows {
        let path = template
            .replace("/tokens/{id}", &format!("/tokens/{}", w.token))
            .replace("/users/{id}", &format!("/users/{}", w.user_b))
            .replace("{name}", "staging")
            .replace("{change}", "999")
            .replace("{stack}", "service")
            .replace("{id}", &w.request);
        for (who, client) in w.clients.iter().enumerate() {
            let url = format!("{}{path}", w.berth.url);
            let mut request = client.http.request(method.to_uppercase().parse().unwrap(), &url);
            if !body.is_null() {
                request = request.json(body);
            }
            let response = request.timeout(std::time::Duration::from_secs(60)).send().await.unwrap();
            let status = response.status().as_u16();
            if status >= 500 || outcome(status) != expected[who] {
                failures.push(format!("{method} {path} as {}: {status}, expected {:?}", WHO[who], expected[who]));
            }
        }
    }

    let source = std::fs::read_to_string(berth_tests::workspace().join("app/src/api.rs")).unwrap();
    let endpoints: BTreeSet<String> = source.split("endpoint = \"").skip(1).map(|s| s.split('"').next().unwrap().to_string()).collect();
    let fns = fn_rows();
    let listed: BTreeSet<String> = fns.iter().map(|(name, _, _)| name.to_string()).collect();
    assert_eq!(endpoints, listed, "every server function has a row");
    // Sign everyone in again: the API rows ended with signing out.
    let clients = signed_in_again(&w).await;
    for (name, args, expected) in &fns {
        let form = args.replace("{id}", &w.request).replace("{user}", &w.user_b).replace("{token}", &w.token_fn);
        for (who, client) in clients.iter().enumerate() {
            let response = client
                .http
                .post(format!("{}/_fn/{name}", w.berth.url))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.clone())
                .timeout(std::time::Duration::from_secs(60))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            if status >= 500 || outcome(status) != expected[who] {
                failures.push(format!("server fn {name}({form}) as {}: {status} {text}, expected {:?}", WHO[who], expected[who]));
            }
        }
    }
    assert!(failures.is_empty(), "{} unexpected outcomes:\n{}", failures.len(), failures.join("\n"));
}

async fn signed_in_again(w: &World) -> Vec<Api> {
    let mut clients = vec![w.berth.client()];
    for (name, password) in [("rita", "rita-password-123"), ("bob", "bob-password-123"), ("alice", "alice-password-123")] {
        clients.push(w.berth.sign_in(name, password).await.unwrap());
    }
    clients.push(w.berth.admin().await.unwrap());
    clients
}

#[tokio::test]
async fn requesters_see_only_their_teams_requests_everywhere() {
    let w = world().await;
    let (a, b, approver) = (&w.clients[1], &w.clients[2], &w.clients[3]);
    let r = b.post("/api/v1/requests", api_request("search-api", "/search")).await.unwrap();
    assert_eq!(r.status, 201);
    let ids = |v: &Value| v["items"].as_array().unwrap().iter().map(|i| i["service_name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(ids(&a.get("/api/v1/requests").await.unwrap().body), ["ledger"]);
    assert_eq!(ids(&b.get("/api/v1/requests").await.unwrap().body), ["search-api"]);
    // Asking for the other team's list gives nothing rather than their requests.
    assert!(ids(&a.get("/api/v1/requests?team=search").await.unwrap().body).is_empty());
    assert_eq!(ids(&approver.get("/api/v1/requests").await.unwrap().body).len(), 2);
    // The audit log follows the same line.
    let audit = b.get("/api/v1/audit").await.unwrap().body.to_string();
    assert!(audit.contains("search-api") && !audit.contains("ledger"), "{audit}");
}
