//! Seeds a migrated, empty Berth database with a realistic history: users in teams,
//! environments with their cluster stacks' outputs, requests in every lasting state with
//! their revisions, review notes, deployments and stack events, and an audit log whose rows
//! are hash-chained exactly as `server/src/db/audit.rs` chains them (so `berth audit verify`
//! passes and the audit page reports an intact chain).
//!
//! Everything is written by plain SQL in one transaction, in a few seconds. The history
//! ends an hour before now, so that what the server appends later (sign-ins of the load
//! test) keeps the log's times non-decreasing, as `db::audit::append` guarantees.

use anyhow::{Context, Result};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use std::collections::HashMap;
use std::str::FromStr;

/// The same starting point as `db::audit::GENESIS`.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const ACCOUNT: &str = "123456789012";
const DAY: i64 = 86_400;

pub struct Plan {
    pub requests: usize,
    pub audit_rows: usize,
    /// An argon2 hash every seeded account gets (of the bench's admin password).
    pub password_hash: String,
    /// Unix seconds of the log's last seeded row.
    pub end: i64,
}

/// What the load test needs to know about the seeded data.
#[derive(Debug, Default)]
pub struct Seeded {
    pub users: usize,
    pub environments: usize,
    pub requests: usize,
    pub revisions: usize,
    pub notes: usize,
    pub deployments: usize,
    pub events: usize,
    pub audit_rows: usize,
    pub by_status: Vec<(String, usize)>,
    /// Requests with a live service (what the health poller reads).
    pub live_services: usize,
    /// A seeded requester (team `requester_team`), for pages as a requester sees them.
    pub requester: String,
    pub requester_team: String,
    /// A deployed request in an environment whose cluster AWS does not know.
    pub deployed_elsewhere: i64,
    /// A decommissioned request with a full history.
    pub decommissioned: i64,
    pub last_hash: String,
}

/// splitmix64: small, fast, deterministic; the same seed gives the same database.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo).max(1) as u64) as i64
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn hex(&mut self, n: usize) -> String {
        let mut s = String::new();
        while s.len() < n {
            s.push_str(&format!("{:016x}", self.next()));
        }
        s.truncate(n);
        s
    }
}

/// RFC 3339, UTC, whole seconds: the format Berth stores.
pub fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(DAY);
    let secs = unix.rem_euclid(DAY);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// Unix seconds of an RFC 3339 UTC time as Berth writes it (`YYYY-MM-DDTHH:MM:SSZ`).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let n = |a: usize, b: usize| s.get(a..b)?.parse::<i64>().ok();
    let (y, m, d, hh, mm, ss) = (n(0, 4)?, n(5, 7)?, n(8, 10)?, n(11, 13)?, n(14, 16)?, n(17, 19)?);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * DAY + hh * 3600 + mm * 60 + ss)
}

