//! `berth doctor`: what a first start on real AWS needs, checked one by one, each saying
//! exactly what is wrong. The process exits non-zero when any check fails, for scripts.
//!
//! The permissions are those of `iam/berth-policy.json` (the policy the README asks
//! operators to attach): every action it names, simulated by IAM's policy simulator for the
//! identity Berth runs as, on resources of the names Berth uses. Where the simulator may not
//! be used, the actions are listed for the operator to compare by hand.

use crate::config::Config;
use crate::db;
use aws_sdk_iam::types::{ContextEntry, ContextKeyTypeEnum, PolicyEvaluationDecisionType};
use serde::Deserialize;
use std::fmt::Write as _;

/// The policy Berth's identity needs, as shipped with it.
const POLICY: &str = include_str!("../../iam/berth-policy.json");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Worth knowing, but Berth can start.
    Warning,
    Failed,
}

pub struct Check {
    pub name: &'static str,
    pub verdict: Verdict,
    pub detail: String,
}

impl Check {
    fn new(name: &'static str, verdict: Verdict, detail: impl Into<String>) -> Check {
        Check { name, verdict, detail: detail.into() }
    }
}

/// Every check, in the order a first start meets them.
pub async fn run(config: &Config, aws: &aws_config::SdkConfig) -> Vec<Check> {
    let mut checks = vec![database(config).await, site(config), templates(config)];
    match identity(aws).await {
        Ok((arn, account)) => {
            let region = aws.region().map_or_else(|| "none".to_string(), |r| r.to_string());
            checks.push(Check::new("AWS identity", Verdict::Ok, format!("{arn} (account {account}), region {region}")));
            checks.push(permissions(aws, &arn, &account, &region).await);
        }
        Err(e) => checks.push(Check::new(
            "AWS identity",
            Verdict::Failed,
            format!("no AWS identity: {e}. Configure credentials (a profile, AWS_ACCESS_KEY_ID, an instance or container role)"),
        )),
    }
    checks.push(environments(config).await);
    checks
}

/// The checks as the operator reads them, one line each.
pub fn report(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        let mark = match c.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Warning => "warn",
            Verdict::Failed => "FAIL",
        };
        let _ = writeln!(out, "{mark}  {}: {}", c.name, c.detail);
    }
    let failed = checks.iter().filter(|c| c.verdict == Verdict::Failed).count();
    let _ = writeln!(out, "{}", if failed == 0 { "Berth can start.".to_string() } else { format!("{failed} checks failed.") });
    out
}

async fn database(config: &Config) -> Check {
    let name = "database";
    let pool = match db::connect(&config.database_url).await {
        Ok(pool) => pool,
        Err(e) => return Check::new(name, Verdict::Failed, format!("{} cannot be opened: {e}", config.database_url)),
    };
    let check = match db::pending_migrations(&pool).await {
        Ok(0) => Check::new(name, Verdict::Ok, format!("{} opens; its schema is current", config.database_url)),
        Ok(n) => Check::new(name, Verdict::Ok, format!("{} opens; {n} migrations will be applied at start", config.database_url)),
        Err(e) => Check::new(name, Verdict::Failed, format!("{}: {e}", config.database_url)),
    };
    pool.close().await;
    check
}

fn site(config: &Config) -> Check {
    let pkg = config.site_root.join("pkg");
    let missing: Vec<&str> = ["berth.js", "berth.wasm", "berth.css"].into_iter().filter(|f| !pkg.join(f).is_file()).collect();
    if missing.is_empty() {
        Check::new("site files", Verdict::Ok, format!("{} has the compiled UI", pkg.display()))
    } else {
        Check::new(
            "site files",
            Verdict::Failed,
            format!("{} lacks {}: build it (`cargo leptos build --release --split --precompress`) or set site_root", pkg.display(), missing.join(", ")),
        )
    }
}

fn templates(config: &Config) -> Check {
    match crate::templates::Templates::load(config.templates_dir.as_deref()) {
        Ok(_) => Check::new("templates", Verdict::Ok, config.templates_dir.as_ref().map_or("the built-in ones".to_string(), |d| d.display().to_string())),
        Err(e) => Check::new("templates", Verdict::Failed, e.to_string()),
    }
}

async fn identity(aws: &aws_config::SdkConfig) -> Result<(String, String), String> {
    let sts = aws_sdk_sts::Client::new(aws);
    let me = sts.get_caller_identity().send().await.map_err(|e| crate::aws::sdk_error(e).to_string())?;
    Ok((me.arn().unwrap_or_default().to_string(), me.account().unwrap_or_default().to_string()))
}

async fn environments(config: &Config) -> Check {
    let Ok(pool) = db::connect(&config.database_url).await else {
        return Check::new("environments", Verdict::Failed, "the database cannot be opened");
    };
    let names = db::environments::list(&pool).await.map(|list| list.into_iter().map(|e| (e.name, e.region)).collect::<Vec<_>>());
    pool.close().await;
    match names {
        Ok(list) if list.is_empty() => Check::new("environments", Verdict::Ok, format!("none yet; `{}` is created at first start", config.default_environment.name)),
        Ok(list) => Check::new(
            "environments",
            Verdict::Ok,
            format!(
                "{}: each is deployed with the identity above (no role of its own)",
                list.iter().map(|(n, r)| format!("{n} ({r})")).collect::<Vec<_>>().join(", ")
            ),
        ),
        Err(e) => Check::new("environments", Verdict::Failed, format!("cannot be read: {e}")),
    }
}

#[derive(Deserialize)]
struct Policy {
    #[serde(rename = "Statement")]
    statements: Vec<Statement>,
}

