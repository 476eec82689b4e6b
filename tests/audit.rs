//! The audit log against the real binary: what gets recorded, who sees what, filters and
//! pages, the streamed exports, and the detection of tampering by someone holding the
//! database file: an edited row, a chain hashed again, rows cut off the end.

use berth_tests::{api_request, Api, Berth, ADMIN_PASSWORD};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn database(berth: &Berth) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!("sqlite://{}", berth.db_path().display())).await.unwrap()
}

async fn row_count(berth: &Berth) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_log").fetch_one(&database(berth).await).await.unwrap()
}

/// Every row of a selection, page after page, in the order the API gives them.
async fn all_pages(api: &Api, query: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page_query = match &cursor {
            Some(c) => format!("{query}&cursor={c}"),
            None => query.to_string(),
        };
        let page = api.get(&format!("/api/v1/audit?{page_query}")).await.unwrap();
        assert_eq!(page.status, 200, "{:?}", page.body);
        rows.extend(page.body["items"].as_array().unwrap().iter().cloned());
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return rows,
        }
    }
}

fn field<'a>(rows: &'a [Value], name: &str) -> Vec<&'a str> {
    rows.iter().map(|r| r[name].as_str().unwrap()).collect()
}

fn ids(rows: &[Value]) -> Vec<i64> {
    rows.iter().map(|r| r["id"].as_str().unwrap().parse().unwrap()).collect()
}

/// The first row of `action`, newest first.
fn find<'a>(rows: &'a [Value], action: &str) -> &'a Value {
    rows.iter().find(|r| r["action"] == action).unwrap_or_else(|| panic!("{action} is not in the log: {rows:#?}"))
}

