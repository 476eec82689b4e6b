//! Server functions: thin adapters from the UI's forms to the [`Backend`](crate::backend).

use crate::error::AppError;
use crate::model::*;
use crate::validation::RequestDraft;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::backend::{context, signed_in};

#[server(prefix = "/_fn", endpoint = "current_user")]
pub async fn current_user() -> Result<Option<User>, AppError> {
    let (backend, parts) = context()?;
    backend.authenticate(&parts).await
}

/// Only paths of this site are followed after sign-in, so a link cannot send users
/// elsewhere. Browsers drop tabs and newlines from a URL and read a backslash as `/`, so
/// `/\t/evil.com` would lead to `//evil.com`, another site: any such character refuses it.
pub fn safe_next(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.chars().any(|c| c == '\\' || c.is_control() || c.is_whitespace());
    if local {
        next
    } else {
        "/requests"
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        for local in ["/requests", "/requests/7?tab=plan", "/audit#top"] {
            assert_eq!(safe_next(local), local);
        }
        for away in ["//evil.com", "/\t/evil.com", "/\n/evil.com", "/\\evil.com", "\\\\evil.com", "https://evil.com", "/ /evil.com", "evil.com"] {
            assert_eq!(safe_next(away), "/requests", "{away:?}");
        }
    }
}

#[server(prefix = "/_fn", endpoint = "sign_in")]
pub async fn sign_in(username: String, password: String, next: Option<String>) -> Result<(), AppError> {
    let (backend, parts) = context()?;
    backend.sign_in(&parts, &username, &password).await?;
    leptos_axum::redirect(safe_next(next.as_deref().unwrap_or("/requests")));
    Ok(())
}

#[server(prefix = "/_fn", endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    let (backend, parts) = context()?;
    let then = backend.sign_out(&parts).await?;
    leptos_axum::redirect(then.as_deref().unwrap_or("/login"));
    Ok(())
}

#[server(prefix = "/_fn", endpoint = "sign_in_options")]
pub async fn sign_in_options() -> Result<SignInMethods, AppError> {
    let (backend, _) = context()?;
    Ok(backend.sign_in_methods())
}

#[server(prefix = "/_fn", endpoint = "list_environments")]
pub async fn list_environments() -> Result<Vec<Environment>, AppError> {
    let (backend, user) = signed_in().await?;
    backend.list_environments(&user).await
}

/// Creates a request, or a new revision of request `id`.
#[server(prefix = "/_fn", endpoint = "submit_request")]
pub async fn submit_request(draft: RequestDraft, id: Option<String>) -> Result<String, AppError> {
    let (backend, user) = signed_in().await?;
    let input = draft.parse(None)?;
    let request = match id.filter(|id| !id.is_empty()) {
        Some(id) => backend.update_request(&user, &id, input).await?,
        None => backend.create_request(&user, input).await?,
    };
    leptos_axum::redirect(&format!("/requests/{}", request.id));
    Ok(request.id)
}

/// An empty filter encodes to no field at all, hence the default.
#[server(prefix = "/_fn", endpoint = "list_requests")]
pub async fn list_requests(#[server(default)] filter: RequestFilter) -> Result<Page<RequestSummary>, AppError> {
    let (backend, user) = signed_in().await?;
    backend.list_requests(&user, &filter).await
}

#[server(prefix = "/_fn", endpoint = "get_request")]
pub async fn get_request(id: String) -> Result<ApiRequest, AppError> {
    let (backend, user) = signed_in().await?;
    backend.get_request(&user, &id).await
}

/// An empty filter encodes to no field at all, hence the default.
#[server(prefix = "/_fn", endpoint = "list_audit")]
pub async fn list_audit(#[server(default)] filter: AuditFilter) -> Result<Page<AuditEntry>, AppError> {
    let (backend, user) = signed_in().await?;
    backend.list_audit(&user, &filter).await
}

#[server(prefix = "/_fn", endpoint = "verify_audit")]
pub async fn verify_audit() -> Result<ChainStatus, AppError> {
    let (backend, user) = signed_in().await?;
    backend.chain_state(&user).await
}

