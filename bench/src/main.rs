//! berth-bench: measures the release `berth` binary on this machine.
//!
//! 1. seeds a fresh SQLite database (10,000 requests, 200,000 hash-chained audit rows by
//!    default) and checks it with `berth audit verify`;
//! 2. starts Berth on it (loopback, AWS = localaws) and load-tests pages and JSON endpoints,
//!    each for a fixed time, against `/healthz` as the baseline;
//! 3. reports the hydrate bundle's size and the server's memory, and per route, in headless
//!    Chromium, the bytes a first visit downloads before the page is interactive, how long
//!    that takes, and how soon the request form shows a live field message;
//! 4. deploys one API through the JSON API on a fresh Berth and counts the AWS calls its
//!    health costs per minute with 0, 1 and N viewers.
//!
//! Run it through `bench/run`, which builds what it needs first. Nothing is written into
//! the repository unless `--record` is given (then bench/RESULTS.md's figures are replaced).

mod aws;
mod browser;
mod load;
mod procs;
mod seed;

use anyhow::{bail, Context, Result};
use load::{Outcome, Session, Target};
use procs::{free_port, mib, Proc};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const PASSWORD: &str = "bench-admin-password";
const BEGIN: &str = "<!-- bench:figures:begin (bench/run --record replaces this part) -->";
const END: &str = "<!-- bench:figures:end -->";

struct Opts {
    record: bool,
    keep: bool,
    aws: bool,
    gzip: bool,
    requests: usize,
    audit_rows: usize,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
    aws_window: Duration,
    single: Duration,
    viewers: usize,
    poller_wait: Duration,
    berth: PathBuf,
    site: PathBuf,
    repo: PathBuf,
    only: Option<Vec<String>>,
}

fn usage() -> &'static str {
    "usage: bench/run [--record] [--duration S] [--warmup S] [--concurrency N] [--requests N] [--audit-rows N]
                 [--single S] [--aws-window S] [--viewers N] [--poller-wait S] [--no-aws] [--no-gzip] [--keep]
                 [--only name,name] [--berth PATH] [--site PATH]
  --record       write the figures into bench/RESULTS.md (between its bench:figures markers)
  --duration     seconds each page is loaded and measured (default 10), after --warmup (default 2)
  --concurrency  simultaneous clients per page (default 16)
  --single       then seconds with one client, for the latency of a page alone (default 3; 0: skip)
  --aws-window   seconds of each viewer window (default 60; figures are per minute)
  --viewers      viewers of the crowded window (default 50)
  --poller-wait  longest wait for the health poller's first pass over the seeded APIs (default 150)
  --no-aws       skip localaws: no live request page, no AWS call counts
  --no-gzip      do not send Accept-Encoding: gzip (browsers do)
  --only         load only these pages (names as printed, e.g. healthz,audit)
  --keep         keep the work directory (databases, logs) under /tmp"
}

fn parse() -> Result<Opts> {
    let repo = std::env::current_dir()?;
    let mut o = Opts {
        record: false,
        keep: false,
        aws: true,
        gzip: true,
        requests: 10_000,
        audit_rows: 200_000,
        concurrency: 16,
        warmup: Duration::from_secs(2),
        duration: Duration::from_secs(10),
        aws_window: Duration::from_secs(60),
        single: Duration::from_secs(3),
        viewers: 50,
        poller_wait: Duration::from_secs(150),
        berth: std::env::var_os("BERTH_BIN").map(PathBuf::from).unwrap_or_else(|| repo.join("target/release/berth")),
        site: std::env::var_os("BERTH_SITE_ROOT").map(PathBuf::from).unwrap_or_else(|| repo.join("target/bench-site")),
        repo,
        only: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value\n{}", usage()));
        let secs = |v: String| -> Result<Duration> { Ok(Duration::from_secs_f64(v.parse::<f64>().context("a number of seconds")?)) };
        match a.as_str() {
            "--record" => o.record = true,
            "--keep" => o.keep = true,
            "--no-aws" => o.aws = false,
            "--no-gzip" => o.gzip = false,
            "--duration" => o.duration = secs(value(&a)?)?,
            "--warmup" => o.warmup = secs(value(&a)?)?,
            "--aws-window" => o.aws_window = secs(value(&a)?)?,
            "--single" => o.single = secs(value(&a)?)?,
            "--poller-wait" => o.poller_wait = secs(value(&a)?)?,
            "--concurrency" => o.concurrency = value(&a)?.parse()?,
            "--requests" => o.requests = value(&a)?.parse()?,
            "--audit-rows" => o.audit_rows = value(&a)?.parse()?,
            "--viewers" => o.viewers = value(&a)?.parse()?,
            "--berth" => o.berth = value(&a)?.into(),
            "--site" => o.site = value(&a)?.into(),
            "--only" => o.only = Some(value(&a)?.split(',').map(str::to_string).collect()),
            "-h" | "--help" => {
                println!("{}", usage());
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}\n{}", usage()),
        }
    }
    Ok(o)
}

