#![recursion_limit = "256"]
//! `berth`: the server and its operator commands.
//!
//! - `config`: settings from a file and `BERTH_*` variables.
//! - `db`: SQLite, migrations and the SQL of each entity.
//! - `services`: every rule of Berth, called by the UI and the JSON API alike.
//! - `deploy`: the deployment engine (durable jobs, restart-safe) and the live feed.
//! - `notify`: webhook notifications of status changes.
//! - `aws`: AWS behind small traits, with one SDK adapter per service.
//! - `http`: routes, extractors and the one error-to-HTTP mapping.
//! - `templates`: the CloudFormation templates of the two stacks.
//! - `serve`: start-up (migrate, bootstrap, listen) and shutdown.

mod aws;
mod backup;
mod config;
mod db;
mod deploy;
mod doctor;
mod error;
mod health;
mod http;
mod metrics;
mod notify;
mod private_file;
mod serve;
mod services;
mod templates;

use anyhow::Context;
use app::error::AppError;
use app::model::{AuditFilter, NewUser, Role, User};
use clap::{Parser, Subcommand};
use config::Config;
use futures::TryStreamExt;
use std::io::{BufRead, Write};

#[derive(Parser)]
#[command(name = "berth", version, about = "Self-service public APIs on Amazon ECS")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Check and read the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Write a consistent copy of the database to PATH while Berth runs (it never
    /// overwrites a file). Keep the audit key and the configuration file as well.
    Backup { path: std::path::PathBuf },
    /// Put the backup at PATH in place of the database, then migrate it. Refused while a
    /// Berth serves the database: stop it first.
    Restore { path: std::path::PathBuf },
    /// Check what a start on real AWS needs (database, site files, templates, the AWS
    /// identity and its permissions, the environments) and say what is wrong. Exits
    /// non-zero when a check fails.
    Doctor,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add an account. The password is read from standard input (one line).
    Add {
        username: String,
        #[arg(long, default_value = "requester")]
        role: String,
        #[arg(long)]
        team: String,
        #[arg(long)]
        display_name: Option<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain from the first row, its signatures and its checkpoints. Exits
    /// non-zero, naming the problem and the first row that does not check out, when the
    /// log was changed or cut short.
    Verify {
        /// Checkpoints exported earlier (`audit checkpoint --export`) to check the log against.
        #[arg(long)]
        checkpoints: Option<std::path::PathBuf>,
    },
    /// Write a signed checkpoint (row count, last row, last hash) now and print it.
    Checkpoint {
        /// Also append it (one JSON line) to this file; default `audit_checkpoint_file`.
        #[arg(long)]
        export: Option<std::path::PathBuf>,
    },
    /// Write the log, or the rows matching the filters, to standard output, oldest first.
    Export {
        #[arg(long, default_value = "json", value_parser = ["csv", "json"])]
        format: String,
        /// Username of whoever acted.
        #[arg(long)]
        actor: Option<String>,
        /// What was done, e.g. request.create.
        #[arg(long)]
        action: Option<String>,
        /// Id of the API request the rows are about.
        #[arg(long)]
        request: Option<String>,
        /// From this day (YYYY-MM-DD, UTC) or RFC 3339 time.
        #[arg(long)]
        from: Option<String>,
        /// Up to this day (YYYY-MM-DD, UTC, inclusive) or RFC 3339 time.
        #[arg(long)]
        to: Option<String>,
    },
}

/// The operator at the console acts as an admin; the audit log names them "cli".
fn operator() -> User {
    User {
        id: "0".into(),
        username: "cli".into(),
        display_name: "Command line".into(),
        role: Role::Admin,
        team: "platform".into(),
        disabled: false,
        created_at: db::now(),
        via_token: false,
    }
}

