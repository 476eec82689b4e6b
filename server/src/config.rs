//! Configuration: a TOML file (optional) overridden by the `BERTH_*` environment variables
//! fixed in the API contract. Every setting has a default, so `berth` runs with none.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// How log lines are written (to standard error).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    /// One JSON object per line, with the fields of the request (its id, the user) or the
    /// deployment it belongs to.
    Json,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `BERTH_ADDR`
    pub addr: SocketAddr,
    /// `BERTH_DATABASE_URL`; the file is created if missing.
    pub database_url: String,
    /// `BERTH_ADMIN_PASSWORD`: the first admin's password; generated into a file beside the
    /// database when unset.
    pub admin_password: Option<String>,
    /// `BERTH_LOG_FORMAT`: plain text lines (default) or one JSON object per line.
    pub log_format: LogFormat,
    /// `BERTH_METRICS_ADDR`: where `GET /metrics` (Prometheus) listens, apart from the
    /// public address; unset: no metrics listener.
    pub metrics_addr: Option<SocketAddr>,
    /// Mark the session cookie `Secure`. Unset: on unless Berth listens on a loopback
    /// address (anything else is assumed to sit behind HTTPS).
    pub secure_cookies: Option<bool>,
    /// Sign users out after this long without a request.
    pub session_idle_minutes: i64,
    /// Where the compiled site (wasm, JS, CSS) is served from; `BERTH_SITE_ROOT`.
    pub site_root: PathBuf,
    /// A folder with `cluster.yaml` and `service.yaml` replacing the embedded templates;
    /// `BERTH_TEMPLATES_DIR`.
    pub templates_dir: Option<PathBuf>,
    /// The environment created on first start, so the request form is usable at once.
    pub default_environment: DefaultEnvironment,
    /// How often the deployment worker polls a stack that is changing.
    pub deploy_poll_ms: u64,
    /// How long one stack may take to create, update or delete before the deployment fails.
    pub deploy_timeout_minutes: u64,
    /// How long a process's claim on a deployment job lasts without renewal: a job whose
    /// owner died is taken over by another Berth on the same database after this.
    pub deploy_lease_seconds: u64,
    /// On SIGTERM, how long running deployment steps get to reach a safe point.
    pub shutdown_grace_seconds: u64,
    /// The key that signs the audit log (`BERTH_AUDIT_KEY`); never stored in the database.
    pub audit_key: Option<String>,
    /// A file holding that key (`BERTH_AUDIT_KEY_FILE`). With neither, a key is generated
    /// into `<database file>.audit-key`, readable by its owner only.
    pub audit_key_file: Option<PathBuf>,
    /// A signed checkpoint of the audit log (row count, last hash) every this many rows.
    pub audit_checkpoint_every: u64,
    /// Where `berth audit checkpoint` exports checkpoints (one JSON line each) and where
    /// verification also reads them: a place the operator keeps apart from the database.
    pub audit_checkpoint_file: Option<PathBuf>,
    /// URLs told of every request status change (`[[webhooks]]` with `url` and `secret`).
    pub webhooks: Vec<Webhook>,
    /// Attempts per webhook delivery before it is given up (and shown to admins).
    pub webhook_max_attempts: u32,
    /// The wait before the first retry; it doubles with each further one.
    pub webhook_backoff_ms: u64,
    /// How often a deployed API's health is read from AWS while someone is looking at it.
    pub health_watch_refresh_ms: u64,
    /// How often it is read when nobody is (for the dashboard).
    pub health_idle_refresh_seconds: u64,
    /// How often each deployed API's service stack is compared with its template
    /// (CloudFormation drift detection), one API at a time; 0: only when someone asks.
    pub drift_check_minutes: u64,
    /// Failed sign-ins per username within `signin_window_seconds` before it is refused (429).
    pub signin_max_failures: u32,
    /// Failed sign-ins per client address within the window before that address is refused.
    pub signin_max_failures_per_address: u32,
    pub signin_window_seconds: u64,
    /// Reverse proxies whose `X-Forwarded-For` names the client (for sign-in throttling);
    /// from any other peer the header is ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Task roles a request may name must have a name starting with this (the IAM policy
    /// lets Berth pass only these roles); empty allows any role.
    pub task_role_prefix: String,
    /// A request's secrets must be named under its team (SSM parameters `/<team>/...`,
    /// Secrets Manager secrets `<team>/...`), so one team's API cannot read another's.
    pub secrets_scoped_to_team: bool,
    /// Event streams one user may have open at once.
    pub streams_per_user: u32,
    /// Audit exports one user may run at once.
    pub exports_per_user: u32,
    /// Lifetime of an API token when its creator chooses none, in days.
    pub token_default_days: u32,
    /// The longest lifetime a token may be given, in days.
    pub token_max_days: u32,
    /// Single sign-on through an OpenID Connect provider (`[oidc]`); absent: local
    /// accounts only.
    pub oidc: Option<Oidc>,
    /// The AWS region Berth's clients work in (from `AWS_REGION`, the profile, or
    /// us-east-1); every environment must be in it. Not a setting of its own.
    #[serde(skip)]
    pub aws_region: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub url: String,
    /// The key of the `X-Berth-Signature` HMAC, shared with the receiver.
    pub secret: String,
}

