//! A small WebDriver client (the W3C protocol, JSON over HTTP) that drives
//! Debian's Chromium headless through chromedriver, for the page tests. Each
//! test starts its own chromedriver (and so its own browser) on a free port.
//! A wait that fails keeps a screenshot under `target/browser-screenshots/`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// How long a page may take to show what a test waits for.
const WAIT: Duration = Duration::from_secs(30);
/// The key W3C WebDriver names element references by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>/session/<id>`.
    session: String,
    driver: Child,
    /// The test's name, for screenshots.
    name: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Browser {
    pub async fn start(name: &str) -> Browser {
        Self::start_with(name, &[]).await
    }

    /// With more Chromium switches (a fake camera, say).
    pub async fn start_with(name: &str, switches: &[String]) -> Browser {
        let port = free_port();
        let driver_path = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let driver = {
            use std::os::unix::process::CommandExt;
            Command::new(&driver_path)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                // Its own process group: dropping the browser kills chromedriver and Chromium both.
                .process_group(0)
                .spawn()
                .unwrap_or_else(|err| {
                    panic!("cannot start {driver_path} ({err}): apt-get install chromium chromium-driver")
                })
        };
        // A command that hangs fails the test with its name instead.
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        // A minute: with a dozen browser tests starting at once on two
        // cores, chromedriver once took more than 20 s to answer.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(reply) = ready {
                if reply.json::<Value>().await.is_ok_and(|v| v["value"]["ready"] == true) {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not come up on port {port}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--window-size=1280,1000",
            "--lang=en-US",
            "--no-first-run",
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend_from_slice(switches);
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": binary,
                "args": args,
            },
        }}});
        let reply: Value =
            http.post(format!("{base}/session")).json(&capabilities).send().await.unwrap().json().await.unwrap();
        let id = reply["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no browser session: {reply}"));
        Browser { http, session: format!("{base}/session/{id}"), driver, name: name.to_owned() }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply: Value =
            request.send().await.expect("chromedriver answers").json().await.expect("JSON from chromedriver");
        if reply["value"]["error"].is_string() {
            panic!("WebDriver {path}: {}", reply["value"]["message"]);
        }
        reply["value"].clone()
    }

    /// Takes the browser off the network or back (Chromium's own network
    /// emulation: requests fail, `navigator.onLine` follows, `online` and
    /// `offline` events fire).
    pub async fn network(&self, online: bool) {
        if online {
            self.command(reqwest::Method::DELETE, "/chromium/network_conditions", None).await;
        } else {
            let conditions = json!({"network_conditions":
                {"offline": true, "latency": 0, "download_throughput": 0, "upload_throughput": 0}});
            self.command(reqwest::Method::POST, "/chromium/network_conditions", Some(conditions)).await;
        }
    }

    pub async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    pub async fn url(&self) -> String {
        self.command(reqwest::Method::GET, "/url", None).await.as_str().unwrap_or_default().to_owned()
    }

    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.command(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": args}))).await
    }

    /// Runs `script` with a callback as `arguments[0]`; what it was called with.
    pub async fn execute_async(&self, script: &str) -> Value {
        self.command(reqwest::Method::POST, "/execute/async", Some(json!({"script": script, "args": []}))).await
    }

    /// What the page shows, as a person reads it.
    pub async fn text(&self) -> String {
        self.execute("return document.body ? document.body.innerText : ''", json!([]))
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until the page shows `needle`; on failure keeps a screenshot.
    pub async fn wait_for_text(&self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.text().await;
            if text.contains(needle) {
                return;
            }
            if Instant::now() > deadline {
                let shot = self.screenshot("failed").await;
                panic!("the page never showed {needle:?} (screenshot {shot}); it shows:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the address is `path` (after the origin) or starts with it.
    pub async fn wait_for_path(&self, path: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let url = self.url().await;
            let here = url.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap_or_default();
            if here.starts_with(path) {
                return here;
            }
            if Instant::now() > deadline {
                let shot = self.screenshot("failed").await;
                panic!("never reached {path} (at {url}, screenshot {shot})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn find(&self, using: &str, value: &str) -> Option<String> {
        let reply: Value = self
            .http
            .post(format!("{}/element", self.session))
            .json(&json!({"using": using, "value": value}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        reply["value"][ELEMENT].as_str().map(str::to_owned)
    }

    /// The first element found by any of `queries` (tried in order), waiting for one.
    async fn element_of(&self, queries: &[(&str, &str)]) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            for (using, value) in queries {
                if let Some(id) = self.find(using, value).await {
                    return id;
                }
            }
            if Instant::now() > deadline {
                let shot = self.screenshot("failed").await;
                panic!("no element {queries:?} (screenshot {shot}); the page shows:\n{}", self.text().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn element(&self, using: &str, value: &str) -> String {
        self.element_of(&[(using, value)]).await
    }

    /// Types `value` into the input labelled `label` (the first such).
    pub async fn fill(&self, label: &str, value: &str) {
        let xpath = format!("//input[@id=//label[normalize-space()={}]/@for]", xpath_string(label));
        let id = self.element("xpath", &xpath).await;
        self.command(reqwest::Method::POST, &format!("/element/{id}/clear"), Some(json!({}))).await;
        self.command(reqwest::Method::POST, &format!("/element/{id}/value"), Some(json!({"text": value}))).await;
    }

    /// Runs axe-core (vendored, `tests/vendor/axe-core/`) on the page as it is
    /// now: fails on any serious or critical violation. The card field of
    /// the Stripe stand-in (not ours, not the real Stripe's) is left out.
    pub async fn accessibility(&self) {
        const AXE: &str = include_str!("../vendor/axe-core/axe.min.js");
        let loaded = self.execute(&format!("{AXE}\n;return typeof window.axe;"), json!([])).await;
        assert_eq!(loaded, "object", "axe-core loads into the page");
        let script = "const done = arguments[arguments.length - 1];
            axe.run({exclude: [['#card-element']]}, {resultTypes: ['violations']})
              .then(r => done(r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                  .map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).join(', '))))
              .catch(e => done(['axe did not run: ' + e]));";
        let found =
            self.command(reqwest::Method::POST, "/execute/async", Some(json!({"script": script, "args": []}))).await;
        let found: Vec<String> = serde_json::from_value(found).unwrap_or_default();
        if !found.is_empty() {
            let shot = self.screenshot("axe").await;
            panic!("axe-core on {}: {found:#?} (screenshot {shot})", self.url().await);
        }
    }

    /// Types `value` into the element `css` (an input a script made, say), in place of what it held.
    pub async fn type_into(&self, css: &str, value: &str) {
        let id = self.element("css selector", css).await;
        self.command(reqwest::Method::POST, &format!("/element/{id}/clear"), Some(json!({}))).await;
        self.command(reqwest::Method::POST, &format!("/element/{id}/value"), Some(json!({"text": value}))).await;
    }

    /// Signs in as `email` (with the tests' password) on the site at `base`,
    /// through the sign-in page.
    pub async fn sign_in(&self, base: &str, email: &str) {
        self.goto(&format!("{base}/login")).await;
        self.fill("Email", email).await;
        self.fill("Password", crate::helpers::PASSWORD).await;
        self.click("Sign in").await;
        self.wait_for_text("Sign out").await;
    }

    /// Chooses the file at `path` in the file input `css`.
    pub async fn choose_file(&self, css: &str, path: &std::path::Path) {
        let id = self.element("css selector", css).await;
        let text = path.display().to_string();
        self.command(reqwest::Method::POST, &format!("/element/{id}/value"), Some(json!({"text": text}))).await;
    }

    /// Reloads until the page shows `needle` (for what no stream announces).
    pub async fn reload_until(&self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.text().await.contains(needle) {
            if Instant::now() > deadline {
                let shot = self.screenshot("failed").await;
                panic!("the page never showed {needle:?} (screenshot {shot}); it shows:\n{}", self.text().await);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            self.command(reqwest::Method::POST, "/refresh", Some(json!({}))).await;
        }
    }

    /// Clicks the button whose text is `text`, else such a link in the page's
    /// main part (found again if the page changed under it meanwhile).
    pub async fn click(&self, text: &str) {
        let t = xpath_string(text);
        let button = format!("//button[normalize-space()={t}]");
        let link = format!("//main//a[normalize-space()={t}]");
        for _ in 0..20 {
            let id = self.element_of(&[("xpath", &button), ("xpath", &link)]).await;
            let url = format!("{}/element/{id}/click", self.session);
            let reply: Value = self.http.post(url).json(&json!({})).send().await.unwrap().json().await.unwrap();
            match reply["value"]["error"].as_str() {
                None => return,
                Some("stale element reference") => tokio::time::sleep(Duration::from_millis(100)).await,
                Some(_) => panic!("WebDriver click on {text:?}: {}", reply["value"]["message"]),
            }
        }
        panic!("{text:?} kept changing under the click");
    }

    /// A PNG of the element `css` as the page draws it.
    pub async fn element_png(&self, css: &str) -> Vec<u8> {
        let id = self.element("css selector", css).await;
        let shot = self.command(reqwest::Method::GET, &format!("/element/{id}/screenshot"), None).await;
        base64::engine::general_purpose::STANDARD.decode(shot.as_str().unwrap_or_default()).expect("base64 PNG")
    }

    /// Keeps a screenshot under `target/browser-screenshots/`; its path.
    pub async fn screenshot(&self, what: &str) -> String {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-screenshots");
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!("{}-{what}.png", self.name));
        let shot = self.command(reqwest::Method::GET, "/screenshot", None).await;
        if let Ok(png) = base64::engine::general_purpose::STANDARD.decode(shot.as_str().unwrap_or_default()) {
            let _ = std::fs::write(&path, png);
        }
        path.display().to_string()
    }

    /// Opens a second tab (same cookies) and switches to it; the first tab's handle.
    pub async fn new_tab(&self) -> String {
        let first = self.command(reqwest::Method::GET, "/window", None).await.as_str().unwrap().to_owned();
        let tab = self.command(reqwest::Method::POST, "/window/new", Some(json!({"type": "tab"}))).await;
        self.switch_to(tab["handle"].as_str().unwrap()).await;
        first
    }

    /// Closes the current tab, and goes back to `handle`.
    pub async fn close_tab(&self, handle: &str) {
        self.command(reqwest::Method::DELETE, "/window", None).await;
        self.switch_to(handle).await;
    }

    pub async fn switch_to(&self, handle: &str) {
        self.command(reqwest::Method::POST, "/window", Some(json!({"handle": handle}))).await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-s", "KILL", "--", &format!("-{}", self.driver.id())]).status();
        let _ = self.driver.wait();
    }
}

/// `text` as an XPath string literal (quotes of either kind inside).
fn xpath_string(text: &str) -> String {
    if !text.contains('\'') {
        format!("'{text}'")
    } else if !text.contains('"') {
        format!("\"{text}\"")
    } else {
        let parts: Vec<String> = text.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

/// A video file Chromium's fake camera plays (Y4M, 4:2:0): `code`'s QR
/// code, black on white, in the middle of a 640×480 frame.
pub fn camera_showing(code: &str) -> std::path::PathBuf {
    let png = boxoffice::qr::png(code);
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png));
    decoder.set_transformations(png::Transformations::EXPAND); // one bit a pixel to grey levels
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let (w, h, side) = (640usize, 480usize, info.width as usize);
    assert!(side < h && info.color_type == png::ColorType::Grayscale);
    let (left, top) = ((w - side) / 2, (h - side) / 2);
    let mut luma = vec![255u8; w * h];
    for y in 0..side {
        luma[(top + y) * w + left..(top + y) * w + left + side].copy_from_slice(&pixels[y * side..(y + 1) * side]);
    }
    let mut video = format!("YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n").into_bytes();
    for _ in 0..10 {
        video.extend_from_slice(b"FRAME\n");
        video.extend_from_slice(&luma);
        video.extend(std::iter::repeat_n(128u8, w * h / 2));
    }
    let path = std::env::temp_dir().join(format!("boxoffice-camera-{}.y4m", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, video).unwrap();
    path
}
