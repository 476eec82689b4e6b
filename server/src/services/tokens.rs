//! Personal API tokens: scripts act as their owner, with the owner's current role.
//!
//! A token is 256 random bits, so a fast hash (SHA-256) is enough to store it: unlike a
//! password there is nothing to guess. It is shown once and can be revoked at any time.

use super::{parse_id, Services};
use crate::db::{self, audit};
use crate::error::Result;
use app::error::AppError;
use app::model::{ApiToken, CreatedToken, NewToken, User};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};

const PREFIX: &str = "berth_";
const MAX_NAME: usize = 100;

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn to_api(row: db::tokens::TokenRow) -> ApiToken {
    ApiToken {
        id: row.id.to_string(),
        name: row.name,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        revoked_at: row.revoked_at,
        expires_at: row.expires_at,
    }
}

pub async fn list(s: &Services, actor: &User) -> Result<Vec<ApiToken>> {
    let rows = db::tokens::list_for(&s.db, parse_id(&actor.id, "user")?).await?;
    Ok(rows.into_iter().map(to_api).collect())
}

/// Only a signed-in session makes tokens: a token (perhaps leaked) cannot mint more of
/// itself that would outlive its revocation.
pub async fn create(s: &Services, actor: &User, new: NewToken) -> Result<CreatedToken> {
    if actor.via_token {
        return Err(AppError::Forbidden("An API token cannot create tokens; sign in to create one".into()).into());
    }
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(AppError::field("name", format!("Give the token a name of 1 to {MAX_NAME} characters, saying what it is for")).into());
    }
    let max = s.config.token_max_days.max(1);
    let days = new.expires_in_days.unwrap_or(s.config.token_default_days).min(max);
    if days == 0 || new.expires_in_days.is_some_and(|d| d > max) {
        return Err(AppError::field("expires_in_days", format!("A token lives 1 to {max} days")).into());
    }
    let expires_at = (time::OffsetDateTime::now_utc().replace_nanosecond(0).expect("0 is valid") + time::Duration::days(i64::from(days)))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339 formats any UTC time");
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(secret));
    let now = db::now();
    let mut tx = db::begin_write(&s.db).await?;
    let row = db::tokens::NewToken { user_id: parse_id(&actor.id, "user")?, name, token_hash: &hash(&token), now: &now, expires_at: &expires_at };
    let id = db::tokens::insert(&mut tx, row).await?;
    audit::append(
        &mut tx,
        audit::Entry {
            actor: &actor.username,
            action: "token.created",
            subject_type: "token",
            subject_id: id.to_string(),
            request_id: None,
            details: json!({"name": name, "expires_at": expires_at}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedToken { id: id.to_string(), name: name.to_string(), token, created_at: now, expires_at })
}

/// The owner revokes their token; an admin may revoke anyone's (a leaked token is an
/// emergency that should not wait for its owner).
pub async fn revoke(s: &Services, actor: &User, id: &str) -> Result<()> {
    let id = parse_id(id, "token")?;
    let mut tx = db::begin_write(&s.db).await?;
    let row = db::tokens::get(&mut tx, id)
        .await?
        .filter(|row| row.user_id.to_string() == actor.id || actor.role == app::model::Role::Admin)
        .ok_or_else(|| AppError::NotFound(format!("No token {id}")))?;
    if row.revoked_at.is_none() {
        db::tokens::revoke(&mut tx, id, &db::now()).await?;
        audit::append(
            &mut tx,
            audit::Entry { actor: &actor.username, action: "token.revoked", subject_type: "token", subject_id: id.to_string(), request_id: None, details: json!({"name": row.name, "owner_id": row.user_id.to_string()}) },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The owner of a live token, or `None` (unknown, revoked, expired, or the owner is disabled).
pub async fn owner(s: &Services, token: &str) -> Result<Option<User>> {
    if !token.starts_with(PREFIX) {
        return Ok(None);
    }
    let Some((id, user_id, last_used)) = db::tokens::find_live(&s.db, &hash(token), &db::now()).await? else { return Ok(None) };
    let Some(row) = db::users::find_by_id(&s.db, user_id).await?.filter(|u| !u.disabled) else { return Ok(None) };
    // At most one write a minute per token: a script's reads stay reads.
    if last_used.as_deref().is_none_or(|at| db::seconds_since(at) >= 60) {
        db::tokens::touch(&s.db, id, &db::now()).await?;
    }
    Ok(Some(User { via_token: true, ..row.into_user() }))
}
