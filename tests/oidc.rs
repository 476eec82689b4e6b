//! Single sign-on through OpenID Connect, against a real provider on loopback
//! (oidc-provider-mock: its own authorization form, users whose claims the test sets) and,
//! for what a relying party must refuse, a provider that gets tokens wrong on purpose.

use berth_tests::browser::Browser;
use berth_tests::oidc::Provider;
use berth_tests::{Api, Berth};
use reqwest::redirect::Policy;
use serde_json::{json, Value};
use std::time::Duration;

/// Berth with `[oidc]` pointed at `issuer`, mapping the groups the tests give.
async fn berth_with(issuer: &str, extra: &str) -> Berth {
    let config = format!(
        "[oidc]\nissuer = \"{issuer}\"\nclient_id = \"berth\"\nclient_secret = \"a-test-secret\"\nbutton = \"Sign in with Example SSO\"\n\
         admin_groups = [\"berth-admins\"]\napprover_groups = [\"platform-approvers\"]\nrequired_groups = [\"engineering\"]\n{extra}"
    );
    Berth::start_on_endpoint("http://127.0.0.1:9", &config).await.unwrap()
}

/// A browser-like client that does not follow redirects, so each step can be looked at.
fn browser_client() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(Policy::none()).build().unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

/// Signs `sub` in through the provider's form; returns the client, the callback URL the
/// provider sent back, and where Berth sent the browser from there.
async fn sign_in(berth: &Berth, sub: Option<&str>) -> (reqwest::Client, String, String) {
    let http = browser_client();
    let start = http.get(format!("{}/auth/oidc/start?next=/requests/new", berth.url)).send().await.unwrap();
    assert_eq!(start.status(), 303, "{}", berth.log());
    let authorize = location(&start);
    assert!(authorize.contains("code_challenge_method=S256") && authorize.contains("nonce=") && authorize.contains("state="), "{authorize}");
    let back = match sub {
        // The real provider's form: the person types who they are.
        Some(sub) => http.post(&authorize).form(&[("sub", sub)]).send().await.unwrap(),
        // The misbehaving one signs its user in at once.
        None => http.get(&authorize).send().await.unwrap(),
    };
    assert_eq!(back.status(), 302, "the provider sends the browser back");
    let callback = location(&back);
    assert!(callback.starts_with(&format!("{}/auth/oidc/callback?", berth.url)), "{callback}");
    let done = http.get(&callback).send().await.unwrap();
    assert_eq!(done.status(), 303);
    let landed = location(&done);
    (http, callback, landed)
}

