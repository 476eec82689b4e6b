//! Single sign-on through an OpenID Connect provider: the authorization code flow with
//! PKCE. The provider is found by discovery; its ID token is checked for issuer,
//! audience, signature (through the provider's published keys, fetched again when it signs
//! with a key Berth has not seen: rotation), expiry and nonce; its claims become an
//! account: created at the first sign-in, its role and team decided again at every one,
//! and disabled when the provider no longer puts its owner in an allowed group.

use super::Services;
use crate::config::Oidc;
use crate::db::{self, audit, users::NewUserRow};
use crate::error::Result;
use app::error::AppError;
use app::model::Role;
use app::validation;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::request::Parts;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;
use tower_sessions::Session;

/// Session key of a sign-in under way (between the redirect to the provider and back).
const PENDING_KEY: &str = "oidc.pending";
/// Session key of the ID token of the current sign-in, the hint for the provider's sign-out.
const ID_TOKEN_KEY: &str = "oidc.id_token";
/// A sign-in not finished within this long must start again.
const PENDING_FOR: Duration = Duration::from_secs(10 * 60);
/// Clock difference tolerated between Berth and the provider.
const LEEWAY_SECS: u64 = 60;
/// The provider's keys are fetched again for an unknown key id at most this often.
const KEYS_REFETCH_AFTER: Duration = Duration::from_secs(5);

/// What discovery says about the provider.
#[derive(Clone, Debug, Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    end_session_endpoint: Option<String>,
}

struct Keys {
    set: JwkSet,
    fetched: Instant,
}

/// The configured provider, discovered at its first use.
pub struct Sso {
    config: Oidc,
    secret: Option<String>,
    redirect_uri: String,
    http: reqwest::Client,
    metadata: RwLock<Option<Arc<Metadata>>>,
    keys: RwLock<Option<Keys>>,
}

/// A sign-in under way, kept in the browser's session until the provider sends it back.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    next: String,
    started: i64,
}

/// Why a sign-in through the provider did not happen, in words for the sign-in page.
fn refused(message: impl Into<String>) -> crate::error::Error {
    AppError::Forbidden(message.into()).into()
}

