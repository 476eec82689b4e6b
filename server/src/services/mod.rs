//! The service layer: every rule of Berth (validation, roles, state transitions, audit)
//! lives here once. The UI's server functions reach it through the [`Backend`] trait and
//! the JSON API calls the same trait methods.

pub mod audit;
pub mod auth;
pub mod deployments;
pub mod drift;
pub mod environments;
pub mod health;
pub mod limits;
pub mod oidc;
pub mod paths;
pub mod requests;
pub mod review;
pub mod throttle;
pub mod tokens;
pub mod users;
pub mod webhooks;

use crate::config::Config;
use crate::db::Db;
use crate::templates::Templates;
use crate::aws::Connect;
use crate::deploy::feed::Feed;
use tokio::sync::Notify;
use app::backend::Backend;
use app::error::AppError;
use app::model::*;
use app::validation;
use http::request::Parts;
use std::sync::Arc;

/// Argon2 hashes at once: enough for a burst of sign-ins, few enough to leave the
/// blocking pool and memory for everything else.
const HASHES_AT_ONCE: usize = 4;

pub struct Services {
    pub db: Db,
    pub config: Arc<Config>,
    pub templates: Templates,
    /// AWS, in each environment's account and region.
    pub aws: Arc<dyn Connect>,
    /// Tells SSE viewers a request's feed grew.
    pub feed: Feed,
    /// Wakes the deployment worker when a job is queued.
    pub wake: Arc<Notify>,
    /// Deployed services' health, cached and polled.
    pub health: Arc<crate::health::Monitor>,
    /// The audit page's last walk of the hash chain.
    pub chain: audit::ChainCache,
    /// Failed sign-ins per username and per client address.
    signin_by_user: throttle::Throttle,
    signin_by_address: throttle::Throttle,
    /// Verified against when a username is unknown, so a wrong username costs as much time
    /// as a wrong password and timing does not reveal which accounts exist.
    dummy_hash: String,
    /// Password hashes computed at once at most (each takes tens of MiB and CPU time).
    hashing: tokio::sync::Semaphore,
    /// Open event streams and running audit exports, per user.
    pub streams: Arc<limits::Slots>,
    pub exports: Arc<limits::Slots>,
    /// The single sign-on provider, when one is configured.
    pub sso: Option<oidc::Sso>,
}

impl Services {
    pub fn new(
        db: Db,
        config: Arc<Config>,
        templates: Templates,
        aws: Arc<dyn Connect>,
    ) -> crate::error::Result<Arc<Services>> {
        let dummy_hash = auth::hash_password("not a real password, only spent time")?;
        let health = crate::health::Monitor::new(
            Arc::new(crate::aws::HealthAnywhere(aws.clone())),
            crate::health::Settings::new(
                std::time::Duration::from_millis(config.health_watch_refresh_ms.max(100)),
                std::time::Duration::from_secs(config.health_idle_refresh_seconds.max(1)),
            ),
        );
        let window = std::time::Duration::from_secs(config.signin_window_seconds.max(1));
        let signin_by_user = throttle::Throttle::new(config.signin_max_failures, window);
        let signin_by_address = throttle::Throttle::new(config.signin_max_failures_per_address, window);
        let sso = match &config.oidc {
            Some(oidc) => Some(oidc::Sso::new(oidc, config.addr).map_err(crate::error::Error::Config)?),
            None => None,
        };
        let streams = limits::Slots::new("stream", config.streams_per_user as usize);
        let exports = limits::Slots::new("export", config.exports_per_user as usize);
        Ok(Arc::new(Services {
            db,
            config,
            templates,
            aws,
            feed: Feed::default(),
            wake: Arc::new(Notify::new()),
            health,
            chain: audit::ChainCache::default(),
            signin_by_user,
            signin_by_address,
            dummy_hash,
            hashing: tokio::sync::Semaphore::new(HASHES_AT_ONCE),
            streams,
            exports,
            sso,
        }))
    }
}

fn ok<T>(result: crate::error::Result<T>) -> Result<T, AppError> {
    result.map_err(AppError::from)
}