#[server(prefix = "/_fn", endpoint = "list_users")]
pub async fn list_users() -> Result<Vec<User>, AppError> {
    let (backend, user) = signed_in().await?;
    backend.list_users(&user).await
}

#[server(prefix = "/_fn", endpoint = "create_user")]
pub async fn create_user(user: NewUser) -> Result<(), AppError> {
    let (backend, actor) = signed_in().await?;
    backend.create_user(&actor, user).await?;
    Ok(())
}

/// The user-edit form as posted: a checkbox is absent when unticked, and an empty password
/// field means "keep the password".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserForm {
    pub display_name: String,
    pub role: String,
    pub team: String,
    pub disabled: Option<String>,
    pub password: String,
}

impl UserForm {
    pub fn into_patch(self) -> UserPatch {
        UserPatch {
            display_name: Some(self.display_name),
            role: Some(self.role),
            team: Some(self.team),
            disabled: Some(self.disabled.is_some()),
            password: Some(self.password).filter(|p| !p.is_empty()),
        }
    }
}

#[server(prefix = "/_fn", endpoint = "update_user")]
pub async fn update_user(id: String, form: UserForm) -> Result<(), AppError> {
    let (backend, actor) = signed_in().await?;
    backend.update_user(&actor, &id, form.into_patch()).await?;
    Ok(())
}

#[server(prefix = "/_fn", endpoint = "get_environment")]
pub async fn get_environment(name: String) -> Result<Environment, AppError> {
    let (backend, user) = signed_in().await?;
    backend.get_environment(&user, &name).await
}

/// The environment form as posted: numbers as typed, so a bad one is reported by its field.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EnvironmentForm {
    pub name: String,
    pub region: String,
    pub instance_type: String,
    pub desired_capacity: String,
    pub max_size: String,
    pub ecs_ami: String,
    pub rule_capacity: String,
    pub certificate_arn: String,
    pub access_logs_bucket: String,
    pub role_arn: String,
    pub external_id: String,
    /// Checkboxes: absent when unticked.
    pub deletion_protection: Option<String>,
    pub container_insights: Option<String>,
}

impl EnvironmentForm {
    pub fn from_environment(e: &Environment) -> Self {
        EnvironmentForm {
            name: e.name.clone(),
            region: e.region.clone(),
            instance_type: e.parameters.instance_type.clone(),
            desired_capacity: e.parameters.desired_capacity.to_string(),
            max_size: e.parameters.max_size.to_string(),
            ecs_ami: e.parameters.ecs_ami.clone().unwrap_or_default(),
            rule_capacity: e.rule_capacity.to_string(),
            certificate_arn: e.parameters.certificate_arn.clone().unwrap_or_default(),
            access_logs_bucket: e.parameters.access_logs_bucket.clone().unwrap_or_default(),
            role_arn: e.role_arn.clone().unwrap_or_default(),
            external_id: e.external_id.clone().unwrap_or_default(),
            deletion_protection: e.parameters.deletion_protection.then(|| "on".into()),
            container_insights: e.parameters.container_insights.then(|| "on".into()),
        }
    }

    pub fn parse(&self) -> Result<EnvironmentInput, AppError> {
        let mut errors = Vec::new();
        let mut number = |field: &str, text: &str| {
            text.trim().parse::<u32>().unwrap_or_else(|_| {
                errors.push(FieldError::new(field, "Must be a whole number"));
                0
            })
        };
        let input = EnvironmentInput {
            name: self.name.trim().to_string(),
            region: self.region.trim().to_string(),
            parameters: ClusterParameters {
                instance_type: self.instance_type.trim().to_string(),
                desired_capacity: number("parameters.DesiredCapacity", &self.desired_capacity),
                max_size: number("parameters.MaxSize", &self.max_size),
                ecs_ami: Some(self.ecs_ami.trim().to_string()).filter(|s| !s.is_empty()),
                certificate_arn: Some(self.certificate_arn.trim().to_string()).filter(|s| !s.is_empty()),
                access_logs_bucket: Some(self.access_logs_bucket.trim().to_string()).filter(|s| !s.is_empty()),
                deletion_protection: self.deletion_protection.is_some(),
                container_insights: self.container_insights.is_some(),
            },
            rule_capacity: number("rule_capacity", &self.rule_capacity),
            role_arn: Some(self.role_arn.trim().to_string()).filter(|s| !s.is_empty()),
            external_id: Some(self.external_id.trim().to_string()).filter(|s| !s.is_empty()),
        };
        if errors.is_empty() {
            Ok(input)
        } else {
            Err(AppError::Validation(errors))
        }
    }
}

