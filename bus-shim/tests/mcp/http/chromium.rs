//! Headless Chromium (Debian's `chromium`) driven over the DevTools protocol on a pipe
//! (`--remote-debugging-pipe`: JSON messages ending in NUL on descriptors 3 and 4), so no
//! WebSocket client is needed. Without Chromium the tests say so in one line and skip; with
//! `BUS_E2E_REQUIRE=1` (CI) they fail instead.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

pub struct Chromium {
    child: Child,
    commands: std::fs::File,
    answers: mpsc::Receiver<Value>,
    next: u64,
    session: String,
    _profile: tempfile::TempDir,
}

fn find() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|n| dir.join(n)))
        .find(|p| p.is_file())
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe writes.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    // SAFETY: both are fresh descriptors that nothing else owns.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

impl Chromium {
    /// A headless Chromium with an empty profile and a page `width`×`height`, or `None`
    /// (said in one line) when there is none to run.
    pub fn start(width: u32, height: u32) -> Option<Chromium> {
        let Some(exe) = find() else {
            if std::env::var_os("BUS_E2E_REQUIRE").is_some_and(|v| v == "1") {
                panic!("BUS_E2E_REQUIRE=1 but chromium is not on PATH (apt-get install chromium)");
            }
            let _ = writeln!(
                std::io::stderr(),
                "skipping the browser view tests: chromium is not on PATH"
            );
            return None;
        };
        let profile = tempfile::tempdir().expect("a profile folder");
        let (their_in, our_out) = pipe(); // we write commands, it reads fd 3
        let (our_in, their_out) = pipe(); // it writes answers on fd 4
        let (r, w) = (their_in.as_raw_fd(), their_out.as_raw_fd());
        let mut command = Command::new(exe);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--remote-debugging-pipe",
                "--hide-scrollbars",
            ])
            .arg(format!("--window-size={width},{height}"))
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls (dup2) between fork and exec.
        unsafe {
            command.pre_exec(move || {
                if libc::dup2(r, 3) < 0 || libc::dup2(w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("spawn chromium");
        drop((their_in, their_out));
        let (tx, answers) = mpsc::channel();
        let reader = std::fs::File::from(our_in);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(reader);
            let mut buf = Vec::new();
            while reader.read_until(0, &mut buf).is_ok_and(|n| n > 0) {
                buf.pop();
                if let Ok(v) = serde_json::from_slice::<Value>(&buf)
                    && tx.send(v).is_err()
                {
                    break;
                }
                buf.clear();
            }
        });
        let mut chromium = Chromium {
            child,
            commands: std::fs::File::from(our_out),
            answers,
            next: 0,
            session: String::new(),
            _profile: profile,
        };
        let targets = chromium.browser("Target.getTargets", json!({}));
        let page = targets["targetInfos"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["type"] == "page"))
            .expect("a page target")["targetId"]
            .clone();
        let attached = chromium.browser(
            "Target.attachToTarget",
            json!({"targetId": page, "flatten": true}),
        );
        chromium.session = attached["sessionId"]
            .as_str()
            .expect("a session")
            .to_owned();
        chromium.page("Page.enable", json!({}));
        Some(chromium)
    }

    fn send(&mut self, method: &str, params: Value, session: Option<&str>) -> Value {
        self.next += 1;
        let id = self.next;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.commands.write_all(&bytes).expect("write to chromium");
        loop {
            let answer = self
                .answers
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("chromium did not answer {method}"));
            if answer["id"] == json!(id) {
                if let Some(e) = answer.get("error") {
                    panic!("{method} failed: {e}");
                }
                return answer["result"].clone();
            }
        }
    }

    fn browser(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, None)
    }

    /// A command to the page.
    pub fn page(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(method, params, Some(&session))
    }

    /// Load `url` and wait for its `load` event.
    pub fn open(&mut self, url: &str) {
        self.page("Page.navigate", json!({"url": url}));
        // Answers arrive in order: the `load` event of this navigation follows.
        loop {
            let event = self
                .answers
                .recv_timeout(Duration::from_secs(30))
                .expect("the page loads");
            if event["method"] == "Page.loadEventFired" {
                return;
            }
        }
    }

    /// The value of a JS expression; a promise is awaited.
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.page(
            "Runtime.evaluate",
            json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
        );
        if let Some(e) = result.get("exceptionDetails") {
            panic!("{expression}: {e}");
        }
        result["result"]["value"].clone()
    }

    /// Wait (on the page's own DOM mutations, up to 20 s) until `condition` holds; returns
    /// whether it did.
    pub fn until(&mut self, condition: &str) -> bool {
        let script = format!(
            "new Promise(done => {{
               const check = () => {{ try {{ if ({condition}) {{ done(true); return true; }} }} catch (e) {{}} return false; }};
               if (check()) return;
               const seen = new MutationObserver(() => {{ if (check()) seen.disconnect(); }});
               seen.observe(document, {{subtree: true, childList: true, characterData: true, attributes: true}});
               setTimeout(() => done(false), 20000);
             }})"
        );
        self.eval(&script) == json!(true)
    }

    /// A PNG of the page as it is.
    pub fn screenshot(&mut self) -> Vec<u8> {
        let shot = self.page("Page.captureScreenshot", json!({"format": "png"}));
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("data"))
            .expect("base64")
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