/// A file download: status, headers and body text.
async fn download(api: &Api, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let response = api.http.get(format!("{}{path}", api.base)).send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

#[tokio::test]
async fn every_change_is_recorded_with_what_changed() {
    let berth = Berth::start().await.unwrap();
    let wrong = berth.client().post("/api/v1/session", json!({"username": "admin", "password": "guess"})).await.unwrap();
    assert_eq!(wrong.status, 401);
    let admin = berth.admin().await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let rita_id = rita.get("/api/v1/me").await.unwrap().body["id"].as_str().unwrap().to_string();
    admin.patch(&format!("/api/v1/users/{rita_id}"), json!({"display_name": "Rita R.", "password": "rita-password-456"})).await.unwrap();
    // A new password ends her sessions: she signs in with it.
    let rita = berth.sign_in("rita", "rita-password-456").await.unwrap();
    let env = json!({"name": "prod", "region": "us-east-1", "parameters": {"InstanceType": "m5.large", "DesiredCapacity": 2, "MaxSize": 4}});
    assert_eq!(admin.post("/api/v1/environments", env.clone()).await.unwrap().status, 201);
    let mut bigger = env;
    bigger["parameters"]["MaxSize"] = json!(6);
    assert_eq!(admin.put("/api/v1/environments/prod", bigger).await.unwrap().status, 202);
    let alice = berth.user("alice", "approver", "platform").await.unwrap();
    let change = alice.get("/api/v1/environments/prod").await.unwrap().body["pending_change"]["id"].as_str().unwrap().to_string();
    assert_eq!(alice.post(&format!("/api/v1/environments/prod/changes/{change}/approve"), json!({})).await.unwrap().status, 200);
    let created = rita.post("/api/v1/requests", api_request("orders", "/orders*")).await.unwrap();
    let id = created.body["id"].as_str().unwrap().to_string();
    rita.put(&format!("/api/v1/requests/{id}"), api_request("orders", "/v2/orders*")).await.unwrap();

    let rows = all_pages(&admin, "limit=200").await;
    let failed = find(&rows, "auth.sign_in_failed");
    assert_eq!((failed["actor"].as_str(), failed["subject"].as_str()), (Some("admin"), Some("user:admin")));
    assert_eq!(find(&rows, "auth.sign_in")["actor"], "alice", "the newest sign-in");
    let rita_signed_in = rows.iter().filter(|r| r["action"] == "auth.sign_in" && r["actor"] == "rita").count();
    assert_eq!(rita_signed_in, 2, "rita signed in again after her new password");
    let user_created = rows
        .iter()
        .find(|r| r["action"] == "user.create" && r["subject"] == format!("user:{rita_id}"))
        .expect("rita's creation is recorded");
    assert_eq!(user_created["details"]["after"]["team"], "payments");
    let user_updated = find(&rows, "user.update");
    assert_eq!(user_updated["details"]["before"]["display_name"], "rita");
    assert_eq!(user_updated["details"]["after"]["display_name"], "Rita R.");
    assert_eq!(user_updated["details"]["password_changed"], true);
    assert_eq!(find(&rows, "environment.create")["subject"], "environment:prod");
    let env_asked = find(&rows, "environment.change_requested");
    assert_eq!((env_asked["actor"].as_str(), env_asked["details"]["after"]["parameters"]["MaxSize"].as_u64()), (Some("admin"), Some(6)));
    let env_updated = find(&rows, "environment.change_approved");
    assert_eq!(env_updated["actor"], "alice");
    assert_eq!(env_updated["details"]["requested_by"], "admin");
    assert_eq!(env_updated["details"]["before"]["parameters"]["MaxSize"], 4);
    assert_eq!(env_updated["details"]["after"]["parameters"]["MaxSize"], 6);
    let request_created = find(&rows, "request.create");
    assert_eq!(request_created["subject"], format!("request:{id}"));
    assert_eq!(request_created["request_id"], id.as_str());
    assert_eq!(request_created["details"]["after"]["path"], "/orders*");
    let request_updated = find(&rows, "request.update");
    assert_eq!(request_updated["actor"], "rita");
    assert_eq!(request_updated["details"]["revision"], 2);
    assert_eq!(request_updated["details"]["before"]["path"], "/orders*");
    assert_eq!(request_updated["details"]["after"]["path"], "/v2/orders*");

    let text = serde_json::to_string(&rows).unwrap();
    for secret in ["rita-password-123", "rita-password-456", ADMIN_PASSWORD, "guess", "$argon2"] {
        assert!(!text.contains(secret), "the log must not hold {secret}");
    }
    // Newest first, each row linked to the one before it.
    for pair in rows.windows(2) {
        assert_eq!(pair[0]["prev_hash"], pair[1]["hash"]);
        assert_eq!(pair[0]["hash"].as_str().unwrap().len(), 64);
    }
    assert_eq!(rows.last().unwrap()["prev_hash"], "0".repeat(64));
}

#[tokio::test]
async fn the_log_pages_newest_first_and_filters() {
    let berth = Berth::start().await.unwrap();
    let admin = berth.admin().await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let first = rita.post("/api/v1/requests", api_request("orders", "/orders*")).await.unwrap().body["id"].as_str().unwrap().to_string();
    let second = rita.post("/api/v1/requests", api_request("billing", "/billing*")).await.unwrap().body["id"].as_str().unwrap().to_string();
    for path in ["/orders/v2*", "/orders/v3*"] {
        assert_eq!(rita.put(&format!("/api/v1/requests/{first}"), api_request("orders", path)).await.unwrap().status, 200);
    }

    let everything = all_pages(&admin, "limit=200").await;
    assert_eq!(everything.len() as i64, row_count(&berth).await);
    let newest_first = ids(&everything);
    assert!(newest_first.windows(2).all(|w| w[0] > w[1]), "{newest_first:?}");
    let default_page = admin.get("/api/v1/audit").await.unwrap();
    assert_eq!(default_page.body["items"].as_array().unwrap().len(), everything.len().min(50));

    let in_twos = all_pages(&admin, "limit=2").await;
    assert_eq!(ids(&in_twos), newest_first, "pages of two hold every row once, in order");
    let one = admin.get("/api/v1/audit?limit=1").await.unwrap();
    assert_eq!(one.body["items"].as_array().unwrap().len(), 1);
    assert!(one.body["next_cursor"].is_string());
    let last = admin.get("/api/v1/audit?limit=200").await.unwrap();
    assert!(last.body["next_cursor"].is_null(), "no page after the last");

    let by_rita = all_pages(&admin, "actor=rita").await;
    assert!(by_rita.len() >= 5 && field(&by_rita, "actor").iter().all(|a| *a == "rita"));
    let updates = all_pages(&admin, "action=request.update").await;
    assert_eq!(updates.len(), 2);
    let about_first = all_pages(&admin, &format!("request={first}")).await;
    assert_eq!(field(&about_first, "action"), ["request.update", "request.update", "request.create"]);
    assert!(about_first.iter().all(|r| r["request_id"] == first.as_str()));
    let creates = all_pages(&admin, "actor=rita&action=request.create").await;
    assert_eq!(creates.iter().map(|r| r["request_id"].as_str().unwrap()).collect::<Vec<_>>(), [second.as_str(), first.as_str()]);

    let today = &everything[0]["at"].as_str().unwrap()[..10];
    assert_eq!(all_pages(&admin, &format!("from={today}&to={today}")).await.len(), everything.len());
    assert!(all_pages(&admin, "from=2999-01-01").await.is_empty());
    assert!(all_pages(&admin, "to=2000-01-01").await.is_empty());
    // A time bound covers its own second: from the time of a row on, that row is included.
    let middle = &everything[everything.len() / 2];
    let since = all_pages(&admin, &format!("from={}", middle["at"].as_str().unwrap())).await;
    assert!(since.iter().any(|r| r["id"] == middle["id"]));
    assert!(since.iter().all(|r| r["at"].as_str() >= middle["at"].as_str()));
    let until = all_pages(&admin, &format!("to={}", middle["at"].as_str().unwrap())).await;
    assert!(until.iter().any(|r| r["id"] == middle["id"]));
    assert_eq!(since.len() + until.len() - both(&since, &until), everything.len());
}

/// How many rows two selections share.
fn both(a: &[Value], b: &[Value]) -> usize {
    a.iter().filter(|r| b.iter().any(|s| s["id"] == r["id"])).count()
}

#[tokio::test]
async fn requesters_see_their_team_s_requests_and_their_own_actions() {
    let berth = Berth::start().await.unwrap();
    let admin = berth.admin().await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let paula = berth.user("paula", "requester", "payments").await.unwrap();
    let tom = berth.user("tom", "requester", "shipping").await.unwrap();
    let alice = berth.user("alice", "approver", "platform").await.unwrap();
    let ours = rita.post("/api/v1/requests", api_request("orders", "/orders*")).await.unwrap().body["id"].as_str().unwrap().to_string();
    assert_eq!(paula.put(&format!("/api/v1/requests/{ours}"), api_request("orders", "/orders/v2*")).await.unwrap().status, 200);
    let theirs = tom.post("/api/v1/requests", api_request("parcels", "/parcels*")).await.unwrap().body["id"].as_str().unwrap().to_string();

    let seen = all_pages(&rita, "limit=200").await;
    let has = |actor: &str, action: &str| seen.iter().any(|r| r["actor"] == actor && r["action"] == action);
    assert!(has("rita", "auth.sign_in"), "her own actions");
    assert!(has("rita", "request.create") && has("paula", "request.update"), "her team's request, whoever acted");
    assert!(!has("paula", "auth.sign_in"), "a teammate's sign-in is not about a request of the team");
    assert!(!has("tom", "request.create") && !has("tom", "auth.sign_in"), "another team");
    assert!(!has("admin", "user.create") && !has("system", "environment.create"), "platform rows");
    assert!(seen.iter().all(|r| r["actor"] == "rita" || r["request_id"] == ours.as_str()), "{seen:#?}");
    assert!(all_pages(&rita, &format!("request={theirs}")).await.is_empty());
    assert!(all_pages(&rita, "actor=tom").await.is_empty());
    assert_eq!(all_pages(&tom, &format!("request={theirs}")).await.len(), 1);

    assert_eq!(all_pages(&alice, "limit=200").await, all_pages(&admin, "limit=200").await, "approvers see every row");
}

#[tokio::test]
async fn signed_out_clients_get_401_and_bad_filters_get_422() {
    let berth = Berth::start().await.unwrap();
    let nobody = berth.client();
    for path in ["/api/v1/audit", "/api/v1/audit/export?format=csv", "/api/v1/audit/verify"] {
        let r = nobody.get(path).await.unwrap();
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(r.content_type, "application/problem+json");
    }
    let admin = berth.admin().await.unwrap();
    for (query, fields) in [
        ("from=yesterday", vec!["from"]),
        ("to=2025-13-01", vec!["to"]),
        ("from=2025-02-01&to=2025-01-31", vec!["to"]),
        ("request=abc", vec!["request"]),
        ("limit=lots", vec!["limit"]),
        ("cursor=forged", vec!["cursor"]),
        ("request=0&from=2025-1-1&to=soon&limit=-1&cursor=x", vec!["request", "from", "to", "limit", "cursor"]),
    ] {
        let r = admin.get(&format!("/api/v1/audit?{query}")).await.unwrap();
        assert_eq!(r.status, 422, "{query}: {:?}", r.body);
        assert_eq!(r.content_type, "application/problem+json");
        assert_eq!(r.error_fields(), fields, "{query}");
    }
    for (query, fields) in [("format=xml", vec!["format"]), ("format=csv&from=soon", vec!["from"]), ("format=pdf&to=x", vec!["to", "format"])] {
        let r = admin.get(&format!("/api/v1/audit/export?{query}")).await.unwrap();
        assert_eq!(r.status, 422, "{query}: {:?}", r.body);
        assert_eq!(r.error_fields(), fields, "{query}");
    }
    assert_eq!(admin.get("/api/v1/audit?actor=a&actor=b").await.unwrap().status, 400, "a parameter twice");

    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let alice = berth.user("alice", "approver", "platform").await.unwrap();
    assert_eq!(rita.get("/api/v1/audit/verify").await.unwrap().status, 403);
    assert_eq!(alice.get("/api/v1/audit/verify").await.unwrap().status, 403, "admins only");
}

#[tokio::test]
async fn exports_stream_the_whole_selection_as_csv_and_json() {
    let berth = Berth::start().await.unwrap();
    let admin = berth.admin().await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let id = rita.post("/api/v1/requests", api_request("orders", "/orders*")).await.unwrap().body["id"].as_str().unwrap().to_string();
    // More rows than the longest page.
    for n in 0..205 {
        let r = rita.put(&format!("/api/v1/requests/{id}"), api_request("orders", &format!("/orders/v{n}*"))).await.unwrap();
        assert_eq!(r.status, 200);
    }
    let total = row_count(&berth).await as usize;
    let listed = all_pages(&admin, "limit=200").await;

    let (status, headers, body) = download(&admin, "/api/v1/audit/export?format=json").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json");
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment; filename=\"berth-audit-") && disposition.ends_with(".json\""), "{disposition}");
    assert!(headers.get("content-length").is_none(), "streamed, not sized up front");
    let exported: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(exported.len(), total);
    let mut oldest_first = listed.clone();
    oldest_first.reverse();
    assert_eq!(exported, oldest_first, "the list's items, oldest first");

    let (_, _, body) = download(&admin, &format!("/api/v1/audit/export?format=json&action=request.update&request={id}")).await;
    let updates: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(updates.len(), 205);
    assert_eq!(updates[0]["details"]["after"]["path"], "/orders/v0*");
    let (_, _, body) = download(&admin, "/api/v1/audit/export?action=nothing.happened").await;
    assert_eq!(serde_json::from_str::<Vec<Value>>(&body).unwrap(), Vec::<Value>::new(), "JSON is the default");

    let (status, headers, csv) = download(&admin, "/api/v1/audit/export?format=csv&actor=rita").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert!(headers["content-disposition"].to_str().unwrap().ends_with(".csv\""));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "id,at,actor,action,subject,request_id,details,prev_hash,hash");
    let by_rita: Vec<&Value> = oldest_first.iter().filter(|r| r["actor"] == "rita").collect();
    assert_eq!(lines.len(), by_rita.len() + 1);
    let newest = by_rita.last().unwrap();
    let details = newest["details"].to_string().replace('"', "\"\"");
    assert_eq!(
        *lines.last().unwrap(),
        format!(
            "{},{},rita,request.update,request:{id},{id},\"{details}\",{},{}",
            newest["id"].as_str().unwrap(),
            newest["at"].as_str().unwrap(),
            newest["prev_hash"].as_str().unwrap(),
            newest["hash"].as_str().unwrap()
        )
    );

    // A requester's export holds what their list holds.
    let (_, _, body) = download(&rita, "/api/v1/audit/export").await;
    let hers: Vec<Value> = serde_json::from_str(&body).unwrap();
    let mut listed_for_her = all_pages(&rita, "limit=200").await;
    listed_for_her.reverse();
    assert_eq!(hers, listed_for_her);
    assert!(hers.len() < total);
}