/// Creates an environment, or changes `existing`.
#[server(prefix = "/_fn", endpoint = "save_environment")]
pub async fn save_environment(form: EnvironmentForm, existing: Option<String>) -> Result<String, AppError> {
    let (backend, user) = signed_in().await?;
    // The form is read only for those who may send it: others learn nothing from its errors.
    if !user.role.is_platform() {
        return Err(AppError::Forbidden("Only approvers and admins manage environments".into()));
    }
    let input = form.parse()?;
    let saved = match existing.filter(|e| !e.is_empty()) {
        Some(name) => backend.update_environment(&user, &name, input).await?,
        None => backend.create_environment(&user, input).await?,
    };
    leptos_axum::redirect(&format!("/environments/{}", saved.name));
    Ok(saved.name)
}

/// Approves (`decision=approve`) or rejects an environment change waiting for review.
#[server(prefix = "/_fn", endpoint = "decide_environment_change")]
pub async fn decide_environment_change(name: String, change: String, decision: String, reason: Option<String>) -> Result<(), AppError> {
    let (backend, user) = signed_in().await?;
    let saved = backend.decide_environment_change(&user, &name, &change, decision == "approve", reason).await?;
    leptos_axum::redirect(&format!("/environments/{}", saved.name));
    Ok(())
}

/// The cluster stack's plan for an environment change waiting for review, in the shape
/// of a request's plan.
#[server(prefix = "/_fn", endpoint = "get_environment_plan")]
pub async fn get_environment_plan(name: String, change: String) -> Result<Option<Plan>, AppError> {
    let (backend, user) = signed_in().await?;
    let plan = backend.environment_plan(&user, &name, &change).await?;
    Ok(Some(Plan { revision: 0, parameter_changes: plan.parameter_changes, stacks: vec![plan.stack] }))
}

/// A reviewer's decision as posted by the decision forms.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DecisionForm {
    /// approve, reject or request_changes
    pub decision: String,
    pub revision: u32,
    pub text: String,
}

impl DecisionForm {
    pub fn into_decision(self) -> Result<Decision, AppError> {
        let revision = self.revision;
        match self.decision.as_str() {
            "approve" => Ok(Decision::Approve { revision, comment: Some(self.text) }),
            "reject" => Ok(Decision::Reject { reason: self.text, revision: Some(revision) }),
            "request_changes" => Ok(Decision::RequestChanges { comment: self.text, revision: Some(revision) }),
            other => Err(AppError::BadRequest(format!("Unknown decision {other}"))),
        }
    }
}

#[server(prefix = "/_fn", endpoint = "decide_request")]
pub async fn decide_request(id: String, form: DecisionForm) -> Result<(), AppError> {
    let (backend, user) = signed_in().await?;
    backend.decide(&user, &id, form.into_decision()?).await?;
    Ok(())
}

#[server(prefix = "/_fn", endpoint = "add_comment")]
pub async fn add_comment(id: String, comment: String) -> Result<(), AppError> {
    let (backend, user) = signed_in().await?;
    backend.comment(&user, &id, &comment).await?;
    Ok(())
}

#[server(prefix = "/_fn", endpoint = "decommission_request")]
pub async fn decommission_request(id: String) -> Result<(), AppError> {
    let (backend, user) = signed_in().await?;
    backend.decommission(&user, &id).await?;
    Ok(())
}

#[server(prefix = "/_fn", endpoint = "retry_request")]
pub async fn retry_request(id: String) -> Result<(), AppError> {
    let (backend, user) = signed_in().await?;
    backend.retry(&user, &id).await?;
    Ok(())
}

