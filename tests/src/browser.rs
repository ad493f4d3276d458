//! Debian's Chromium, headless, driven over the Chrome DevTools Protocol
//! (a WebSocket on 127.0.0.1): navigate, evaluate JavaScript, wait for a
//! condition, take a screenshot. Enough for the viewer's browser tests and
//! benchmark, no more.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

/// A headless Chromium.
pub struct Browser {
    child: Child,
    _profile: tempfile_dir::Dir,
    port: u16,
}

mod tempfile_dir {
    /// A directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The Chromium binary, when installed.
fn chromium() -> Option<&'static str> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

impl Browser {
    /// Starts Chromium, or `None` (the caller skips) when it is not
    /// installed.
    pub fn start() -> Option<Browser> {
        let bin = chromium()?;
        let profile = std::env::temp_dir().join(format!(
            "tracespool-chromium-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&profile).ok()?;
        let mut child = Command::new(bin)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1400,900",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .ok()?;
        let mut err = BufReader::new(child.stderr.take()?);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut port = None;
        let mut line = String::new();
        while Instant::now() < deadline {
            line.clear();
            if err.read_line(&mut line).ok()? == 0 {
                break;
            }
            if let Some(rest) = line
                .trim()
                .strip_prefix("DevTools listening on ws://127.0.0.1:")
            {
                port = rest.split('/').next().and_then(|p| p.parse().ok());
                break;
            }
        }
        // Keep draining stderr so Chromium never blocks on it.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while err.read_line(&mut sink).is_ok_and(|n| n > 0) {
                sink.clear();
            }
        });
        let Some(port) = port else {
            let _ = child.kill();
            panic!("Chromium did not say where DevTools listen");
        };
        Some(Browser {
            child,
            _profile: tempfile_dir::Dir(profile),
            port,
        })
    }

    /// The browser's product and version, e.g. `HeadlessChrome/131.0...`.
    pub fn version(&self) -> String {
        let a = crate::web::request(
            "GET",
            &format!("http://127.0.0.1:{}/json/version", self.port),
            &[],
        );
        a.json()["Browser"].as_str().unwrap_or("unknown").to_owned()
    }

    /// A new tab.
    pub fn page(&self) -> Page {
        let a = crate::web::request(
            "PUT",
            &format!("http://127.0.0.1:{}/json/new?about:blank", self.port),
            &[],
        );
        assert_eq!(a.status, 200, "{}", a.text());
        let ws = a.json()["webSocketDebuggerUrl"]
            .as_str()
            .expect("a WebSocket URL")
            .to_owned();
        let stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let (socket, _) = tungstenite::client(ws.as_str(), stream).expect("the DevTools WebSocket");
        let mut p = Page { socket, next: 0 };
        p.call("Page.enable", json!({}));
        p.call("Runtime.enable", json!({}));
        p
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A page is ready once parsed and its script has run (`body[data-ready]`).
const READY: &str =
    "document.readyState === 'complete' && document.body && document.body.dataset.ready === '1'";

/// One tab.
pub struct Page {
    socket: WebSocket<TcpStream>,
    next: u64,
}

impl Page {
    /// A DevTools command and its result (events in between are dropped).
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.socket
            .send(Message::text(msg))
            .expect("send to DevTools");
        loop {
            let m = self.socket.read().expect("read from DevTools");
            let Message::Text(t) = m else { continue };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["id"] == id {
                if let Some(e) = v.get("error") {
                    panic!("{method}: {e}");
                }
                return v["result"].clone();
            }
        }
    }

    /// Evaluates `js` (awaiting a promise): its value, or the exception it
    /// threw.
    fn try_eval(&mut self, js: &str) -> Result<Value, Value> {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": js, "returnByValue": true, "awaitPromise": true}),
        );
        match r.get("exceptionDetails") {
            Some(e) => Err(e.clone()),
            None => Ok(r["result"]["value"].clone()),
        }
    }

    /// Evaluates `js` (awaiting a promise) and returns its value.
    pub fn eval(&mut self, js: &str) -> Value {
        self.try_eval(js).unwrap_or_else(|e| panic!("{js}: {e}"))
    }

    /// Waits until `js` is true, or `timeout`. While a navigation is under
    /// way the old document may be gone and the new one not yet built
    /// (`document.body` is null), so an exception counts as "not yet"; the
    /// last one is printed if the wait times out.
    pub fn wait_for(&mut self, js: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut last_error = None;
        loop {
            match self.try_eval(&format!("!!({js})")) {
                Ok(Value::Bool(true)) => return true,
                Ok(_) => {}
                Err(e) => last_error = Some(e),
            }
            if Instant::now() >= deadline {
                if let Some(e) = last_error {
                    eprintln!("waiting for {js}: the last exception: {e}");
                }
                return false;
            }
            // Polling: the page has no signal a DevTools client can block
            // on for an arbitrary condition; each poll is bounded above.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `js` in every document this tab opens from now on, before the
    /// page's own scripts (e.g. to mark performance timings).
    pub fn add_script_on_new_document(&mut self, js: &str) {
        self.call(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": js }),
        );
    }

    /// Opens `url` and waits until its script has run (`body[data-ready]`).
    /// The current document is marked first, so that a wait that runs
    /// before the new document replaced it cannot take the old one's
    /// readiness for the new one's (a new document never has the mark).
    pub fn open(&mut self, url: &str) {
        self.eval("document.tracespoolLeft = true");
        self.call("Page.navigate", json!({"url": url}));
        assert!(
            self.wait_for(
                &format!("!document.tracespoolLeft && {READY}"),
                Duration::from_secs(30)
            ),
            "{url} did not load"
        );
    }

    /// Waits for a page that became current (after a click) to be ready.
    pub fn wait_for_ready(&mut self, what: &str) {
        assert!(
            self.wait_for(READY, Duration::from_secs(30)),
            "{what} did not load"
        );
    }

    /// A PNG of the viewport, written to `path`.
    pub fn screenshot(&mut self, path: &Path) {
        let r = self.call("Page.captureScreenshot", json!({"format": "png"}));
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap())
            .unwrap();
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }
}
