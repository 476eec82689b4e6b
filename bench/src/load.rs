//! A small closed-loop load generator: N workers, each sending one request after another
//! on its own keep-alive connection, for a fixed time; latencies of every response.

use anyhow::{bail, Context, Result};
use reqwest::header::{ACCEPT_ENCODING, CONTENT_TYPE, COOKIE, SET_COOKIE};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn client(connections: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        // A redirect (to /login) is a failure here, not something to follow.
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("an HTTP client")
}

/// A signed-in session: the cookie to send.
#[derive(Clone, Debug)]
pub struct Session {
    pub cookie: String,
}

pub async fn sign_in(http: &reqwest::Client, base: &str, username: &str, password: &str) -> Result<Session> {
    let body = serde_json::json!({"username": username, "password": password}).to_string();
    let r = http
        .post(format!("{base}/api/v1/session"))
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await?;
    let status = r.status();
    let cookie = r
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .collect::<Vec<_>>()
        .join("; ");
    if status.as_u16() != 204 || cookie.is_empty() {
        bail!("signing in as {username} answered {status}: {}", r.text().await.unwrap_or_default());
    }
    Ok(Session { cookie })
}

/// One JSON call; the status and the parsed body (Null when empty or not JSON).
pub async fn call(http: &reqwest::Client, method: reqwest::Method, url: &str, session: Option<&Session>, body: Option<Value>) -> Result<(u16, Value)> {
    let mut request = http.request(method, url);
    if let Some(s) = session {
        request = request.header(COOKIE, &s.cookie);
    }
    if let Some(body) = body {
        request = request.header(CONTENT_TYPE, "application/json").body(body.to_string());
    }
    let r = request.send().await.with_context(|| format!("calling {url}"))?;
    let status = r.status().as_u16();
    let text = r.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

pub struct Target {
    pub name: String,
    pub path: String,
    pub session: Option<Session>,
}

#[derive(Default)]
pub struct Outcome {
    pub name: String,
    pub path: String,
    pub ok: u64,
    pub failed: BTreeMap<String, u64>,
    pub bytes: u64,
    pub seconds: f64,
    /// Latencies of successful responses, microseconds, sorted.
    pub latencies: Vec<u32>,
    /// The server's peak resident memory while this ran (KiB), and its CPU seconds used.
    pub peak_rss_kib: u64,
    pub server_cpu: f64,
    /// Too few responses came back within the window (a page slower than the window):
    /// the figures cover every response after the warm-up, until the last one.
    pub extended: bool,
}

impl Outcome {
    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.seconds
    }
    /// The q-quantile latency in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies.len() as f64 * q) as usize).min(self.latencies.len() - 1);
        self.latencies[i] as f64 / 1000.0
    }
    pub fn errors(&self) -> u64 {
        self.failed.values().sum()
    }
    pub fn mean_bytes(&self) -> u64 {
        if self.ok == 0 {
            0
        } else {
            self.bytes / self.ok
        }
    }
}

/// Fetches a target once: its status and body size (a check before loading it).
pub async fn probe(http: &reqwest::Client, base: &str, t: &Target, gzip: bool) -> Result<(u16, usize, String)> {
    let mut request = http.get(format!("{base}{}", t.path));
    if let Some(s) = &t.session {
        request = request.header(COOKIE, &s.cookie);
    }
    if gzip {
        request = request.header(ACCEPT_ENCODING, "gzip");
    }
    let r = request.send().await?;
    let status = r.status().as_u16();
    let encoding = r.headers().get("content-encoding").and_then(|v| v.to_str().ok()).unwrap_or("identity").to_string();
    let body = r.bytes().await?;
    Ok((status, body.len(), encoding))
}

