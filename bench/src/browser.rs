//! The first load as a browser sees it, in headless Chromium (the browser tests' driver):
//! per route, the bytes it downloads (HTML, JS, wasm chunks, CSS, as sent over the wire)
//! before the page is interactive and how long that takes from the navigation; and on the
//! request form, the time from the navigation to a live message next to a bad field.
//!
//! Every route is loaded with an empty browser cache, as on a first visit.

use anyhow::{Context, Result};
use berth_tests::browser::Browser;
use serde_json::json;
use std::time::{Duration, Instant};

pub struct RouteLoad {
    pub name: String,
    pub path: String,
    /// Bytes of the document and of the site's files (`/pkg/...`) fetched before the page
    /// was hydrated, as transferred (compressed, with headers).
    pub bytes: u64,
    pub files: usize,
    /// From the navigation's start to the hydrated page (the app marks `<body>`).
    pub interactive_ms: f64,
}

pub struct Figures {
    pub routes: Vec<RouteLoad>,
    /// From the navigation to the request form's first live field message.
    pub live_message_ms: Option<f64>,
}

/// Installed before any of the page's own scripts: notes when the app marks the page
/// hydrated, and on the request form keeps typing a bad name until a message shows.
const OBSERVER: &str = r#"
new MutationObserver((_, o) => {
  if (document.body && document.body.hasAttribute('data-hydrated')) { window.__berthHydrated = performance.now(); o.disconnect(); }
}).observe(document, { attributes: true, subtree: true, attributeFilter: ['data-hydrated'] });
if (location.pathname === '/requests/new') {
  const typing = setInterval(() => {
    const field = document.getElementById('service_name');
    const message = document.getElementById('service_name-error');
    if (message && message.textContent.trim() !== '') { window.__berthLiveMessage = performance.now(); clearInterval(typing); return; }
    if (field) { field.value = '9 Bad Name!'; field.dispatchEvent(new Event('input', { bubbles: true })); }
  }, 5);
}
"#;

const READ: &str = r#"
const site = performance.getEntriesByType('resource').filter(r => new URL(r.name).pathname.includes('/pkg/') && r.startTime <= window.__berthHydrated);
const nav = performance.getEntriesByType('navigation')[0];
return [nav.transferSize + site.reduce((sum, r) => sum + r.transferSize, 0), site.length, window.__berthHydrated, window.__berthLiveMessage || null];
"#;

pub async fn measure(base: &str, username: &str, password: &str, routes: &[(String, String)]) -> Result<Figures> {
    let browser = Browser::start(base).await.context("starting Chromium (scripts/ensure-tools --browser installs it)")?;
    browser.devtools("Page.addScriptToEvaluateOnNewDocument", json!({ "source": OBSERVER })).await?;
    browser.devtools("Network.enable", json!({})).await?;
    let mut figures = Figures { routes: Vec::new(), live_message_ms: None };
    let login = ("sign-in".to_string(), "/login".to_string());
    for (i, (name, path)) in std::iter::once(&login).chain(routes).enumerate() {
        browser.devtools("Network.clearBrowserCache", json!({})).await?;
        browser.open(path).await?;
        browser.wait_hydrated().await.with_context(|| format!("{path} never hydrated"))?;
        if path == "/requests/new" {
            let started = Instant::now();
            while browser.client.execute("return window.__berthLiveMessage || null", vec![]).await?.is_null() {
                anyhow::ensure!(started.elapsed() < Duration::from_secs(30), "the request form never showed a live message");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let read = browser.client.execute(READ, vec![]).await?;
        figures.routes.push(RouteLoad {
            name: name.clone(),
            path: path.clone(),
            bytes: read[0].as_u64().unwrap_or_default(),
            files: read[1].as_u64().unwrap_or_default() as usize,
            interactive_ms: read[2].as_f64().unwrap_or(f64::NAN),
        });
        if let Some(ms) = read[3].as_f64() {
            figures.live_message_ms = Some(ms);
        }
        if i == 0 {
            browser.fill("#username", username).await?;
            browser.fill("#password", password).await?;
            browser.click("button[type=submit]").await?;
            browser.wait_for_url("/requests").await?;
        }
    }
    browser.close().await?;
    Ok(figures)
}
