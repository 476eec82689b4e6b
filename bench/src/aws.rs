//! localaws (moto behind a proxy that runs ECS tasks and counts AWS calls), deploying one
//! API through Berth's JSON API, and counting the AWS calls its health costs per viewer.

use crate::load::{call, sign_in, Session};
use crate::procs::{free_port, Proc};
use anyhow::{bail, Context, Result};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

pub type Calls = BTreeMap<String, u64>;

pub struct LocalAws {
    pub url: String,
    /// Stops localaws (and its moto) when dropped.
    _proc: Proc,
}

impl LocalAws {
    pub async fn start(repo: &Path, work: &Path) -> Result<LocalAws> {
        let python = repo.join(".venv/bin/python");
        let script = repo.join("localaws/localaws.py");
        if !python.exists() || !script.exists() {
            bail!("localaws needs {} and {} (scripts/ensure-tools creates the venv)", python.display(), script.display());
        }
        let port = free_port()?;
        let mut command = Command::new(&python);
        command
            .arg(&script)
            .arg("--port")
            .arg(port.to_string())
            .arg("--log")
            .arg(work.join("localaws.log"))
            .arg("--moto-log")
            .arg(work.join("moto.log"))
            .current_dir(work);
        let mut proc = Proc::spawn("localaws", command, work.join("localaws.out"))?;
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Ok(r) = http.get(format!("{url}/_localaws/stats")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            if proc.exited() || started.elapsed() > Duration::from_secs(60) {
                bail!("localaws did not start:\n{}", proc.log_tail(20));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(LocalAws { url, _proc: proc })
    }

    /// Forgets every resource (moto's reset; localaws keeps its own settings), so another
    /// Berth installation starts on an empty AWS instead of meeting the stacks of the first.
    pub async fn reset(&self) -> Result<()> {
        let response = reqwest::Client::new().post(format!("{}/moto-api/reset", self.url)).send().await?;
        if !response.status().is_success() {
            bail!("resetting localaws answered {}", response.status());
        }
        Ok(())
    }

    pub async fn calls(&self) -> Result<Calls> {
        let body: Value = serde_json::from_str(&reqwest::get(format!("{}/_localaws/stats", self.url)).await?.text().await?)?;
        Ok(body["calls"].as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0))).collect()).unwrap_or_default())
    }

    /// Waits until at most `allowed` AWS calls arrived within the last `quiet`, or `limit`
    /// passed. Returns how long it was busy, and whether it did quieten down.
    pub async fn settle(&self, quiet: Duration, allowed: u64, limit: Duration) -> Result<(Duration, bool)> {
        let started = Instant::now();
        let mut seen: Vec<(Instant, u64)> = vec![(started, total(&self.calls().await?))];
        while started.elapsed() < limit {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = Instant::now();
            let calls = total(&self.calls().await?);
            seen.push((now, calls));
            if now - started < quiet {
                continue;
            }
            let back = seen.iter().rev().find(|(t, _)| now - *t >= quiet).copied().unwrap_or(seen[0]);
            if calls - back.1 <= allowed {
                return Ok(((now - started).saturating_sub(quiet), true));
            }
        }
        Ok((started.elapsed(), false))
    }
}

pub fn total(c: &Calls) -> u64 {
    c.values().sum()
}

pub fn delta(before: &Calls, after: &Calls) -> Calls {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// Calls per AWS service (`ecs`, `elasticloadbalancing`, `cloudformation`, ...).
pub fn by_service(c: &Calls) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (k, v) in c {
        *out.entry(k.split(':').next().unwrap_or(k).to_string()).or_default() += v;
    }
    out
}

pub fn describe(c: &Calls) -> String {
    if c.is_empty() {
        return "none".into();
    }
    c.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
}

/// A request body that passes validation in `environment` (t3.medium).
pub fn api_request(service: &str, environment: &str) -> Value {
    json!({
        "environment": environment,
        "service_name": service,
        "description": format!("The {service} API, deployed by the benchmark"),
        "image_url": "nginx:1.27",
        "container_port": 80,
        "cpu": 256,
        "memory": 512,
        "desired_count": 2,
        "path": format!("/{service}*"),
        "health_check_path": "/",
    })
}

