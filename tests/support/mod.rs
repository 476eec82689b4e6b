//! Test support: start the real `berth` binary on a free port with its own temporary
//! SQLite file, talk to it over HTTP, and drive headless Chromium.
//!
//! The binary and the compiled site come from `cargo leptos build --release --split
//! --precompress`, exactly what scripts/run serves (see scripts/test);
//! `BERTH_BIN` and `BERTH_SITE_ROOT` point elsewhere when set.

pub mod browser;
pub mod localaws;
pub mod moto;
pub mod oidc;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is inside the workspace").to_path_buf()
}

fn from_env_or(var: &str, default: PathBuf) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or(default)
}

/// The compiled site the tests serve (the release site that scripts/run serves).
pub fn site_root() -> PathBuf {
    from_env_or("BERTH_SITE_ROOT", workspace().join("target/site"))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

/// A running Berth server, stopped when dropped.
pub struct Berth {
    pub url: String,
    child: Child,
    pub dir: tempfile::TempDir,
    /// Holds the configuration file of `start_on_endpoint` for the server's lifetime.
    config_dir: Option<tempfile::TempDir>,
    port: u16,
    env: Vec<(String, String)>,
}

/// Runs `berth serve` in `dir` (its database and log live there) with `env` on top of
/// settings that keep it on this machine.
fn spawn(dir: &std::path::Path, port: u16, env: &[(String, String)]) -> Result<Child> {
    let bin = from_env_or("BERTH_BIN", workspace().join("target/release/berth"));
    let site = site_root();
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("berth.log"))?;
    let mut command = Command::new(&bin);
    command
        .arg("serve")
        .current_dir(dir)
        .env("BERTH_ADDR", format!("127.0.0.1:{port}"))
        .env("BERTH_DATABASE_URL", format!("sqlite://{}", dir.join("berth.db").display()))
        .env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("BERTH_SITE_ROOT", &site)
        .env_remove("BERTH_CONFIG")
        // Never reach past this machine: no instance metadata, and an AWS endpoint on a
        // closed loopback port unless a test points Berth at its own moto.
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log));
    for (k, v) in env {
        command.env(k, v);
    }
    command.spawn().with_context(|| format!("starting {}", bin.display()))
}

impl Berth {
    pub async fn start() -> Result<Berth> {
        Self::start_with(&[]).await
    }