/// Sign-in through an OpenID Connect provider (authorization code flow with PKCE), and how
/// its claims map to Berth's roles and teams.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Oidc {
    /// The provider's issuer; its settings are read from
    /// `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// The client's secret, or a file holding it; neither for a public client (PKCE only).
    pub client_secret: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    /// Berth's URL as browsers reach it: the provider sends them back to
    /// `<public_url>/auth/oidc/callback`.
    pub public_url: String,
    /// The words of the sign-in page's button.
    pub button: String,
    pub scopes: Vec<String>,
    /// The claim that becomes the username (then `email`, then `sub`, if it is missing).
    pub username_claim: String,
    /// The claim listing the user's groups.
    pub groups_claim: String,
    /// Members of any of these groups are admins; of these, approvers; everyone else is a
    /// requester. Decided again at every sign-in.
    pub admin_groups: Vec<String>,
    pub approver_groups: Vec<String>,
    /// The team: this claim when it is set, else the first group starting with
    /// `team_group_prefix` (without it), else `default_team`.
    pub team_claim: Option<String>,
    pub team_group_prefix: String,
    pub default_team: Option<String>,
    /// When set, only members of one of these groups may sign in; an account whose owner
    /// has left them is disabled at its next sign-in.
    pub required_groups: Vec<String>,
    /// Whether passwords still sign in: everyone's, or only the break-glass admin's.
    pub local_accounts: LocalAccounts,
    pub break_glass_admin: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocalAccounts {
    #[default]
    On,
    BreakGlassOnly,
}