/// A refusal of the service layer, with the message of each bad field on standard error.
fn refused(e: impl Into<AppError>) -> anyhow::Error {
    let e = e.into();
    for field in e.field_errors() {
        eprintln!("{}: {}", field.field, field.message);
    }
    anyhow::anyhow!("{e}")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load()?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn,tower_sessions=warn".into());
    // Standard output is for what a command produces, such as an export.
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match config.log_format {
        config::LogFormat::Text => logs.init(),
        // The current span's fields (a request's id and user, a deployment's ids) on each line.
        config::LogFormat::Json => logs.json().with_current_span(true).with_span_list(false).init(),
    }
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve::run(config).await,
        Command::Backup { path } => {
            let done = backup::backup(&config.database_url, &path).await?;
            println!("wrote {} ({} bytes, {} audit rows)", done.path.display(), done.bytes, done.audit_rows);
            println!("keep with it the audit key (audit_key, audit_key_file or <database>.audit-key) and the configuration file");
            Ok(())
        }
        Command::Restore { path } => {
            let database = backup::restore(&config.database_url, &path).await?;
            println!("restored {} into {}; check it with `berth audit verify`, then start Berth", path.display(), database.display());
            Ok(())
        }
        Command::Doctor => {
            let checks = doctor::run(&config, &aws::sdk_config().await).await;
            print!("{}", doctor::report(&checks));
            if checks.iter().any(|c| c.verdict == doctor::Verdict::Failed) {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Migrate => {
            let db = db::connect(&config.database_url).await.context("opening the database")?;
            db::migrate(&db).await.context("migrating")?;
            println!("database {} is up to date", config.database_url);
            Ok(())
        }
        Command::User(UserCommand::Add { username, role, team, display_name }) => {
            let mut password = String::new();
            std::io::stdin().lock().read_line(&mut password).context("reading the password from standard input")?;
            let services = serve::open(config).await?;
            let new = NewUser {
                display_name: display_name.unwrap_or_else(|| username.clone()),
                username,
                password: password.trim_end_matches(['\r', '\n']).to_string(),
                role,
                team,
            };
            let user = services::users::create(&services, &operator(), new).await.map_err(refused)?;
            println!("added {} ({}, team {}) with id {}", user.username, user.role.as_str(), user.team, user.id);
            Ok(())
        }
        Command::Audit(AuditCommand::Verify { checkpoints }) => {
            let services = serve::services(config).await?;
            let exported = match &checkpoints {
                Some(path) => services::audit::read_exported(path).with_context(|| format!("reading {}", path.display()))?,
                None => Vec::new(),
            };
            let status = services::audit::verify_with(&services, &operator(), &exported).await.map_err(refused)?;
            match status.broken {
                None => {
                    println!(
                        "OK: {} rows verified, the hash chain is intact; last hash {}",
                        status.verified_rows,
                        status.last_hash.as_deref().unwrap_or("none (the log is empty)")
                    );
                    Ok(())
                }
                Some(broken) => anyhow::bail!(
                    "the audit log is broken at row {} ({}): {}\n  stored hash:   {}\n  expected hash: {}\n{} rows before it check out",
                    broken.id,
                    broken.kind.label(),
                    broken.reason,
                    broken.stored_hash,
                    broken.expected_hash,
                    status.verified_rows
                ),
            }
        }
        Command::Audit(AuditCommand::Checkpoint { export }) => {
            let services = serve::services(config).await?;
            let checkpoint = services::audit::checkpoint(&services, &operator()).await.map_err(refused)?;
            if let Some(path) = export.as_ref().or(services.config.audit_checkpoint_file.as_ref()) {
                services::audit::export_checkpoint(path, &checkpoint).with_context(|| format!("exporting to {}", path.display()))?;
            }
            println!("{}", serde_json::to_string(&checkpoint)?);
            Ok(())
        }
        Command::Audit(AuditCommand::Export { format, actor, action, request, from, to }) => {
            let services = serve::services(config).await?;
            let filter = AuditFilter { actor, action, request, from, to, ..Default::default() };
            let (_, chunks) = services::audit::export(&services, &operator(), &filter, Some(&format)).map_err(refused)?;
            let mut chunks = std::pin::pin!(chunks);
            let mut out = std::io::stdout().lock();
            while let Some(chunk) = chunks.try_next().await.map_err(refused)? {
                out.write_all(chunk.as_bytes()).context("writing to standard output")?;
            }
            out.flush().context("writing to standard output")?;
            Ok(())
        }
    }
}
