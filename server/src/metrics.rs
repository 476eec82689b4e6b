//! Berth's own metrics, in Prometheus' text format, on a listener of their own
//! (`metrics_addr`), never on the public router.
//!
//! Counters and histograms are recorded where things happen (HTTP requests, deployments,
//! stack steps, AWS calls, webhook deliveries, open event streams); the figures that live in
//! the database (the job queue, the audit log) and the health poller's lag are read when
//! the metrics are scraped, so they are current and cost nothing in between.

use crate::db;
use crate::services::Services;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

pub const HTTP_REQUESTS: &str = "berth_http_requests_total";
pub const HTTP_DURATION: &str = "berth_http_request_duration_seconds";
pub const DEPLOYMENTS_STARTED: &str = "berth_deployments_started_total";
pub const DEPLOYMENTS_FINISHED: &str = "berth_deployments_finished_total";
pub const DEPLOYMENT_DURATION: &str = "berth_deployment_duration_seconds";
pub const STACK_STEP_DURATION: &str = "berth_stack_step_duration_seconds";
pub const AWS_CALLS: &str = "berth_aws_calls_total";
pub const AWS_DURATION: &str = "berth_aws_call_duration_seconds";
pub const WEBHOOK_DELIVERIES: &str = "berth_webhook_deliveries_total";
pub const LONG_READS_OPEN: &str = "berth_long_reads_open";
pub const QUEUE_DEPTH: &str = "berth_deployment_queue_depth";
pub const QUEUE_OLDEST: &str = "berth_deployment_queue_oldest_seconds";
pub const HEALTH_LAG: &str = "berth_health_watched_oldest_seconds";
pub const AUDIT_ROWS: &str = "berth_audit_rows";
pub const AUDIT_CHECKPOINT_AGE: &str = "berth_audit_last_checkpoint_age_seconds";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder (once); before it, recording is a no-op.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            // Buckets from a fast page (1 ms) to a slow stack (an hour).
            let fast = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
            let slow = [1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0];
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), &fast)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(AWS_DURATION.into()), &fast))
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(DEPLOYMENT_DURATION.into()), &slow))
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(STACK_STEP_DURATION.into()), &slow))
                .expect("buckets are not empty")
                .install_recorder()
                .expect("one recorder per process")
        })
        .clone()
}

/// The router of the metrics listener: `GET /metrics`.
pub fn router(services: Arc<Services>, handle: PrometheusHandle) -> Router {
    Router::new().route("/metrics", get(scrape)).with_state((services, handle))
}

async fn scrape(State((services, handle)): State<(Arc<Services>, PrometheusHandle)>) -> Response {
    if let Err(e) = read_current(&services).await {
        tracing::warn!(error = %e, "reading the queue and audit figures for the metrics");
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response()
}

/// The figures kept in the database and the health poller, as of now.
async fn read_current(s: &Services) -> Result<(), sqlx::Error> {
    let now = time::OffsetDateTime::now_utc();
    let age = |at: Option<String>| at.as_deref().and_then(db::parse_time).map_or(0.0, |at| (now - at).as_seconds_f64().max(0.0));
    let (depth, oldest) = db::deployments::queue(&s.db).await?;
    metrics::gauge!(QUEUE_DEPTH).set(depth as f64);
    metrics::gauge!(QUEUE_OLDEST).set(age(oldest));
    let (rows, checkpoint) = db::audit::size(&s.db).await?;
    metrics::gauge!(AUDIT_ROWS).set(rows as f64);
    metrics::gauge!(AUDIT_CHECKPOINT_AGE).set(age(checkpoint));
    metrics::gauge!(HEALTH_LAG).set(s.health.oldest_watched().map_or(0.0, |d| d.as_secs_f64()));
    Ok(())
}

/// Counts and times every HTTP request by its route template (`/api/v1/requests/{id}`,
/// never the id itself), method and status.
pub async fn http(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS, "route" => route.clone(), "method" => method.clone(), "status" => status).increment(1);
    metrics::histogram!(HTTP_DURATION, "route" => route, "method" => method).record(started.elapsed().as_secs_f64());
    response
}
