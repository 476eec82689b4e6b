//! Start-up and shutdown of the server.

use crate::config::Config;
use crate::http::{self, AppState};
use crate::services::{environments, users, Services};
use crate::{aws, db, deploy, notify};
use std::future::IntoFuture;
use std::time::Duration;
use crate::templates::Templates;
use anyhow::Context;
use leptos::prelude::LeptosOptions;
use std::sync::Arc;
use tower_sessions_sqlx_store::SqliteStore;

/// Opens and migrates the database and nothing else: the audit commands read the log as
/// they find it, without adding the rows a first start writes.
pub async fn services(mut config: Config) -> anyhow::Result<Arc<Services>> {
    let aws = aws::sdk_config().await;
    // The SDK may have found the region in a profile rather than the environment; the
    // default environment follows it unless the configuration names another.
    if let Some(region) = aws.region() {
        if config.default_environment.region == config.aws_region {
            config.default_environment.region = region.to_string();
        }
        config.aws_region = region.to_string();
    }
    let key = crate::services::audit::load_key(&config)?;
    db::audit::use_key(key, config.audit_checkpoint_every);
    let accounts: Arc<dyn aws::Connect> = Arc::new(aws::accounts::SdkAccounts::new(aws));
    let db = db::connect(&config.database_url)
        .await
        .with_context(|| format!("opening the database {}", config.database_url))?;
    db::migrate(&db).await.context("migrating the database")?;
    let templates = Templates::load(config.templates_dir.as_deref()).context("reading the templates")?;
    Ok(Services::new(db, Arc::new(config), templates, accounts)?)
}

/// Writes the generated password of the first admin to `<database file>.admin-password`,
/// readable by its owner only; never over an existing file.
fn admin_password_file(database_url: &str, password: &str) -> std::io::Result<std::path::PathBuf> {
    let database = db::file_of(database_url)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::Unsupported, "the database is not a file"))?;
    let path = std::path::PathBuf::from(format!("{}.admin-password", database.display()));
    crate::private_file::create(&path, format!("{password}\n").as_bytes())?;
    Ok(path)
}

/// Opens and migrates the database, and makes sure a fresh install has its first admin
/// and default environment.
pub async fn open(config: Config) -> anyhow::Result<Arc<Services>> {
    let services = services(config).await?;
    if let Some(password) = users::bootstrap_admin(&services).await.map_err(app::error::AppError::from)? {
        // Never in a log line: logs are shipped and kept. A file only its owner reads.
        match admin_password_file(&services.config.database_url, &password) {
            Ok(path) => tracing::warn!(
                "created the first admin, \"admin\"; its generated password is in {} (readable by its owner only): \
                 sign in with it, then delete the file. Set BERTH_ADMIN_PASSWORD to choose it instead.",
                path.display()
            ),
            Err(e) => anyhow::bail!("cannot write the first admin's generated password: {e}; set BERTH_ADMIN_PASSWORD instead"),
        }
    }
    environments::ensure_default(&services).await.map_err(app::error::AppError::from)?;
    Ok(services)
}

pub async fn run(config: Config) -> anyhow::Result<()> {
    let addr = config.addr;
    let leptos = LeptosOptions::builder()
        .output_name("berth")
        .site_root(config.site_root.to_string_lossy().to_string())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build();
    // Held while serving: `berth restore` cannot replace the database under this process.
    let _serving = crate::backup::serving(&config.database_url)?;
    let services = open(config).await?;
    // Metrics on a listener of their own, when asked for; without it, recording is a no-op.
    if let Some(metrics_addr) = services.config.metrics_addr {
        let handle = crate::metrics::install();
        let listener = tokio::net::TcpListener::bind(metrics_addr).await.with_context(|| format!("listening for metrics on {metrics_addr}"))?;
        tracing::info!("metrics on http://{}/metrics", listener.local_addr()?);
        let router = crate::metrics::router(services.clone(), handle);
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "the metrics listener stopped");
            }
        });
    }
    let settings = deploy::Settings {
        poll: Duration::from_millis(services.config.deploy_poll_ms),
        stack_timeout: Duration::from_secs(services.config.deploy_timeout_minutes * 60),
        lease: Duration::from_secs(services.config.deploy_lease_seconds.max(3)),
    };
    let grace = Duration::from_secs(services.config.shutdown_grace_seconds);
    let engine = deploy::Engine::new(
        services.db.clone(),
        services.aws.clone(),
        services.templates.clone(),
        services.feed.clone(),
        settings,
        services.wake.clone(),
    );
    // Resumes every unfinished deployment, then runs new ones as they are approved.
    engine.start();
    services.health.start(services.db.clone());
    if services.config.drift_check_minutes > 0 {
        crate::services::drift::start(services.clone(), Duration::from_secs(services.config.drift_check_minutes * 60));
    }
    notify::start(
        services.db.clone(),
        services.config.webhooks.clone(),
        notify::Delivery {
            max_attempts: services.config.webhook_max_attempts.max(1),
            first_backoff: Duration::from_millis(services.config.webhook_backoff_ms),
        },
    );
    let store = SqliteStore::new(services.db.clone()).with_table_name("sessions").map_err(anyhow::Error::msg)?;
    store.migrate().await.context("creating the session table")?;
    // Expired sessions are deleted, not merely ignored when they come back.
    let sweeper = store.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            every.tick().await;
            if let Err(e) = tower_sessions::ExpiredDeletion::delete_expired(&sweeper).await {
                tracing::warn!(error = %e, "deleting expired sessions failed");
            }
        }
    });
    let app = http::router(AppState { services, leptos }, store);
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listening on {addr}"))?;
    let local = listener.local_addr()?;
    // Pages stream in several small writes; without this, Nagle's algorithm and the
    // client's delayed ACK hold the last ones back for about 40 ms.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY on an incoming connection: {e}");
        }
    });
    tracing::info!("Berth is listening on http://{local}");
    let signalled = Arc::new(tokio::sync::Notify::new());
    let server = axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown({
            let signalled = signalled.clone();
            async move { signalled.notified().await }
        })
        .into_future();
    let mut server = tokio::spawn(server);
    tokio::select! {
        served = &mut server => return Ok(served??),
        _ = shutdown_signal() => {}
    }
    signalled.notify_one();
    engine.shutdown(grace).await;
    // Live event streams never end by themselves: the server gets a moment to finish
    // ordinary requests, then the process exits.
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutting down");
}
