//! The Leptos UI: pages rendered on the server, the server functions they call, and the
//! compiled site (wasm, JS, CSS) served from the site root.

use super::AppState;
use app::backend::{Backend, SharedBackend};
use app::{shell, App};
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::services::ServeDir;

pub fn router(state: &AppState) -> Router<AppState> {
    let backend: SharedBackend = state.services.clone();
    let routes = generate_route_list(App);
    let options = state.leptos.clone();
    let pkg = format!("{}/{}", options.site_root, options.site_pkg_dir);
    Router::new()
        .leptos_routes_with_context(state, routes, move || provide_context(backend.clone()), {
            let options = options.clone();
            move || shell(options.clone())
        })
        .route_layer(middleware::from_fn_with_state(state.clone(), require_sign_in))
        .route_layer(middleware::from_fn(server_fn_status))
        .merge(static_files(pkg))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
}

/// The compiled site: brotli or gzip files made at build time when the browser takes them.
fn static_files(pkg: String) -> Router<AppState> {
    Router::new()
        .nest_service("/pkg", ServeDir::new(pkg).precompressed_br().precompressed_gzip())
        .layer(middleware::from_fn(cache_headers))
}

async fn cache_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    // The same name answers with different bodies by Accept-Encoding: caches must keep them
    // apart. The names do not change with a new build, so caches ask before reusing a file
    // (a 304 from its Last-Modified when it has not changed).
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// A server function's error answers 500 whatever it was; this gives it the status the
/// JSON API gives the same error (401, 403, 404, 409, 422, 429...), so logs, proxies and
/// scripts see what happened. The browser decodes the error from the body either way.
async fn server_fn_status(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if !response.headers().contains_key("serverfnerror") {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if let Ok(error) = serde_json::from_slice::<app::error::AppError>(&bytes) {
        parts.status = super::error::status_of(&error);
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// Pages other than sign-in need a session: send a signed-out visitor to the sign-in page
/// and back here afterwards, rather than render a page of "sign in" errors.
async fn require_sign_in(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let open = path == "/login" || path.starts_with("/_fn/");
    if open || request.method() != axum::http::Method::GET {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    match state.services.authenticate(&parts).await {
        Ok(Some(_)) => next.run(Request::from_parts(parts, body)).await,
        Ok(None) => {
            let target = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            Redirect::to(&format!("/login?next={}", urlencode(target))).into_response()
        }
        Err(e) => super::error::ApiError(e).into_response(),
    }
}

fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
