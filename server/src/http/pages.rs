//! The Leptos UI: pages rendered on the server, the server functions they call, and the
//! compiled site (wasm, JS, CSS) served from the site root.

use super::AppState;
use app::backend::{Backend, SharedBackend};
use app::{shell, App, AssetRoot};
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use sha2::{Digest, Sha256};
use std::path::Path;
use tower_http::services::ServeDir;

pub fn router(state: &AppState) -> Router<AppState> {
    let backend: SharedBackend = state.services.clone();
    let routes = generate_route_list(App);
    let options = state.leptos.clone();
    let pkg = format!("{}/{}", options.site_root, options.site_pkg_dir);
    let root = AssetRoot(format!("/assets/{}", content_hash(Path::new(&pkg))));
    let context = {
        let root = root.clone();
        move || {
            provide_context(backend.clone());
            provide_context(root.clone());
        }
    };
    Router::new()
        .leptos_routes_with_context(state, routes, context, {
            let options = options.clone();
            move || shell(options.clone())
        })
        .route_layer(middleware::from_fn_with_state(state.clone(), require_sign_in))
        .route_layer(middleware::from_fn(server_fn_status))
        .merge(static_files(&root, pkg))
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(move || provide_context(root.clone()), shell))
}

/// The compiled site: brotli or gzip files made at build time when the browser takes them.
/// Under `<root>/pkg` (the pages' links) a file never changes, since the path names the
/// hash of them all, so browsers keep it for a year without asking again. `/pkg` serves the
/// same files to whoever asks by their plain names (a page from an older build still open,
/// scripts), which a browser checks again before reusing.
fn static_files(root: &AssetRoot, pkg: String) -> Router<AppState> {
    let files = || ServeDir::new(&pkg).precompressed_br().precompressed_gzip();
    let versioned = Router::new().nest_service(&format!("{}/pkg", root.0), files()).layer(middleware::from_fn(cache_for_good));
    let plain = Router::new().nest_service("/pkg", files()).layer(middleware::from_fn(cache_revalidated));
    versioned.merge(plain)
}

async fn cache_for_good(request: Request, next: Next) -> Response {
    cache_headers(next.run(request).await, "public, max-age=31536000, immutable")
}

async fn cache_revalidated(request: Request, next: Next) -> Response {
    // A 304 from its Last-Modified when it has not changed.
    cache_headers(next.run(request).await, "no-cache")
}

fn cache_headers(mut response: Response, cache_control: &'static str) -> Response {
    if response.status().is_success() || response.status() == axum::http::StatusCode::NOT_MODIFIED {
        let headers = response.headers_mut();
        // The same name answers with different bodies by Accept-Encoding: caches must keep
        // them apart.
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control));
    }
    response
}

/// A short hash of every file under `dir` (names and contents), read once at start: it
/// changes exactly when a build changes any of the files. cargo-leptos can hash file names
/// itself, but 0.3.8 then corrupts the split build's manifest (`chunk_12` inside
/// `chunk_124`), so the hash names their folder instead. A missing folder hashes as empty.
pub fn content_hash(dir: &Path) -> String {
    fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, files);
            } else {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.sort();
    let mut hash = Sha256::new();
    for file in files {
        let name = file.strip_prefix(dir).unwrap_or(&file).to_string_lossy().into_owned();
        hash.update((name.len() as u64).to_le_bytes());
        hash.update(name.as_bytes());
        let contents = std::fs::read(&file).unwrap_or_default();
        hash.update((contents.len() as u64).to_le_bytes());
        hash.update(&contents);
    }
    hex::encode(&hash.finalize()[..8])
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

#[cfg(test)]
mod tests {
    use super::content_hash;

    #[test]
    fn the_hash_follows_every_file_name_and_byte() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("berth.js"), "one").unwrap();
        std::fs::write(dir.path().join("sub/chunk.wasm"), "two").unwrap();
        let first = content_hash(dir.path());
        assert_eq!(first.len(), 16);
        assert_eq!(content_hash(dir.path()), first, "the same files, the same hash");
        std::fs::write(dir.path().join("sub/chunk.wasm"), "tw0").unwrap();
        let changed = content_hash(dir.path());
        assert_ne!(changed, first, "a changed byte");
        std::fs::rename(dir.path().join("sub/chunk.wasm"), dir.path().join("sub/chunk2.wasm")).unwrap();
        assert_ne!(content_hash(dir.path()), changed, "a renamed file");
    }
}