fn random_text() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl Sso {
    pub fn new(config: &Oidc, berth_addr: std::net::SocketAddr) -> std::result::Result<Sso, String> {
        let secret = match (&config.client_secret, &config.client_secret_file) {
            (Some(secret), _) => Some(secret.clone()),
            (None, Some(file)) => Some(
                std::fs::read_to_string(file)
                    .map_err(|e| format!("cannot read oidc.client_secret_file {}: {e}", file.display()))?
                    .trim()
                    .to_string(),
            ),
            (None, None) => None,
        };
        if config.issuer.is_empty() || config.client_id.is_empty() {
            return Err("[oidc] needs issuer and client_id".into());
        }
        let public = if config.public_url.is_empty() { format!("http://{berth_addr}") } else { config.public_url.clone() };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Sso {
            config: config.clone(),
            secret,
            redirect_uri: format!("{}/auth/oidc/callback", public.trim_end_matches('/')),
            http,
            metadata: RwLock::new(None),
            keys: RwLock::new(None),
        })
    }

    pub fn button(&self) -> &str {
        &self.config.button
    }

    pub fn passwords_for_everyone(&self) -> bool {
        self.config.local_accounts == crate::config::LocalAccounts::On
    }

    pub fn break_glass_admin(&self) -> &str {
        &self.config.break_glass_admin
    }

    async fn get_json(&self, url: &str) -> Result<Value> {
        let unavailable = |e: String| AppError::Unavailable(format!("The sign-in provider did not answer ({url}): {e}"));
        let response = self.http.get(url).send().await.map_err(|e| unavailable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(unavailable(format!("status {}", response.status())).into());
        }
        let text = response.text().await.map_err(|e| unavailable(e.to_string()))?;
        Ok(serde_json::from_str(&text).map_err(|e| unavailable(e.to_string()))?)
    }

    async fn metadata(&self) -> Result<Arc<Metadata>> {
        if let Some(m) = self.metadata.read().await.clone() {
            return Ok(m);
        }
        let url = format!("{}/.well-known/openid-configuration", self.config.issuer.trim_end_matches('/'));
        let metadata: Metadata = serde_json::from_value(self.get_json(&url).await?)
            .map_err(|e| AppError::Unavailable(format!("The sign-in provider's discovery document is incomplete: {e}")))?;
        // A document naming another issuer would let that issuer's tokens in.
        if metadata.issuer.trim_end_matches('/') != self.config.issuer.trim_end_matches('/') {
            return Err(AppError::Unavailable(format!(
                "The sign-in provider says it is {}, not the configured {}",
                metadata.issuer, self.config.issuer
            ))
            .into());
        }
        let metadata = Arc::new(metadata);
        *self.metadata.write().await = Some(metadata.clone());
        Ok(metadata)
    }

    /// The key that signed a token: from the keys held, or from the provider's keys fetched
    /// again when it is not among them (the provider rotated its keys).
    async fn key(&self, metadata: &Metadata, kid: Option<&str>) -> Result<Option<jsonwebtoken::jwk::Jwk>> {
        let find = |set: &JwkSet| match kid {
            Some(kid) => set.find(kid).cloned(),
            None => (set.keys.len() == 1).then(|| set.keys[0].clone()),
        };
        {
            let keys = self.keys.read().await;
            if let Some(keys) = keys.as_ref() {
                if let Some(key) = find(&keys.set) {
                    return Ok(Some(key));
                }
                if keys.fetched.elapsed() < KEYS_REFETCH_AFTER {
                    return Ok(None);
                }
            }
        }
        let set: JwkSet = serde_json::from_value(self.get_json(&metadata.jwks_uri).await?)
            .map_err(|e| AppError::Unavailable(format!("The sign-in provider's keys cannot be read: {e}")))?;
        let key = find(&set);
        *self.keys.write().await = Some(Keys { set, fetched: Instant::now() });
        Ok(key)
    }

    /// Checks an ID token and returns its claims.
    async fn verify(&self, metadata: &Metadata, id_token: &str, nonce: &str) -> std::result::Result<Map<String, Value>, String> {
        let header = jsonwebtoken::decode_header(id_token).map_err(|e| format!("the ID token cannot be read: {e}"))?;
        // Asymmetric signatures only: an HMAC would be keyed with the client secret, and
        // `none` is no signature.
        let allowed = [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512, Algorithm::PS256, Algorithm::PS384, Algorithm::PS512, Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA];
        if !allowed.contains(&header.alg) {
            return Err(format!("the ID token is signed with {:?}, which Berth does not accept", header.alg));
        }
        let jwk = self
            .key(metadata, header.kid.as_deref())
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the ID token is signed with a key the provider does not publish")?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| format!("the provider's key cannot be used: {e}"))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&metadata.issuer]);
        validation.set_audience(&[&self.config.client_id]);
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Map<String, Value>>(id_token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::InvalidSignature => "the ID token's signature does not verify".to_string(),
                K::ExpiredSignature => "the ID token has expired".to_string(),
                K::InvalidAudience => "the ID token is for another application (audience)".to_string(),
                K::InvalidIssuer => "the ID token is from another issuer".to_string(),
                other => format!("the ID token is not valid: {other:?}"),
            }
        })?;
        let claims = data.claims;
        // The nonce ties the token to this browser's sign-in: a token replayed from another
        // sign-in carries another one.
        if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
            return Err("the ID token was issued for another sign-in (nonce)".into());
        }
        if claims.get("azp").and_then(Value::as_str).is_some_and(|azp| azp != self.config.client_id) {
            return Err("the ID token was issued to another application (azp)".into());
        }
        Ok(claims)
    }

    async fn exchange(&self, metadata: &Metadata, code: &str, verifier: &str) -> std::result::Result<String, String> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("client_id", self.config.client_id.as_str()),
            ("code_verifier", verifier),
        ];
        if let Some(secret) = &self.secret {
            form.push(("client_secret", secret.as_str()));
        }
        let response = self.http.post(&metadata.token_endpoint).form(&form).send().await.map_err(|e| format!("the provider did not answer: {e}"))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| format!("the provider's answer cannot be read: {e}"))?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !status.is_success() {
            let error = body["error_description"].as_str().or(body["error"].as_str()).unwrap_or("no reason given");
            return Err(format!("the provider refused the sign-in code ({status}: {})", bounded(error)));
        }
        body["id_token"].as_str().map(str::to_string).ok_or_else(|| "the provider sent no ID token".to_string())
    }
}

