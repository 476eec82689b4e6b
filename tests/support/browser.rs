//! Headless Chromium driven through ChromeDriver (WebDriver), both from Debian's packages.
//!
//! Every browser test fails on an error in the page's console (an uncaught exception, a
//! wasm that does not instantiate, a file that does not load), checked before each
//! navigation and at the end, and can run axe-core's accessibility rules on a page.

use anyhow::{bail, ensure, Context, Result};
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    base: String,
    /// False only for a test about a page whose script is meant to fail.
    strict_console: bool,
}

/// A ChromeDriver command outside W3C WebDriver: the console log, or a DevTools command.
#[derive(Debug)]
struct ChromeCommand {
    path: &'static str,
    body: Value,
}

impl WebDriverCompatibleCommand for ChromeCommand {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/{}", session.unwrap_or_default(), self.path))
    }

    fn method_and_body(&self, _url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

/// The light or dark theme, as the operating system would ask for it.
#[derive(Clone, Copy, Debug)]
pub enum ColorScheme {
    Light,
    Dark,
}

impl Browser {
    pub async fn start(base: &str) -> Result<Browser> {
        Self::launch(base, true).await
    }

    /// A browser whose console may show errors: for the test of a page whose wasm fails.
    pub async fn start_allowing_console_errors(base: &str) -> Result<Browser> {
        Self::launch(base, false).await
    }

    async fn launch(base: &str, strict_console: bool) -> Result<Browser> {
        // Several TLS back ends are linked into the tests (through the AWS SDK and reqwest);
        // the WebDriver client needs one chosen explicitly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = super::free_port();
        let driver = Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
            .arg(format!("--port={port}"))
            // Its own process group, so Chromium goes down with it even when a test fails.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting chromedriver (scripts/ensure-tools --browser installs it)")?;
        let profile = tempfile::tempdir()?;
        let capabilities = json!({
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        let capabilities = capabilities.as_object().expect("an object").clone();
        let started = Instant::now();
        let client = loop {
            match ClientBuilder::rustls()?.capabilities(capabilities.clone()).connect(&format!("http://127.0.0.1:{port}")).await {
                Ok(client) => break client,
                Err(e) if started.elapsed() > Duration::from_secs(20) => bail!("chromedriver did not answer: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        Ok(Browser { client, driver, _profile: profile, base: base.to_string(), strict_console })
    }

    pub async fn open(&self, path: &str) -> Result<()> {
        self.check_console().await?;
        self.client.goto(&format!("{}{path}", self.base)).await?;
        Ok(())
    }

    /// What the console said at level error since the last look (reading empties it).
    pub async fn console_errors(&self) -> Result<Vec<String>> {
        let log = self.client.issue_cmd(ChromeCommand { path: "se/log", body: json!({ "type": "browser" }) }).await?;
        Ok(log
            .as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == "SEVERE")
            // An API call answered with an error (a wrong password, a refused field) is the
            // page working as meant; a site file that does not load is not.
            .filter(|entry| {
                let message = entry["message"].as_str().unwrap_or_default();
                entry["source"] != "network" || message.contains("/pkg/") || message.contains("favicon")
            })
            .map(|entry| format!("{} ({})", entry["message"].as_str().unwrap_or_default(), entry["source"].as_str().unwrap_or("?")))
            .collect())
    }

    async fn check_console(&self) -> Result<()> {
        if self.strict_console {
            let errors = self.console_errors().await?;
            ensure!(errors.is_empty(), "the page's console shows errors:\n{}", errors.join("\n"));
        }
        Ok(())
    }

    /// Runs a DevTools command in the page's tab.
    pub async fn devtools(&self, cmd: &str, params: Value) -> Result<Value> {
        Ok(self.client.issue_cmd(ChromeCommand { path: "goog/cdp/execute", body: json!({ "cmd": cmd, "params": params }) }).await?)
    }

    /// Makes the page see `prefers-color-scheme` as the given theme.
    pub async fn emulate_color_scheme(&self, scheme: ColorScheme) -> Result<()> {
        let value = match scheme {
            ColorScheme::Light => "light",
            ColorScheme::Dark => "dark",
        };
        self.devtools("Emulation.setEmulatedMedia", json!({ "features": [{ "name": "prefers-color-scheme", "value": value }] }))
            .await?;
        Ok(())
    }

    /// Runs axe-core's WCAG 2.1 A and AA rules on the page as it is now; fails with every
    /// violation, its rule, impact and the elements concerned.
    pub async fn assert_accessible(&self, page: &str) -> Result<()> {
        let axe = std::fs::read_to_string(super::workspace().join("node_modules/axe-core/axe.min.js"))
            .context("axe-core is missing: scripts/ensure-tools installs it (npm ci)")?;
        let script = format!(
            "{axe}\nreturn axe.run(document, {{ runOnly: {{ type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }} }})\
             .then(r => r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).join(', ')));"
        );
        let violations = self.client.execute(&script, vec![]).await.context("running axe-core")?;
        let violations: Vec<String> = serde_json::from_value(violations)?;
        ensure!(violations.is_empty(), "{page}: {} accessibility violations:\n{}", violations.len(), violations.join("\n"));
        Ok(())
    }

    /// Waits until the page's wasm has hydrated it (the app marks `<body>`).
    pub async fn wait_hydrated(&self) -> Result<()> {
        self.wait_ready("body[data-hydrated]").await
    }

    /// Waits for an element, e.g. a form marked `[data-ready=true]` once its part of the
    /// page is hydrated (which can be after the page as a whole).
    pub async fn wait_ready(&self, css: &str) -> Result<()> {
        self.client
            .wait()
            .at_most(Duration::from_secs(60))
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("{css} never appeared"))?;
        Ok(())
    }

    pub async fn fill(&self, css: &str, text: &str) -> Result<()> {
        let field = self.client.find(Locator::Css(css)).await.with_context(|| format!("no field {css}"))?;
        field.clear().await?;
        field.send_keys(text).await?;
        Ok(())
    }

    /// Types into a field until the page reacts as expected: the first keystrokes can land
    /// before that part of the page is hydrated, when nothing listens to them yet.
    pub async fn type_until(&self, field: &str, text: &str, shows: &str, needle: &str) -> Result<String> {
        let started = Instant::now();
        loop {
            self.fill(field, text).await?;
            let settled = Instant::now();
            while settled.elapsed() < Duration::from_secs(2) {
                let seen = self.text(shows).await.unwrap_or_default();
                if seen.contains(needle) {
                    return Ok(seen);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if started.elapsed() > Duration::from_secs(40) {
                bail!("typing {text:?} into {field} never made {shows} show {needle:?}");
            }
        }
    }

    pub async fn click(&self, css: &str) -> Result<()> {
        self.client.find(Locator::Css(css)).await.with_context(|| format!("nothing to click at {css}"))?.click().await?;
        Ok(())
    }

    pub async fn text(&self, css: &str) -> Result<String> {
        Ok(self.client.find(Locator::Css(css)).await.with_context(|| format!("no element {css}"))?.text().await?)
    }

    /// Waits until the element's text contains `needle`; returns the text.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> Result<String> {
        let started = Instant::now();
        loop {
            let text = self.text(css).await.unwrap_or_default();
            if text.contains(needle) {
                return Ok(text);
            }
            if started.elapsed() > Duration::from_secs(15) {
                bail!("{css} never showed {needle:?}; it shows {text:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn wait_for_url(&self, needle: &str) -> Result<String> {
        let started = Instant::now();
        loop {
            let url = self.client.current_url().await?.to_string();
            if url.contains(needle) {
                return Ok(url);
            }
            if started.elapsed() > Duration::from_secs(15) {
                bail!("the browser never reached {needle:?}; it is at {url}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a PNG of the page under BERTH_TEST_ARTIFACTS (or target/test-artifacts).
    pub async fn screenshot(&self, name: &str) -> Result<()> {
        let dir = std::env::var("BERTH_TEST_ARTIFACTS")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts"));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("{name}.png")), self.client.screenshot().await?)?;
        Ok(())
    }

    /// Ends the session; fails if the console showed an error since the last look.
    pub async fn close(self) -> Result<()> {
        let checked = self.check_console().await;
        self.client.clone().close().await?;
        checked
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole group: ChromeDriver and the Chromium processes it started.
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.driver.id())]).status();
        let _ = self.driver.wait();
    }
}