#[async_trait::async_trait]
impl Backend for Services {
    async fn authenticate(&self, parts: &Parts) -> Result<Option<User>, AppError> {
        ok(auth::authenticate(self, parts).await)
    }
    async fn sign_in(&self, parts: &Parts, username: &str, password: &str) -> Result<User, AppError> {
        ok(auth::sign_in(self, parts, username, password).await)
    }
    async fn sign_out(&self, parts: &Parts) -> Result<Option<String>, AppError> {
        ok(auth::sign_out(self, parts).await)
    }
    fn sign_in_methods(&self) -> SignInMethods {
        SignInMethods {
            single_sign_on: self.sso.as_ref().map(|sso| sso.button().to_string()),
            passwords_for_everyone: self.sso.as_ref().is_none_or(|sso| sso.passwords_for_everyone()),
        }
    }
    async fn list_users(&self, actor: &User) -> Result<Vec<User>, AppError> {
        ok(users::list(self, actor).await)
    }
    async fn create_user(&self, actor: &User, new: NewUser) -> Result<User, AppError> {
        ok(users::create(self, actor, new).await)
    }
    async fn update_user(&self, actor: &User, id: &str, patch: UserPatch) -> Result<User, AppError> {
        ok(users::update(self, actor, id, patch).await)
    }
    async fn list_environments(&self, actor: &User) -> Result<Vec<Environment>, AppError> {
        ok(environments::list(self, actor).await)
    }
    async fn get_environment(&self, actor: &User, name: &str) -> Result<Environment, AppError> {
        ok(environments::get(self, actor, name).await)
    }
    async fn create_environment(&self, actor: &User, input: EnvironmentInput) -> Result<Environment, AppError> {
        ok(environments::create(self, actor, input).await)
    }
    async fn update_environment(&self, actor: &User, name: &str, input: EnvironmentInput) -> Result<Environment, AppError> {
        ok(environments::update(self, actor, name, input).await)
    }
    async fn decide_environment_change(&self, actor: &User, name: &str, change: &str, approve: bool, reason: Option<String>) -> Result<Environment, AppError> {
        ok(environments::decide(self, actor, name, change, approve, reason).await)
    }
    async fn environment_plan(&self, actor: &User, name: &str, change: &str) -> Result<EnvironmentPlan, AppError> {
        ok(environments::plan(self, actor, name, change).await)
    }
    async fn create_request(&self, actor: &User, input: RequestInput) -> Result<ApiRequest, AppError> {
        ok(requests::create(self, actor, input).await)
    }
    async fn update_request(&self, actor: &User, id: &str, input: RequestInput) -> Result<ApiRequest, AppError> {
        ok(requests::update(self, actor, id, input).await)
    }
    async fn list_requests(&self, actor: &User, filter: &RequestFilter) -> Result<Page<RequestSummary>, AppError> {
        ok(requests::list(self, actor, filter).await)
    }
    async fn get_request(&self, actor: &User, id: &str) -> Result<ApiRequest, AppError> {
        ok(requests::get(self, actor, id).await)
    }
    async fn decide(&self, actor: &User, id: &str, decision: Decision) -> Result<ApiRequest, AppError> {
        ok(review::decide(self, actor, id, decision).await)
    }
    async fn comment(&self, actor: &User, id: &str, body: &str) -> Result<Note, AppError> {
        ok(review::comment(self, actor, id, body).await)
    }
    async fn decommission(&self, actor: &User, id: &str) -> Result<ApiRequest, AppError> {
        ok(review::decommission(self, actor, id).await)
    }
    async fn retry(&self, actor: &User, id: &str) -> Result<ApiRequest, AppError> {
        ok(review::retry(self, actor, id).await)
    }
    async fn conversation(&self, actor: &User, id: &str) -> Result<Vec<Note>, AppError> {
        ok(review::conversation(self, actor, id).await)
    }
    async fn deployments(&self, actor: &User, id: &str) -> Result<Vec<Deployment>, AppError> {
        ok(deployments::list(self, actor, id).await)
    }
    async fn events(&self, actor: &User, id: &str, after: Option<&str>) -> Result<EventPage, AppError> {
        ok(deployments::events(self, actor, id, after).await)
    }
    async fn plan(&self, actor: &User, id: &str) -> Result<Plan, AppError> {
        ok(deployments::plan(self, actor, id).await)
    }
    async fn health(&self, actor: &User, id: &str) -> Result<app::health::Health, AppError> {
        ok(health::get(self, actor, id).await)
    }
    async fn drift(&self, actor: &User, id: &str) -> Result<Drift, AppError> {
        ok(drift::get(self, actor, id).await)
    }
    async fn check_drift(&self, actor: &User, id: &str) -> Result<Drift, AppError> {
        ok(drift::check(self, actor, id).await)
    }
    async fn revert_drift(&self, actor: &User, id: &str) -> Result<ApiRequest, AppError> {
        ok(drift::revert(self, actor, id).await)
    }
    async fn list_tokens(&self, actor: &User) -> Result<Vec<ApiToken>, AppError> {
        ok(tokens::list(self, actor).await)
    }
    async fn create_token(&self, actor: &User, new: NewToken) -> Result<CreatedToken, AppError> {
        ok(tokens::create(self, actor, new).await)
    }
    async fn revoke_token(&self, actor: &User, id: &str) -> Result<(), AppError> {
        ok(tokens::revoke(self, actor, id).await)
    }
    async fn dashboard(&self, actor: &User, filter: &app::health::DashboardFilter) -> Result<Page<app::health::DashboardItem>, AppError> {
        ok(health::dashboard(self, actor, filter).await)
    }
    async fn list_audit(&self, actor: &User, filter: &AuditFilter) -> Result<Page<AuditEntry>, AppError> {
        ok(audit::list(self, actor, filter).await)
    }
    async fn webhook_status(&self, actor: &User) -> Result<WebhookStatus, AppError> {
        ok(webhooks::status(self, actor).await)
    }
    async fn verify_audit(&self, actor: &User) -> Result<ChainStatus, AppError> {
        ok(audit::verify(self, actor).await)
    }
    async fn chain_state(&self, actor: &User) -> Result<ChainStatus, AppError> {
        ok(audit::chain_state(self, actor).await)
    }
}

