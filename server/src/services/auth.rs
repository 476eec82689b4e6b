//! Passwords (argon2id), sign-in and the session.

use super::Services;
use crate::db::{self, audit};
use crate::error::{Error, Result};
use app::error::AppError;
use app::model::User;
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use http::request::Parts;
use serde_json::json;
use tower_sessions::Session;

const USER_ID_KEY: &str = "user_id";

pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Hash(e.to_string()))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

fn session(parts: &Parts) -> Result<Session> {
    parts.extensions.get::<Session>().cloned().ok_or_else(|| {
        tracing::error!("no session layer in front of this route");
        Error::App(AppError::Internal)
    })
}

/// The user of this request: the owner of its `Authorization: Bearer` token when it has
/// one (a bad token is not signed in, whatever cookie comes along), else its session's.
/// A disabled account is signed out at its next request.
pub async fn authenticate(s: &Services, parts: &Parts) -> Result<Option<User>> {
    if let Some(value) = parts.headers.get(http::header::AUTHORIZATION) {
        let token = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).unwrap_or_default();
        return super::tokens::owner(s, token.trim()).await;
    }
    let Some(session) = parts.extensions.get::<Session>() else {
        return Ok(None);
    };
    let Some(id) = session.get::<i64>(USER_ID_KEY).await? else {
        return Ok(None);
    };
    match db::users::find_by_id(&s.db, id).await? {
        Some(row) if !row.disabled => Ok(Some(row.into_user())),
        _ => {
            session.flush().await?;
            Ok(None)
        }
    }
}

/// Where the request comes from, for throttling by address.
fn client_address(parts: &Parts) -> String {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Same answer for an unknown user, a wrong password and a disabled account. Too many
/// failures for a username or from an address are refused before any password is checked.
pub async fn sign_in(s: &Services, parts: &Parts, username: &str, password: &str) -> Result<User> {
    let user_key = username.trim().to_lowercase();
    let address = client_address(parts);
    if let Err(retry_after_secs) = s.signin_by_user.check(&user_key).and_then(|_| s.signin_by_address.check(&address)) {
        return Err(AppError::TooManyRequests { retry_after_secs }.into());
    }
    let row = db::users::find_by_username(&s.db, username.trim()).await?;
    let verified = match &row {
        Some(row) => verify_password(password, &row.password_hash) && !row.disabled,
        None => {
            verify_password(password, &s.dummy_hash);
            false
        }
    };
    let mut tx = db::begin_write(&s.db).await?;
    let Some(row) = row.filter(|_| verified) else {
        s.signin_by_user.fail(&user_key);
        s.signin_by_address.fail(&address);
        audit::append(
            &mut tx,
            audit::Entry {
                actor: username.trim(),
                action: "auth.sign_in_failed",
                subject_type: "user",
                subject_id: username.trim().to_string(),
                request_id: None,
                details: json!({}),
            },
        )
        .await?;
        tx.commit().await?;
        return Err(AppError::Unauthorized.into());
    };
    audit::append(
        &mut tx,
        audit::Entry {
            actor: &row.username,
            action: "auth.sign_in",
            subject_type: "user",
            subject_id: row.id.to_string(),
            request_id: None,
            details: json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    s.signin_by_user.clear(&user_key);
    let session = session(parts)?;
    // A new id at sign-in, so a session id planted before sign-in is worthless after it.
    session.cycle_id().await?;
    session.insert(USER_ID_KEY, row.id).await?;
    Ok(row.into_user())
}

pub async fn sign_out(_s: &Services, parts: &Parts) -> Result<()> {
    session(parts)?.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_password() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("anything", "not a hash"));
        assert_ne!(hash, hash_password("correct horse battery").unwrap(), "salted");
    }
}