/// At most a line of text from outside, for messages and the audit log.
fn bounded(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

fn session(parts: &Parts) -> Result<Session> {
    parts.extensions.get::<Session>().cloned().ok_or_else(|| AppError::Internal.into())
}

fn sso(s: &Services) -> Result<&Sso> {
    s.sso.as_ref().ok_or_else(|| AppError::NotFound("Single sign-on is not configured".into()).into())
}

/// Where to send the browser to sign in at the provider; `next` is where it returns to.
pub async fn start(s: &Services, parts: &Parts, next: &str) -> Result<String> {
    let sso = sso(s)?;
    let metadata = sso.metadata().await?;
    let pending = Pending { state: random_text(), nonce: random_text(), verifier: random_text(), next: app::api::safe_next(next).to_string(), started: now_secs() };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(pending.verifier.as_bytes()));
    session(parts)?.insert(PENDING_KEY, &pending).await?;
    let scope = sso.config.scopes.join(" ");
    let mut url = reqwest::Url::parse(&metadata.authorization_endpoint)
        .map_err(|e| AppError::Unavailable(format!("The provider's authorization endpoint is not a URL: {e}")))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &sso.config.client_id)
        .append_pair("redirect_uri", &sso.redirect_uri)
        .append_pair("scope", &scope)
        .append_pair("state", &pending.state)
        .append_pair("nonce", &pending.nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    Ok(url.to_string())
}

/// The provider sent the browser back: checks it, signs the user in, and says where to go.
pub async fn finish(s: &Services, parts: &Parts, code: Option<&str>, state: Option<&str>, error: Option<&str>) -> Result<String> {
    let sso = sso(s)?;
    let session = session(parts)?;
    // Taken out at once: a state works once, so a replayed answer finds nothing.
    let pending: Option<Pending> = session.remove(PENDING_KEY).await?;
    let outcome = async {
        let pending = pending.ok_or("this sign-in was not started here, or it was already used")?;
        if state != Some(pending.state.as_str()) {
            return Err("the answer does not belong to this sign-in (state)".to_string());
        }
        if now_secs() - pending.started > PENDING_FOR.as_secs() as i64 {
            return Err("the sign-in took too long; start again".to_string());
        }
        if let Some(error) = error {
            return Err(format!("the provider did not sign you in ({})", bounded(error)));
        }
        let code = code.ok_or("the provider sent no code")?;
        let metadata = sso.metadata().await.map_err(|e| e.to_string())?;
        let id_token = sso.exchange(&metadata, code, &pending.verifier).await?;
        let claims = sso.verify(&metadata, &id_token, &pending.nonce).await?;
        Ok((pending.next, id_token, claims))
    }
    .await;
    let (next, id_token, claims) = match outcome {
        Ok(ok) => ok,
        Err(reason) => {
            failed(s, "", &reason).await?;
            return Err(refused(format!("Single sign-on failed: {reason}")));
        }
    };
    let identity = match identity(&sso.config, &claims) {
        Ok(identity) => identity,
        Err(reason) => {
            failed(s, claims.get("sub").and_then(Value::as_str).unwrap_or_default(), &reason).await?;
            return Err(refused(format!("Single sign-on failed: {reason}")));
        }
    };
    let row = account(s, &identity).await?;
    session.cycle_id().await?;
    session.insert(super::auth::USER_ID_KEY, row.id).await?;
    session.insert(super::auth::VERSION_KEY, row.credentials_version).await?;
    session.insert(ID_TOKEN_KEY, &id_token).await?;
    Ok(next)
}

