//! Bad input at scale: Schemathesis generates requests from Berth's own OpenAPI document
//! (valid ones and deliberately broken ones) and checks every answer: never a 5xx, never a
//! status, content type, header or body the document does not describe.
//!
//! Berth runs on moto with a little data (a request pending review and a deployed one), as
//! an admin through an API token. Left out of the run: the event stream (it never ends),
//! revoking tokens (it would revoke the run's own) and the template download (schemathesis'
//! YAML loader crashes on CloudFormation's `!Ref`; it is checked directly below).
//!
//! `SCHEMATHESIS` names the program (default: the venv's); `BERTH_SCHEMATHESIS_SEED`
//! replaces the fixed seed to explore other inputs.

use berth_tests::moto::Moto;
use berth_tests::{api_request, workspace, Berth};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const SEED: &str = "20261125";
const MAX_EXAMPLES: &str = "40";

struct Bearer {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Bearer {
    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.bearer_auth(&self.token).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.http.get(format!("{}{path}", self.base))).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(self.http.post(format!("{}{path}", self.base)).json(&body)).await
    }
}

#[tokio::test]
async fn generated_requests_get_only_documented_answers() {
    let program = std::env::var_os("SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".venv/bin/schemathesis"));
    assert!(program.exists(), "{} is missing: run scripts/ensure-tools", program.display());

    let moto = Moto::start().await.unwrap();
    let berth = Berth::start_on(&moto).await.unwrap();
    let admin = berth.admin().await.unwrap();
    let created = admin.post("/api/v1/tokens", json!({"name": "schemathesis"})).await.unwrap();
    assert_eq!(created.status, 201, "{:?}", created.body);
    let api = Bearer {
        base: berth.url.clone(),
        token: created.body["token"].as_str().unwrap().to_string(),
        http: reqwest::Client::new(),
    };

    // User 2 asks for two APIs: 1 waits for review, 2 is approved by the admin and deployed.
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    for (service, path) in [("orders", "/orders*"), ("billing", "/billing*")] {
        let r = rita.post("/api/v1/requests", api_request(service, path)).await.unwrap();
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let (status, body) = api.post("/api/v1/requests/2/approve", json!({"revision": 1})).await;
    assert_eq!(status, 200, "{body:?}");
    let started = Instant::now();
    while api.get("/api/v1/requests/2").await.1["status"] != "deployed" {
        assert!(started.elapsed() < Duration::from_secs(60), "request 2 did not deploy; Berth's log:\n{}", berth.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    rita.post("/api/v1/requests/1/comments", json!({"comment": "Ready for review"})).await.unwrap();

    // What the run leaves out, directly: the template is YAML, with one Content-Type.
    let template = api.http.get(format!("{}/api/v1/requests/1/templates/service", berth.url)).bearer_auth(&api.token).send().await.unwrap();
    assert_eq!(template.status(), 200);
    let types: Vec<_> = template.headers().get_all("content-type").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    assert_eq!(types, ["text/yaml; charset=utf-8"], "exactly one Content-Type");

    let me = api.get("/api/v1/me").await.1;
    let (me_team, me_id) = (me["team"].as_str().unwrap_or_default().to_string(), me["id"].as_str().unwrap_or_default().to_string());
    let seed = std::env::var("BERTH_SCHEMATHESIS_SEED").unwrap_or_else(|_| SEED.into());
    let config = workspace().join("tests/schemathesis.toml");
    let mut command = tokio::process::Command::new(&program);
    command
        .current_dir(berth.dir.path())
        .arg("--config-file")
        .arg(&config)
        .args(["run", &format!("{}/api/v1/openapi.json", berth.url), "--no-color"])
        .args(["--header", &format!("Authorization: Bearer {}", api.token)])
        .args([
            "--checks",
            "all",
        ])
        .args(["--exclude-path", "/api/v1/requests/{id}/events/stream"])
        .args(["--exclude-operation-id", "revoke_token"])
        .args(["--exclude-operation-id", "get_request_template"])
        // An environment's certificate must be in its region, a rule across two fields that
        // JSON Schema cannot state. Since an environment may be in any region, the coverage
        // phase sends boundary variants (a region of its longest length with a certificate
        // of another) that bypass the hooks, and Berth rightly refuses them (422), which
        // schemathesis counts as valid data rejected. tests/http_api.rs covers both
        // operations and that rule instead.
        .args(["--exclude-operation-id", "create_environment"])
        .args(["--exclude-operation-id", "update_environment"])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--max-examples", MAX_EXAMPLES, "--seed", &seed])
        .args(["--generation-database", "none", "--request-timeout", "30"])
        // Cross-field rules for the cases meant to be valid (see the file).
        .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
        .env("PYTHONPATH", workspace().join("tests"))
        .env("BERTH_FUZZ_URL", berth.url.as_str())
        .env("BERTH_FUZZ_TOKEN", api.token.as_str())
        .env("BERTH_FUZZ_TEAM", me_team.as_str())
        .env("BERTH_FUZZ_ENVIRONMENT", "staging")
        .env("BERTH_FUZZ_SELF", me_id.as_str())
        .env("BERTH_FUZZ_OTHER", "2")
        .kill_on_drop(true);
    let started = Instant::now();
    let output = tokio::time::timeout(Duration::from_secs(900), command.output())
        .await
        .expect("schemathesis finished within 15 minutes")
        .unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let log = berth.log();
    let log_tail: String = log.lines().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
    eprintln!("schemathesis (seed {seed}) took {:.0?}", started.elapsed());
    assert!(output.status.success(), "schemathesis found problems:\n{report}\nBerth's log (end):\n{log_tail}");
    assert!(!report.contains("Traceback"), "schemathesis crashed, so part of the run was skipped:\n{report}");
    // Every operation the run selected (the document's, less those left out above).
    let selected: u64 = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("Operations:").and_then(|rest| rest.trim().split_once(" selected")).and_then(|(n, _)| n.parse().ok()))
        .expect("a count of selected operations");
    assert!(report.contains(&format!("Tested: {selected}")), "every selected operation was tested:\n{report}");
    let generated: u64 = report
        .lines()
        .find_map(|l| l.trim().split_once(" generated").and_then(|(n, _)| n.parse().ok()))
        .expect("a count of test cases");
    assert!(generated >= 1000, "only {generated} test cases:\n{report}");
    // The run's figures, for whoever reads the test output.
    for line in report.lines().filter(|l| l.contains("generated") || l.contains("API Links") || l.contains("(in ")) {
        eprintln!("schemathesis: {}", line.trim());
    }

    // The run kept its credentials to the end (so its answers were not just 401s), and the
    // server never logged a panic or an internal error.
    let (status, me) = api.get("/api/v1/me").await;
    assert_eq!((status, me["role"].as_str()), (200, Some("admin")), "the run's admin lost its token or role");
    assert!(!log.contains("panicked"), "Berth panicked:\n{log_tail}");
}