#[derive(Deserialize)]
struct Statement {
    #[serde(rename = "Action")]
    action: OneOrMany,
    #[serde(rename = "Resource")]
    resource: OneOrMany,
    #[serde(rename = "Condition", default)]
    condition: std::collections::BTreeMap<String, std::collections::BTreeMap<String, OneOrMany>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn all(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// An ARN pattern of the policy made concrete: this region and account, `doctor` for the
/// names (`arn:aws:cloudformation:*:*:stack/berth-*/*` → `…:stack/berth-doctor/doctor`).
fn sample_arn(pattern: &str, region: &str, account: &str) -> String {
    if pattern == "*" {
        return "*".into();
    }
    let mut fields: Vec<String> = pattern.splitn(6, ':').map(str::to_string).collect();
    if fields.len() == 6 {
        if fields[3] == "*" {
            fields[3] = region.into();
        }
        if fields[4] == "*" {
            fields[4] = account.into();
        }
        fields[5] = fields[5].replace('*', "doctor");
    }
    fields.join(":")
}

/// The IAM principal the simulator takes for the caller: an assumed role's role.
fn principal(arn: &str) -> String {
    match arn.split_once(":assumed-role/") {
        Some((head, rest)) => {
            let role = rest.split('/').next().unwrap_or_default();
            format!("{}:role/{role}", head.replacen(":sts:", ":iam:", 1))
        }
        None => arn.to_string(),
    }
}

async fn permissions(aws: &aws_config::SdkConfig, arn: &str, account: &str, region: &str) -> Check {
    let name = "permissions";
    let policy: Policy = serde_json::from_str(POLICY).expect("iam/berth-policy.json is valid");
    let iam = aws_sdk_iam::Client::new(aws);
    let source = principal(arn);
    let mut checked = 0;
    let mut missing = Vec::new();
    let mut unchecked = Vec::new();
    for statement in &policy.statements {
        let (concrete, wildcards): (Vec<String>, Vec<String>) = statement.action.all().into_iter().partition(|a| !a.contains('*'));
        unchecked.extend(wildcards);
        if concrete.is_empty() {
            continue;
        }
        let context: Vec<ContextEntry> = statement
            .condition
            .values()
            .flat_map(|keys| keys.iter())
            .map(|(key, values)| {
                let values = values.all().iter().take(1).map(|v| sample_arn(v, region, account)).collect();
                ContextEntry::builder().context_key_name(key).context_key_type(ContextKeyTypeEnum::String).set_context_key_values(Some(values)).build()
            })
            .collect();
        for resource in statement.resource.all() {
            let answer = iam
                .simulate_principal_policy()
                .policy_source_arn(&source)
                .set_action_names(Some(concrete.clone()))
                .resource_arns(sample_arn(&resource, region, account))
                .set_context_entries(Some(context.clone()))
                .send()
                .await;
            let results = match answer {
                Ok(out) => out.evaluation_results,
                Err(e) => {
                    let why = crate::aws::sdk_error(e).to_string();
                    let actions: Vec<String> = policy.statements.iter().flat_map(|s| s.action.all()).collect();
                    return Check::new(
                        name,
                        Verdict::Warning,
                        format!(
                            "IAM's policy simulator cannot be used for {source} ({why}); compare its policies with iam/berth-policy.json by hand: {}",
                            actions.join(", ")
                        ),
                    );
                }
            };
            for result in results.unwrap_or_default() {
                checked += 1;
                if result.eval_decision != PolicyEvaluationDecisionType::Allowed {
                    let what = format!("{} on {}", result.eval_action_name, sample_arn(&resource, region, account));
                    if !missing.contains(&what) {
                        missing.push(what);
                    }
                }
            }
        }
    }
    let skipped = if unchecked.is_empty() { String::new() } else { format!("; not simulated (wildcards): {}", unchecked.join(", ")) };
    if missing.is_empty() {
        Check::new(name, Verdict::Ok, format!("{source} may do all {checked} actions Berth uses (IAM policy simulator){skipped}"))
    } else {
        Check::new(
            name,
            Verdict::Failed,
            format!("{source} may not: {}. Attach iam/berth-policy.json (see iam/README.md){skipped}", missing.join("; ")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_patterns_become_resources_of_this_account() {
        assert_eq!(sample_arn("arn:aws:cloudformation:*:*:stack/berth-*/*", "eu-west-1", "1234"), "arn:aws:cloudformation:eu-west-1:1234:stack/berth-doctor/doctor");
        assert_eq!(sample_arn("arn:aws:iam::*:role/berth-*", "eu-west-1", "1234"), "arn:aws:iam::1234:role/berth-doctor");
        assert_eq!(
            sample_arn("arn:aws:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/berth-*", "r", "1"),
            "arn:aws:autoscaling:r:1:autoScalingGroup:doctor:autoScalingGroupName/berth-doctor"
        );
        assert_eq!(sample_arn("*", "r", "1"), "*");
    }

    #[test]
    fn an_assumed_role_is_simulated_as_its_role() {
        assert_eq!(principal("arn:aws:sts::1234:assumed-role/berth-prod/i-0abc"), "arn:aws:iam::1234:role/berth-prod");
        assert_eq!(principal("arn:aws:iam::1234:user/berth"), "arn:aws:iam::1234:user/berth");
    }

    #[test]
    fn the_shipped_policy_reads() {
        let policy: Policy = serde_json::from_str(POLICY).unwrap();
        assert!(policy.statements.iter().any(|s| s.action.all().contains(&"cloudformation:CreateChangeSet".to_string())));
    }
}
