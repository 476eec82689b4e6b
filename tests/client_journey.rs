//! A client generated from Berth's OpenAPI document with a mainstream generator
//! (openapi-python-client, pinned in scripts/ensure-tools) compiles, imports and runs the
//! request → approve → deploy journey against a running Berth on moto
//! (tests/client/journey.py: rita asks, the admin approves, the API deploys, its
//! deployments and health are read), using nothing but the generated functions and models.
//!
//! The generator skips operations it cannot express and says so: the test fails when it
//! skips any, since every operation of the document must be usable from a generated client. `OPENAPI_PYTHON_CLIENT` and
//! `CLIENT_PYTHON` name the programs (default: the venv's).

use berth_tests::moto::Moto;
use berth_tests::{workspace, Api, Berth};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The operations journey.py calls: method, path and the module the generator makes of it
/// (`api/<tag>/<operationId>.py`).
const JOURNEY: &[(&str, &str, &str)] = &[
    ("GET", "/api/v1/me", "api/session/me.py"),
    ("POST", "/api/v1/requests", "api/requests/create_request.py"),
    ("GET", "/api/v1/requests/{id}", "api/requests/get_request.py"),
    ("POST", "/api/v1/requests/{id}/approve", "api/review/approve_request.py"),
    ("GET", "/api/v1/requests/{id}/deployments", "api/deployments/list_deployments.py"),
    ("GET", "/api/v1/requests/{id}/health", "api/health/get_health.py"),
];

fn program(var: &str, venv: &str) -> PathBuf {
    let program = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| workspace().join(venv));
    assert!(program.exists(), "{} is missing: run scripts/ensure-tools", program.display());
    program
}

async fn token(api: &Api, name: &str) -> String {
    let created = api.post("/api/v1/tokens", json!({"name": name})).await.unwrap();
    assert_eq!(created.status, 201, "{:?}", created.body);
    created.body["token"].as_str().expect("the new token").to_string()
}

/// Runs `command` (killed after `limit`), returning whether it succeeded and all it printed.
async fn run(what: &str, command: &mut tokio::process::Command, limit: Duration) -> (bool, String) {
    command.kill_on_drop(true);
    let output = tokio::time::timeout(limit, command.output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {limit:?}"))
        .unwrap_or_else(|e| panic!("{what} could not start: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// The operations the generator says it skipped, as "METHOD /path", from lines like
/// `WARNING parsing GET /api/v1/... within deployments. Endpoint will not be generated.`
fn skipped_operations(report: &str) -> Vec<String> {
    report
        .lines()
        .filter(|l| l.contains("Endpoint will not be generated"))
        .filter_map(|l| l.trim().strip_prefix("WARNING parsing "))
        .filter_map(|l| l.split(" within ").next())
        .map(str::to_string)
        .collect()
}

fn python(program: &Path, generated: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(program);
    command.env("PYTHONPATH", generated).env("PYTHONDONTWRITEBYTECODE", "1").env_remove("PYTHONHOME");
    command
}

#[tokio::test]
async fn a_generated_python_client_runs_the_request_approve_deploy_journey() {
    let generator = program("OPENAPI_PYTHON_CLIENT", ".venv/bin/openapi-python-client");
    let interpreter = program("CLIENT_PYTHON", ".venv/bin/python");
    let started = Instant::now();

    let moto = Moto::start().await.unwrap();
    let berth = Berth::start_on(&moto).await.unwrap();
    let admin = berth.admin().await.unwrap();
    let rita = berth.user("rita", "requester", "payments").await.unwrap();
    let approver_token = token(&admin, "generated client: approver").await;
    let requester_token = token(&rita, "generated client: requester").await;

    // The document as served, to a file: the generator reads it from there.
    let response = admin.http.get(format!("{}/api/v1/openapi.json", berth.url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let document = response.text().await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let spec = work.path().join("openapi.json");
    std::fs::write(&spec, &document).unwrap();

    // Generate. Warnings do not fail the generator; skipped operations the journey needs
    // fail the test.
    let package = work.path().join("berth_api_client");
    let mut generate = tokio::process::Command::new(&generator);
    generate
        .current_dir(work.path())
        .arg("generate")
        .arg("--path")
        .arg(&spec)
        .arg("--output-path")
        .arg(&package)
        .args(["--meta", "none"])
        .arg("--config")
        .arg(workspace().join("tests/client/config.yaml"))
        .env("NO_COLOR", "1")
        .env("TERM", "dumb");
    let version = std::process::Command::new(&generator).arg("--version").output().unwrap();
    let (ok, report) = run("openapi-python-client", &mut generate, Duration::from_secs(120)).await;
    eprintln!("{} on the document ({} bytes):\n{report}", String::from_utf8_lossy(&version.stdout).trim(), document.len());
    assert!(ok, "openapi-python-client failed:\n{report}");
    assert!(!report.contains("Traceback"), "openapi-python-client crashed:\n{report}");
    let skipped = skipped_operations(&report);
    assert!(skipped.is_empty(), "the generator skipped {skipped:?}:\n{report}");
    for (method, path, module) in JOURNEY {
        let operation = format!("{method} {path}");
        assert!(!skipped.contains(&operation), "the generator skipped {operation}, which the journey needs:\n{report}");
        assert!(package.join(module).exists(), "no {module} for {operation} in the generated client:\n{report}");
    }

    // It compiles, and every module of it imports.
    let (ok, out) = run(
        "compileall",
        python(&interpreter, work.path()).args(["-m", "compileall", "-q"]).arg(&package),
        Duration::from_secs(120),
    )
    .await;
    assert!(ok, "the generated client does not compile:\n{out}");
    let import_all = "import importlib, pkgutil, berth_api_client as p\n\
                      names = [m.name for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.')]\n\
                      for n in names: importlib.import_module(n)\n\
                      print(f'imported {len(names)} modules of berth_api_client')";
    let (ok, out) = run("import", python(&interpreter, work.path()).args(["-c", import_all]), Duration::from_secs(120)).await;
    assert!(ok, "the generated client does not import:\n{out}");
    eprint!("{out}");

    // The journey, through the generated client only.
    let mut journey = python(&interpreter, work.path());
    journey
        .arg(workspace().join("tests/client/journey.py"))
        .env("BERTH_URL", &berth.url)
        .env("BERTH_REQUESTER_TOKEN", &requester_token)
        .env("BERTH_APPROVER_TOKEN", &approver_token)
        .env("BERTH_DEPLOY_TIMEOUT", "60")
        .env("PYTHONUNBUFFERED", "1");
    let (ok, out) = run("journey.py", &mut journey, Duration::from_secs(180)).await;
    eprintln!("journey.py:\n{out}");
    let log = berth.log();
    let log_tail: String = log.lines().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
    assert!(ok, "the journey through the generated client failed:\n{out}\nBerth's log (end):\n{log_tail}");
    assert!(!log.contains("panicked"), "Berth panicked:\n{log_tail}");
    eprintln!("generated, compiled, imported and ran the journey in {:.1?}", started.elapsed());
}