/// Submits `service` in `environment` as `requester`, approves it as `approver`, and waits
/// until it is deployed. Returns its id and how long the deployment took.
pub async fn deploy(http: &reqwest::Client, base: &str, requester: &Session, approver: &Session, service: &str, environment: &str, limit: Duration) -> Result<(String, Duration)> {
    let (status, body) = call(http, Method::POST, &format!("{base}/api/v1/requests"), Some(requester), Some(api_request(service, environment))).await?;
    if status != 201 {
        bail!("submitting {service} answered {status}: {body}");
    }
    let id = body["id"].as_str().context("the new request's id")?.to_string();
    let started = Instant::now();
    let (status, body) = call(http, Method::POST, &format!("{base}/api/v1/requests/{id}/approve"), Some(approver), Some(json!({"revision": 1}))).await?;
    if status != 200 {
        bail!("approving request {id} answered {status}: {body}");
    }
    loop {
        let (_, r) = call(http, Method::GET, &format!("{base}/api/v1/requests/{id}"), Some(approver), None).await?;
        match r["status"].as_str() {
            Some("deployed") => return Ok((id, started.elapsed())),
            Some("failed") => bail!("the deployment of request {id} failed: {}", r["status_reason"]),
            _ if started.elapsed() > limit => bail!("request {id} was not deployed within {limit:?}: {r}"),
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// What the viewers saw in one window.
pub struct Viewing {
    pub viewers: usize,
    pub seconds: f64,
    pub calls: Calls,
    pub looks: u64,
    pub failed_looks: u64,
    /// p50 and max latency of a look, ms.
    pub p50_ms: f64,
    pub max_ms: f64,
    /// The oldest `fetched_at` a viewer was shown, in seconds before the look.
    pub max_staleness: i64,
}

impl Viewing {
    pub fn per_minute(&self, n: u64) -> f64 {
        n as f64 * 60.0 / self.seconds
    }
}

/// `sessions.len()` viewers each ask for the health every `every` (as the open page does),
/// spread evenly over the interval, for `window`; the AWS calls localaws counted meanwhile.
/// With several `ids`, the viewers take them in turn (viewer i looks at `ids[i % len]`).
pub async fn view(aws: &LocalAws, base: &str, ids: &[String], sessions: &[Session], every: Duration, window: Duration) -> Result<Viewing> {
    let before = aws.calls().await?;
    let started = Instant::now();
    let end = started + window;
    let mut tasks = Vec::new();
    for (i, session) in sessions.iter().enumerate() {
        let session = session.clone();
        let url = format!("{base}/api/v1/requests/{}/health", ids[i % ids.len()]);
        let offset = every.mul_f64(i as f64 / sessions.len().max(1) as f64);
        tasks.push(tokio::spawn(async move {
            // One connection per viewer, as separate browsers would have.
            let http = crate::load::client(1);
            tokio::time::sleep(offset).await;
            let mut next = Instant::now();
            let mut out: Vec<(bool, u32, i64)> = Vec::new();
            while next < end {
                tokio::time::sleep_until(next.into()).await;
                let sent = Instant::now();
                let look = call(&http, Method::GET, &url, Some(&session), None).await;
                let took = sent.elapsed().as_micros() as u32;
                match look {
                    Ok((200, body)) => {
                        let fetched = body["fetched_at"].as_str().and_then(crate::seed::parse_rfc3339);
                        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
                        out.push((true, took, fetched.map_or(-1, |f| now - f)));
                    }
                    Ok((status, body)) => {
                        eprintln!("[bench] a look at {url} answered {status}: {}", body.to_string().chars().take(300).collect::<String>());
                        out.push((false, took, -1))
                    }
                    Err(e) => {
                        eprintln!("[bench] a look at {url} failed: {e}");
                        out.push((false, took, -1))
                    }
                }
                next += every;
            }
            out
        }));
    }
    let mut looks = Vec::new();
    for t in tasks {
        looks.extend(t.await?);
    }
    let seconds = started.elapsed().as_secs_f64();
    let after = aws.calls().await?;
    let mut latencies: Vec<u32> = looks.iter().map(|l| l.1).collect();
    latencies.sort_unstable();
    let p50_ms = latencies.get(latencies.len() / 2).map_or(f64::NAN, |v| *v as f64 / 1000.0);
    let max_ms = latencies.last().map_or(f64::NAN, |v| *v as f64 / 1000.0);
    Ok(Viewing {
        viewers: sessions.len(),
        seconds,
        calls: delta(&before, &after),
        looks: looks.iter().filter(|l| l.0).count() as u64,
        failed_looks: looks.iter().filter(|l| !l.0).count() as u64,
        p50_ms,
        max_ms,
        max_staleness: looks.iter().map(|l| l.2).max().unwrap_or(-1),
    })
}

/// Signs `n` viewers in, each with a session of its own.
pub async fn viewers(http: &reqwest::Client, base: &str, username: &str, password: &str, n: usize) -> Result<Vec<Session>> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(sign_in(http, base, username, password).await?);
    }
    Ok(out)
}

/// The other account of the two-account windows, and the role Berth assumes there.
pub const OTHER_ACCOUNT: &str = "111111111111";
pub const OTHER_REGION: &str = "eu-west-1";
const EXTERNAL_ID: &str = "berth-bench";

/// Makes `BerthDeployer` in the other account, trusting Berth's (moto's default) account
/// with an external id, as iam/target-account-role.json does; returns the environment body
/// of an environment there. moto's account header is the way into another account here.
pub fn other_account_environment(aws: &LocalAws, name: &str) -> Result<Value> {
    let code = format!(
        "iam = aws('iam')\n\
         iam.meta.events.register('before-sign', lambda request, **_: request.headers.__setitem__('x-moto-account-id', '{OTHER_ACCOUNT}'))\n\
         trust = {{'Version': '2012-10-17', 'Statement': [{{'Effect': 'Allow', 'Principal': {{'AWS': 'arn:aws:iam::123456789012:root'}}, 'Action': 'sts:AssumeRole', 'Condition': {{'StringEquals': {{'sts:ExternalId': '{EXTERNAL_ID}'}}}}}}]}}\n\
         print(json.dumps(iam.create_role(RoleName='BerthDeployer', AssumeRolePolicyDocument=json.dumps(trust))['Role']['Arn']))"
    );
    let arn = berth_tests::moto::boto3_at(&aws.url, &code)?;
    Ok(json!({
        "name": name,
        "region": OTHER_REGION,
        "role_arn": arn,
        "external_id": EXTERNAL_ID,
        "parameters": {"InstanceType": "t3.medium", "DesiredCapacity": 2, "MaxSize": 4},
    }))
}