/// Loads `target` with `concurrency` workers: `warmup` unrecorded, then `duration` recorded.
pub async fn run(http: &reqwest::Client, base: &str, target: &Target, concurrency: usize, warmup: Duration, duration: Duration, gzip: bool, server_pid: u32) -> Outcome {
    let start = Instant::now();
    let record_from = start + warmup;
    let end = record_from + duration;
    let url = format!("{base}{}", target.path);
    let bytes = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        tokio::spawn(async move {
            let mut peak = 0;
            while sampling.load(Ordering::Relaxed) {
                if let Some((rss, _)) = crate::procs::memory(server_pid) {
                    peak = peak.max(rss);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            peak
        })
    };
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let http = http.clone();
        let url = url.clone();
        let cookie = target.session.as_ref().map(|s| s.cookie.clone());
        let bytes = bytes.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies: Vec<(Instant, u32)> = Vec::new();
            let mut failed: BTreeMap<String, u64> = BTreeMap::new();
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let mut request = http.get(&url);
                if let Some(c) = &cookie {
                    request = request.header(COOKIE, c);
                }
                if gzip {
                    request = request.header(ACCEPT_ENCODING, "gzip");
                }
                let result = match request.send().await {
                    Ok(r) => {
                        let status = r.status();
                        match r.bytes().await {
                            Ok(body) if status.is_success() => Ok(body.len()),
                            Ok(_) => Err(format!("HTTP {}", status.as_u16())),
                            Err(e) => Err(format!("body: {}", short(&e))),
                        }
                    }
                    Err(e) => Err(short(&e)),
                };
                let done = Instant::now();
                // Responses completed within the window count, whenever they were sent: a
                // page slower than the warm-up still gets measured.
                if done < record_from {
                    continue;
                }
                match result {
                    Ok(n) => {
                        latencies.push((done, (done - sent).as_micros().min(u32::MAX as u128) as u32));
                        bytes.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(e) if done <= end => *failed.entry(e).or_default() += 1,
                    Err(_) => {}
                }
            }
            (latencies, failed)
        }));
    }
    tokio::time::sleep_until(record_from.into()).await;
    let cpu_before = crate::procs::cpu_seconds(server_pid);
    tokio::time::sleep_until(end.into()).await;
    let cpu_after = crate::procs::cpu_seconds(server_pid);
    let mut outcome = Outcome { name: target.name.clone(), path: target.path.clone(), seconds: duration.as_secs_f64(), ..Default::default() };
    let mut all: Vec<(Instant, u32)> = Vec::new();
    for w in workers {
        let (latencies, failed) = w.await.expect("a worker");
        all.extend(latencies);
        for (k, v) in failed {
            *outcome.failed.entry(k).or_default() += v;
        }
    }
    let drained = Instant::now();
    let cpu_drained = crate::procs::cpu_seconds(server_pid);
    sampling.store(false, Ordering::Relaxed);
    outcome.peak_rss_kib = sampler.await.unwrap_or(0);
    let in_window = all.iter().filter(|(done, _)| *done <= end).count();
    let cpu_end = if in_window >= concurrency.max(10) {
        outcome.latencies = all.iter().filter(|(done, _)| *done <= end).map(|(_, l)| *l).collect();
        cpu_after
    } else {
        outcome.extended = true;
        outcome.seconds = (all.iter().map(|(done, _)| *done).max().unwrap_or(drained) - record_from).as_secs_f64().max(0.001);
        outcome.latencies = all.iter().map(|(_, l)| *l).collect();
        cpu_drained
    };
    outcome.server_cpu = match (cpu_before, cpu_end) {
        (Some(a), Some(b)) => b - a,
        _ => f64::NAN,
    };
    outcome.latencies.sort_unstable();
    outcome.ok = outcome.latencies.len() as u64;
    let share = if all.is_empty() { 0.0 } else { outcome.ok as f64 / all.len() as f64 };
    outcome.bytes = (bytes.load(Ordering::Relaxed) as f64 * share) as u64;
    outcome
}

fn short(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect".into()
    } else {
        let s = e.to_string();
        s.chars().take(60).collect()
    }
}