#[tokio::test]
async fn verification_finds_a_row_edited_in_the_database_file() {
    let berth = Berth::start().await.unwrap();
    let admin = berth.admin().await.unwrap();
    berth.user("rita", "requester", "payments").await.unwrap();
    let rows = row_count(&berth).await;

    let intact = berth.command(&["audit", "verify"], "").unwrap();
    let stdout = String::from_utf8_lossy(&intact.stdout);
    assert!(intact.status.success(), "{stdout} {}", String::from_utf8_lossy(&intact.stderr));
    assert!(stdout.starts_with(&format!("OK: {rows} rows verified")), "{stdout}");
    let state = admin.get("/api/v1/audit/verify").await.unwrap();
    assert_eq!(state.body["verified_rows"], rows);
    assert!(state.body["broken"].is_null());
    assert!(stdout.contains(state.body["last_hash"].as_str().unwrap()));
    assert_eq!(row_count(&berth).await, rows, "verifying adds nothing to the log");

    let csv = berth.command(&["audit", "export", "--format", "csv"], "").unwrap();
    assert!(csv.status.success());
    let csv = String::from_utf8(csv.stdout).unwrap();
    assert_eq!(csv.lines().count() as i64, rows + 1, "{csv}");
    assert!(csv.starts_with("id,at,actor,action,subject,request_id,details,prev_hash,hash\r\n1,"));
    let json = berth.command(&["audit", "export", "--format", "json", "--actor", "admin", "--action", "user.create"], "").unwrap();
    let exported: Vec<Value> = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(exported.len(), 1);
    assert_eq!(exported[0]["details"]["after"]["username"], "rita");
    let bad = berth.command(&["audit", "export", "--from", "soon"], "").unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("from: soon is neither a date"));

    let db = database(&berth).await;
    let (id, original, details): (i64, String, String) =
        sqlx::query_as("SELECT id, hash, details FROM audit_log WHERE action = 'user.create'").fetch_one(&db).await.unwrap();
    let append_only = sqlx::query("UPDATE audit_log SET details = '{}' WHERE id = ?").bind(id).execute(&db).await;
    assert!(append_only.unwrap_err().to_string().contains("append-only"));
    assert!(sqlx::query("DELETE FROM audit_log WHERE id = ?").bind(id).execute(&db).await.is_err());

    // An attacker with the file drops the trigger and makes rita's account look created as an admin's.
    sqlx::query("DROP TRIGGER audit_log_no_update").execute(&db).await.unwrap();
    let forged = details.replace("\"requester\"", "\"admin\"");
    assert_ne!(forged, details);
    sqlx::query("UPDATE audit_log SET details = ? WHERE id = ?").bind(forged).bind(id).execute(&db).await.unwrap();

    let tampered = berth.command(&["audit", "verify"], "").unwrap();
    let stderr = String::from_utf8_lossy(&tampered.stderr);
    assert!(!tampered.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("broken at row {id} (edited row): its content")), "{stderr}");
    assert!(stderr.contains(&format!("stored hash:   {original}")), "{stderr}");
    let state = admin.get("/api/v1/audit/verify").await.unwrap();
    assert_eq!(state.body["verified_rows"], id - 1);
    assert_eq!(state.body["broken"]["id"], id.to_string());
    assert_eq!(state.body["broken"]["stored_hash"], original.as_str());
    let expected = state.body["broken"]["expected_hash"].as_str().unwrap();
    assert_ne!(expected, original);
    assert!(stderr.contains(&format!("expected hash: {expected}")), "{stderr}");
    assert_eq!(state.body["broken"]["kind"], "edited");
    let page = audit_page(&admin).await;
    assert!(page.contains(&format!("Broken at row {id} (edited row)")), "{page}");
}

