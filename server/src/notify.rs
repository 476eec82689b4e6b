//! Webhook notifications: every request status change, as JSON, to each configured URL,
//! signed with an HMAC-SHA256 of the body, in order, retried with exponential backoff.
//! Deliveries run beside the workflow and never hold it up; a delivery given up after the
//! last retry is logged and kept for admins to see.

use crate::config::Webhook;
use crate::db::{self, Db};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;

pub const SIGNATURE_HEADER: &str = "x-berth-signature";

/// `sha256=<hex>` of the body under the webhook's secret.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Clone, Debug)]
pub struct Delivery {
    pub max_attempts: u32,
    pub first_backoff: Duration,
}

/// Starts one delivery loop per configured webhook.
pub fn start(db: Db, hooks: Vec<Webhook>, delivery: Delivery) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("an HTTP client");
    for hook in hooks {
        let (db, client, delivery) = (db.clone(), client.clone(), delivery.clone());
        tokio::spawn(async move { run(db, client, hook, delivery).await });
    }
}

async fn run(db: Db, client: reqwest::Client, hook: Webhook, delivery: Delivery) {
    loop {
        if let Err(e) = deliver_next(&db, &client, &hook, &delivery).await {
            tracing::error!(url = %hook.url, error = %e, "webhook bookkeeping failed");
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    }
}

/// Delivers the URL's next event (waiting for one), retrying until it succeeds or the
/// attempts run out.
async fn deliver_next(db: &Db, client: &reqwest::Client, hook: &Webhook, delivery: &Delivery) -> Result<(), sqlx::Error> {
    let cursor = db::webhooks::cursor(db, &hook.url).await?;
    let Some(event) = db::webhooks::next_event(db, cursor).await? else {
        tokio::time::sleep(Duration::from_millis(500)).await;
        return Ok(());
    };
    let body = event.payload.into_bytes();
    let mut backoff = delivery.first_backoff;
    let mut last_error = String::new();
    for attempt in 1..=delivery.max_attempts {
        let sent = client
            .post(&hook.url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature(&hook.secret, &body))
            .header("x-berth-event-id", event.id.to_string())
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                metrics::counter!(crate::metrics::WEBHOOK_DELIVERIES, "outcome" => "delivered").increment(1);
                return db::webhooks::advance(db, &hook.url, event.id).await;
            }
            Ok(r) => last_error = format!("HTTP {}", r.status()),
            Err(e) => last_error = e.to_string(),
        }
        metrics::counter!(crate::metrics::WEBHOOK_DELIVERIES, "outcome" => "failed").increment(1);
        tracing::warn!(url = %hook.url, event = event.id, attempt, error = %last_error, "webhook delivery failed");
        if attempt < delivery.max_attempts {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(300));
        }
    }
    metrics::counter!(crate::metrics::WEBHOOK_DELIVERIES, "outcome" => "given_up").increment(1);
    tracing::error!(url = %hook.url, event = event.id, error = %last_error, "webhook delivery given up");
    db::webhooks::record_failure(db, &hook.url, event.id, delivery.max_attempts, &last_error, &db::now()).await?;
    db::webhooks::advance(db, &hook.url, event.id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