/// The hash of one audit row: SHA-256 of the JSON array
/// `[prev_hash, at, actor, action, subject_type, subject_id, request_id, details]`, exactly
/// as `StoredRow::hash` in server/src/db/audit.rs computes it.
fn row_hash(prev: &str, at: &str, actor: &str, action: &str, subject_type: &str, subject_id: &str, request_id: Option<i64>, details: &str) -> String {
    let canonical = json!([prev, at, actor, action, subject_type, subject_id, request_id, details]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

struct Audit {
    at: i64,
    seq: usize,
    actor: String,
    action: &'static str,
    subject_type: &'static str,
    subject_id: String,
    request_id: Option<i64>,
    details: String,
}

#[derive(Clone)]
struct User {
    id: i64,
    username: String,
    display_name: String,
    role: &'static str,
    team: String,
}

struct Env {
    name: String,
    region: &'static str,
    instance_type: &'static str,
    cluster: String,
    lb_dns: String,
    live: usize,
    next_priority: i64,
}

const TEAMS: [&str; 20] = [
    "payments", "orders", "search", "identity", "catalog", "shipping", "billing", "fraud", "ledger", "notifications",
    "pricing", "inventory", "reviews", "loyalty", "analytics", "mobile", "partners", "messaging", "media", "checkout",
];
const NAMES: [&str; 40] = [
    "ana", "ben", "chloe", "dev", "elif", "farid", "grace", "hugo", "ines", "jonas", "kai", "lena", "malik", "nora",
    "omar", "priya", "quinn", "rosa", "sami", "tara", "ugo", "vera", "wei", "xenia", "yusuf", "zoe", "aiko", "bruno",
    "carla", "diego", "emma", "felix", "gita", "hana", "ivan", "julia", "karim", "lucia", "mateo", "nadia",
];
const NOUNS: [&str; 24] = [
    "api", "gateway", "lookup", "sync", "events", "export", "import", "quotes", "rates", "profile", "session", "tokens",
    "webhooks", "reports", "feed", "status", "labels", "refunds", "invoices", "limits", "scores", "alerts", "media",
    "preview",
];
const STAGES: [&str; 6] = ["prod", "staging", "dev", "qa", "perf", "sandbox"];
const REGIONS: [(&str, &str); 5] =
    [("use1", "us-east-1"), ("euw1", "eu-west-1"), ("apse1", "ap-southeast-1"), ("usw2", "us-west-2"), ("euc1", "eu-central-1")];
const INSTANCE_TYPES: [&str; 4] = ["t3.medium", "m5.large", "c5.large", "t3.large"];
const IMAGES: [&str; 6] = [
    "nginx:1.27",
    "public.ecr.aws/docker/library/httpd:2.4",
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/{svc}:1.4.2",
    "ghcr.io/example/{svc}:2025.03.1",
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com/{team}/{svc}:9f3c2ab",
    "registry.example.com/{team}/{svc}:v3",
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fate {
    PendingReview,
    ChangesRequested,
    Rejected,
    Deployed,
    Failed,
    DecommissionRequested,
    Decommissioned,
}

impl Fate {
    fn status(self) -> &'static str {
        match self {
            Fate::PendingReview => "pending_review",
            Fate::ChangesRequested => "changes_requested",
            Fate::Rejected => "rejected",
            Fate::Deployed => "deployed",
            Fate::Failed => "failed",
            Fate::DecommissionRequested => "decommission_requested",
            Fate::Decommissioned => "decommissioned",
        }
    }
    fn live(self) -> bool {
        !matches!(self, Fate::Rejected | Fate::Decommissioned)
    }
}

/// The fate of a request by how old it is (0 = oldest, 1 = newest): old ones are mostly
/// decommissioned, new ones mostly waiting for review.
fn choose_fate(rng: &mut Rng, age: f64) -> Fate {
    let table: &[(Fate, f64)] = if age >= 0.97 {
        &[(Fate::PendingReview, 0.50), (Fate::ChangesRequested, 0.15), (Fate::Rejected, 0.05), (Fate::Deployed, 0.25), (Fate::Failed, 0.05)]
    } else if age >= 0.90 {
        &[
            (Fate::PendingReview, 0.05),
            (Fate::ChangesRequested, 0.05),
            (Fate::Rejected, 0.10),
            (Fate::Deployed, 0.55),
            (Fate::Failed, 0.03),
            (Fate::DecommissionRequested, 0.02),
            (Fate::Decommissioned, 0.20),
        ]
    } else {
        &[
            (Fate::Rejected, 0.09),
            (Fate::Deployed, 0.16),
            (Fate::Failed, 0.005),
            (Fate::DecommissionRequested, 0.005),
            (Fate::Decommissioned, 0.74),
        ]
    };
    let mut x = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
    for (f, p) in table {
        if x < *p {
            return *f;
        }
        x -= p;
    }
    table.last().expect("non-empty").0
}

struct Writer {
    audit: Vec<Audit>,
    notes: Vec<(i64, i64, String, &'static str, String, i64)>,
    revisions: Vec<(i64, i64, String, i64, i64)>,
    /// (id, request, revision, kind, status, error, created, started, finished)
    deployments: Vec<(i64, i64, i64, &'static str, &'static str, Option<String>, i64, i64, i64)>,
    /// (deployment, kind, stack, status, reason, started)
    stacks: Vec<(i64, &'static str, String, &'static str, Option<String>, i64)>,
    /// (request, deployment, kind, event_id, stack, logical_id, type, status, reason, at)
    events: Vec<(i64, i64, &'static str, Option<String>, Option<String>, Option<String>, Option<String>, String, Option<String>, i64)>,
}

impl Writer {
    fn audit(&mut self, at: i64, actor: &str, action: &'static str, subject_type: &'static str, subject_id: String, request_id: Option<i64>, details: Value) {
        let seq = self.audit.len();
        self.audit.push(Audit { at, seq, actor: actor.to_string(), action, subject_type, subject_id, request_id, details: details.to_string() });
    }
}

const SERVICE_RESOURCES: [(&str, &str); 5] = [
    ("LogGroup", "AWS::Logs::LogGroup"),
    ("TargetGroup", "AWS::ElasticLoadBalancingV2::TargetGroup"),
    ("TaskDefinition", "AWS::ECS::TaskDefinition"),
    ("ListenerRule", "AWS::ElasticLoadBalancingV2::ListenerRule"),
    ("Service", "AWS::ECS::Service"),
];

/// Seeds `database_url` (already migrated by `berth migrate`, and empty).
pub async fn seed(database_url: &str, plan: &Plan) -> Result<Seeded> {
    let mut rng = Rng(0x00be_27b0_5eed);
    let span = 730 * DAY;
    let start = plan.end - span;
    let mut w = Writer { audit: Vec::new(), notes: Vec::new(), revisions: Vec::new(), deployments: Vec::new(), stacks: Vec::new(), events: Vec::new() };

    // Accounts: the first admin, the platform team's approvers, ten requesters per team.
    let mut users = vec![User { id: 1, username: "admin".into(), display_name: "Administrator".into(), role: "admin", team: "platform".into() }];
    w.audit(start, "system", "user.bootstrap", "user", "1".into(), None, json!({"after": {"username": "admin", "role": "admin", "team": "platform"}, "password_generated": false}));
    for name in &NAMES[..8] {
        let id = users.len() as i64 + 1;
        users.push(User { id, username: format!("{name}.platform"), display_name: format!("{} (platform)", capitalise(name)), role: "approver", team: "platform".into() });
    }
    for (t, team) in TEAMS.iter().enumerate() {
        for k in 0..10 {
            let name = NAMES[(t * 7 + k * 3) % NAMES.len()];
            let id = users.len() as i64 + 1;
            let username = format!("{name}.{team}");
            if users.iter().any(|u| u.username == username) {
                continue;
            }
            users.push(User { id, username, display_name: format!("{} ({team})", capitalise(name)), role: "requester", team: team.to_string() });
        }
    }
    for u in &users[1..] {
        let at = start + 600 + u.id * 37;
        w.audit(at, "admin", "user.create", "user", u.id.to_string(), None, json!({"after": {"username": u.username, "display_name": u.display_name, "role": u.role, "team": u.team}}));
    }
    let approvers: Vec<User> = users.iter().filter(|u| u.role != "requester").cloned().collect();
    let mut by_team: HashMap<String, Vec<User>> = HashMap::new();
    for u in users.iter().filter(|u| u.role == "requester") {
        by_team.entry(u.team.clone()).or_default().push(u.clone());
    }

    // Environments: stages × regions, one of them the default `staging`.
    let mut envs: Vec<Env> = Vec::new();
    for stage in STAGES {
        for (short, region) in REGIONS {
            let name = if stage == "staging" && short == "use1" { "staging".to_string() } else { format!("{stage}-{short}") };
            let instance_type = if name == "staging" { "t3.medium" } else { *rng.pick(&INSTANCE_TYPES) };
            envs.push(Env {
                cluster: format!("berth-{name}-cluster-ECSCluster-{}", rng.hex(12).to_uppercase()),
                lb_dns: format!("berth-{name}-public-{}.{region}.elb.amazonaws.com", rng.range(100_000_000, 999_999_999)),
                name,
                region,
                instance_type,
                live: 0,
                next_priority: 1,
            });
        }
    }
    for (i, e) in envs.iter().enumerate() {
        let at = start + 3 * 3600 + i as i64 * 300;
        let input = json!({"name": e.name, "region": e.region, "parameters": {"InstanceType": e.instance_type, "DesiredCapacity": 2, "MaxSize": 100}, "rule_capacity": 100});
        let actor = if e.name == "staging" { "system" } else { "admin" };
        w.audit(at, actor, "environment.create", "environment", e.name.clone(), None, json!({"after": input}));
    }

    // Requests, oldest first.
    let n = plan.requests;
    let mut requests: Vec<(i64, String, String, String, i64, String, i64, &'static str, i64, i64, i64, Option<i64>, String, Option<String>)> = Vec::new();
    let mut seeded = Seeded::default();
    let mut counts: HashMap<&'static str, usize> = HashMap::new();
    let request_start = start + DAY;
    let request_span = plan.end - request_start - 2 * 3600;
    for i in 0..n {
        let id = i as i64 + 1;
        let age = i as f64 / n as f64;
        let created = request_start + (request_span as f64 * (i as f64 + rng.below(1000) as f64 / 1000.0) / n as f64) as i64;
        // Skewed team sizes: the first teams ask for more.
        let team = TEAMS[(rng.below(210) as f64).sqrt() as usize % TEAMS.len()];
        let members = &by_team[team];
        let requester = rng.pick(members).clone();
        // `staging` keeps room for the APIs the benchmark deploys itself.
        let mut env_index = rng.below(envs.len() as u64) as usize;
        let mut fate = choose_fate(&mut rng, age);
        if fate.live() {
            let mut tries = 0;
            while (envs[env_index].live >= 90 || (envs[env_index].name == "staging" && envs[env_index].live >= 40)) && tries < envs.len() {
                env_index = (env_index + 1) % envs.len();
                tries += 1;
            }
            if tries == envs.len() {
                fate = Fate::Decommissioned;
            }
        }
        let env_name = envs[env_index].name.clone();
        let region = envs[env_index].region;
        let svc = format!("{team}-{}-{id}", rng.pick(&NOUNS));
        let path = format!("/{svc}*");
        let priority = if fate.live() {
            envs[env_index].live += 1;
            let p = envs[env_index].next_priority;
            envs[env_index].next_priority += 1;
            p
        } else {
            rng.range(1, 100)
        };
        let revisions = if rng.chance(0.08) { 3 } else if rng.chance(0.25) { 2 } else { 1 };
        let image = rng.pick(&IMAGES).replace("{svc}", &svc).replace("{team}", team);
        let cpu = *rng.pick(&[256, 256, 512, 512, 1024]);
        let memory = *rng.pick(&[512, 512, 1024, 2048]);
        let desired: i64 = *rng.pick(&[1, 2, 2, 2, 3, 4]);
        let port = *rng.pick(&[80, 8080, 8080, 3000, 9000]);
        let input = |rev: i64| {
            json!({
                "environment": env_name, "service_name": svc,
                "description": format!("{} for the {team} team: {}", capitalise(&svc.replace('-', " ")), DESCRIPTIONS[(id as usize + rev as usize) % DESCRIPTIONS.len()]),
                "image_url": image, "container_port": port, "cpu": cpu, "memory": memory,
                "desired_count": desired + (rev - 1), "path": path,
                "health_check_path": if port == 80 { "/" } else { "/health" }, "task_role_arn": null,
            })
        };

        // The review of each revision but the last asked for changes.
        let mut t = created;
        w.revisions.push((id, 1, input(1).to_string(), requester.id, t));
        w.audit(t, &requester.username, "request.create", "request", id.to_string(), Some(id), json!({"revision": 1, "priority": priority, "after": input(1)}));
        let approver = |rng: &mut Rng| approvers[rng.below(approvers.len() as u64) as usize].clone();
        for rev in 2..=revisions {
            t = (t + rng.range(1800, 2 * DAY)).min(plan.end - 7200).max(t);
            let who = approver(&mut rng);
            let comment = *rng.pick(&CHANGES);
            w.notes.push((id, rev - 1, who.username.clone(), "changes_requested", comment.to_string(), t));
            w.audit(t, &who.username, "request.changes_requested", "request", id.to_string(), Some(id), json!({"revision": rev - 1, "before": "pending_review", "after": "changes_requested", "comment": comment}));
            t = (t + rng.range(600, DAY)).min(plan.end - 7000).max(t);
            let author = rng.pick(members).clone();
            w.revisions.push((id, rev, input(rev).to_string(), author.id, t));
            w.audit(t, &author.username, "request.update", "request", id.to_string(), Some(id), json!({"revision": rev, "status_before": "changes_requested", "before": input(rev - 1), "after": input(rev)}));
        }
        let mut deployed_revision = None;
        let mut outputs = "{}".to_string();
        let mut status_reason = None;
        let decide_at = |rng: &mut Rng, t: i64| (t + rng.range(900, 2 * DAY)).min(plan.end - 3600).max(t);
        let deploy = |w: &mut Writer, rng: &mut Rng, t: i64, kind: &'static str, fail: bool| -> i64 {
            let dep = w.deployments.len() as i64 + 1;
            let started = t + rng.range(1, 4);
            let finished = started + rng.range(120, 600);
            let stack = format!("berth-{env_name}--{svc}");
            let cluster_stack = format!("berth-{env_name}-cluster");
            w.audit(t, "berth", "deployment.started", "deployment", dep.to_string(), Some(id), json!({"revision": revisions, "kind": kind}));
            w.events.push((id, dep, "deployment", None, None, None, None, "running".into(), None, started));
            let error = fail.then(|| format!("{stack}: CREATE_FAILED: Service: Resource handler returned message: \"Invalid request provided: CreateService error: Unable to assume the service linked role\""));
            if kind == "deploy" {
                w.stacks.push((dep, "cluster", cluster_stack, "UNCHANGED", None, started));
                w.stacks.push((dep, "service", stack.clone(), if fail { "ROLLBACK_COMPLETE" } else { "CREATE_COMPLETE" }, error.clone(), started));
                let mut at = started + 2;
                let ev = |w: &mut Writer, logical: &str, ty: &str, status: &str, reason: Option<&str>, at: i64| {
                    let n = w.events.len();
                    w.events.push((id, dep, "stack", Some(format!("{logical}-{status}-{n:x}")), Some(stack.clone()), Some(logical.to_string()), Some(ty.to_string()), status.to_string(), reason.map(str::to_string), at));
                };
                ev(w, &stack, "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", Some("User Initiated"), at);
                for (logical, ty) in SERVICE_RESOURCES {
                    at += rng.range(1, 20);
                    ev(w, logical, ty, "CREATE_IN_PROGRESS", None, at);
                    at += rng.range(1, 60);
                    if fail && logical == "Service" {
                        ev(w, logical, ty, "CREATE_FAILED", Some("Unable to assume the service linked role"), at);
                    } else {
                        ev(w, logical, ty, "CREATE_COMPLETE", None, at);
                    }
                }
                ev(w, &stack, "AWS::CloudFormation::Stack", if fail { "ROLLBACK_COMPLETE" } else { "CREATE_COMPLETE" }, None, finished);
            } else {
                w.stacks.push((dep, "service", stack.clone(), "DELETE_COMPLETE", None, started));
                let n = w.events.len();
                w.events.push((id, dep, "stack", Some(format!("del-{n:x}")), Some(stack.clone()), Some(stack.clone()), Some("AWS::CloudFormation::Stack".into()), "DELETE_IN_PROGRESS".into(), Some("User Initiated".into()), started + 1));
                w.events.push((id, dep, "stack", Some(format!("del-{:x}", n + 1)), Some(stack.clone()), Some(stack.clone()), Some("AWS::CloudFormation::Stack".into()), "DELETE_COMPLETE".into(), None, finished));
            }
            let status = if fail { "failed" } else { "succeeded" };
            w.events.push((id, dep, "deployment", None, None, None, None, status.into(), error.clone(), finished));
            let action = match (kind, fail) {
                ("decommission", _) => "deployment.decommissioned",
                (_, false) => "deployment.succeeded",
                (_, true) => "deployment.failed",
            };
            w.audit(finished, "berth", action, "deployment", dep.to_string(), Some(id), json!({"revision": revisions, "kind": kind, "error": error}));
            w.deployments.push((dep, id, revisions, kind, status, error, t, started, finished));
            finished
        };
        let service_outputs = |rng: &mut Rng| {
            let e = &envs[env_index];
            json!({
                "ServiceName": svc,
                "ServiceArn": format!("arn:aws:ecs:{region}:{ACCOUNT}:service/{}/{svc}", e.cluster),
                "TargetGroupArn": format!("arn:aws:elasticloadbalancing:{region}:{ACCOUNT}:targetgroup/{}/{}", &format!("{}-{}", env_name, svc).chars().take(32).collect::<String>(), rng.hex(16)),
                "TaskDefinitionArn": format!("arn:aws:ecs:{region}:{ACCOUNT}:task-definition/{svc}:{revisions}"),
                "LogGroupName": format!("/berth/berth-{env_name}-{svc}/{svc}"),
                "PublicUrl": format!("http://{}{}", e.lb_dns, path.trim_end_matches('*')),
            })
            .to_string()
        };
        let current = revisions;
        match fate {
            Fate::PendingReview => {}
            Fate::ChangesRequested | Fate::Rejected => {
                t = decide_at(&mut rng, t);
                let who = approver(&mut rng);
                let (kind, action, body) = if fate == Fate::Rejected {
                    ("rejected", "request.rejected", *rng.pick(&REJECTIONS))
                } else {
                    ("changes_requested", "request.changes_requested", *rng.pick(&CHANGES))
                };
                w.notes.push((id, current, who.username.clone(), kind, body.to_string(), t));
                w.audit(t, &who.username, action, "request", id.to_string(), Some(id), json!({"revision": current, "before": "pending_review", "after": fate.status(), "comment": body}));
            }
            Fate::Deployed | Fate::Failed | Fate::DecommissionRequested | Fate::Decommissioned => {
                t = decide_at(&mut rng, t);
                let who = approver(&mut rng);
                let dep = w.deployments.len() + 1;
                w.audit(t, &who.username, "deployment.queued", "deployment", dep.to_string(), Some(id), json!({"revision": current, "kind": "deploy"}));
                w.notes.push((id, current, who.username.clone(), "approved", String::new(), t));
                w.audit(t, &who.username, "request.approved", "request", id.to_string(), Some(id), json!({"revision": current, "before": "pending_review", "after": "approved", "comment": ""}));
                let fail = fate == Fate::Failed;
                let at = t + rng.range(0, 3);
                t = deploy(&mut w, &mut rng, at, "deploy", fail);
                if fail {
                    status_reason = w.deployments.last().and_then(|d| d.5.clone());
                } else {
                    deployed_revision = Some(current);
                    outputs = service_outputs(&mut rng);
                }
                if matches!(fate, Fate::DecommissionRequested | Fate::Decommissioned) {
                    let remaining = (plan.end - 4 * 3600 - t).max(3600);
                    t = (t + rng.range(remaining / 20, remaining).max(1)).min(plan.end - 1800).max(t);
                    let who = rng.pick(members).clone();
                    w.notes.push((id, current, who.username.clone(), "decommission_requested", String::new(), t));
                    w.audit(t, &who.username, "request.decommission_requested", "request", id.to_string(), Some(id), json!({"revision": current}));
                    if fate == Fate::Decommissioned {
                        t = decide_at(&mut rng, t);
                        let who = approver(&mut rng);
                        let dep = w.deployments.len() + 1;
                        w.audit(t, &who.username, "deployment.queued", "deployment", dep.to_string(), Some(id), json!({"revision": current, "kind": "decommission"}));
                        w.notes.push((id, current, who.username.clone(), "approved", String::new(), t));
                        w.audit(t, &who.username, "request.approved", "request", id.to_string(), Some(id), json!({"revision": current, "before": "decommission_requested", "after": "decommissioning", "comment": ""}));
                        let at = t + rng.range(0, 3);
                        t = deploy(&mut w, &mut rng, at, "decommission", false);
                    }
                }
            }
        }
        if deployed_revision.is_some() && fate != Fate::Decommissioned {
            seeded.live_services += 1;
        }
        if fate == Fate::Decommissioned {
            seeded.decommissioned = id;
        }
        if fate == Fate::Deployed && env_name != "staging" {
            seeded.deployed_elsewhere = id;
        }
        *counts.entry(fate.status()).or_default() += 1;
        requests.push((id, env_name.clone(), svc.clone(), path.clone(), priority, team.to_string(), requester.id, fate.status(), current, created, t, deployed_revision, outputs, status_reason));
    }

    // Comments on requests, by their team or the platform team, within the request's life.
    let comments = (plan.audit_rows / 20).min(plan.audit_rows.saturating_sub(w.audit.len()));
    for _ in 0..comments {
        let r = &requests[rng.below(requests.len() as u64) as usize];
        let (id, created, last) = (r.0, r.9, r.10.max(r.9 + 60));
        let at = rng.range(created + 1, last.min(plan.end - 3600).max(created + 2));
        let who = if rng.chance(0.5) { approvers[rng.below(approvers.len() as u64) as usize].clone() } else { rng.pick(&by_team[r.5.as_str()]).clone() };
        let body = *rng.pick(&COMMENTS);
        w.notes.push((id, r.8, who.username.clone(), "comment", body.to_string(), at));
        w.audit(at, &who.username, "request.comment", "request", id.to_string(), Some(id), json!({"revision": r.8, "comment": body}));
    }
    // The rest of the log: sign-ins (and some failed ones) spread over the two years.
    while w.audit.len() < plan.audit_rows {
        let at = rng.range(start + DAY, plan.end - 60);
        let u = &users[(rng.below(users.len() as u64 * users.len() as u64) as f64).sqrt() as usize % users.len()];
        if rng.chance(0.03) {
            let typed = if rng.chance(0.5) { u.username.clone() } else { format!("{}x", u.username) };
            w.audit(at, &typed, "auth.sign_in_failed", "user", typed.clone(), None, json!({}));
        } else {
            w.audit(at, &u.username, "auth.sign_in", "user", u.id.to_string(), None, json!({}));
        }
    }
    w.audit.sort_by_key(|a| (a.at, a.seq));

    // Write it all in one transaction.
    let options = SqliteConnectOptions::from_str(database_url)?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Off)
        .foreign_keys(true)
        .disable_statement_logging();
    let mut db = SqliteConnection::connect_with(&options).await.context("opening the database to seed")?;
    let existing: i64 = sqlx::query_scalar("SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM audit_log) + (SELECT count(*) FROM environments)")
        .fetch_one(&mut db)
        .await
        .context("the database is not migrated")?;
    anyhow::ensure!(existing == 0, "the database to seed is not empty");
    let mut tx = db.begin().await?;
    let ts = rfc3339;
    for u in &users {
        sqlx::query("INSERT INTO users (id, username, display_name, password_hash, role, team, disabled, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)")
            .bind(u.id).bind(&u.username).bind(&u.display_name).bind(&plan.password_hash).bind(u.role).bind(&u.team)
            .bind(ts(start + u.id * 37)).bind(ts(start + u.id * 37))
            .execute(&mut *tx).await?;
    }
    for (i, e) in envs.iter().enumerate() {
        let at = ts(start + 3 * 3600 + i as i64 * 300);
        let vpc = format!("vpc-{}", rng.hex(17));
        let outputs = json!({
            "ClusterName": e.cluster,
            "PublicListenerArn": format!("arn:aws:elasticloadbalancing:{}:{ACCOUNT}:listener/app/berth-{}-public/{}/{}", e.region, e.name, rng.hex(16), rng.hex(16)),
            "VpcId": vpc,
            "PublicSubnetOne": format!("subnet-{}", rng.hex(17)), "PublicSubnetTwo": format!("subnet-{}", rng.hex(17)),
            "PrivateSubnetOne": format!("subnet-{}", rng.hex(17)), "PrivateSubnetTwo": format!("subnet-{}", rng.hex(17)),
            "HostSecurityGroup": format!("sg-{}", rng.hex(17)),
            "ECSTaskExecutionRole": format!("arn:aws:iam::{ACCOUNT}:role/berth-{}-cluster-ECSTaskExecutionRole-{}", e.name, rng.hex(12).to_uppercase()),
            "AutoScalingGroupName": format!("berth-{}-cluster-ECSAutoScalingGroup-{}", e.name, rng.hex(12).to_uppercase()),
            "ExternalUrl": format!("http://{}", e.lb_dns),
        });
        sqlx::query("INSERT INTO environments (name, region, instance_type, desired_capacity, max_size, ecs_ami, rule_capacity, status, outputs, created_at, updated_at) VALUES (?, ?, ?, 2, 100, NULL, 100, 'ready', ?, ?, ?)")
            .bind(&e.name).bind(e.region).bind(e.instance_type).bind(outputs.to_string()).bind(&at).bind(&at)
            .execute(&mut *tx).await?;
    }
    for r in &requests {
        sqlx::query("INSERT INTO requests (id, environment, service_name, path, priority, team, requested_by, status, revision, created_at, updated_at, deployed_revision, outputs, status_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(r.0).bind(&r.1).bind(&r.2).bind(&r.3).bind(r.4).bind(&r.5).bind(r.6).bind(r.7).bind(r.8)
            .bind(ts(r.9)).bind(ts(r.10)).bind(r.11).bind(&r.12).bind(&r.13)
            .execute(&mut *tx).await?;
    }
    for (request, revision, parameters, by, at) in &w.revisions {
        sqlx::query("INSERT INTO request_revisions (request_id, revision, parameters, created_by, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(request).bind(revision).bind(parameters).bind(by).bind(ts(*at))
            .execute(&mut *tx).await?;
    }
    w.notes.sort_by_key(|n| n.5);
    for (request, revision, author, kind, body, at) in &w.notes {
        sqlx::query("INSERT INTO request_notes (request_id, revision, author, kind, body, created_at) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(request).bind(revision).bind(author).bind(kind).bind(body).bind(ts(*at))
            .execute(&mut *tx).await?;
    }
    for d in &w.deployments {
        sqlx::query("INSERT INTO deployments (id, request_id, revision, kind, status, error, created_at, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(d.0).bind(d.1).bind(d.2).bind(d.3).bind(d.4).bind(&d.5).bind(ts(d.6)).bind(ts(d.7)).bind(ts(d.8))
            .execute(&mut *tx).await?;
    }
    for s in &w.stacks {
        sqlx::query("INSERT INTO deployment_stacks (deployment_id, kind, stack_name, status, status_reason, started_at) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(s.0).bind(s.1).bind(&s.2).bind(s.3).bind(&s.4).bind(ts(s.5))
            .execute(&mut *tx).await?;
    }
    w.events.sort_by_key(|e| e.9);
    for e in &w.events {
        sqlx::query("INSERT INTO request_events (request_id, deployment_id, kind, event_id, stack_name, logical_id, resource_type, status, reason, timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(e.0).bind(e.1).bind(e.2).bind(&e.3).bind(&e.4).bind(&e.5).bind(&e.6).bind(&e.7).bind(&e.8).bind(ts(e.9))
            .execute(&mut *tx).await?;
    }
    let mut prev = GENESIS.to_string();
    for (i, a) in w.audit.iter().enumerate() {
        let at = ts(a.at);
        let hash = row_hash(&prev, &at, &a.actor, a.action, a.subject_type, &a.subject_id, a.request_id, &a.details);
        sqlx::query("INSERT INTO audit_log (id, at, actor, action, subject_type, subject_id, request_id, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(i as i64 + 1).bind(&at).bind(&a.actor).bind(a.action).bind(a.subject_type).bind(&a.subject_id).bind(a.request_id).bind(&a.details).bind(&prev).bind(&hash)
            .execute(&mut *tx).await?;
        prev = hash;
    }
    tx.commit().await?;
    sqlx::query("ANALYZE").execute(&mut db).await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut db).await?;
    db.close().await?;

    let requester = by_team["payments"][0].clone();
    seeded.users = users.len();
    seeded.environments = envs.len();
    seeded.requests = requests.len();
    seeded.revisions = w.revisions.len();
    seeded.notes = w.notes.len();
    seeded.deployments = w.deployments.len();
    seeded.events = w.events.len();
    seeded.audit_rows = w.audit.len();
    seeded.requester = requester.username;
    seeded.requester_team = requester.team;
    seeded.last_hash = prev;
    let mut by_status: Vec<(String, usize)> = counts.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    by_status.sort_by(|a, b| b.1.cmp(&a.1));
    seeded.by_status = by_status;
    Ok(seeded)
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

const DESCRIPTIONS: [&str; 6] = [
    "serves the public clients and the mobile apps; read-heavy, cached at the edge for 30 seconds.",
    "answers partners' server-to-server calls; authenticated with mutual TLS at the application.",
    "a thin facade over the internal service, exposing only the endpoints partners need.",
    "replaces the old endpoint on the shared monolith; traffic moves over in stages.",
    "batch callbacks from the payment provider; bursts at the top of every hour.",
    "internal tooling exposed to the support team through the VPN's public egress.",
];
const CHANGES: [&str; 5] = [
    "Please use a pinned image tag instead of a moving one.",
    "The health check path should not require authentication.",
    "Two tasks are not enough for production traffic; use at least three.",
    "The path overlaps with an existing prefix; narrow it down.",
    "Memory looks too tight for a JVM service; ask for 1024 MiB.",
];
const REJECTIONS: [&str; 4] = [
    "Duplicates an API the team already runs in this environment.",
    "This belongs behind the internal load balancer, not a public one.",
    "No owner on call for this service yet; come back once there is one.",
    "The image comes from an unapproved registry.",
];
const COMMENTS: [&str; 6] = [
    "Deployed fine on our side, thanks.",
    "Can we get this reviewed today? A partner launch depends on it.",
    "Latency dashboards look good after the rollout.",
    "We will decommission the old endpoint next sprint.",
    "Bumped the task count ahead of the sale weekend.",
    "Reminder: rotate the partner credentials before going live.",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        for t in [0, 951_782_400, 1_709_210_096, 1_764_072_000, 4_102_444_799] {
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t), "{}", rfc3339(t));
        }
        assert_eq!(rfc3339(1_709_210_096), "2024-02-29T12:34:56Z");
    }
}
