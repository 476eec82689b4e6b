//! Accounts: admins list, create and change them; the first admin is created on first start.

use super::{auth, parse_id, require_admin, Services};
use crate::db::{self, audit, users::NewUserRow};
use crate::error::Result;
use app::error::AppError;
use app::model::{NewUser, Role, User, UserPatch};
use app::validation::{validate_new_user, validate_user_patch};
use rand::distributions::{Alphanumeric, DistString};
use serde_json::json;

pub async fn list(s: &Services, actor: &User) -> Result<Vec<User>> {
    require_admin(actor)?;
    Ok(db::users::list(&s.db).await?.into_iter().map(|r| r.into_user()).collect())
}

pub async fn create(s: &Services, actor: &User, new: NewUser) -> Result<User> {
    require_admin(actor)?;
    let role = validate_new_user(&new).map_err(AppError::Validation)?;
    let hash = auth::hash(s, &new.password).await?;
    let mut tx = db::begin_write(&s.db).await?;
    if db::users::username_exists(&mut tx, &new.username).await? {
        return Err(AppError::Taken {
            field: "username".into(),
            message: format!("The username {} is taken", new.username),
        }
        .into());
    }
    let now = db::now();
    let id = db::users::insert(
        &mut tx,
        NewUserRow {
            username: &new.username,
            display_name: new.display_name.trim(),
            password_hash: &hash,
            role,
            team: &new.team,
            now: &now,
        },
    )
    .await?;
    audit::append(
        &mut tx,
        audit::Entry {
            actor: &actor.username,
            action: "user.create",
            subject_type: "user",
            subject_id: id.to_string(),
            request_id: None,
            details: json!({"after": {"username": new.username, "display_name": new.display_name.trim(), "role": role, "team": new.team}}),
        },
    )
    .await?;
    let user = db::users::find_by_id(&mut *tx, id).await?.expect("inserted in this transaction").into_user();
    tx.commit().await?;
    Ok(user)
}

pub async fn update(s: &Services, actor: &User, id: &str, patch: UserPatch) -> Result<User> {
    require_admin(actor)?;
    let id = parse_id(id, "user")?;
    let role = validate_user_patch(&patch).map_err(AppError::Validation)?;
    let new_hash = match patch.password.as_deref() {
        Some(password) => Some(auth::hash(s, password).await?),
        None => None,
    };
    let mut tx = db::begin_write(&s.db).await?;
    let mut row = db::users::find_by_id(&mut *tx, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("No user {id}")))?;
    let before = json!({"display_name": row.display_name, "role": row.role, "team": row.team, "disabled": row.disabled});
    if let Some(role) = role {
        row.role = role.as_str().to_string();
    }
    if let Some(team) = &patch.team {
        row.team = team.clone();
    }
    if let Some(name) = &patch.display_name {
        row.display_name = name.trim().to_string();
    }
    if let Some(disabled) = patch.disabled {
        row.disabled = disabled;
    }
    if let Some(hash) = &new_hash {
        row.password_hash = hash.clone();
    }
    let still_admin = row.role == Role::Admin.as_str() && !row.disabled;
    if !still_admin && db::users::other_active_admins(&mut tx, id).await? == 0 {
        return Err(AppError::Conflict("This is the last enabled admin; make another admin first".into()).into());
    }
    // A new password, role or team, or a disabled account, ends the user's sessions (they
    // carry the version they signed in under) and revokes their tokens: whatever was
    // granted under the old credentials or access dies with them.
    let credentials_changed = new_hash.is_some()
        || before["role"] != json!(row.role)
        || before["team"] != json!(row.team)
        || (row.disabled && before["disabled"] == json!(false));
    let now = db::now();
    let mut tokens_revoked = 0;
    if credentials_changed {
        row.credentials_version += 1;
        tokens_revoked = db::tokens::revoke_all_for(&mut tx, id, &now).await?;
    }
    db::users::update(&mut tx, &row, &now).await?;
    let after = json!({"display_name": row.display_name, "role": row.role, "team": row.team, "disabled": row.disabled});
    audit::append(
        &mut tx,
        audit::Entry {
            actor: &actor.username,
            action: "user.update",
            subject_type: "user",
            subject_id: id.to_string(),
            request_id: None,
            details: json!({
                "username": row.username,
                "before": before,
                "after": after,
                "password_changed": new_hash.is_some(),
                "sessions_ended": credentials_changed,
                "tokens_revoked": tokens_revoked,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(row.into_user())
}

/// Creates the first admin, `admin`, when there are no accounts yet. Returns the password
/// when it was generated, for the caller to print once.
pub async fn bootstrap_admin(s: &Services) -> Result<Option<String>> {
    let mut tx = db::begin_write(&s.db).await?;
    if db::users::count(&mut *tx).await? > 0 {
        return Ok(None);
    }
    let (password, generated) = match &s.config.admin_password {
        Some(p) => (p.clone(), false),
        None => (Alphanumeric.sample_string(&mut rand::thread_rng(), 20), true),
    };
    // The first admin holds every key: its password meets the same rules as any other.
    if let Err(message) = app::validation::password(&password) {
        return Err(AppError::field("admin_password", format!("BERTH_ADMIN_PASSWORD: {message}")).into());
    }
    let hash = auth::hash(s, &password).await?;
    let now = db::now();
    let id = db::users::insert(
        &mut tx,
        NewUserRow { username: "admin", display_name: "Administrator", password_hash: &hash, role: Role::Admin, team: "platform", now: &now },
    )
    .await?;
    audit::append(
        &mut tx,
        audit::Entry {
            actor: "system",
            action: "user.bootstrap",
            subject_type: "user",
            subject_id: id.to_string(),
            request_id: None,
            details: json!({"after": {"username": "admin", "role": "admin", "team": "platform"}, "password_generated": generated}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(generated.then_some(password))
}
