//! Passwords (argon2id), sign-in and the session.

use super::{throttle, Services};
use app::validation::{PASSWORD_MAX, USERNAME_MAX};
use crate::db::{self, audit};
use crate::error::{Error, Result};
use app::error::AppError;
use app::model::User;
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use http::request::Parts;
use serde_json::json;
use tower_sessions::Session;

pub const USER_ID_KEY: &str = "user_id";
/// The user's credentials version at sign-in: a later password, role or team change (or
/// disabling) bumps it and so ends the session.
pub const VERSION_KEY: &str = "credentials_version";
/// The minute of the session's last request: writing it once a minute saves the session,
/// which moves its idle expiry on; reads alone would not.
const SEEN_KEY: &str = "seen_minute";

pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Hash(e.to_string()))
}

fn password_matches(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

/// Argon2 is deliberately slow (and memory-hungry): it runs on the blocking threads, a
/// bounded number at a time, so a flood of sign-ins queues instead of stalling every
/// request on the async workers or exhausting memory.
async fn blocking<T: Send + 'static>(s: &Services, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let _permit = s.hashing.acquire().await.map_err(|e| Error::Hash(e.to_string()))?;
    tokio::task::spawn_blocking(work).await.map_err(|e| Error::Hash(e.to_string()))
}

async fn verify_password(s: &Services, password: &str, hash: &str) -> Result<bool> {
    let (password, hash) = (password.to_string(), hash.to_string());
    blocking(s, move || password_matches(&password, &hash)).await
}

/// [`hash_password`] on the blocking threads, within the bound.
pub async fn hash(s: &Services, password: &str) -> Result<String> {
    let password = password.to_string();
    blocking(s, move || hash_password(&password)).await?
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
    let user = identify(s, parts).await?;
    if let (Some(user), Some(span)) = (&user, parts.extensions.get::<tracing::Span>()) {
        // The request's log lines name who made it.
        span.record("user", user.username.as_str());
    }
    Ok(user)
}

async fn identify(s: &Services, parts: &Parts) -> Result<Option<User>> {
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
    let version = session.get::<i64>(VERSION_KEY).await?;
    match db::users::find_by_id(&s.db, id).await? {
        Some(row) if !row.disabled && version == Some(row.credentials_version) => {
            let minute = time::OffsetDateTime::now_utc().unix_timestamp() / 60;
            if session.get::<i64>(SEEN_KEY).await? != Some(minute) {
                session.insert(SEEN_KEY, minute).await?;
            }
            Ok(Some(row.into_user()))
        }
        _ => {
            session.flush().await?;
            Ok(None)
        }
    }
}

/// What signed a request in, kept by a long-lived response (an event stream) to check
/// from time to time that it still does.
#[derive(Clone, Debug)]
pub enum Credential {
    Session { id: String, user: i64, version: i64 },
    Token(String),
}

pub async fn credential(parts: &Parts) -> Result<Option<Credential>> {
    if let Some(value) = parts.headers.get(http::header::AUTHORIZATION) {
        let token = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).unwrap_or_default();
        return Ok(Some(Credential::Token(token.trim().to_string())));
    }
    let Some(session) = parts.extensions.get::<Session>() else { return Ok(None) };
    let (Some(id), Some(user), Some(version)) = (session.id(), session.get::<i64>(USER_ID_KEY).await?, session.get::<i64>(VERSION_KEY).await?) else {
        return Ok(None);
    };
    Ok(Some(Credential::Session { id: id.to_string(), user, version }))
}

/// The user the credential still signs in: `None` once the session ended (signed out,
/// expired), the token was revoked or expired, or the user's credentials changed.
pub async fn still_signed_in(s: &Services, credential: &Credential) -> Result<Option<User>> {
    match credential {
        Credential::Token(token) => super::tokens::owner(s, token).await,
        Credential::Session { id, user, version } => {
            if !db::sessions::alive(&s.db, id).await? {
                return Ok(None);
            }
            Ok(db::users::find_by_id(&s.db, *user)
                .await?
                .filter(|row| !row.disabled && row.credentials_version == *version)
                .map(|row| row.into_user()))
        }
    }
}

