//! Browser-facing protections every response and every state-changing request goes through.
//!
//! - Headers: no MIME sniffing, no framing, no referrer to other sites, and a Content
//!   Security Policy on everything that has none yet (pages set their own, with a nonce).
//! - Cross-site request forgery: a request that changes state and rides on a session cookie
//!   must come from our own pages. Browsers say where a request comes from in
//!   `Sec-Fetch-Site` (and `Origin`); a cross-site answer is refused. Requests without either
//!   header do not come from a browser, which is the only place a forged request can borrow
//!   a user's cookie, and API clients that send `Authorization: Bearer` carry their own
//!   credential, so both pass. (The same rule as Go's `http.CrossOriginProtection`.)

use super::error::ApiError;
use app::error::AppError;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The policy of responses that are not pages (JSON, files, streams): nothing runs.
const DEFAULT_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

pub async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DEFAULT_CSP));
    }
    response
}

/// The largest body a sign-in may have: a username and a password, with room to spare.
const SIGN_IN_BODY_MAX: u64 = 8 * 1024;
/// The largest body of anything else (a request's fields are a few KiB at most).
const BODY_MAX: u64 = 1024 * 1024;

/// Refuses an oversized body before anything reads it: the sign-in paths, which anyone
/// may call, take a few KiB; the rest a MiB. A body without a length is refused on the
/// sign-in paths (browsers and clients always send one for a form or JSON).
pub async fn body_limit(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let sign_in = path == "/api/v1/session" || path == "/_fn/sign_in";
    let limit = if sign_in { SIGN_IN_BODY_MAX } else { BODY_MAX };
    let length = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let chunked = request.headers().contains_key(header::TRANSFER_ENCODING);
    let refused = match length {
        Some(n) => n > limit,
        None => sign_in && chunked,
    };
    if refused {
        let mut response = ApiError(AppError::TooLarge(format!("The body is larger than the {limit} bytes Berth reads here"))).into_response();
        // The unread body is still on the wire, so this connection cannot carry another
        // request: saying so keeps a client from reusing it and seeing it drop mid-request.
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    next.run(request).await
}

pub async fn csrf(request: Request, next: Next) -> Response {
    let safe = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if safe || bearer(request.headers()) || same_origin(request.headers()) {
        return next.run(request).await;
    }
    ApiError(AppError::Forbidden(
        "This request came from another site, so it was refused (cross-site request forgery protection)".into(),
    ))
    .into_response()
}

fn bearer(headers: &HeaderMap) -> bool {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("Bearer "))
}

/// True unless the browser says the request comes from another origin.
fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match text("sec-fetch-site") {
        // "none": typed in the address bar or opened from a bookmark.
        Some(site) => site == "same-origin" || site == "none",
        None => match (text("origin"), text("host")) {
            (None, _) => true,
            (Some(origin), Some(host)) => origin.split_once("://").is_some_and(|(_, rest)| rest == host),
            (Some(_), None) => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (header::HeaderName::from_static(k), HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn only_cross_site_browser_requests_are_refused() {
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin"), ("origin", "http://evil.example")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(same_origin(&headers(&[("origin", "http://127.0.0.1:3000"), ("host", "127.0.0.1:3000")])));
        assert!(!same_origin(&headers(&[("origin", "http://evil.example"), ("host", "127.0.0.1:3000")])));
        assert!(!same_origin(&headers(&[("origin", "null"), ("host", "127.0.0.1:3000")])));
        assert!(same_origin(&headers(&[("host", "127.0.0.1:3000")])), "not a browser: curl, scripts");
        assert!(bearer(&headers(&[("authorization", "Bearer abc")])));
    }
}
