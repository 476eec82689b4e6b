#![recursion_limit = "256"]
//! `berth`: the server and its operator commands.
//!
//! - `config`: settings from a file and `BERTH_*` variables.
//! - `db`: SQLite, migrations and the SQL of each entity.
//! - `services`: every rule of Berth, called by the UI and the JSON API alike.
//! - `deploy`: the deployment engine (durable jobs, restart-safe) and the live feed.
//! - `aws`: AWS behind small traits, with one SDK adapter per service.
//! - `http`: routes, extractors and the one error-to-HTTP mapping.
//! - `templates`: the CloudFormation templates of the two stacks.
//! - `serve`: start-up (migrate, bootstrap, listen) and shutdown.

mod aws;
mod config;
mod db;
mod deploy;
mod error;
mod http;
mod serve;
mod services;
mod templates;

use anyhow::Context;
use app::model::{NewUser, Role, User};
use clap::{Parser, Subcommand};
use config::Config;
use std::io::BufRead;

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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,tower_sessions=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let config = Config::load()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve::run(config).await,
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
            // The operator at the console acts as an admin; the audit log names them "cli".
            let operator = User {
                id: "0".into(),
                username: "cli".into(),
                display_name: "Command line".into(),
                role: Role::Admin,
                team: "platform".into(),
                disabled: false,
                created_at: db::now(),
            };
            let new = NewUser {
                display_name: display_name.unwrap_or_else(|| username.clone()),
                username,
                password: password.trim_end_matches(['\r', '\n']).to_string(),
                role,
                team,
            };
            match services::users::create(&services, &operator, new).await {
                Ok(user) => {
                    println!("added {} ({}, team {}) with id {}", user.username, user.role.as_str(), user.team, user.id);
                    Ok(())
                }
                Err(e) => {
                    let e = app::error::AppError::from(e);
                    for field in e.field_errors() {
                        eprintln!("{}: {}", field.field, field.message);
                    }
                    anyhow::bail!("{e}")
                }
            }
        }
    }
}