/// The client's network, for throttling: the connection's peer, or, when the peer is a
/// configured trusted proxy, the nearest address in `X-Forwarded-For` that is not one.
/// A header from anyone else is ignored: a client could name any address in it.
fn client_network(s: &Services, parts: &Parts) -> String {
    let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|info| info.0.ip());
    let Some(peer) = peer else { return "unknown".into() };
    let trusted = &s.config.trusted_proxies;
    if !trusted.contains(&peer) {
        return throttle::network_key(peer);
    }
    let forwarded = parts.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(",");
    let client = forwarded
        .rsplit(',')
        .map_while(|hop| hop.trim().parse::<std::net::IpAddr>().ok())
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer);
    throttle::network_key(client)
}

/// At most this much of a typed username reaches the throttle's table or the audit log.
fn bounded(username: &str) -> String {
    let mut shown: String = username.chars().take(USERNAME_MAX).collect();
    if shown.len() < username.len() {
        shown.push('…');
    }
    shown
}

/// Same answer for an unknown user, a wrong password and a disabled account. Too many
/// attempts for a username from one network, or from one network, are refused before any
/// password is checked; the attempt is counted before the check so parallel guesses
/// cannot slip through together. A flood aimed at a username from one place therefore
/// does not lock its owner out elsewhere.
pub async fn sign_in(s: &Services, parts: &Parts, username: &str, password: &str) -> Result<User> {
    let username = username.trim();
    // With single sign-on, passwords may be kept for the break-glass admin alone.
    if let Some(sso) = s.sso.as_ref().filter(|sso| !sso.passwords_for_everyone()) {
        if !username.eq_ignore_ascii_case(sso.break_glass_admin()) {
            return Err(AppError::Forbidden(format!("Passwords are turned off here: use \"{}\"", sso.button())).into());
        }
    }
    let shown = bounded(username);
    // Nothing longer than Berth accepts is ever a real account or password (PASSWORD_MAX
    // characters are at most four bytes each; passwords set before it counted characters
    // were at most 1024 bytes).
    let oversized = username.len() > USERNAME_MAX || password.len() > 4 * PASSWORD_MAX;
    let network = client_network(s, parts);
    let user_key = format!("{}|{network}", shown.to_lowercase());
    s.signin_by_user.reserve(&user_key).map_err(|retry_after_secs| AppError::TooManyRequests { retry_after_secs })?;
    if let Err(retry_after_secs) = s.signin_by_address.reserve(&network) {
        s.signin_by_user.forgive(&user_key);
        return Err(AppError::TooManyRequests { retry_after_secs }.into());
    }
    let row = if oversized { None } else { db::users::find_by_username(&s.db, username).await? };
    let verified = match &row {
        Some(row) => verify_password(s, password, &row.password_hash).await? && !row.disabled,
        None => {
            // As slow as a real check, so timing does not tell which accounts exist.
            let dummy = if oversized { "" } else { password };
            verify_password(s, dummy, &s.dummy_hash).await?;
            false
        }
    };
    let mut tx = db::begin_write(&s.db).await?;
    let Some(row) = row.filter(|_| verified) else {
        audit::append(
            &mut tx,
            audit::Entry {
                actor: &shown,
                action: "auth.sign_in_failed",
                subject_type: "user",
                subject_id: shown.clone(),
                request_id: None,
                details: if oversized { json!({"oversized": true}) } else { json!({}) },
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
    s.signin_by_address.forgive(&network);
    let session = session(parts)?;
    // A new id at sign-in, so a session id planted before sign-in is worthless after it.
    session.cycle_id().await?;
    session.insert(USER_ID_KEY, row.id).await?;
    session.insert(VERSION_KEY, row.credentials_version).await?;
    Ok(row.into_user())
}

/// Ends the session. One signed in through the provider also ends there: the provider's
/// sign-out, when it has one, is where the browser goes next.
pub async fn sign_out(s: &Services, parts: &Parts) -> Result<Option<String>> {
    let id_token = super::oidc::id_token(parts).await?;
    session(parts)?.flush().await?;
    super::oidc::end_session_url(s, id_token).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_password() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(password_matches("correct horse battery", &hash));
        assert!(!password_matches("correct horse batterY", &hash));
        assert!(!password_matches("anything", "not a hash"));
        assert_ne!(hash, hash_password("correct horse battery").unwrap(), "salted");
    }
}
