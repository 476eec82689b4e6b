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

async fn user_id(api: &Api) -> String {
    api.get("/api/v1/me").await.unwrap().body["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_new_password_role_or_team_ends_sessions_and_revokes_tokens() {
    let berth = Berth::start().await.unwrap();
    let admin = berth.admin().await.unwrap();
    for (patch, what) in [
        (json!({"password": "a-brand-new-password"}), "password reset"),
        (json!({"role": "approver"}), "role change"),
        (json!({"team": "search"}), "team change"),
        (json!({"disabled": true}), "disabling"),
    ] {
        let name = format!("user{}", berth_tests::free_port());
        let rita = berth.user(&name, "requester", "payments").await.unwrap();
        let token = rita.post("/api/v1/tokens", json!({"name": "ci"})).await.unwrap().body["token"].as_str().unwrap().to_string();
        let script = bearer(&berth, &token);
        assert_eq!(script.get("/api/v1/me").await.unwrap().status, 200);
        let id = user_id(&rita).await;
        let r = admin.patch(&format!("/api/v1/users/{id}"), patch).await.unwrap();
        assert_eq!(r.status, 200, "{what}: {:?}", r.body);
        assert_eq!(rita.get("/api/v1/me").await.unwrap().status, 401, "{what} ends the session");
        assert_eq!(script.get("/api/v1/me").await.unwrap().status, 401, "{what} revokes the token");
    }
    // A display name is not a credential: the session lives on.
    let olga = berth.user("olga", "requester", "payments").await.unwrap();
    let id = user_id(&olga).await;
    assert_eq!(admin.patch(&format!("/api/v1/users/{id}"), json!({"display_name": "Olga O."})).await.unwrap().status, 200);
    assert_eq!(olga.get("/api/v1/me").await.unwrap().status, 200);
}

#[tokio::test]
async fn a_token_cannot_make_tokens_and_tokens_expire() {
    let berth = Berth::start_with(&[("BERTH_CONFIG", &config_file("token_default_days = 7\ntoken_max_days = 30\n"))]).await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let created = rita.post("/api/v1/tokens", json!({"name": "ci"})).await.unwrap();
    assert_eq!(created.status, 201);
    let expires = created.body["expires_at"].as_str().unwrap().to_string();
    let script = bearer(&berth, created.body["token"].as_str().unwrap());
    let minted = script.post("/api/v1/tokens", json!({"name": "more"})).await.unwrap();
    assert_eq!(minted.status, 403, "{:?}", minted.body);
    assert!(minted.body["detail"].as_str().unwrap().contains("sign in"));
    // Lifetimes: the default, and at most the maximum.
    let listed = rita.get("/api/v1/tokens").await.unwrap().body;
    assert_eq!(listed[0]["expires_at"], expires.as_str());
    assert!(listed[0]["last_used_at"].is_string(), "the token's use is shown");
    let too_long = rita.post("/api/v1/tokens", json!({"name": "forever", "expires_in_days": 31})).await.unwrap();
    assert_eq!((too_long.status, too_long.error_fields()), (422, vec!["expires_in_days".to_string()]));
    assert_eq!(rita.post("/api/v1/tokens", json!({"name": "a month", "expires_in_days": 30})).await.unwrap().status, 201);
    // Once its expiry passes, the token signs nobody in.
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", berth.db_path().display())).await.unwrap();
    sqlx::query("UPDATE api_tokens SET expires_at = '2000-01-01T00:00:00Z'").execute(&db).await.unwrap();
    assert_eq!(script.get("/api/v1/me").await.unwrap().status, 401);
}

#[tokio::test]
async fn sign_in_reads_only_bounded_fields_and_small_bodies() {
    let berth = Berth::start().await.unwrap();
    let client = berth.client();
    let huge = client.post("/api/v1/session", json!({"username": "u".repeat(200_000), "password": "x"})).await.unwrap();
    assert_eq!(huge.status, 413, "refused before it is read");
    let long = client.post("/api/v1/session", json!({"username": "u".repeat(5000), "password": "x"})).await.unwrap();
    assert_eq!(long.status, 401);
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", berth.db_path().display())).await.unwrap();
    let longest: i64 = sqlx::query_scalar("SELECT max(length(actor) + length(subject_id) + length(details)) FROM audit_log WHERE action = 'auth.sign_in_failed'").fetch_one(&db).await.unwrap();
    assert!(longest < 300, "audit rows stay small: {longest}");
    let form = client
        .http
        .post(format!("{}/_fn/sign_in", berth.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("username={}&password=x", "u".repeat(20_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 413);
    assert_eq!(form.headers().get("connection").map(|v| v.as_bytes()), Some(&b"close"[..]), "the unread body ends the connection");
}

#[tokio::test]
async fn a_flood_from_one_address_does_not_lock_the_account_out_elsewhere() {
    // Berth behind a proxy on loopback, which names the client in X-Forwarded-For.
    let berth = Berth::start_with(&[("BERTH_CONFIG", &config_file("signin_max_failures = 3\ntrusted_proxies = [\"127.0.0.1\"]\n"))]).await.unwrap();
    let from = |address: &str| {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-forwarded-for", format!("198.51.100.1, {address}").parse().unwrap());
        Api { base: berth.url.clone(), http: reqwest::Client::builder().default_headers(headers).cookie_store(true).build().unwrap() }
    };
    let attacker = from("203.0.113.66");
    for _ in 0..3 {
        assert_eq!(attacker.post("/api/v1/session", json!({"username": "admin", "password": "guess"})).await.unwrap().status, 401);
    }
    assert_eq!(attacker.post("/api/v1/session", json!({"username": "admin", "password": berth_tests::ADMIN_PASSWORD})).await.unwrap().status, 429);
    // The same /64 of IPv6 is the same client.
    let v6 = |host: &str| from(&format!("2001:db8:7:7:{host}"));
    for host in ["1::1", "2::2", "3::3"] {
        v6(host).post("/api/v1/session", json!({"username": "admin", "password": "guess"})).await.unwrap();
    }
    assert_eq!(v6("4::4").post("/api/v1/session", json!({"username": "admin", "password": berth_tests::ADMIN_PASSWORD})).await.unwrap().status, 429);
    // The real admin, elsewhere, signs in.
    let admin = from("192.0.2.10");
    let r = admin.post("/api/v1/session", json!({"username": "admin", "password": berth_tests::ADMIN_PASSWORD})).await.unwrap();
    assert_eq!(r.status, 204, "{:?}", r.body);
}

#[tokio::test]
async fn a_forwarded_header_from_an_untrusted_peer_is_ignored() {
    let berth = Berth::start_with(&[("BERTH_CONFIG", &config_file("signin_max_failures = 3\n"))]).await.unwrap();
    for i in 0..4 {
        let r = berth
            .client()
            .http
            .post(format!("{}/api/v1/session", berth.url))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .json(&json!({"username": "admin", "password": "guess"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), if i < 3 { 401 } else { 429 }, "attempt {i}: a made-up address does not reset the count");
    }
}

#[tokio::test]
async fn names_berth_acts_under_cannot_be_taken() {
    let berth = Berth::start().await.unwrap();
    let admin = berth.admin().await.unwrap();
    for name in ["berth", "System", "cli"] {
        let r = admin
            .post("/api/v1/users", json!({"username": name, "password": "long-enough-password", "display_name": name, "role": "requester", "team": "payments"}))
            .await
            .unwrap();
        assert_eq!((r.status, r.error_fields()), (422, vec!["username".to_string()]), "{name}");
    }
}

#[tokio::test]
async fn after_sign_in_next_never_leads_off_site() {
    let berth = Berth::start().await.unwrap();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for next in ["%2F%09%2Fevil.com", "%2F%5Cevil.com", "%2F%2Fevil.com", "https%3A%2F%2Fevil.com"] {
        let r = http
            .post(format!("{}/_fn/sign_in", berth.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("username=admin&password={}&next={next}", berth_tests::ADMIN_PASSWORD))
            .send()
            .await
            .unwrap();
        let location = r.headers().get("location").map(|l| l.to_str().unwrap().to_string()).unwrap_or_default();
        assert_eq!(location, "/requests", "next={next} answered {} to {location:?}", r.status());
    }
}

#[tokio::test]
async fn the_first_admin_password_meets_the_password_rules() {
    let Err(e) = Berth::start_with(&[("BERTH_ADMIN_PASSWORD", "short")]).await else { panic!("Berth started with a 5-character admin password") };
    assert!(e.to_string().contains("BERTH_ADMIN_PASSWORD: Password must be at least"), "{e}");
}

#[tokio::test]
async fn event_streams_end_with_the_session_and_are_capped_per_user() {
    let berth = Berth::start_with(&[("BERTH_CONFIG", &config_file("streams_per_user = 2\n"))]).await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let id = rita.post("/api/v1/requests", berth_tests::api_request("orders", "/orders*")).await.unwrap().body["id"].as_str().unwrap().to_string();
    let url = format!("{}/api/v1/requests/{id}/events/stream", berth.url);
    let mut first = rita.http.get(&url).send().await.unwrap();
    let second = rita.http.get(&url).send().await.unwrap();
    assert_eq!((first.status(), second.status()), (reqwest::StatusCode::OK, reqwest::StatusCode::OK));
    assert_eq!(rita.http.get(&url).send().await.unwrap().status(), 429, "a third stream is refused");
    drop(second);
    // Signing out ends the open stream within a few seconds.
    assert_eq!(rita.delete("/api/v1/session").await.unwrap().status, 204);
    let ended = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Ok(Some(_)) = first.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the stream outlived its session");
}

#[tokio::test]
async fn json_logs_carry_the_request_id_and_user_and_never_a_secret() {
    let berth = Berth::start_with(&[("BERTH_LOG_FORMAT", "json"), ("RUST_LOG", "debug,sqlx=debug,tower_sessions=debug,hyper=info,h2=info,aws=info")])
        .await
        .unwrap();
    // Every secret a user hands Berth or Berth hands out.
    let admin = berth.admin().await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let cookie = session_cookie(&berth).await;
    let session_id = cookie.split_once('=').unwrap().1.to_string();
    let token = rita.post("/api/v1/tokens", json!({"name": "ci"})).await.unwrap().body["token"].as_str().unwrap().to_string();
    let script = bearer(&berth, &token);
    let traced = script.http.get(format!("{}/api/v1/me", berth.url)).header("x-request-id", "trace-me-123").send().await.unwrap();
    assert_eq!(traced.headers()["x-request-id"], "trace-me-123", "a caller's id is kept");
    let fresh = admin.http.get(format!("{}/api/v1/requests", berth.url)).send().await.unwrap();
    let fresh_id = fresh.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(fresh_id.len(), 16);
    let wrong = berth.client().post("/api/v1/session", json!({"username": "rita", "password": "Wrong-guess-1234"})).await.unwrap();
    assert_eq!(wrong.status, 401);
    admin.patch(&format!("/api/v1/users/{}", user_id(&rita).await), json!({"password": "a-second-password-9"})).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let log = berth.log();
    let key = std::fs::read_to_string(format!("{}.audit-key", berth.db_path().display())).unwrap();
    for (what, secret) in [
        ("the admin password", berth_tests::ADMIN_PASSWORD.to_string()),
        ("rita's password", "rita-password-123".to_string()),
        ("a wrong guess", "Wrong-guess-1234".to_string()),
        ("a new password", "a-second-password-9".to_string()),
        ("a token", token.clone()),
        ("a session id", session_id.clone()),
        ("the audit key", key.trim().to_string()),
    ] {
        assert!(!secret.is_empty() && !log.contains(&secret), "{what} is in the log");
    }
    // One JSON object per line; a request's lines carry its id, and the user once known.
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() > 10, "{log}");
    let of = |id: &str| lines.iter().filter(|l| l["span"]["id"] == id).cloned().collect::<Vec<_>>();
    let traced_lines = of("trace-me-123");
    assert!(!traced_lines.is_empty(), "the request's lines carry its id: {log}");
    assert!(traced_lines.iter().any(|l| l["span"]["user"] == "rita" && l["span"]["path"] == "/api/v1/me"), "{traced_lines:?}");
    assert!(of(&fresh_id).iter().any(|l| l["span"]["user"] == "admin"), "{log}");
}
