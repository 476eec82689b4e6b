//! A local AWS: one moto server per test, on a free loopback port. It is moto with the fixes
//! of `localaws/patched_moto.py` (resource types moto's CloudFormation lacks), the same
//! moto localaws runs.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    pub endpoint: String,
    child: Child,
}

pub const REGION: &str = "us-east-1";

impl Moto {
    pub async fn start() -> Result<Moto> {
        let port = super::free_port();
        // The venv's Python (scripts/ensure-tools creates it with moto).
        let python = std::env::var_os("LOCALAWS_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| super::workspace().join(".venv/bin/python"));
        let server = super::workspace().join("localaws/patched_moto.py");
        let child = Command::new(&python)
            .arg(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {} {} (scripts/ensure-tools installs moto)", python.display(), server.display()))?;
        let moto = Moto { endpoint: format!("http://127.0.0.1:{port}"), child };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if reqwest::get(format!("{}/moto-api/", moto.endpoint)).await.is_ok_and(|r| r.status().is_success()) {
                return Ok(moto);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("moto did not start at {}", moto.endpoint)
    }

    /// The environment variables that point Berth (or any AWS SDK) at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        env_at(&self.endpoint)
    }

    /// An SDK configuration for talking to this server from the test itself.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        sdk_config_at(&self.endpoint).await
    }

    /// Runs `code` with boto3 (the venv's) against this server, `aws(service)` giving a
    /// client, and returns what it prints as JSON: for services the tests have no Rust SDK
    /// crate of (ACM, IAM, Application Auto Scaling).
    pub fn boto3(&self, code: &str) -> Result<serde_json::Value> {
        boto3_at(&self.endpoint, code)
    }
}

/// Runs `code` with boto3 against the local AWS at `endpoint` (see [`Moto::boto3`]).
pub fn boto3_at(endpoint: &str, code: &str) -> Result<serde_json::Value> {
    let python = std::env::var_os("LOCALAWS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| super::workspace().join(".venv/bin/python"));
    let prelude = format!(
        "import boto3, json\n\
         def aws(service):\n    return boto3.client(service, endpoint_url='{}', region_name='{REGION}', \
         aws_access_key_id='local', aws_secret_access_key='local')\n",
        endpoint
    );
    let out = Command::new(&python).arg("-c").arg(format!("{prelude}{code}")).output()?;
    if !out.status.success() {
        bail!("boto3 script failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(serde_json::from_slice(&out.stdout).with_context(|| String::from_utf8_lossy(&out.stdout).to_string())?)
}

/// The environment variables that point Berth (or any AWS SDK) at a local AWS.
pub fn env_at(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_REGION", REGION.into()),
        ("AWS_ACCESS_KEY_ID", "local".into()),
        ("AWS_SECRET_ACCESS_KEY", "local".into()),
    ]
}

/// An SDK configuration for a local AWS at `endpoint`, with dummy credentials.
pub async fn sdk_config_at(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_cloudformation::config::Credentials::new("local", "local", None, None, "tests"))
        .load()
        .await
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