async fn failed(s: &Services, subject: &str, reason: &str) -> Result<()> {
    let mut tx = db::begin_write(&s.db).await?;
    let subject = bounded(subject);
    audit::append(
        &mut tx,
        audit::Entry {
            actor: &subject,
            action: "auth.sign_in_failed",
            subject_type: "user",
            subject_id: subject.clone(),
            request_id: None,
            details: json!({"method": "oidc", "reason": reason}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Who the provider says signed in, in Berth's terms.
#[derive(Debug, PartialEq)]
struct Identity {
    /// `<issuer> <sub>`: the provider's name for the person, for good.
    subject: String,
    username: String,
    display_name: String,
    role: Role,
    team: String,
    /// In none of the required groups: may not use Berth (any more).
    excluded: bool,
}

fn text_claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims.get(name).and_then(Value::as_str).map(str::trim).filter(|v| !v.is_empty())
}

fn identity(config: &Oidc, claims: &Map<String, Value>) -> std::result::Result<Identity, String> {
    let sub = text_claim(claims, "sub").ok_or("the ID token names no subject")?;
    let iss = text_claim(claims, "iss").unwrap_or_default();
    let username = text_claim(claims, &config.username_claim)
        .or_else(|| text_claim(claims, "email"))
        .unwrap_or(sub)
        .to_string();
    validation::username(&username).map_err(|m| format!("the provider's username {} cannot be used: {m}", bounded(&username)))?;
    let groups: Vec<String> = match claims.get(&config.groups_claim) {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        Some(Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    };
    let member = |of: &[String]| groups.iter().any(|g| of.contains(g));
    let role = if member(&config.admin_groups) {
        Role::Admin
    } else if member(&config.approver_groups) {
        Role::Approver
    } else {
        Role::Requester
    };
    let team = config
        .team_claim
        .as_deref()
        .and_then(|claim| text_claim(claims, claim))
        .map(str::to_string)
        .or_else(|| groups.iter().find_map(|g| g.strip_prefix(config.team_group_prefix.as_str())).filter(|t| !t.is_empty()).map(str::to_string))
        .or_else(|| config.default_team.clone())
        .ok_or("the provider names no team for you; ask your platform team to put you in one")?;
    validation::team(&team).map_err(|m| format!("the provider's team {} cannot be used: {m}", bounded(&team)))?;
    let display_name = text_claim(claims, "name").map(bounded).filter(|n| validation::display_name(n).is_ok()).unwrap_or_else(|| username.clone());
    Ok(Identity {
        subject: format!("{iss} {sub}"),
        username,
        display_name,
        role,
        team,
        excluded: !config.required_groups.is_empty() && !member(&config.required_groups),
    })
}

/// The account of `identity`: made at its first sign-in, brought in line with the
/// provider at every one (a change of role or team ends the account's other sessions), and
/// disabled when the provider no longer lets its owner in.
async fn account(s: &Services, identity: &Identity) -> Result<db::users::UserRow> {
    let mut tx = db::begin_write(&s.db).await?;
    let now = db::now();
    let existing = db::users::find_by_oidc_subject(&mut tx, &identity.subject).await?;
    let Some(mut row) = existing else {
        if identity.excluded {
            drop(tx);
            failed(s, &identity.username, "not in a group allowed to use Berth").await?;
            return Err(refused("Single sign-on failed: you are not in a group allowed to use Berth"));
        }
        if db::users::username_exists(&mut tx, &identity.username).await? {
            drop(tx);
            failed(s, &identity.username, "a local account has this username").await?;
            return Err(refused(format!(
                "Single sign-on failed: Berth already has an account named {} that does not sign in through the provider; an admin must rename it first",
                identity.username
            )));
        }
        // No password: such an account signs in through the provider only.
        let id = db::users::insert(
            &mut tx,
            NewUserRow {
                username: &identity.username,
                display_name: &identity.display_name,
                password_hash: "!",
                role: identity.role,
                team: &identity.team,
                now: &now,
            },
        )
        .await?;
        db::users::set_oidc_subject(&mut tx, id, &identity.subject).await?;
        let after = json!({"username": identity.username, "display_name": identity.display_name, "role": identity.role, "team": identity.team});
        audit::append(&mut tx, audit::Entry { actor: &identity.username, action: "user.create", subject_type: "user", subject_id: id.to_string(), request_id: None, details: json!({"after": after, "via": "oidc"}) }).await?;
        signed_in(&mut tx, &identity.username, id).await?;
        let row = db::users::find_by_id(&mut *tx, id).await?.expect("inserted in this transaction");
        tx.commit().await?;
        return Ok(row);
    };
    let before = json!({"display_name": row.display_name, "role": row.role, "team": row.team, "disabled": row.disabled});
    let access_changed = row.role != identity.role.as_str() || row.team != identity.team || (identity.excluded && !row.disabled);
    row.display_name = identity.display_name.clone();
    row.role = identity.role.as_str().to_string();
    row.team = identity.team.clone();
    if identity.excluded {
        row.disabled = true;
    }
    if access_changed {
        row.credentials_version += 1;
    }
    let after = json!({"display_name": row.display_name, "role": row.role, "team": row.team, "disabled": row.disabled});
    if before != after {
        db::users::update(&mut tx, &row, &now).await?;
        audit::append(&mut tx, audit::Entry { actor: "oidc", action: "user.update", subject_type: "user", subject_id: row.id.to_string(), request_id: None, details: json!({"before": before, "after": after, "via": "oidc"}) }).await?;
    }
    if row.disabled {
        let reason = if identity.excluded { "the provider no longer puts you in a group allowed to use Berth" } else { "this account is disabled in Berth" };
        audit::append(&mut tx, audit::Entry { actor: &row.username, action: "auth.sign_in_failed", subject_type: "user", subject_id: row.id.to_string(), request_id: None, details: json!({"method": "oidc", "reason": reason}) }).await?;
        tx.commit().await?;
        return Err(refused(format!("Single sign-on failed: {reason}")));
    }
    signed_in(&mut tx, &row.username, row.id).await?;
    tx.commit().await?;
    Ok(row)
}

async fn signed_in(tx: &mut db::Tx, username: &str, id: i64) -> Result<()> {
    audit::append(tx, audit::Entry { actor: username, action: "auth.sign_in", subject_type: "user", subject_id: id.to_string(), request_id: None, details: json!({"method": "oidc"}) }).await?;
    Ok(())
}

/// Where the browser goes after signing out of Berth: the provider's own sign-out when it
/// has one (so the provider's session ends too), else nowhere.
pub async fn end_session_url(s: &Services, id_token: Option<String>) -> Result<Option<String>> {
    let (Some(sso), Some(id_token)) = (s.sso.as_ref(), id_token) else { return Ok(None) };
    let Some(endpoint) = sso.metadata().await.ok().and_then(|m| m.end_session_endpoint.clone()) else { return Ok(None) };
    let mut url = reqwest::Url::parse(&endpoint).map_err(|_| AppError::Internal)?;
    let back = sso.redirect_uri.trim_end_matches("/auth/oidc/callback").to_string() + "/login";
    url.query_pairs_mut()
        .append_pair("id_token_hint", &id_token)
        .append_pair("client_id", &sso.config.client_id)
        .append_pair("post_logout_redirect_uri", &back);
    Ok(Some(url.to_string()))
}

/// The ID token of the session's sign-in, if it came through the provider.
pub async fn id_token(parts: &Parts) -> Result<Option<String>> {
    Ok(session(parts)?.get::<String>(ID_TOKEN_KEY).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Oidc {
        Oidc {
            issuer: "https://idp.example".into(),
            client_id: "berth".into(),
            admin_groups: vec!["berth-admins".into()],
            approver_groups: vec!["platform".into()],
            required_groups: vec!["engineering".into()],
            ..Oidc::default()
        }
    }

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn claims_map_to_role_and_team() {
        let who = identity(
            &config(),
            &claims(json!({"iss": "https://idp.example", "sub": "42", "preferred_username": "rita", "name": "Rita", "groups": ["engineering", "team-payments"]})),
        )
        .unwrap();
        assert_eq!((who.username.as_str(), who.role, who.team.as_str(), who.excluded), ("rita", Role::Requester, "payments", false));
        assert_eq!(who.subject, "https://idp.example 42");
        let admin = identity(&config(), &claims(json!({"sub": "1", "email": "ann@example.com", "groups": ["berth-admins", "engineering", "team-platform"]}))).unwrap();
        assert_eq!((admin.username.as_str(), admin.role), ("ann@example.com", Role::Admin));
        let gone = identity(&config(), &claims(json!({"sub": "2", "preferred_username": "bob", "groups": ["team-payments"]}))).unwrap();
        assert!(gone.excluded, "outside the required groups");
    }

    #[test]
    fn unusable_claims_are_refused_with_the_reason() {
        let no_team = identity(&config(), &claims(json!({"sub": "3", "preferred_username": "carl", "groups": ["engineering"]}))).unwrap_err();
        assert!(no_team.contains("no team"), "{no_team}");
        let bad_name = identity(&config(), &claims(json!({"sub": "4", "preferred_username": "system", "groups": ["team-x"]}))).unwrap_err();
        assert!(bad_name.contains("cannot be used"), "{bad_name}");
    }
}
