//! OpenID providers on loopback for the single sign-on tests: the real one is PyPI's
//! `oidc-provider-mock` (installed into the venv by scripts/ensure-tools), with its own
//! sign-in form and users whose claims a test sets; `tests/oidc/misbehaving_provider.py`
//! speaks the same protocol but issues the tokens a relying party must refuse.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A provider process, stopped when dropped.
pub struct Provider {
    pub issuer: String,
    child: Child,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Provider {
    /// oidc-provider-mock, requiring a nonce in every authorization request.
    pub async fn start() -> Result<Provider> {
        let program = super::workspace().join(".venv/bin/oidc-provider-mock");
        if !program.exists() {
            bail!("{} is missing: run scripts/ensure-tools", program.display());
        }
        Self::spawn(|port| {
            let mut c = Command::new(&program);
            c.args(["--port", &port.to_string(), "--require-nonce", "true"]);
            c
        })
        .await
    }

    /// The misbehaving provider in `mode` (see its file), signing `sub` in with `groups`.
    pub async fn misbehaving(mode: &str, sub: &str, groups: &str) -> Result<Provider> {
        let python = super::workspace().join(".venv/bin/python");
        let script = super::workspace().join("tests/oidc/misbehaving_provider.py");
        Self::spawn(|port| {
            let mut c = Command::new(&python);
            c.arg(&script).args(["--port", &port.to_string(), "--mode", mode, "--sub", sub, "--groups", groups]);
            c
        })
        .await
    }

    async fn spawn(command: impl Fn(u16) -> Command) -> Result<Provider> {
        let dir = tempfile::tempdir()?;
        let port = super::free_port();
        let log = std::fs::File::create(dir.path().join("provider.log"))?;
        let child = command(port)
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .context("starting the OpenID provider")?;
        let provider = Provider { issuer: format!("http://127.0.0.1:{port}"), child, dir, http: reqwest::Client::new() };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            let discovery = provider.http.get(format!("{}/.well-known/openid-configuration", provider.issuer)).send().await;
            if discovery.is_ok_and(|r| r.status().is_success()) {
                return Ok(provider);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the OpenID provider did not start; its log:\n{}", provider.log())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("provider.log")).unwrap_or_default()
    }

    /// Sets the claims the provider gives `sub` from its next sign-in on.
    pub async fn set_user(&self, sub: &str, claims: Value) -> Result<()> {
        let r = self.http.put(format!("{}/users/{sub}", self.issuer)).json(&claims).send().await?;
        if !r.status().is_success() {
            bail!("setting {sub}'s claims: {}", r.status());
        }
        Ok(())
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