/// Asks, for review, to bring the API's drifted resources back (a form post too).
#[server(prefix = "/_fn", endpoint = "revert_drift")]
pub async fn revert_drift(id: String) -> Result<(), AppError> {
    let (backend, user) = signed_in().await?;
    backend.revert_drift(&user, &id).await?;
    Ok(())
}

/// Everything the activity part of a request page shows, in one round trip.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    pub notes: Vec<Note>,
    pub deployments: Vec<Deployment>,
    pub events: Vec<StackEventView>,
}

#[server(prefix = "/_fn", endpoint = "get_activity")]
pub async fn get_activity(id: String) -> Result<Activity, AppError> {
    let (backend, user) = signed_in().await?;
    Ok(Activity {
        notes: backend.conversation(&user, &id).await?,
        deployments: backend.deployments(&user, &id).await?,
        events: backend.events(&user, &id, None).await?.items,
    })
}

#[server(prefix = "/_fn", endpoint = "get_plan")]
pub async fn get_plan(id: String) -> Result<Plan, AppError> {
    let (backend, user) = signed_in().await?;
    backend.plan(&user, &id).await
}

/// How many requests await a decision (the count in the navigation), up to 200.
#[server(prefix = "/_fn", endpoint = "review_count")]
pub async fn review_count() -> Result<usize, AppError> {
    let (backend, user) = signed_in().await?;
    if !user.role.is_platform() {
        return Ok(0);
    }
    let filter = RequestFilter { queue: Some(true), limit: Some(200), ..Default::default() };
    Ok(backend.list_requests(&user, &filter).await?.items.len())
}

#[server(prefix = "/_fn", endpoint = "get_webhook_status")]
pub async fn get_webhook_status() -> Result<WebhookStatus, AppError> {
    let (backend, user) = signed_in().await?;
    backend.webhook_status(&user).await
}

#[server(prefix = "/_fn", endpoint = "get_health")]
pub async fn get_health(id: String) -> Result<crate::health::Health, AppError> {
    let (backend, user) = signed_in().await?;
    backend.health(&user, &id).await
}

#[server(prefix = "/_fn", endpoint = "get_drift")]
pub async fn get_drift(id: String) -> Result<crate::model::Drift, AppError> {
    let (backend, user) = signed_in().await?;
    backend.drift(&user, &id).await
}

/// Compares the API's service stack with its template now (a form post: it works without
/// the page's script too).
#[server(prefix = "/_fn", endpoint = "check_drift")]
pub async fn check_drift(id: String) -> Result<crate::model::Drift, AppError> {
    let (backend, user) = signed_in().await?;
    backend.check_drift(&user, &id).await
}

#[server(prefix = "/_fn", endpoint = "get_dashboard")]
pub async fn get_dashboard(#[server(default)] filter: crate::health::DashboardFilter) -> Result<Page<crate::health::DashboardItem>, AppError> {
    let (backend, user) = signed_in().await?;
    backend.dashboard(&user, &filter).await
}

#[server(prefix = "/_fn", endpoint = "list_tokens")]
pub async fn list_tokens() -> Result<Vec<ApiToken>, AppError> {
    let (backend, user) = signed_in().await?;
    backend.list_tokens(&user).await
}

#[server(prefix = "/_fn", endpoint = "create_token")]
pub async fn create_token(name: String, expires_in_days: Option<String>) -> Result<CreatedToken, AppError> {
    let (backend, user) = signed_in().await?;
    let expires_in_days = match expires_in_days.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        None => None,
        Some(days) => Some(days.parse().map_err(|_| AppError::field("expires_in_days", "Days must be a whole number"))?),
    };
    backend.create_token(&user, NewToken { name, expires_in_days }).await
}

#[server(prefix = "/_fn", endpoint = "revoke_token")]
pub async fn revoke_token(id: String) -> Result<(), AppError> {
    let (backend, user) = signed_in().await?;
    backend.revoke_token(&user, &id).await
}