    /// Starts Berth with extra environment variables.
    pub async fn start_with(env: &[(&str, &str)]) -> Result<Berth> {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        // A port found free may be taken before Berth binds it: then try another.
        let mut attempts = 0;
        loop {
            let dir = tempfile::tempdir()?;
            let port = free_port();
            let child = spawn(dir.path(), port, &env)?;
            let mut berth = Berth { url: format!("http://127.0.0.1:{port}"), child, dir, config_dir: None, port, env: env.clone() };
            match berth.wait_ready().await {
                Ok(()) => return Ok(berth),
                Err(e) if attempts < 3 && berth.log().contains("Address already in use") => {
                    attempts += 1;
                    eprintln!("berth could not bind 127.0.0.1:{port}, trying another port: {e}");
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Kills the server with SIGKILL, as a crash or the OOM killer would: no shutdown.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM, as a service manager stopping Berth would, and waits up to `timeout`
    /// for the process to exit by itself.
    pub fn terminate(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status()?;
        if !status.success() {
            bail!("kill -TERM {} failed", self.child.id());
        }
        let started = Instant::now();
        while started.elapsed() < timeout {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("berth did not exit within {timeout:?} of SIGTERM; its log:\n{}", self.log())
    }

    /// A second Berth process on this one's database file and settings (its own port and
    /// log), as when a restart overlaps the old process or an operator runs two.
    pub async fn start_sharing(&self) -> Result<Berth> {
        self.start_alike(&self.db_path()).await
    }

    /// Another Berth process with this one's settings on the database file `database`.
    pub async fn start_alike(&self, database: &std::path::Path) -> Result<Berth> {
        let mut env = self.env.clone();
        env.push(("BERTH_DATABASE_URL".into(), format!("sqlite://{}", database.display())));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Self::start_with(&env).await
    }

    /// Starts the server again on the same port, database and settings (after `kill`).
    pub async fn restart(&mut self) -> Result<()> {
        self.child = spawn(self.dir.path(), self.port, &self.env)?;
        self.wait_ready().await
    }

    /// Starts Berth pointed at a local AWS, polling stacks quickly.
    pub async fn start_on(moto: &moto::Moto) -> Result<Berth> {
        Self::start_on_endpoint(&moto.endpoint, "").await
    }

    /// Starts Berth with AWS at `endpoint` (moto or localaws), polling stacks quickly and
    /// with short job leases, with more configuration file lines.
    pub async fn start_on_endpoint(endpoint: &str, config: &str) -> Result<Berth> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("berth.toml");
        // Short leases: a job of a killed server is taken over after seconds, not half a minute.
        // A setting in `config` replaces the default of the same name.
        let given: Vec<&str> = config.lines().filter_map(|l| l.split_once('=')).map(|(k, _)| k.trim()).collect();
        let defaults: String = [("deploy_poll_ms", "100"), ("deploy_timeout_minutes", "2"), ("deploy_lease_seconds", "3")]
            .iter()
            .filter(|(k, _)| !given.contains(k))
            .map(|(k, v)| format!("{k} = {v}\n"))
            .collect();
        std::fs::write(&file, format!("{defaults}{config}\n"))?;
        let file = file.to_string_lossy().to_string();
        let vars = [
            ("AWS_ENDPOINT_URL", endpoint),
            ("AWS_REGION", moto::REGION),
            ("AWS_ACCESS_KEY_ID", "local"),
            ("AWS_SECRET_ACCESS_KEY", "local"),
            ("BERTH_CONFIG", file.as_str()),
        ];
        let mut berth = Self::start_with(&vars).await?;
        berth.config_dir = Some(dir);
        Ok(berth)
    }

    /// Waits until this server (not another one that happens to hold the port: a port
    /// found free can be taken before Berth binds it) says it listens, then is ready.
    async fn wait_ready(&mut self) -> Result<()> {
        let banner = format!("Berth is listening on {}", self.url);
        let seen_before = self.log().matches(&banner).count();
        let started = Instant::now();
        let client = reqwest::Client::new();
        while started.elapsed() < Duration::from_secs(30) {
            if let Some(status) = self.child.try_wait()? {
                bail!("berth exited with {status}; its log:\n{}", self.log());
            }
            if self.log().matches(&banner).count() > seen_before {
                if let Ok(r) = client.get(format!("{}/readyz", self.url)).send().await {
                    if r.status().is_success() {
                        return Ok(());
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("berth did not become ready; its log:\n{}", self.log())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("berth.log")).unwrap_or_default()
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("berth.db")
    }

    /// A client with its own cookie jar, not signed in.
    pub fn client(&self) -> Api {
        Api {
            base: self.url.clone(),
            http: reqwest::Client::builder().cookie_store(true).build().expect("an HTTP client"),
        }
    }

    /// A client signed in as `username`.
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<Api> {
        let api = self.client();
        let r = api.post("/api/v1/session", json!({"username": username, "password": password})).await?;
        if r.status != 204 {
            bail!("sign-in of {username} answered {}: {}", r.status, r.body);
        }
        Ok(api)
    }

    pub async fn admin(&self) -> Result<Api> {
        self.sign_in("admin", ADMIN_PASSWORD).await
    }

    /// Lets the default environment (`staging`, t3.medium) grow to `max_size` hosts, for tests
    /// that put many APIs beside each other there: a change the admin asks for and another
    /// approver (`grower`, made here) approves.
    pub async fn grow_staging(&self, max_size: u32) -> Result<()> {
        let admin = self.admin().await?;
        let bigger = json!({"name": "staging", "region": "us-east-1", "rule_capacity": 100,
                            "parameters": {"InstanceType": "t3.medium", "DesiredCapacity": 2, "MaxSize": max_size}});
        let asked = admin.put("/api/v1/environments/staging", bigger).await?;
        if asked.status != 202 {
            bail!("asking to grow staging answered {}: {}", asked.status, asked.body);
        }
        let change = asked.body["pending_change"]["id"].as_str().unwrap_or_default().to_string();
        let approver = self.user("grower", "approver", "platform").await?;
        let approved = approver.post(&format!("/api/v1/environments/staging/changes/{change}/approve"), json!({})).await?;
        if approved.status != 200 {
            bail!("approving the growth of staging answered {}: {}", approved.status, approved.body);
        }
        Ok(())
    }

    /// Creates a user through the API (as admin) and returns a client signed in as them.
    pub async fn user(&self, username: &str, role: &str, team: &str) -> Result<Api> {
        let admin = self.admin().await?;
        let password = format!("{username}-password-123");
        let r = admin
            .post(
                "/api/v1/users",
                json!({"username": username, "password": password, "display_name": username, "role": role, "team": team}),
            )
            .await?;
        if r.status != 201 {
            bail!("creating {username} answered {}: {}", r.status, r.body);
        }
        self.sign_in(username, &password).await
    }

    /// Runs a `berth` subcommand against this server's database.
    pub fn command(&self, args: &[&str], stdin: &str) -> Result<std::process::Output> {
        self.command_on(&self.db_path(), args, stdin)
    }

    /// `berth <args>` run by an operator on the database file `database`.
    pub fn command_on(&self, database: &std::path::Path, args: &[&str], stdin: &str) -> Result<std::process::Output> {
        self.command_with(database, args, stdin, &[])
    }

    /// `berth <args>` on the database file `database`, with `env` on top.
    pub fn command_with(&self, database: &std::path::Path, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Result<std::process::Output> {
        use std::io::Write;
        let bin = from_env_or("BERTH_BIN", workspace().join("target/release/berth"));
        let mut child = Command::new(bin)
            .args(args)
            .current_dir(self.dir.path())
            .env("BERTH_DATABASE_URL", format!("sqlite://{}", database.display()))
            .env_remove("BERTH_CONFIG")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child.stdin.take().expect("piped stdin").write_all(stdin.as_bytes())?;
        Ok(child.wait_with_output()?)
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A JSON API client.
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

/// A response: status, parsed JSON body (Null when empty) and selected headers.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub content_type: String,
}

impl Reply {
    /// The fields named in a problem+json `errors` list.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["field"].as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }
}

impl Api {
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Reply> {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = response.text().await?;
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Ok(Reply { status, body, content_type })
    }

    pub async fn get(&self, path: &str) -> Result<Reply> {
        self.send(self.http.get(format!("{}{path}", self.base))).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Reply> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(&body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Result<Reply> {
        self.send(self.http.put(format!("{}{path}", self.base)).json(&body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Result<Reply> {
        self.send(self.http.patch(format!("{}{path}", self.base)).json(&body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Reply> {
        self.send(self.http.delete(format!("{}{path}", self.base))).await
    }
}

/// Polls a request until it reaches `wanted` (panics after `timeout`), returning it.
pub async fn wait_for_status(api: &Api, id: &str, wanted: &str, timeout: Duration) -> Value {
    let started = Instant::now();
    loop {
        let r = api.get(&format!("/api/v1/requests/{id}")).await.expect("the request").body;
        if r["status"] == wanted {
            return r;
        }
        assert!(started.elapsed() < timeout, "request {id} is still {} ({:?}), wanted {wanted}", r["status"], r["status_reason"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A request body that passes validation in the default environment.
pub fn api_request(service: &str, path: &str) -> Value {
    json!({
        "environment": "staging",
        "service_name": service,
        "description": format!("The {service} API"),
        "image_url": "nginx:1.27",
        "container_port": 8080,
        "cpu": 256,
        "memory": 512,
        "desired_count": 2,
        "path": path,
        "health_check_path": "/health",
    })
}