fn say(msg: impl AsRef<str>) {
    eprintln!("[bench] {}", msg.as_ref());
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn git(repo: &Path, args: &[&str]) -> String {
    Command::new("git").args(args).current_dir(repo).output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default()
}

/// A Berth server on a free loopback port, stopped when dropped.
struct Berth {
    url: String,
    proc: Proc,
}

fn berth_command(o: &Opts, work: &Path, database: &Path, aws_url: &str) -> Command {
    let mut c = Command::new(&o.berth);
    c.current_dir(work)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", work)
        .env("BERTH_DATABASE_URL", format!("sqlite://{}", database.display()))
        .env("BERTH_ADMIN_PASSWORD", PASSWORD)
        .env("BERTH_SITE_ROOT", &o.site)
        .env("BERTH_CONFIG", work.join("berth.toml"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_ENDPOINT_URL", aws_url)
        .env("RUST_LOG", "warn,berth=info");
    c
}

async fn start_berth(o: &Opts, work: &Path, database: &Path, aws_url: &str, log: &str) -> Result<(Berth, Duration)> {
    let port = free_port()?;
    let mut command = berth_command(o, work, database, aws_url);
    command.arg("serve").env("BERTH_ADDR", format!("127.0.0.1:{port}"));
    let started = Instant::now();
    let mut proc = Proc::spawn("berth", command, work.join(log))?;
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    loop {
        if let Ok(r) = http.get(format!("{url}/readyz")).send().await {
            if r.status().is_success() {
                return Ok((Berth { url, proc }, started.elapsed()));
            }
        }
        if proc.exited() || started.elapsed() > Duration::from_secs(120) {
            bail!("berth did not become ready; its log:\n{}", proc.log_tail(30));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[derive(Default)]
struct Memory {
    after_start: Option<(u64, u64)>,
    idle: Option<(u64, u64)>,
    peak_under_load: u64,
    after_load: Option<(u64, u64)>,
}

struct Bundle {
    files: Vec<(String, u64, u64)>,
    served: Option<(String, u64, String)>,
}

fn bundle(site: &Path) -> Result<Bundle> {
    let pkg = site.join("pkg");
    let mut files = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&pkg).with_context(|| format!("reading {}", pkg.display()))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        if [".wasm", ".js", ".css"].iter().any(|ext| name.ends_with(ext)) {
            files.push((name, std::fs::metadata(&path)?.len(), procs::gzip_size(&path)?));
        }
    }
    if !files.iter().any(|f| f.0.ends_with(".wasm")) {
        bail!("no .wasm in {}: build the site first (bench/run does)", pkg.display());
    }
    Ok(Bundle { files, served: None })
}

#[tokio::main]
async fn main() -> Result<()> {
    let o = parse()?;
    let t0 = Instant::now();
    if !o.berth.exists() {
        bail!("{} is missing: build it with `cargo leptos build --release` (bench/run does)", o.berth.display());
    }
    let work = std::env::temp_dir().join(format!("berth-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    say(format!("work directory {}", work.display()));
    let result = bench(&o, &work, t0).await;
    if o.keep || result.is_err() {
        say(format!("kept {} (databases and logs)", work.display()));
    } else {
        let _ = std::fs::remove_dir_all(&work);
    }
    result
}

async fn bench(o: &Opts, work: &Path, t0: Instant) -> Result<()> {
    let mut report = String::new();
    let machine = procs::machine();
    let commit = git(&o.repo, &["rev-parse", "--short=12", "HEAD"]);
    let dirty = !git(&o.repo, &["status", "--porcelain", "--untracked-files=no", "--", "server", "app", "migrations", "style"]).is_empty();
    let meta = std::fs::metadata(&o.berth)?;
    say(format!("berth binary {} ({}), site {}", o.berth.display(), mib(meta.len() / 1024), o.site.display()));
    let mut bundle = bundle(&o.site)?;

    std::fs::write(
        work.join("berth.toml"),
        "# The defaults, spelt out: the benchmark measures them.\nhealth_watch_refresh_ms = 5000\nhealth_idle_refresh_seconds = 300\n# Deployments in localaws finish quicker when polled more often.\ndeploy_poll_ms = 500\n",
    )?;

    // ---- Seed ------------------------------------------------------------------------
    say(format!("seeding {} requests and {} audit rows", o.requests, o.audit_rows));
    let seeding = Instant::now();
    // The password hash every seeded account gets: the one Berth makes for its first admin.
    let scratch = work.join("scratch.db");
    let mut c = berth_command(o, work, &scratch, "http://127.0.0.1:9");
    c.args(["user", "add", "probe", "--team", "bench"]);
    procs::run(c, "probe-password-123\n").context("creating a scratch admin to borrow its password hash")?;
    let hash: String = {
        use sqlx::Connection;
        let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}", scratch.display())).await?;
        let hash = sqlx::query_scalar("SELECT password_hash FROM users WHERE username = 'admin'").fetch_one(&mut db).await?;
        db.close().await?;
        hash
    };
    let database = work.join("berth.db");
    let mut c = berth_command(o, work, &database, "http://127.0.0.1:9");
    c.arg("migrate");
    procs::run(c, "")?;
    let plan = seed::Plan { requests: o.requests, audit_rows: o.audit_rows, password_hash: hash, end: unix_now() - 3600 };
    let seeded = seed::seed(&format!("sqlite://{}", database.display()), &plan).await?;
    let seed_time = seeding.elapsed();
    let db_size = std::fs::metadata(&database)?.len();
    say(format!("seeded in {:.1} s ({})", seed_time.as_secs_f64(), mib(db_size / 1024)));
    let verifying = Instant::now();
    let mut c = berth_command(o, work, &database, "http://127.0.0.1:9");
    c.args(["audit", "verify"]);
    let verify = match procs::run(c, "") {
        Ok(out) => out.trim().to_string(),
        Err(e) => format!("FAILED: {e}"),
    };
    let verify_time = verifying.elapsed();
    let verify_ok = verify.starts_with("OK") && verify.contains(&seeded.last_hash);
    say(format!("audit verify ({:.1} s): {verify}", verify_time.as_secs_f64()));

    // ---- Start -----------------------------------------------------------------------
    let localaws = if o.aws {
        match aws::LocalAws::start(&o.repo, work).await {
            Ok(l) => Some(l),
            Err(e) => {
                say(format!("no localaws, skipping its parts: {e:#}"));
                None
            }
        }
    } else {
        None
    };
    let aws_url = localaws.as_ref().map_or("http://127.0.0.1:9".to_string(), |l| l.url.clone());
    let before_start = match &localaws {
        Some(l) => l.calls().await?,
        None => Default::default(),
    };
    let (mut server, startup) = start_berth(o, work, &database, &aws_url, "berth-seeded.log").await?;
    let pid = server.proc.pid();
    let mut memory = Memory { after_start: procs::memory(pid), ..Default::default() };
    say(format!("berth ready on the seeded database in {:.2} s (pid {pid})", startup.as_secs_f64()));

    let ready_at = Instant::now();
    let http = load::client(o.concurrency);
    let base = server.url.clone();
    let admin = load::sign_in(&http, &base, "admin", PASSWORD).await?;
    let requester = load::sign_in(&http, &base, &seeded.requester, PASSWORD).await?;
    let approver = load::sign_in(&http, &base, "ana.platform", PASSWORD).await?;

    // The health poller reads every live API once at start. Meanwhile: deploy one API that
    // really runs (in localaws), for the request page with live health, and watch it as an
    // open request page would, to see how fresh its health stays during the pass.
    let mut live = None;
    let mut first_pass = None;
    if let Some(l) = &localaws {
        say("deploying one API through the JSON API (for the request page with live health)");
        let (id, took) = aws::deploy(&http, &base, &requester, &approver, "bench-live", "staging", Duration::from_secs(240)).await?;
        say(format!("request {id} deployed in {:.1} s", took.as_secs_f64()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watcher = {
            let (stop, http, url, admin) = (stop.clone(), http.clone(), format!("{base}/api/v1/requests/{id}/health"), admin.clone());
            tokio::spawn(async move {
                let (mut looks, mut stalest) = (0u32, -1i64);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Ok((200, body)) = load::call(&http, reqwest::Method::GET, &url, Some(&admin), None).await {
                        if let Some(at) = body["fetched_at"].as_str().and_then(seed::parse_rfc3339) {
                            stalest = stalest.max(unix_now() - at);
                        }
                        looks += 1;
                    }
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                (looks, stalest)
            })
        };
        say(format!("waiting for the health poller's first pass over {} live APIs (at most {:?})", seeded.live_services, o.poller_wait));
        let settling = Instant::now();
        // One watched API costs 5 calls per 5 s: quiet means no more than that.
        let (busy, done) = l.settle(Duration::from_secs(6), 12, o.poller_wait).await?;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (looks, stalest) = watcher.await?;
        let calls = aws::delta(&before_start, &l.calls().await?);
        let took = (settling + busy) - ready_at;
        say(format!(
            "first pass: {} calls in {:.0} s{}; the watched API's health was at most {stalest} s old ({looks} looks)",
            aws::total(&calls),
            took.as_secs_f64(),
            if done { "" } else { " (still going)" }
        ));
        first_pass = Some((calls, took, done, stalest, looks));
        live = Some(id);
    }
    // What the server costs doing nothing (the poller's ticks included).
    let cpu_before = procs::cpu_seconds(pid);
    let idle_window = Duration::from_secs(10);
    tokio::time::sleep(idle_window).await;
    let idle_cpu = procs::cpu_seconds(pid).zip(cpu_before).map(|(b, a)| (b - a) / idle_window.as_secs_f64());
    memory.idle = procs::memory(pid);

    // ---- Load ------------------------------------------------------------------------
    let s = |x: &Session| Some(x.clone());
    let mut targets = vec![
        Target { name: "healthz".into(), path: "/healthz".into(), session: None },
        Target { name: "requests".into(), path: "/requests".into(), session: s(&admin) },
        Target { name: "requests-requester".into(), path: "/requests".into(), session: s(&requester) },
    ];
    if let Some(id) = &live {
        targets.push(Target { name: "request-live".into(), path: format!("/requests/{id}"), session: s(&admin) });
    }
    targets.extend([
        Target { name: "request-history".into(), path: format!("/requests/{}", seeded.decommissioned), session: s(&admin) },
        Target { name: "audit".into(), path: "/audit".into(), session: s(&admin) },
        Target { name: "audit-requester".into(), path: "/audit".into(), session: s(&requester) },
        Target { name: "dashboard".into(), path: "/dashboard".into(), session: s(&admin) },
        Target { name: "api-requests".into(), path: "/api/v1/requests".into(), session: s(&admin) },
        Target { name: "api-audit".into(), path: "/api/v1/audit".into(), session: s(&admin) },
    ]);
    if let Some(only) = &o.only {
        targets.retain(|t| t.name == "healthz" || only.contains(&t.name));
    }
    let mut outcomes: Vec<(Outcome, u16, usize, String, Option<Outcome>)> = Vec::new();
    for t in &targets {
        let (status, size, encoding) = load::probe(&http, &base, t, o.gzip).await?;
        if status != 200 {
            bail!("{} ({}) answered {status} before the load; the server log:\n{}", t.name, t.path, server.proc.log_tail(20));
        }
        say(format!("loading {} ({}) for {:?} with {} clients", t.name, t.path, o.duration, o.concurrency));
        let out = load::run(&http, &base, t, o.concurrency, o.warmup, o.duration, o.gzip, pid).await;
        say(format!(
            "  {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
            out.rps(),
            out.ms(0.5),
            out.ms(0.99),
            out.errors()
        ));
        memory.peak_under_load = memory.peak_under_load.max(out.peak_rss_kib);
        let alone = if o.single.is_zero() {
            None
        } else {
            let alone = load::run(&http, &base, t, 1, Duration::from_millis(500), o.single, o.gzip, pid).await;
            say(format!("  alone: p50 {:.2} ms", alone.ms(0.5)));
            Some(alone)
        };
        outcomes.push((out, status, size, encoding, alone));
    }

    // A request page whose service AWS does not know: its health read fails, and a failed
    // read with nothing cached is not cached, so each view asks AWS again.
    let mut failing_view = None;
    if let Some(l) = &localaws {
        let before = l.calls().await?;
        let looks = 10;
        let started = Instant::now();
        for _ in 0..looks {
            load::probe(&http, &base, &Target { name: "x".into(), path: format!("/requests/{}", seeded.deployed_elsewhere), session: s(&admin) }, o.gzip).await?;
        }
        let per_view_ms = started.elapsed().as_secs_f64() * 1000.0 / looks as f64;
        let calls = aws::delta(&before, &l.calls().await?);
        failing_view = Some((looks, calls, per_view_ms));
    }
    memory.after_load = procs::memory(pid);

    // A first visit of each page in Chromium.
    let mut routes = vec![("requests".to_string(), "/requests".to_string()), ("new-request".into(), "/requests/new".into())];
    if let Some(id) = &live {
        routes.push(("request-live".into(), format!("/requests/{id}")));
    }
    routes.extend([
        ("request-history".to_string(), format!("/requests/{}", seeded.decommissioned)),
        ("dashboard".into(), "/dashboard".into()),
        ("audit".into(), "/audit".into()),
        ("environments".into(), "/environments".into()),
        ("users".into(), "/admin/users".into()),
    ]);
    say("first visits in Chromium");
    let first_load = match browser::measure(&base, "admin", PASSWORD, &routes).await {
        Ok(f) => Some(f),
        Err(e) => {
            say(format!("no browser figures: {e:#}"));
            None
        }
    };

    // What the server sends for the main wasm (the shell; the pages' chunks come with them).
    if let Some((name, _, _)) = bundle.files.iter().find(|f| f.0.starts_with("berth.") && f.0.ends_with(".wasm")).cloned() {
        let t = Target { name: "wasm".into(), path: format!("/pkg/{name}"), session: None };
        if let Ok((200, size, encoding)) = load::probe(&http, &base, &t, true).await {
            bundle.served = Some((name, size as u64, encoding));
        }
    }
    server.proc.stop(Duration::from_secs(10));
    // The chain again, now with the rows the server appended to the seeded ones.
    let mut c = berth_command(o, work, &database, "http://127.0.0.1:9");
    c.args(["audit", "verify"]);
    let verify_after = match procs::run(c, "") {
        Ok(out) => out.trim().to_string(),
        Err(e) => format!("FAILED: {e}"),
    };
    say(format!("audit verify after the load: {verify_after}"));

    // ---- AWS calls per viewer ---------------------------------------------------------
    let mut viewing = Vec::new();
    let mut two_accounts = Vec::new();
    let mut watched_deploy = None;
    if let Some(l) = &localaws {
        say("AWS calls per viewer: a fresh Berth with one deployed API");
        // The seeded Berth's stacks belong to its installation: a fresh one refuses them.
        l.reset().await?;
        let fresh = work.join("fresh.db");
        let (server, _) = start_berth(o, work, &fresh, &l.url, "berth-fresh.log").await?;
        let base = server.url.clone();
        let admin = load::sign_in(&http, &base, "admin", PASSWORD).await?;
        for (user, role) in [("bench-requester", "requester"), ("bench-approver", "approver")] {
            let body = serde_json::json!({"username": user, "password": PASSWORD, "display_name": user, "role": role, "team": "payments"});
            let (status, body) = load::call(&http, reqwest::Method::POST, &format!("{base}/api/v1/users"), Some(&admin), Some(body)).await?;
            if status != 201 {
                bail!("creating {user} answered {status}: {body}");
            }
        }
        let requester = load::sign_in(&http, &base, "bench-requester", PASSWORD).await?;
        let approver = load::sign_in(&http, &base, "bench-approver", PASSWORD).await?;
        let before = l.calls().await?;
        let (id, took) = aws::deploy(&http, &base, &requester, &approver, "bench-watched", "staging", Duration::from_secs(240)).await?;
        let deploy_calls = aws::delta(&before, &l.calls().await?);
        say(format!("request {id} deployed in {:.1} s; waiting for AWS calls to stop", took.as_secs_f64()));
        l.settle(Duration::from_secs(5), 0, Duration::from_secs(60)).await?;
        watched_deploy = Some((took, deploy_calls));
        let viewers = aws::viewers(&http, &base, "bench-requester", PASSWORD, o.viewers.max(1)).await?;
        let every = Duration::from_secs(5);
        for n in [0, 1, o.viewers] {
            // Nobody looking costs nothing between idle reads (every 300 s): a shorter window says so.
            let window = if n == 0 { o.aws_window.min(Duration::from_secs(30)) } else { o.aws_window };
            say(format!("{n} viewer(s) for {window:?}"));
            let v = if n == 0 {
                let before = l.calls().await?;
                let started = Instant::now();
                tokio::time::sleep(window).await;
                aws::Viewing {
                    viewers: 0,
                    seconds: started.elapsed().as_secs_f64(),
                    calls: aws::delta(&before, &l.calls().await?),
                    looks: 0,
                    failed_looks: 0,
                    p50_ms: f64::NAN,
                    max_ms: f64::NAN,
                    max_staleness: -1,
                }
            } else {
                aws::view(l, &base, std::slice::from_ref(&id), &viewers[..n], every, o.aws_window).await?
            };
            say(format!("  {} AWS calls ({:.1}/min): {}", aws::total(&v.calls), v.per_minute(aws::total(&v.calls)), aws::describe(&v.calls)));
            viewing.push(v);
        }
        // A second API in an environment of another account and region (Berth assumes a
        // role there): two viewers (one per API), then the crowd split over the two.
        say(format!("two accounts: an environment in {} {} through an assumed role", aws::OTHER_ACCOUNT, aws::OTHER_REGION));
        let (status, body) = load::call(&http, reqwest::Method::POST, &format!("{base}/api/v1/environments"), Some(&admin), Some(aws::other_account_environment(l, "abroad")?)).await?;
        if status != 201 {
            bail!("creating the environment in the other account answered {status}: {body}");
        }
        let (abroad, _) = aws::deploy(&http, &base, &requester, &approver, "bench-abroad", "abroad", Duration::from_secs(240)).await?;
        l.settle(Duration::from_secs(5), 0, Duration::from_secs(60)).await?;
        let both = [id.clone(), abroad];
        for n in [2, o.viewers.max(2)] {
            say(format!("{n} viewer(s) of two APIs in two accounts for {:?}", o.aws_window));
            let v = aws::view(l, &base, &both, &viewers[..n.min(viewers.len())], every, o.aws_window).await?;
            say(format!("  {} AWS calls ({:.1}/min): {}", aws::total(&v.calls), v.per_minute(aws::total(&v.calls)), aws::describe(&v.calls)));
            two_accounts.push(v);
        }
        drop(server);
    }
    drop(localaws);

    // ---- Report ----------------------------------------------------------------------
    let now = unix_now();
    let _ = writeln!(report, "Measured {} UTC on commit `{}`{} by `bench/run`{}.", seed::rfc3339(now).replace('T', " ").trim_end_matches('Z'), commit, if dirty { " (with uncommitted changes in server/app)" } else { "" }, if o.record { " --record" } else { "" });
    let _ = writeln!(report);
    let _ = writeln!(report, "- Machine: {} ({} cores visible), {} RAM; {} (Linux {}); {}", machine.cpu, machine.cores, machine.memory, machine.os, machine.kernel, machine.rustc);
    let _ = writeln!(report, "- Binary: `{}` ({}), release profile; site `{}`", o.berth.strip_prefix(&o.repo).unwrap_or(&o.berth).display(), mib(meta.len() / 1024), o.site.strip_prefix(&o.repo).unwrap_or(&o.site).display());
    let _ = writeln!(report, "- Load: {} clients per page on loopback, {:?} warm-up then {:?} measured, one page at a time, keep-alive, `Accept-Encoding: {}`; the load generator shares the machine's cores with the server", o.concurrency, o.warmup, o.duration, if o.gzip { "gzip" } else { "identity" });
    let _ = writeln!(report);
    let _ = writeln!(report, "### Seeded database");
    let _ = writeln!(report);
    let _ = writeln!(
        report,
        "{} requests ({} revisions, {} review notes and comments, {} deployments, {} stack and deployment events), {} audit rows, {} users in 21 teams, {} environments; {} on disk; seeded in {:.1} s.",
        seeded.requests, seeded.revisions, seeded.notes, seeded.deployments, seeded.events, seeded.audit_rows, seeded.users, seeded.environments, mib(db_size / 1024), seed_time.as_secs_f64()
    );
    let _ = writeln!(report);
    let _ = writeln!(report, "Requests by status: {}; {} of them have a live service.", seeded.by_status.iter().map(|(s, n)| format!("{s} {n}")).collect::<Vec<_>>().join(", "), seeded.live_services);
    let _ = writeln!(report);
    let _ = writeln!(report, "`berth audit verify` ({:.1} s): {}{}", verify_time.as_secs_f64(), verify, if verify_ok { "" } else { " — **the seeded chain does not verify**" });
    let _ = writeln!(report);
    let _ = writeln!(report, "Again after the load test, with the server's own rows (sign-ins, the deployment) appended: {verify_after}");
    let _ = writeln!(report);
    let _ = writeln!(report, "Start-up on it: ready in {:.2} s.", startup.as_secs_f64());
    if let Some((calls, took, done, stalest, looks)) = &first_pass {
        let _ = writeln!(
            report,
            "The health poller's first pass over the {} live APIs (each unknown to localaws, so each read is one failing `DescribeServices`), with one API deployed meanwhile: {} AWS calls in {:.0} s{} ({}). One viewer of the newly deployed API, asking every 5 s during the pass ({} looks), was shown health up to {} s old (the setting asks for 5 s).",
            seeded.live_services,
            aws::total(calls),
            took.as_secs_f64(),
            if *done { "" } else { ", still going when the load started" },
            aws::describe(calls),
            looks,
            stalest
        );
    }
    if let Some(cpu) = idle_cpu {
        let _ = writeln!(report);
        let _ = writeln!(report, "Idle, the server used {:.1} % of one core over {:?} (the health poller lists the live APIs every second).", cpu * 100.0, idle_window);
    }
    let _ = writeln!(report);
    let _ = writeln!(report, "### Pages and endpoints");
    let _ = writeln!(report);
    let healthz = outcomes.iter().find(|o| o.0.name == "healthz").map(|o| (o.0.rps(), o.0.ms(0.5)));
    let _ = writeln!(report, "req/s, p50 and p99 with {} clients; \"÷ healthz\" is the page's throughput as a share of `/healthz`'s, \"× healthz\" its p50 as a multiple of `/healthz`'s; \"1 client\" is the p50 of the page alone (one client, {:?}); server CPU is the berth process's user+system time per response while loaded.", o.concurrency, o.single);
    let _ = writeln!(report);
    let _ = writeln!(report, "| name | path | req/s | p50 ms | p99 ms | req/s ÷ healthz | p50 × healthz | p50 ms, 1 client | server CPU ms/req | body (as sent) | errors |");
    let _ = writeln!(report, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for (out, _, _, encoding, alone) in &outcomes {
        let (ratio, times) = match healthz {
            Some((rps, p50)) => (format!("{:.3} (1/{:.0})", out.rps() / rps, rps / out.rps()), format!("{:.1}", out.ms(0.5) / p50)),
            None => ("-".into(), "-".into()),
        };
        let errors = if out.failed.is_empty() { "0".to_string() } else { out.failed.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", ") };
        let _ = writeln!(
            report,
            "| {}{} | `{}` | {:.1} | {:.2} | {:.2} | {} | {} | {} | {:.2} | {:.1} KB {} | {} |",
            out.name,
            if out.extended { " *" } else { "" },
            out.path,
            out.rps(),
            out.ms(0.5),
            out.ms(0.99),
            ratio,
            times,
            alone.as_ref().map_or("-".to_string(), |a| format!("{:.2}", a.ms(0.5))),
            out.server_cpu * 1000.0 / out.ok.max(1) as f64,
            out.mean_bytes() as f64 / 1000.0,
            encoding,
            errors
        );
    }
    let _ = writeln!(report);
    let _ = writeln!(report, "`requests`, `request-*`, `audit`, `dashboard` are server-rendered pages, signed in as the admin (sees everything, and the audit page verifies the whole hash chain) or as a requester of team {} (`*-requester`). `request-live` is an API deployed in localaws during the run (health served from the poller's cache); `request-history` a decommissioned request with its deployments and events.", seeded.requester_team);
    if outcomes.iter().any(|o| o.0.extended) {
        let _ = writeln!(report);
        let _ = writeln!(report, "\\* slower than the window: fewer than {} responses came back within it, so this row covers every response after the warm-up until the last one (the clients stop sending at the end of the window).", o.concurrency.max(10));
    }
    if let Some((looks, calls, ms)) = &failing_view {
        let _ = writeln!(report);
        let _ = writeln!(
            report,
            "A request page of a deployed API whose health read fails (seeded, unknown to AWS), {} views one after another: {:.1} ms per view, {} AWS calls ({:.1} per view: {}).",
            looks,
            ms,
            aws::total(calls),
            aws::total(calls) as f64 / *looks as f64,
            aws::describe(calls)
        );
    }
    let _ = writeln!(report);
    let _ = writeln!(report, "### Server memory (VmRSS; VmHWM is the peak since start)");
    let _ = writeln!(report);
    let m = |x: Option<(u64, u64)>| x.map_or("-".to_string(), |(rss, hwm)| format!("{} (VmHWM {})", mib(rss), mib(hwm)));
    let _ = writeln!(report, "- just after start on the seeded database: {}", m(memory.after_start));
    let _ = writeln!(report, "- idle, after the poller's first pass: {}", m(memory.idle));
    let _ = writeln!(report, "- highest VmRSS sampled under load: {}", mib(memory.peak_under_load));
    let _ = writeln!(report, "- after the load: {}", m(memory.after_load));
    let _ = writeln!(report);
    let _ = writeln!(report, "### Hydrate bundle (`{}/pkg`)", o.site.strip_prefix(&o.repo).unwrap_or(&o.site).display());
    let _ = writeln!(report);
    let _ = writeln!(report, "| file | raw | gzip -9 |");
    let _ = writeln!(report, "|---|--:|--:|");
    for (name, raw, gz) in &bundle.files {
        let _ = writeln!(report, "| {name} | {:.1} KB | {:.1} KB |", *raw as f64 / 1000.0, *gz as f64 / 1000.0);
    }
    if let Some((name, size, encoding)) = &bundle.served {
        let _ = writeln!(report);
        let _ = writeln!(report, "Berth serves {name} as {:.1} KB with `Accept-Encoding: gzip` (content-encoding: {encoding}).", *size as f64 / 1000.0);
    }
    if let Some(f) = &first_load {
        let _ = writeln!(report);
        let _ = writeln!(report, "### First visit in Chromium (empty cache, loopback)");
        let _ = writeln!(report);
        let _ = writeln!(report, "Bytes are as transferred (compressed, with headers): the page and the site files (`/assets/<hash>/pkg/…`: JS, main wasm, the page's wasm chunk, CSS) fetched before the page hydrated. Time is from the navigation's start to the hydrated page.");
        let _ = writeln!(report);
        let _ = writeln!(report, "| route | path | KB before interactive | files | ms to interactive |");
        let _ = writeln!(report, "|---|---|--:|--:|--:|");
        for r in &f.routes {
            let _ = writeln!(report, "| {} | `{}` | {:.1} | {} | {:.0} |", r.name, r.path, r.bytes as f64 / 1000.0, r.files, r.interactive_ms);
        }
        if let Some(ms) = f.live_message_ms {
            let _ = writeln!(report);
            let _ = writeln!(report, "The request form showed a live message next to a bad service name {ms:.0} ms after the navigation started (typing from the moment the field exists).");
        }
    }
    if !viewing.is_empty() {
        let _ = writeln!(report);
        let _ = writeln!(report, "### AWS calls for one deployed API, by number of viewers");
        let _ = writeln!(report);
        if let Some((took, calls)) = &watched_deploy {
            let _ = writeln!(report, "A fresh Berth (empty database) deployed one API through the JSON API (submit, approve, deployed) in {:.1} s with {} AWS calls ({}). Then, in each window, each viewer asked `GET /api/v1/requests/{{id}}/health` every 5 s, as the open request page does, the viewers spread evenly over the 5 s; the counts are localaws's, per minute (calls × 60 / the window's length). Settings: health_watch_refresh_ms = 5000, health_idle_refresh_seconds = 300.", took.as_secs_f64(), aws::total(calls), aws::describe(&aws::by_service(calls)));
            let _ = writeln!(report);
        }
        viewing_table(&mut report, &viewing);
    }
    if !two_accounts.is_empty() {
        let _ = writeln!(report);
        let _ = writeln!(report, "### Two APIs in two accounts and regions, by number of viewers");
        let _ = writeln!(report);
        let _ = writeln!(
            report,
            "The same Berth, with a second environment in account {} ({}; Berth assumes its role `BerthDeployer` with an external id through STS) and one API deployed there. The viewers take the two APIs in turn. STS calls (`sts:AssumeRole` once per account, region and role per session, an hour) show under other calls.",
            aws::OTHER_ACCOUNT, aws::OTHER_REGION
        );
        let _ = writeln!(report);
        viewing_table(&mut report, &two_accounts);
    }
    let _ = writeln!(report);
    let _ = writeln!(report, "Whole run: {:.0} s.", t0.elapsed().as_secs_f64());

    println!("{report}");
    if o.record {
        record(&o.repo.join("bench/RESULTS.md"), &report)?;
        say("bench/RESULTS.md updated");
    }
    if !verify_ok || !verify_after.starts_with("OK") {
        bail!("the audit chain did not verify: {verify} / {verify_after}");
    }
    Ok(())
}

/// Replaces the figures between the markers of RESULTS.md (creating the file if needed),
/// keeping everything written around them.
fn record(path: &Path, figures: &str) -> Result<()> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let block = format!("{BEGIN}\n{figures}\n{END}");
    let updated = match (text.find(BEGIN), text.find(END)) {
        (Some(b), Some(e)) if b < e => format!("{}{}{}", &text[..b], block, &text[e + END.len()..]),
        _ if text.is_empty() => format!("# Berth benchmark results\n\nReproduce with `bench/run` (`bench/run --help` lists the options).\n\n{block}\n"),
        _ => format!("{}\n\n{block}\n", text.trim_end()),
    };
    std::fs::write(path, updated)?;
    Ok(())
}

/// One row per viewer window: looks, AWS calls per minute by service, latency, staleness.
fn viewing_table(report: &mut String, windows: &[aws::Viewing]) {
    let _ = writeln!(report, "| viewers | window | looks (failed) | ECS/min | ELBv2/min | CloudFormation/min | all/min | look p50 / max ms | oldest data shown | calls in the window |");
    let _ = writeln!(report, "|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|");
    for v in windows {
            let s = aws::by_service(&v.calls);
            let get = |k: &str| s.get(k).copied().unwrap_or(0);
            let other: u64 = s.iter().filter(|(k, _)| !["ecs", "elasticloadbalancing", "cloudformation"].contains(&k.as_str())).map(|(_, v)| v).sum();
            let _ = writeln!(
                report,
                "| {} | {:.0} s | {} ({}) | {:.1} | {:.1} | {:.1} | {:.1}{} | {} | {} | {} |",
                v.viewers,
                v.seconds,
                v.looks,
                v.failed_looks,
                v.per_minute(get("ecs")),
                v.per_minute(get("elasticloadbalancing")),
                v.per_minute(get("cloudformation")),
                v.per_minute(aws::total(&v.calls)),
                if other > 0 { format!(" ({other} other)") } else { String::new() },
                if v.viewers == 0 { "-".to_string() } else { format!("{:.1} / {:.1}", v.p50_ms, v.max_ms) },
                if v.max_staleness < 0 { "-".to_string() } else { format!("{} s", v.max_staleness) },
                aws::describe(&v.calls)
            );
        }
    }
