//! The HTTP protections, against the real binary: headers and the page's CSP nonce,
//! cross-site request refusal, sign-in throttling, session expiry and sign-out, API tokens.

use berth_tests::{Api, Berth};
use serde_json::{json, Value};

fn bearer(berth: &Berth, token: &str) -> Api {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    Api { base: berth.url.clone(), http: reqwest::Client::builder().default_headers(headers).build().unwrap() }
}

#[tokio::test]
async fn pages_carry_a_csp_whose_nonce_is_on_every_inline_script() {
    let berth = Berth::start().await.unwrap();
    let api = berth.admin().await.unwrap();
    let response = api.http.get(format!("{}/requests", berth.url)).send().await.unwrap();
    let headers = response.headers().clone();
    let html = response.text().await.unwrap();
    let csp = headers["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("'wasm-unsafe-eval'") && !csp.contains("unsafe-inline"), "{csp}");
    let nonce = csp.split("'nonce-").nth(1).and_then(|rest| rest.split('\'').next()).expect("a nonce in the policy");
    assert!(nonce.len() >= 16);
    // Every <script> in the page is either external from our origin or carries the nonce.
    let scripts: Vec<&str> = html.split("<script").skip(1).map(|s| s.split('>').next().unwrap_or_default()).collect();
    assert!(!scripts.is_empty());
    for attrs in scripts {
        assert!(attrs.contains(&format!("nonce=\"{nonce}\"")), "a script without this response's nonce: <script{attrs}>");
    }
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "same-origin");
    // A second page gets another nonce.
    let again = api.http.get(format!("{}/requests", berth.url)).send().await.unwrap();
    assert_ne!(again.headers()["content-security-policy"].to_str().unwrap(), csp);
    // JSON answers: nothing may run or frame them.
    let json = api.http.get(format!("{}/api/v1/me", berth.url)).send().await.unwrap();
    assert!(json.headers()["content-security-policy"].to_str().unwrap().starts_with("default-src 'none'"));
}

