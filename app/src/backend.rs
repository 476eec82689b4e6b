//! The service layer as the UI sees it. The server implements this trait once, with every
//! rule in it, and the JSON API calls the same implementation; the server functions in
//! `api` only translate between forms and these calls.

use crate::error::AppError;
use crate::model::*;
use http::request::Parts;
use std::sync::Arc;

#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The signed-in user of this request (session cookie or API token), if any.
    async fn authenticate(&self, parts: &Parts) -> Result<Option<User>, AppError>;
    async fn sign_in(&self, parts: &Parts, username: &str, password: &str) -> Result<User, AppError>;
    /// Ends the session; where the browser goes next when the provider that signed it in
    /// has a sign-out of its own.
    async fn sign_out(&self, parts: &Parts) -> Result<Option<String>, AppError>;
    /// How people sign in here: the single sign-on button, and whether passwords work.
    fn sign_in_methods(&self) -> SignInMethods;

    async fn list_users(&self, actor: &User) -> Result<Vec<User>, AppError>;
    async fn create_user(&self, actor: &User, new: NewUser) -> Result<User, AppError>;
    async fn update_user(&self, actor: &User, id: &str, patch: UserPatch) -> Result<User, AppError>;

    async fn list_environments(&self, actor: &User) -> Result<Vec<Environment>, AppError>;
    async fn get_environment(&self, actor: &User, name: &str) -> Result<Environment, AppError>;
    async fn create_environment(&self, actor: &User, input: EnvironmentInput) -> Result<Environment, AppError>;
    /// Asks for a change; it takes effect when another approver or admin approves it.
    async fn update_environment(&self, actor: &User, name: &str, input: EnvironmentInput) -> Result<Environment, AppError>;
    async fn decide_environment_change(&self, actor: &User, name: &str, change: &str, approve: bool, reason: Option<String>) -> Result<Environment, AppError>;
    async fn environment_plan(&self, actor: &User, name: &str, change: &str) -> Result<EnvironmentPlan, AppError>;

    async fn create_request(&self, actor: &User, input: RequestInput) -> Result<ApiRequest, AppError>;
    async fn update_request(&self, actor: &User, id: &str, input: RequestInput) -> Result<ApiRequest, AppError>;
    async fn list_requests(&self, actor: &User, filter: &RequestFilter) -> Result<Page<RequestSummary>, AppError>;
    async fn get_request(&self, actor: &User, id: &str) -> Result<ApiRequest, AppError>;

    async fn decide(&self, actor: &User, id: &str, decision: Decision) -> Result<ApiRequest, AppError>;
    async fn comment(&self, actor: &User, id: &str, body: &str) -> Result<Note, AppError>;
    async fn decommission(&self, actor: &User, id: &str) -> Result<ApiRequest, AppError>;
    async fn retry(&self, actor: &User, id: &str) -> Result<ApiRequest, AppError>;
    async fn conversation(&self, actor: &User, id: &str) -> Result<Vec<Note>, AppError>;
    async fn deployments(&self, actor: &User, id: &str) -> Result<Vec<Deployment>, AppError>;
    async fn events(&self, actor: &User, id: &str, after: Option<&str>) -> Result<EventPage, AppError>;
    async fn plan(&self, actor: &User, id: &str) -> Result<Plan, AppError>;
    /// The audit rows the actor may see, newest first.
    async fn list_audit(&self, actor: &User, filter: &AuditFilter) -> Result<Page<AuditEntry>, AppError>;
    /// Webhook backlogs and given-up deliveries; admins only.
    async fn webhook_status(&self, actor: &User) -> Result<WebhookStatus, AppError>;
    /// Recomputes the audit log's hash chain; admins only.
    async fn verify_audit(&self, actor: &User) -> Result<ChainStatus, AppError>;
    /// The same, from a recent full walk extended by the rows appended since (the audit page).
    async fn chain_state(&self, actor: &User) -> Result<ChainStatus, AppError>;

    /// The actor's own API tokens (never the secrets).
    async fn list_tokens(&self, actor: &User) -> Result<Vec<ApiToken>, AppError>;
    async fn create_token(&self, actor: &User, new: NewToken) -> Result<CreatedToken, AppError>;
    /// The owner's token, or anyone's for an admin.
    async fn revoke_token(&self, actor: &User, id: &str) -> Result<(), AppError>;

    /// A deployed request's service health; looking keeps it refreshed for a while.
    async fn health(&self, actor: &User, id: &str) -> Result<crate::health::Health, AppError>;
    async fn drift(&self, actor: &User, id: &str) -> Result<crate::model::Drift, AppError>;
    async fn check_drift(&self, actor: &User, id: &str) -> Result<crate::model::Drift, AppError>;
    /// Asks, for review, to set the API's drifted resources back to its deployed revision.
    async fn revert_drift(&self, actor: &User, id: &str) -> Result<ApiRequest, AppError>;
    async fn dashboard(&self, actor: &User, filter: &crate::health::DashboardFilter) -> Result<Page<crate::health::DashboardItem>, AppError>;
}

pub type SharedBackend = Arc<dyn Backend>;

/// The backend and the request's parts, as provided to every server function.
pub fn context() -> Result<(SharedBackend, Parts), AppError> {
    let backend = leptos::prelude::use_context::<SharedBackend>().ok_or(AppError::Internal)?;
    let parts = leptos::prelude::use_context::<Parts>().ok_or(AppError::Internal)?;
    Ok((backend, parts))
}

/// The backend and the signed-in user; `Unauthorized` when nobody is signed in.
pub async fn signed_in() -> Result<(SharedBackend, User), AppError> {
    let (backend, parts) = context()?;
    let user = backend.authenticate(&parts).await?.ok_or(AppError::Unauthorized)?;
    Ok((backend, user))
}
