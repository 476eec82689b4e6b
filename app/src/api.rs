//! Server functions: thin adapters from the UI's forms to the [`Backend`](crate::backend).

use crate::error::AppError;
use crate::model::*;
use crate::validation::RequestDraft;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::backend::{context, signed_in};

#[server(prefix = "/_fn")]
pub async fn current_user() -> Result<Option<User>, AppError> {
    let (backend, parts) = context()?;
    backend.authenticate(&parts).await
}

/// Only local paths are followed after sign-in, so a link cannot send users elsewhere.
pub fn safe_next(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\") {
        next
    } else {
        "/requests"
    }
}

#[server(prefix = "/_fn")]
pub async fn sign_in(username: String, password: String, next: Option<String>) -> Result<(), AppError> {
    let (backend, parts) = context()?;
    backend.sign_in(&parts, &username, &password).await?;
    leptos_axum::redirect(safe_next(next.as_deref().unwrap_or("/requests")));
    Ok(())
}

#[server(prefix = "/_fn")]
pub async fn sign_out() -> Result<(), AppError> {
    let (backend, parts) = context()?;
    backend.sign_out(&parts).await?;
    leptos_axum::redirect("/login");
    Ok(())
}

#[server(prefix = "/_fn")]
pub async fn list_environments() -> Result<Vec<Environment>, AppError> {
    let (backend, user) = signed_in().await?;
    backend.list_environments(&user).await
}

/// Creates a request, or a new revision of request `id`.
#[server(prefix = "/_fn")]
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

#[server(prefix = "/_fn")]
pub async fn list_requests(filter: RequestFilter) -> Result<Page<RequestSummary>, AppError> {
    let (backend, user) = signed_in().await?;
    backend.list_requests(&user, &filter).await
}

#[server(prefix = "/_fn")]
pub async fn get_request(id: String) -> Result<ApiRequest, AppError> {
    let (backend, user) = signed_in().await?;
    backend.get_request(&user, &id).await
}

#[server(prefix = "/_fn")]
pub async fn list_users() -> Result<Vec<User>, AppError> {
    let (backend, user) = signed_in().await?;
    backend.list_users(&user).await
}

#[server(prefix = "/_fn")]
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

#[server(prefix = "/_fn")]
pub async fn update_user(id: String, form: UserForm) -> Result<(), AppError> {
    let (backend, actor) = signed_in().await?;
    backend.update_user(&actor, &id, form.into_patch()).await?;
    Ok(())
}