async fn me(http: &reqwest::Client, berth: &Berth) -> (u16, Value) {
    let r = http.get(format!("{}/api/v1/me", berth.url)).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn audit(admin: &Api, action: &str) -> Vec<Value> {
    let page = admin.get(&format!("/api/v1/audit?action={action}&limit=200")).await.unwrap().body;
    page["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn people_sign_in_through_the_provider_with_the_role_and_team_its_groups_give() {
    let provider = Provider::start().await.unwrap();
    let berth = berth_with(&provider.issuer, "").await;
    let admin = berth.admin().await.unwrap();
    let rita_claims = json!({"preferred_username": "rita", "name": "Rita Requester", "groups": ["engineering", "team-payments"]});
    provider.set_user("rita-sub", rita_claims).await.unwrap();
    provider.set_user("ann-sub", json!({"preferred_username": "ann", "groups": ["engineering", "berth-admins", "team-platform"]})).await.unwrap();

    // First sign-in: the account is made from the claims, and lands where it was going.
    let (rita, callback, landed) = sign_in(&berth, Some("rita-sub")).await;
    assert_eq!(landed, "/requests/new", "{}", berth.log());
    let (status, who) = me(&rita, &berth).await;
    assert_eq!(status, 200);
    assert_eq!((who["username"].as_str(), who["role"].as_str(), who["team"].as_str()), (Some("rita"), Some("requester"), Some("payments")));
    assert_eq!(who["display_name"], "Rita Requester");
    let (ann, _, _) = sign_in(&berth, Some("ann-sub")).await;
    assert_eq!(me(&ann, &berth).await.1["role"], "admin");
    let created = audit(&admin, "user.create").await;
    assert!(created.iter().any(|e| e["details"]["via"] == "oidc" && e["details"]["after"]["username"] == "rita"), "{created:?}");
    assert!(audit(&admin, "auth.sign_in").await.iter().any(|e| e["actor"] == "rita" && e["details"]["method"] == "oidc"));

    // The provider's answer works once: replayed, it signs nobody in.
    let replay = browser_client().get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), 303);
    assert!(location(&replay).starts_with("/login?error="), "{}", location(&replay));

    // Someone who signs in only through the provider still makes API tokens for scripts.
    let token = rita.post(format!("{}/api/v1/tokens", berth.url)).json(&json!({"name": "ci"})).send().await.unwrap();
    assert_eq!(token.status(), 201);
    let token: Value = token.json().await.unwrap();
    let script = reqwest::Client::new();
    let via_token = script.get(format!("{}/api/v1/me", berth.url)).bearer_auth(token["token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(via_token.status(), 200);
    // A password never signs such an account in.
    assert_eq!(berth.client().post("/api/v1/session", json!({"username": "rita", "password": ""})).await.unwrap().status, 401);

    // The provider moves her: the next sign-in gives the new role, and her old session ends.
    provider.set_user("rita-sub", json!({"preferred_username": "rita", "groups": ["engineering", "platform-approvers", "team-payments"]})).await.unwrap();
    let (rita_again, _, _) = sign_in(&berth, Some("rita-sub")).await;
    assert_eq!(me(&rita_again, &berth).await.1["role"], "approver");
    assert_eq!(me(&rita, &berth).await.0, 401, "a change of role ends the other sessions");

    // Out of the required group: refused, with the reason, and the account is disabled.
    provider.set_user("rita-sub", json!({"preferred_username": "rita", "groups": ["team-payments"]})).await.unwrap();
    let (gone, _, landed) = sign_in(&berth, Some("rita-sub")).await;
    assert!(landed.starts_with("/login?error=") && landed.contains("group"), "{landed}");
    assert_eq!(me(&gone, &berth).await.0, 401);
    let users = admin.get("/api/v1/users").await.unwrap().body;
    let rita_row = users.as_array().unwrap().iter().find(|u| u["username"] == "rita").unwrap();
    assert_eq!(rita_row["disabled"], true, "{rita_row}");
    let dead = script.get(format!("{}/api/v1/me", berth.url)).bearer_auth(token["token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(dead.status(), 401, "a disabled account's tokens die with it");

    // Signing out also ends the provider's session: the browser goes to its sign-out.
    let out = ann.post(format!("{}/_fn/sign_out", berth.url)).header("content-type", "application/x-www-form-urlencoded").body("").send().await.unwrap();
    let to = location(&out);
    assert!(to.starts_with(&format!("{}/oauth2/end_session?", provider.issuer)) && to.contains("id_token_hint="), "{} {to}", out.status());
    assert_eq!(me(&ann, &berth).await.0, 401);
}

#[tokio::test]
async fn passwords_can_be_kept_for_the_break_glass_admin_alone() {
    let provider = Provider::start().await.unwrap();
    let berth = berth_with(&provider.issuer, "local_accounts = \"break_glass_only\"\n").await;
    // The break-glass admin signs in with a password (and makes a local account).
    let admin = berth.admin().await.unwrap();
    let user = json!({"username": "lee", "password": "lee-password-123", "display_name": "Lee", "role": "requester", "team": "payments"});
    assert_eq!(admin.post("/api/v1/users", user).await.unwrap().status, 201);
    let refused = berth.client().post("/api/v1/session", json!({"username": "lee", "password": "lee-password-123"})).await.unwrap();
    assert_eq!(refused.status, 403);
    assert!(refused.body["detail"].as_str().unwrap().contains("Sign in with Example SSO"), "{:?}", refused.body);
    // The sign-in page offers the provider's button.
    let page = reqwest::get(format!("{}/login", berth.url)).await.unwrap().text().await.unwrap();
    assert!(page.contains("Sign in with Example SSO") && page.contains("/auth/oidc/start"), "the button is on the page");
}

#[tokio::test]
async fn tokens_a_provider_gets_wrong_are_refused_and_its_key_rotation_is_followed() {
    for (mode, reason) in [
        ("bad_signature", "signature"),
        ("wrong_audience", "audience"),
        ("expired", "expired"),
        ("wrong_nonce", "nonce"),
    ] {
        let provider = Provider::misbehaving(mode, "mallory", "engineering,team-payments").await.unwrap();
        let berth = berth_with(&provider.issuer, "").await;
        let (http, _, landed) = sign_in(&berth, None).await;
        assert!(landed.starts_with("/login?error=") && landed.contains(reason), "{mode}: {landed}\n{}", berth.log());
        assert_eq!(me(&http, &berth).await.0, 401, "{mode}: nobody is signed in");
        let admin = berth.admin().await.unwrap();
        let failed = audit(&admin, "auth.sign_in_failed").await;
        assert!(failed.iter().any(|e| e["details"]["method"] == "oidc" && e["details"]["reason"].as_str().unwrap_or_default().contains(reason)), "{mode}: {failed:?}");
        let users = admin.get("/api/v1/users").await.unwrap().body;
        assert!(!users.to_string().contains("mallory"), "{mode}: no account was made");
    }
    // A provider that rotates its signing key: the new key is fetched when it appears.
    let provider = Provider::misbehaving("rotating", "rotor", "engineering,team-payments").await.unwrap();
    let berth = berth_with(&provider.issuer, "").await;
    let (first, _, landed) = sign_in(&berth, None).await;
    assert_eq!((landed.as_str(), me(&first, &berth).await.0), ("/requests/new", 200));
    tokio::time::sleep(Duration::from_millis(5500)).await;
    let (second, _, landed) = sign_in(&berth, None).await;
    assert_eq!((landed.as_str(), me(&second, &berth).await.0), ("/requests/new", 200), "{}", berth.log());
}

/// The whole way in a browser, on the release site: the provider's button, its own sign-in
/// form, and back on Berth as the user its claims describe.
#[tokio::test]
async fn a_browser_signs_in_through_the_providers_own_page() {
    let provider = Provider::start().await.unwrap();
    let berth = berth_with(&provider.issuer, "").await;
    provider.set_user("pat-sub", json!({"preferred_username": "pat", "name": "Pat Payments", "groups": ["engineering", "team-payments"]})).await.unwrap();
    let browser = Browser::start(&berth.url).await.unwrap();
    browser.open("/login").await.unwrap();
    browser.wait_hydrated().await.unwrap();
    browser.assert_accessible("/login with single sign-on").await.unwrap();
    browser.click("a.sso").await.unwrap();
    browser.wait_for_url("/oauth2/authorize").await.unwrap();
    browser.fill("input[name=sub]", "pat-sub").await.unwrap();
    browser.click("form button[type=submit]").await.unwrap();
    browser.wait_for_url(&format!("{}/requests", berth.url)).await.unwrap();
    // The provider's page loads its stylesheet from a CDN this machine cannot reach: only
    // that may be in the console; Berth's own pages are checked strictly from here on.
    let errors = browser.console_errors().await.unwrap();
    assert!(errors.iter().all(|e| e.contains("cdn.jsdelivr.net") || e.contains(&provider.issuer)), "{errors:?}");
    browser.open("/requests").await.unwrap();
    browser.wait_for_text("body", "Pat Payments").await.unwrap();
    browser.close().await.unwrap();
}