async fn audit_page(admin: &Api) -> String {
    admin.http.get(format!("{}/audit", admin.base)).send().await.unwrap().text().await.unwrap()
}

/// `berth audit verify`'s verdict: (succeeded, standard output and error).
fn verify(berth: &Berth, args: &[&str]) -> (bool, String) {
    let out = berth.command(&[&["audit", "verify"], args].concat(), "").unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Rows are deleted from the end of the log (after dropping the trigger): the signed
/// checkpoint tells, the next row gets a new id rather than a reused one, and once the
/// attacker also erases the checkpoints and the id counter, the exported checkpoint tells.
#[tokio::test]
async fn rows_cut_off_the_end_are_found_by_the_checkpoints() {
    let berth = Berth::start().await.unwrap();
    let admin = berth.admin().await.unwrap();
    berth.user("rita", "requester", "payments").await.unwrap();
    berth.user("ravi", "requester", "payments").await.unwrap();

    // The signing key was generated beside the database, for its owner only.
    let key = std::path::PathBuf::from(format!("{}.audit-key", berth.db_path().display()));
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "{}", key.display());
    assert!(std::fs::read_to_string(&key).unwrap().trim().len() >= 32);

    let export = berth.dir.path().join("checkpoints.jsonl");
    let out = berth.command(&["audit", "checkpoint", "--export", export.to_str().unwrap()], "").unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let checkpoint: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(checkpoint["row_count"], row_count(&berth).await);
    assert_eq!(std::fs::read_to_string(&export).unwrap().lines().count(), 1);
    let last_id = checkpoint["last_id"].as_i64().unwrap();
    assert!(verify(&berth, &[]).0);

    let db = database(&berth).await;
    sqlx::query("DROP TRIGGER audit_log_no_delete").execute(&db).await.unwrap();
    sqlx::query("DELETE FROM audit_log WHERE id >= ?").bind(last_id - 1).execute(&db).await.unwrap();
    let (ok, said) = verify(&berth, &[]);
    assert!(!ok, "{said}");
    assert!(said.contains(&format!("broken at row {} (truncated)", last_id - 1)), "{said}");
    let state = admin.get("/api/v1/audit/verify").await.unwrap();
    assert_eq!((state.body["broken"]["kind"].as_str(), state.body["broken"]["id"].as_str()), (Some("truncated"), Some(&*(last_id - 1).to_string())));
    assert!(audit_page(&admin).await.contains(&format!("Broken at row {} (truncated)", last_id - 1)));

    // Ids are never reused: the next row comes after the ones removed.
    berth.user("mia", "requester", "payments").await.unwrap();
    let newest: i64 = sqlx::query_scalar("SELECT max(id) FROM audit_log").fetch_one(&db).await.unwrap();
    let first_new: i64 = sqlx::query_scalar("SELECT min(id) FROM audit_log WHERE id >= ?").bind(last_id - 1).fetch_one(&db).await.unwrap();
    assert!(first_new > last_id && newest > last_id, "{first_new} {newest} {last_id}");
    assert!(verify(&berth, &[]).1.contains(&format!("broken at row {} (truncated)", last_id - 1)));

    // The attacker also erases the checkpoints in the database and sets the id counter
    // back: only the checkpoint exported elsewhere still knows.
    sqlx::query("DROP TRIGGER audit_checkpoints_no_delete").execute(&db).await.unwrap();
    sqlx::query("DELETE FROM audit_checkpoints").execute(&db).await.unwrap();
    sqlx::query("DELETE FROM audit_log WHERE id >= ?").bind(last_id - 1).execute(&db).await.unwrap();
    sqlx::query("UPDATE sqlite_sequence SET seq = ? WHERE name = 'audit_log'").bind(last_id - 2).execute(&db).await.unwrap();
    let (ok, said) = verify(&berth, &["--checkpoints", export.to_str().unwrap()]);
    assert!(!ok, "{said}");
    assert!(said.contains(&format!("broken at row {} (truncated)", last_id - 1)), "{said}");
}