#[tokio::test]
async fn cross_site_writes_riding_on_a_cookie_are_refused() {
    let berth = Berth::start().await.unwrap();
    let admin = berth.admin().await.unwrap();
    let user = json!({"username": "eve", "password": "eve-password-123", "display_name": "Eve", "role": "admin", "team": "x"});
    let forged = |headers: &[(&str, &str)]| {
        let mut request = admin.http.post(format!("{}/api/v1/users", berth.url)).json(&user);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        request
    };
    // A form on another site posting with the admin's cookie: refused, nothing written.
    for headers in [vec![("sec-fetch-site", "cross-site"), ("origin", "http://evil.example")], vec![("origin", "http://evil.example")]] {
        let r = forged(&headers).send().await.unwrap();
        assert_eq!(r.status(), 403, "{headers:?}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }
    // A server function (the UI's own forms) is protected the same way.
    let r = admin
        .http
        .post(format!("{}/_fn/sign_out", berth.url))
        .header("sec-fetch-site", "cross-site")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(admin.get("/api/v1/me").await.unwrap().status, 200, "still signed in");
    let users = admin.get("/api/v1/users").await.unwrap();
    assert!(!users.body.to_string().contains("eve"));
    // Our own pages (same origin) and non-browser clients pass.
    let host = berth.url.trim_start_matches("http://").to_string();
    let r = forged(&[("sec-fetch-site", "same-origin"), ("origin", &berth.url), ("host", &host)]).send().await.unwrap();
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn repeated_failed_sign_ins_are_throttled_per_username_and_per_address() {
    let berth = Berth::start_with(&[("BERTH_CONFIG", &config_file("signin_max_failures = 3\nsignin_max_failures_per_address = 6\n"))]).await.unwrap();
    let client = berth.client();
    for _ in 0..3 {
        assert_eq!(client.post("/api/v1/session", json!({"username": "admin", "password": "wrong"})).await.unwrap().status, 401);
    }
    // The right password no longer helps: the account is cooling down.
    let r = client.http.post(format!("{}/api/v1/session", berth.url)).json(&json!({"username": "admin", "password": berth_tests::ADMIN_PASSWORD})).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 900, "{retry}");
    // Other usernames from the same address still work until the address limit.
    for i in 0..3 {
        assert_eq!(client.post("/api/v1/session", json!({"username": format!("nobody{i}"), "password": "x"})).await.unwrap().status, 401);
    }
    assert_eq!(client.post("/api/v1/session", json!({"username": "someone-else", "password": "x"})).await.unwrap().status, 429);
    // Failures are audited as they happen.
    let log = berth.command(&["audit", "export", "--format", "json"], "").unwrap();
    assert!(String::from_utf8_lossy(&log.stdout).matches("auth.sign_in_failed").count() >= 6);
}

#[tokio::test]
async fn sessions_end_at_sign_out_and_after_inactivity() {
    let berth = Berth::start().await.unwrap();
    let http = reqwest::Client::new();
    let with = |method: reqwest::Method, path: &str, cookie: &str| http.request(method, format!("{}{path}", berth.url)).header("cookie", cookie.to_string());
    let cookie = session_cookie(&berth).await;
    assert_eq!(with(reqwest::Method::GET, "/api/v1/me", &cookie).send().await.unwrap().status(), 200);
    assert_eq!(with(reqwest::Method::DELETE, "/api/v1/session", &cookie).send().await.unwrap().status(), 204);
    // The old cookie, replayed by someone who copied it, is dead on the server.
    assert_eq!(with(reqwest::Method::GET, "/api/v1/me", &cookie).send().await.unwrap().status(), 401);

    // Inactivity: the stored session's expiry passes (as after `session_idle_minutes`).
    let cookie = session_cookie(&berth).await;
    assert_eq!(with(reqwest::Method::GET, "/api/v1/me", &cookie).send().await.unwrap().status(), 200);
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", berth.db_path().display())).await.unwrap();
    sqlx::query("UPDATE sessions SET expiry_date = 0").execute(&db).await.unwrap();
    assert_eq!(with(reqwest::Method::GET, "/api/v1/me", &cookie).send().await.unwrap().status(), 401);
}

/// Signs in as admin and returns the session cookie as a `Cookie` header value.
async fn session_cookie(berth: &Berth) -> String {
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/session", berth.url))
        .json(&json!({"username": "admin", "password": berth_tests::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn api_tokens_are_shown_once_stored_hashed_carry_the_role_and_can_be_revoked() {
    let berth = Berth::start().await.unwrap();
    let requester = berth.user("rita", "requester", "payments").await.unwrap();
    let created = requester.post("/api/v1/tokens", json!({"name": "ci pipeline"})).await.unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    let token = created.body["token"].as_str().unwrap().to_string();
    let id = created.body["id"].as_str().unwrap().to_string();
    assert!(token.len() > 40);
    // Listed without the secret; the database has only its hash.
    let listed = requester.get("/api/v1/tokens").await.unwrap();
    assert_eq!(listed.body[0]["name"], "ci pipeline");
    assert!(!listed.body.to_string().contains(&token));
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", berth.db_path().display())).await.unwrap();
    let stored: Vec<(String,)> = sqlx::query_as("SELECT token_hash FROM api_tokens").fetch_all(&db).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].0, token);
    assert!(!std::fs::read(berth.db_path()).unwrap().windows(token.len()).any(|w| w == token.as_bytes()));

    // A script with the token acts as rita, a requester: no cookie, no CSRF check needed.
    let script = bearer(&berth, &token);
    let me = script.get("/api/v1/me").await.unwrap();
    assert_eq!((me.status, me.body["username"].clone()), (200, json!("rita")));
    let r = script.post("/api/v1/requests", berth_tests::api_request("tokened", "/tokened")).await.unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(script.get("/api/v1/users").await.unwrap().status, 403, "a requester's token is a requester");
    let r = script.post(&format!("/api/v1/requests/{}/approve", r.body["id"].as_str().unwrap()), json!({"revision": 1})).await.unwrap();
    assert_eq!(r.status, 403);
    // A wrong token is nobody, even with a valid cookie alongside.
    assert_eq!(bearer(&berth, "berth_not-a-token").get("/api/v1/me").await.unwrap().status, 401);

    // Someone else cannot revoke it; rita can, and then it signs nobody in.
    let other = berth.user("olga", "requester", "payments").await.unwrap();
    assert_eq!(other.delete(&format!("/api/v1/tokens/{id}")).await.unwrap().status, 404);
    assert_eq!(requester.delete(&format!("/api/v1/tokens/{id}")).await.unwrap().status, 204);
    assert_eq!(script.get("/api/v1/me").await.unwrap().status, 401);
    let listed = requester.get("/api/v1/tokens").await.unwrap();
    assert!(listed.body[0]["revoked_at"].is_string());
    // Both are in the audit log.
    let admin = berth.admin().await.unwrap();
    let audit = admin.get("/api/v1/audit?action=token.created").await.unwrap();
    assert_eq!(audit.body["items"].as_array().map(Vec::len), Some(1));
    let audit = admin.get("/api/v1/audit?action=token.revoked").await.unwrap();
    assert_eq!(audit.body["items"][0]["actor"], "rita");
    // A disabled owner's tokens stop working too.
    let again = requester.post("/api/v1/tokens", json!({"name": "second"})).await.unwrap();
    let script = bearer(&berth, again.body["token"].as_str().unwrap());
    let rita_id = me.body["id"].as_str().unwrap().to_string();
    assert_eq!(admin.patch(&format!("/api/v1/users/{rita_id}"), json!({"disabled": true})).await.unwrap().status, 200);
    assert_eq!(script.get("/api/v1/me").await.unwrap().status, 401);
    // A nameless token is a 422 on the field.
    let bad = admin.post("/api/v1/tokens", json!({"name": "  "})).await.unwrap();
    assert_eq!((bad.status, bad.error_fields()), (422, vec!["name".to_string()]));
    let _: Value = bad.body;
}

fn config_file(text: &str) -> String {
    let path = std::env::temp_dir().join(format!("berth-security-{}.toml", berth_tests::free_port()));
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().to_string()
}
