//! A W3C WebDriver client for the browser tests: `chromedriver` (Debian `chromium-driver`)
//! driving headless Chromium, started on a free loopback port and stopped when dropped.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

use crate::util::{free_port, wait_until, Proc};

pub struct Browser {
    base: String,
    session: String,
    client: reqwest::Client,
    rt: tokio::runtime::Runtime,
    _driver: Proc,
}

impl Browser {
    /// Headless Chromium with a fresh profile under `dir`, window `width`×`height`.
    pub fn start(dir: &Path, width: u32, height: u32) -> Browser {
        let port = free_port();
        let driver = Proc::spawn(
            "chromedriver",
            Command::new("chromedriver").arg(format!("--port={port}")),
            &dir.join("chromedriver.log"),
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut b = Browser {
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            client: reqwest::Client::new(),
            rt,
            _driver: driver,
        };
        wait_until("chromedriver ready", Duration::from_secs(20), || {
            b.call("GET", "/status", None)
                .ok()
                .filter(|v| v["ready"] == true)
        });
        let profile = dir.join("chromium-profile");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium_binary(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-first-run", "--lang=zh-CN", format!("--window-size={width},{height}"),
                         format!("--user-data-dir={}", profile.display())],
            },
        }}});
        let v = b
            .call("POST", "/session", Some(caps))
            .unwrap_or_else(|e| panic!("new session: {e}"));
        b.session = v["sessionId"].as_str().expect("session id").to_string();
        b
    }

    /// One WebDriver command; the response's `value`, or its error message.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        self.rt.block_on(async {
            let req = match method {
                "GET" => self.client.get(&url),
                "DELETE" => self.client.delete(&url),
                _ => self.client.post(&url).json(&body.unwrap_or(json!({}))),
            };
            let r = req
                .timeout(Duration::from_secs(60))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let ok = r.status().is_success();
            let v: Value = r.json().await.map_err(|e| e.to_string())?;
            if ok {
                Ok(v["value"].clone())
            } else {
                Err(v["value"].to_string())
            }
        })
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let p = format!("/session/{}{path}", self.session);
        self.call(method, &p, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    /// Run `script` (a function body; `return` gives the value) in the page.
    pub fn eval(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    /// Wait until `script` returns something other than null or false.
    pub fn wait_for(&self, what: &str, script: &str) -> Value {
        wait_until(what, Duration::from_secs(30), || {
            let v = self.eval(script);
            (!v.is_null() && v != false).then_some(v)
        })
    }

    pub fn click(&self, css: &str) {
        let el = self.cmd(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        let id = el
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("no element {css}: {el}"))
            .to_string();
        self.cmd("POST", &format!("/element/{id}/click"), None);
    }

    pub fn set_size(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        );
    }

    /// Save a PNG screenshot of the viewport.
    pub fn screenshot(&self, path: &Path) {
        let b64 = self.cmd("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().expect("base64"))
            .expect("screenshot is base64");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", &format!("/session/{}", self.session), None);
        }
    }
}

fn chromium_binary() -> String {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("/usr/bin/chromium")
        .to_string()
}