/// The SHA-256 chain hash of a stored row, computed the way anyone can from the code.
fn chain_hash(prev: &str, row: &(i64, String, String, String, String, String, Option<i64>, String)) -> String {
    use sha2::Digest;
    let (_, at, actor, action, subject_type, subject_id, request_id, details) = row;
    let canonical = json!([prev, at, actor, action, subject_type, subject_id, request_id, details]);
    hex::encode(sha2::Sha256::digest(canonical.to_string().as_bytes()))
}

/// An edit followed by hashing the whole chain again from there: every hash and link
/// checks out, but without the key the signatures cannot be redone.
#[tokio::test]
async fn a_chain_hashed_again_after_an_edit_fails_its_signatures() {
    let berth = Berth::start().await.unwrap();
    let admin = berth.admin().await.unwrap();
    berth.user("rita", "requester", "payments").await.unwrap();
    berth.user("ravi", "requester", "payments").await.unwrap();
    let db = database(&berth).await;
    let edited: i64 = sqlx::query_scalar("SELECT id FROM audit_log WHERE action = 'user.create' ORDER BY id LIMIT 1").fetch_one(&db).await.unwrap();
    sqlx::query("DROP TRIGGER audit_log_no_update").execute(&db).await.unwrap();
    let rows: Vec<(i64, String, String, String, String, String, Option<i64>, String)> = sqlx::query_as(
        "SELECT id, at, actor, action, subject_type, subject_id, request_id, details FROM audit_log WHERE id >= ? ORDER BY id",
    )
    .bind(edited)
    .fetch_all(&db)
    .await
    .unwrap();
    let mut prev: String = sqlx::query_scalar("SELECT prev_hash FROM audit_log WHERE id = ?").bind(edited).fetch_one(&db).await.unwrap();
    for mut row in rows {
        if row.0 == edited {
            row.7 = row.7.replace("\"requester\"", "\"admin\"");
        }
        let hash = chain_hash(&prev, &row);
        sqlx::query("UPDATE audit_log SET details = ?, prev_hash = ?, hash = ? WHERE id = ?")
            .bind(&row.7)
            .bind(&prev)
            .bind(&hash)
            .bind(row.0)
            .execute(&db)
            .await
            .unwrap();
        prev = hash;
    }
    let (ok, said) = verify(&berth, &[]);
    assert!(!ok, "{said}");
    assert!(said.contains(&format!("broken at row {edited} (re-hashed chain)")), "{said}");
    assert!(said.contains("signature"), "{said}");
    let state = admin.get("/api/v1/audit/verify").await.unwrap();
    assert_eq!(state.body["broken"]["kind"], "rehashed");
    assert_eq!(state.body["verified_rows"], edited - 1);
    assert!(audit_page(&admin).await.contains(&format!("Broken at row {edited} (re-hashed chain)")));
}