impl Default for Oidc {
    fn default() -> Self {
        Oidc {
            issuer: String::new(),
            client_id: String::new(),
            client_secret: None,
            client_secret_file: None,
            public_url: String::new(),
            button: "Sign in with single sign-on".into(),
            scopes: vec!["openid".into(), "profile".into(), "email".into()],
            username_claim: "preferred_username".into(),
            groups_claim: "groups".into(),
            admin_groups: Vec::new(),
            approver_groups: Vec::new(),
            team_claim: None,
            team_group_prefix: "team-".into(),
            default_team: None,
            required_groups: Vec::new(),
            local_accounts: LocalAccounts::On,
            break_glass_admin: "admin".into(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DefaultEnvironment {
    pub name: String,
    /// Empty means the AWS region Berth runs with (`AWS_REGION`), else us-east-1.
    pub region: String,
    pub instance_type: String,
    pub desired_capacity: u32,
    pub max_size: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: "127.0.0.1:3000".parse().expect("valid default address"),
            database_url: "sqlite://berth.db".into(),
            admin_password: None,
            log_format: LogFormat::Text,
            metrics_addr: None,
            secure_cookies: None,
            session_idle_minutes: 8 * 60,
            site_root: "target/site".into(),
            templates_dir: None,
            default_environment: DefaultEnvironment::default(),
            deploy_poll_ms: 2000,
            deploy_timeout_minutes: 60,
            deploy_lease_seconds: 30,
            audit_key: None,
            audit_key_file: None,
            audit_checkpoint_every: 100,
            audit_checkpoint_file: None,
            shutdown_grace_seconds: 20,
            webhooks: Vec::new(),
            webhook_max_attempts: 6,
            webhook_backoff_ms: 1000,
            health_watch_refresh_ms: 5000,
            health_idle_refresh_seconds: 300,
            drift_check_minutes: 720,
            signin_max_failures: 5,
            signin_max_failures_per_address: 20,
            signin_window_seconds: 15 * 60,
            trusted_proxies: Vec::new(),
            task_role_prefix: "berth-".into(),
            secrets_scoped_to_team: true,
            streams_per_user: 8,
            exports_per_user: 2,
            token_default_days: 90,
            token_max_days: 365,
            oidc: None,
            aws_region: "us-east-1".into(),
        }
    }
}

impl Default for DefaultEnvironment {
    fn default() -> Self {
        DefaultEnvironment {
            name: "staging".into(),
            region: String::new(),
            instance_type: "t3.medium".into(),
            desired_capacity: 2,
            max_size: 4,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("invalid {name}: {message}")]
    Env { name: &'static str, message: String },
}

impl Config {
    /// Whether the session cookie is marked `Secure`.
    pub fn secure_cookies(&self) -> bool {
        self.secure_cookies.unwrap_or(!self.addr.ip().is_loopback())
    }

    /// Reads `BERTH_CONFIG` (or `berth.toml` when it exists), then the environment.
    pub fn load() -> Result<Config, ConfigError> {
        Self::load_from(|name| std::env::var(name).ok())
    }

    fn load_from(env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let file = env("BERTH_CONFIG").map(PathBuf::from).or_else(|| {
            let default = PathBuf::from("berth.toml");
            default.exists().then_some(default)
        });
        let mut config = match file {
            Some(path) => Self::read_file(&path)?,
            None => Config::default(),
        };
        if let Some(addr) = env("BERTH_ADDR") {
            config.addr = addr
                .parse()
                .map_err(|e| ConfigError::Env { name: "BERTH_ADDR", message: format!("{addr}: {e}") })?;
        }
        if let Some(url) = env("BERTH_DATABASE_URL") {
            config.database_url = url;
        }
        if let Some(password) = env("BERTH_ADMIN_PASSWORD").filter(|p| !p.is_empty()) {
            config.admin_password = Some(password);
        }
        if let Some(format) = env("BERTH_LOG_FORMAT").filter(|f| !f.is_empty()) {
            config.log_format = match format.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => return Err(ConfigError::Env { name: "BERTH_LOG_FORMAT", message: format!("{other}: expected text or json") }),
            };
        }
        if let Some(addr) = env("BERTH_METRICS_ADDR").filter(|a| !a.is_empty()) {
            config.metrics_addr = Some(
                addr.parse().map_err(|e| ConfigError::Env { name: "BERTH_METRICS_ADDR", message: format!("{addr}: {e}") })?,
            );
        }
        if let Some(root) = env("BERTH_SITE_ROOT") {
            config.site_root = root.into();
        }
        if let Some(dir) = env("BERTH_TEMPLATES_DIR") {
            config.templates_dir = Some(dir.into());
        }
        if let Some(key) = env("BERTH_AUDIT_KEY").filter(|k| !k.is_empty()) {
            config.audit_key = Some(key);
        }
        if let Some(file) = env("BERTH_AUDIT_KEY_FILE").filter(|f| !f.is_empty()) {
            config.audit_key_file = Some(file.into());
        }
        config.aws_region = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")).unwrap_or_else(|| "us-east-1".into());
        if config.default_environment.region.is_empty() {
            config.default_environment.region = config.aws_region.clone();
        }
        Ok(config)
    }

    fn read_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.to_path_buf(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::load_from(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_match_the_contract() {
        let config = load(&[]).unwrap();
        assert_eq!(config.addr.to_string(), "127.0.0.1:3000");
        assert_eq!(config.database_url, "sqlite://berth.db");
        assert_eq!(config.default_environment.region, "us-east-1");
        assert!(!config.secure_cookies(), "plain HTTP on loopback");
        let exposed = load(&[("BERTH_ADDR", "0.0.0.0:3000")]).unwrap();
        assert!(exposed.secure_cookies(), "Secure whenever Berth is reachable from elsewhere");
    }

    #[test]
    fn environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("berth.toml");
        std::fs::write(&file, "addr = \"127.0.0.1:4000\"\nsecure_cookies = true\n[default_environment]\nname = \"dev\"\n").unwrap();
        let config = load(&[
            ("BERTH_CONFIG", file.to_str().unwrap()),
            ("BERTH_DATABASE_URL", "sqlite://x.db"),
            ("AWS_REGION", "eu-west-1"),
        ])
        .unwrap();
        assert_eq!(config.addr.port(), 4000);
        assert!(config.secure_cookies());
        assert_eq!(config.database_url, "sqlite://x.db");
        assert_eq!(config.default_environment.name, "dev");
        assert_eq!(config.default_environment.region, "eu-west-1");
        let config = load(&[("BERTH_CONFIG", file.to_str().unwrap()), ("BERTH_ADDR", "127.0.0.1:5000")]).unwrap();
        assert_eq!(config.addr.port(), 5000);
    }

    #[test]
    fn bad_values_are_reported() {
        assert!(matches!(load(&[("BERTH_ADDR", "nowhere")]), Err(ConfigError::Env { name: "BERTH_ADDR", .. })));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "colour = \"blue\"\n").unwrap();
        assert!(matches!(load(&[("BERTH_CONFIG", file.to_str().unwrap())]), Err(ConfigError::Parse { .. })));
    }
}
