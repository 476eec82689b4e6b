//! What admins see of webhook deliveries.

use super::{require_admin, Services};
use crate::db;
use crate::error::Result;
use app::model::{User, WebhookBacklog, WebhookFailure, WebhookStatus};

pub async fn status(s: &Services, actor: &User) -> Result<WebhookStatus> {
    require_admin(actor)?;
    let mut hooks = Vec::new();
    for hook in &s.config.webhooks {
        hooks.push(WebhookBacklog { url: hook.url.clone(), pending: db::webhooks::backlog(&s.db, &hook.url).await? as u32 });
    }
    let failures = db::webhooks::recent_failures(&s.db, 50)
        .await?
        .into_iter()
        .map(|f| WebhookFailure {
            id: f.id.to_string(),
            url: f.url,
            event_id: f.event_id.to_string(),
            attempts: f.attempts as u32,
            error: f.error,
            failed_at: f.failed_at,
        })
        .collect();
    Ok(WebhookStatus { hooks, failures })
}