/// The log of a busy installation: 200,000 rows, written straight into the file.
async fn fill(berth: &Berth, rows: i64) {
    let db = database(berth).await;
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
         INSERT INTO audit_log (at, actor, action, subject_type, subject_id, request_id, details, prev_hash, hash)
         SELECT strftime('%Y-%m-%dT%H:%M:%SZ', '2030-01-01', '+' || (i * 30) || ' seconds'), 'user' || (i % 500),
                'action' || (i % 12), 'request', i % 2000, CASE WHEN i % 3 = 0 THEN NULL ELSE 1000 + i % 2000 END,
                '{}', '', ''
         FROM n",
    )
    .bind(rows)
    .execute(&db)
    .await
    .unwrap();
}

#[tokio::test]
async fn pages_stay_fast_at_two_hundred_thousand_rows() {
    let berth = Berth::start().await.unwrap();
    let admin = berth.admin().await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    fill(&berth, 200_000).await;
    rita.post("/api/v1/requests", api_request("orders", "/orders*")).await.unwrap();

    for (api, query) in [
        (&admin, "limit=200"),
        (&admin, "actor=user7"),
        (&admin, "actor=nobody"),
        (&admin, "action=action3"),
        (&admin, "request=1500"),
        (&admin, "from=2030-02-01&to=2030-02-03"),
        (&admin, "to=2030-01-02"),
        (&admin, "from=2000-01-01"),
        (&admin, "actor=user7&action=action7&from=2030-01-15"),
        (&rita, "limit=200"),
        (&rita, "action=request.create"),
    ] {
        let started = Instant::now();
        let page = api.get(&format!("/api/v1/audit?{query}")).await.unwrap();
        let took = started.elapsed();
        assert_eq!(page.status, 200, "{query}");
        assert!(took < Duration::from_secs(1), "{query} took {took:?}");
    }
    // A cursor deep in the log is as quick as the first page.
    let deep = admin.get("/api/v1/audit?limit=1&to=2030-01-01T00:10:00Z").await.unwrap();
    let cursor = deep.body["next_cursor"].as_str().unwrap();
    let started = Instant::now();
    assert_eq!(admin.get(&format!("/api/v1/audit?cursor={cursor}")).await.unwrap().status, 200);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn pages_show_the_log_and_each_request_its_own_history() {
    let berth = Berth::start().await.unwrap();
    let admin = berth.admin().await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let id = rita.post("/api/v1/requests", api_request("orders", "/orders*")).await.unwrap().body["id"].as_str().unwrap().to_string();
    rita.put(&format!("/api/v1/requests/{id}"), api_request("orders", "/v2/orders*")).await.unwrap();
    let other = rita.post("/api/v1/requests", api_request("billing", "/billing*")).await.unwrap().body["id"].as_str().unwrap().to_string();
    let html = |api: &Api, path: String| {
        let request = api.http.get(format!("{}{path}", api.base));
        async move { request.send().await.unwrap().text().await.unwrap() }
    };

    let page = html(&rita, format!("/requests/{id}")).await;
    let timeline = &page[page.find("id=\"request-timeline\"").expect("a timeline on the request page")..];
    let update = timeline.find("request.update").expect("the edit");
    let create = timeline.find("request.create").expect("the creation");
    assert!(update < create, "newest first");
    assert!(timeline.contains("(revision 2)"));
    assert!(!timeline.contains("auth.sign_in"), "only rows about this request");
    assert!(!html(&rita, format!("/requests/{other}")).await.contains("/v2/orders*"), "each request its own");

    let page = html(&admin, "/audit?actor=rita&action=request.update".into()).await;
    assert!(page.contains("href=\"/api/v1/audit/export?format=csv&amp;actor=rita&amp;action=request.update\""), "{page}");
    assert!(page.contains("href=\"/api/v1/audit/export?format=json&amp;actor=rita&amp;action=request.update\""));
    let list = &page[page.find("id=\"audit-list\"").expect("the rows")..];
    assert!(list.contains("request.update") && !list.contains("request.create"));
    let bad = html(&admin, "/audit?from=soon&request=x".into()).await;
    assert!(bad.contains("from: soon is neither a date") && bad.contains("request: x is not a request id"), "{bad}");
    let nav = html(&rita, "/requests".into()).await;
    assert!(nav.contains("href=\"/audit\""), "everyone signed in has the Audit link");
}

#[tokio::test]
async fn the_openapi_document_describes_the_audit_endpoints() {
    let berth = Berth::start().await.unwrap();
    let doc = berth.client().get("/api/v1/openapi.json").await.unwrap().body;
    let params = |path: &str| -> Vec<(String, String)> {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("GET {path} is not documented"))
            .iter()
            .map(|p| (p["name"].as_str().unwrap().to_string(), p["in"].as_str().unwrap().to_string()))
            .collect()
    };
    let filters = ["actor", "action", "request", "from", "to"];
    let list = params("/api/v1/audit");
    for name in filters.iter().chain(&["limit", "cursor"]) {
        assert!(list.contains(&(name.to_string(), "query".into())), "{name} in {list:?}");
    }
    let export = params("/api/v1/audit/export");
    for name in filters.iter().chain(&["format"]) {
        assert!(export.contains(&(name.to_string(), "query".into())), "{name} in {export:?}");
    }
    let content = &doc["paths"]["/api/v1/audit/export"]["get"]["responses"]["200"]["content"];
    assert!(content["text/csv"].is_object() && content["application/json"].is_object());
    assert!(doc["paths"]["/api/v1/audit/verify"]["get"].is_object());
    let entry = &doc["components"]["schemas"]["AuditEntry"];
    for field in ["id", "at", "actor", "action", "subject", "details", "hash"] {
        assert!(entry["required"].as_array().unwrap().contains(&json!(field)), "{field}");
    }
    assert!(entry["properties"]["subject"]["description"].as_str().unwrap().contains("type:id"));
}