/// Refuses anyone but approvers and admins.
pub fn require_platform(actor: &User) -> Result<(), AppError> {
    if actor.role.is_platform() {
        Ok(())
    } else {
        Err(AppError::Forbidden("Only approvers and admins may do this".into()))
    }
}

pub fn require_admin(actor: &User) -> Result<(), AppError> {
    if actor.role == Role::Admin {
        Ok(())
    } else {
        Err(AppError::Forbidden("Only admins may do this".into()))
    }
}

/// Ids are strings on the wire and integers in SQLite; an id that is not a number names
/// nothing.
pub fn parse_id(id: &str, what: &str) -> Result<i64, AppError> {
    id.parse().map_err(|_| AppError::NotFound(format!("No {what} {id}")))
}

/// The keyset cursor of a list: the id of the last row of a page (or, for the dashboard,
/// its position), past which the next page starts, in the list's order. Clients pass it
/// back as given; any such number is a place to start from, never a way past a filter.
pub fn encode_cursor(id: i64) -> String {
    id.to_string()
}

pub fn decode_cursor(cursor: &str) -> Result<i64, AppError> {
    validation::cursor(cursor).map_err(|m| AppError::field("cursor", m))
}

/// A page's length: the default when not asked, 422 naming `limit` when out of range.
pub fn page_limit(limit: Option<u32>) -> Result<u32, AppError> {
    validation::page_limit(limit).map_err(|m| AppError::field("limit", m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Ok(42));
        assert!(decode_cursor("cGFzdDo0Mg").is_err());
        assert!(decode_cursor("!!!").is_err());
        assert!(decode_cursor(&"9".repeat(19)).is_err());
    }
}
