//! localaws (localaws/README.md): moto plus an ECS scheduler, one per test on a free loopback
//! port. A service deployed through it gets running tasks, events and healthy targets like on
//! AWS; its control API stops tasks, sets task and target health, pauses the scheduler and
//! injects faults. Berth itself only ever sees `AWS_ENDPOINT_URL`.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running localaws (and the moto server it started), stopped when dropped.
pub struct LocalAws {
    pub url: String,
    child: Child,
    /// Holds localaws's log for the server's lifetime.
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl LocalAws {
    pub async fn start() -> Result<LocalAws> {
        let port = super::free_port();
        let dir = tempfile::tempdir()?;
        let log = dir.path().join("localaws.log");
        // The venv's Python (scripts/ensure-tools creates it with moto and boto3).
        let python = std::env::var_os("LOCALAWS_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| super::workspace().join(".venv/bin/python"));
        let script = super::workspace().join("localaws/localaws.py");
        let errors = std::fs::OpenOptions::new().create(true).append(true).open(&log)?;
        let child = Command::new(&python)
            .arg(&script)
            .args(["--port", &port.to_string(), "--tick-ms", "250", "--log"])
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(Stdio::from(errors))
            .spawn()
            .with_context(|| format!("starting {} {}", python.display(), script.display()))?;
        let mut localaws =
            LocalAws { url: format!("http://127.0.0.1:{port}"), child, dir, http: reqwest::Client::new() };
        localaws.wait_ready().await?;
        Ok(localaws)
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(r) = self.http.get(format!("{}/_localaws/health", self.url)).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("localaws exited with {status}; its log:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("localaws did not become ready at {}; its log:\n{}", self.url, self.log())
    }

    /// localaws's log (the scheduler's actions and any error), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("localaws.log")).unwrap_or_default()
    }

    /// POSTs `body` to a control endpoint, e.g. `control("/_localaws/tasks/stop", json!({...}))`,
    /// and returns its JSON answer; a non-2xx answer is an error carrying localaws's message.
    pub async fn control(&self, path: &str, body: Value) -> Result<Value> {
        let response = self.http.post(format!("{}{path}", self.url)).json(&body).send().await?;
        let status = response.status();
        let answer: Value = response.json().await.with_context(|| format!("the answer of {path}"))?;
        if !status.is_success() {
            bail!("{path} answered {status}: {answer}");
        }
        Ok(answer)
    }

    /// `{"calls": {"ecs:DescribeServices": n, ...}, "faults": {"throttle": n, ...}}`: every AWS
    /// call that reached localaws since the start or the last `reset_stats`.
    pub async fn stats(&self) -> Result<Value> {
        let response = self.http.get(format!("{}/_localaws/stats", self.url)).send().await?;
        Ok(response.error_for_status()?.json().await?)
    }

    pub async fn reset_stats(&self) {
        self.control("/_localaws/stats/reset", Value::Object(Default::default()))
            .await
            .expect("resetting localaws's call statistics");
    }

    /// The environment variables that point Berth (or any AWS SDK) at this localaws.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        super::moto::env_at(&self.url)
    }

    /// An SDK configuration for talking to this localaws from the test itself.
    /// Runs `code` with boto3 against this local AWS (see `Moto::boto3`).
    pub fn boto3(&self, code: &str) -> Result<serde_json::Value> {
        super::moto::boto3_at(&self.url, code)
    }

    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        super::moto::sdk_config_at(&self.url).await
    }
}

impl Drop for LocalAws {
    fn drop(&mut self) {
        // localaws's moto dies with it (it is started with a parent-death signal).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
