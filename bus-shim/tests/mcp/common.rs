//! The fixture: real `bus-shim` processes driven by an rmcp client, on a temp bus whose busd
//! the first shim starts by itself.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, ClientRequest,
    ProgressNotificationParam, ServerResult, Tool,
};
use rmcp::service::{NotificationContext, PeerRequestOptions, RequestHandle, RunningService};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::process::{ChildStderr, Command};
use tokio::sync::{Mutex, mpsc};

/// How long a test waits for an answer before it calls the shim or busd stuck.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The binaries under test: bus-shim, and busd beside it.
pub fn shim_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bus-shim"))
}

pub fn busd_exe() -> PathBuf {
    let busd = shim_exe().with_file_name("busd");
    assert!(
        busd.exists(),
        "{} is missing: run the tests with `cargo test --workspace` so busd is built",
        busd.display()
    );
    busd
}

/// A temp bus. Dropping it stops its busd (started by the first shim) with SIGTERM.
pub struct Bus {
    pub dir: tempfile::TempDir,
}

impl Bus {
    pub fn new() -> Bus {
        Bus {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("bus.db")
    }

    /// A shim for a new session, unregistered.
    pub async fn session(&self) -> Session {
        self.session_with(&[]).await
    }

    /// A shim for a new session with extra environment variables (e.g. `BUS_NAME`).
    pub async fn session_with(&self, env: &[(&str, &str)]) -> Session {
        self.spawn(env, false).await.0
    }

    /// Like [`Bus::session_with`], with the shim's stderr (its log) piped to the test.
    pub async fn session_with_stderr(&self, env: &[(&str, &str)]) -> (Session, ChildStderr) {
        let (session, stderr) = self.spawn(env, true).await;
        (session, stderr.expect("stderr is piped"))
    }

    async fn spawn(
        &self,
        env: &[(&str, &str)],
        pipe_stderr: bool,
    ) -> (Session, Option<ChildStderr>) {
        let db = self.db();
        let busd = busd_exe();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let cmd = Command::new(shim_exe()).configure(|cmd| {
            cmd.env("BUS_DB", &db)
                .env("BUS_DAEMON", &busd)
                .env_remove("BUS_NAME")
                .env_remove("BUS_SOCKET")
                .env_remove("CLAUDE_CODE_SESSION_ID");
            for (k, v) in &env {
                cmd.env(k, v);
            }
        });
        let stderr = if pipe_stderr {
            Stdio::piped()
        } else {
            Stdio::inherit()
        };
        let (transport, stderr) = TokioChildProcess::builder(cmd)
            .stderr(stderr)
            .spawn()
            .expect("spawn bus-shim");
        let (tx, rx) = mpsc::unbounded_channel();
        let client = Recorder { progress: tx }
            .serve(transport)
            .await
            .expect("MCP initialize");
        let session = Session {
            client,
            progress: Mutex::new(rx),
        };
        (session, stderr)
    }

    /// A registered session.
    pub async fn named(&self, name: &str) -> Session {
        let s = self.session().await;
        s.ok("register", json!({ "name": name })).await;
        s
    }

    /// Every busd process serving this bus, found through /proc by its `BUS_DB`.
    pub fn busd_processes(&self) -> Vec<u32> {
        let wanted = format!("BUS_DB={}", self.db().display());
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
                let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
                exe.file_name().is_some_and(|n| n == "busd")
                    && env.split(|b| *b == 0).any(|kv| kv == wanted.as_bytes())
            })
            .collect()
    }

    /// busd's pid, from its lock file.
    pub fn busd_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.path().join("busd.sock.lock"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        if let Some(pid) = self.busd_pid() {
            // SAFETY: signalling the busd this test's shims started.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
    }
}

/// The MCP client side of a session: it records the progress notifications the shim sends.
pub struct Recorder {
    progress: mpsc::UnboundedSender<ProgressNotificationParam>,
}

impl ClientHandler for Recorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.progress.send(params);
    }
}

/// One Claude Code session as the MCP client sees it.
pub struct Session {
    pub client: RunningService<RoleClient, Recorder>,
    progress: Mutex<mpsc::UnboundedReceiver<ProgressNotificationParam>>,
}

impl Session {
    /// A session over any MCP transport (the HTTP tests' streamable-HTTP client).
    pub async fn over<T, E, A>(
        transport: T,
    ) -> Result<Session, rmcp::service::ClientInitializeError>
    where
        T: rmcp::transport::IntoTransport<RoleClient, E, A>,
        E: std::error::Error + Send + Sync + 'static,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        let client = Recorder { progress: tx }.serve(transport).await?;
        Ok(Session {
            client,
            progress: Mutex::new(rx),
        })
    }

    /// Call a tool and return the raw result.
    pub async fn call(&self, tool: &str, args: Value) -> CallToolResult {
        tokio::time::timeout(PATIENCE, self.client.call_tool(params(tool, args)))
            .await
            .expect("tool call answered in time")
            .expect("tool call is a result, not a protocol error")
    }

    /// Call a tool that must succeed; returns its structured content.
    pub async fn ok(&self, tool: &str, args: Value) -> Value {
        let r = self.call(tool, args).await;
        assert_ne!(r.is_error, Some(true), "{tool} failed: {}", text(&r));
        let structured = r.structured_content.clone().expect("structuredContent");
        let text: Value = serde_json::from_str(&text(&r)).expect("text is the same JSON");
        assert_eq!(structured, text, "structuredContent and text agree");
        structured
    }

    /// Call a tool that must be refused; returns the error text.
    pub async fn err(&self, tool: &str, args: Value) -> String {
        let r = self.call(tool, args).await;
        assert_eq!(
            r.is_error,
            Some(true),
            "{tool} should fail but returned {}",
            text(&r)
        );
        text(&r)
    }

    /// Start a tool call that the test may cancel; it carries a progress token.
    pub async fn start(&self, tool: &str, args: Value) -> RequestHandle<RoleClient> {
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params(tool, args)));
        self.client
            .send_cancellable_request(request, PeerRequestOptions::no_options())
            .await
            .expect("request sent")
    }

    /// The structured result of a call started with [`Session::start`], which must succeed.
    pub async fn finish(handle: RequestHandle<RoleClient>) -> Value {
        let answer = tokio::time::timeout(PATIENCE, handle.await_response())
            .await
            .expect("tool call answered in time")
            .expect("tool call is a result");
        let ServerResult::CallToolResult(r) = answer else {
            panic!("not a tool result: {answer:?}")
        };
        assert_ne!(r.is_error, Some(true), "failed: {}", text(&r));
        r.structured_content.expect("structuredContent")
    }

    /// The next progress notification the shim sent.
    pub async fn next_progress(&self) -> ProgressNotificationParam {
        let mut rx = self.progress.lock().await;
        tokio::time::timeout(PATIENCE, rx.recv())
            .await
            .expect("a progress notification in time")
            .expect("the session is open")
    }

    /// Every tool the shim lists.
    pub async fn tools(&self) -> Vec<Tool> {
        self.client.list_all_tools().await.expect("tools/list")
    }

    /// Close the session as Claude Code does when it exits, and wait for the shim to exit.
    pub async fn close(self) {
        tokio::time::timeout(PATIENCE, self.client.cancel())
            .await
            .expect("the shim exits in time")
            .expect("the MCP service ends");
    }
}

fn params(tool: &str, args: Value) -> CallToolRequestParams {
    let Value::Object(args) = args else {
        panic!("arguments must be an object")
    };
    CallToolRequestParams::new(tool.to_owned()).with_arguments(args)
}

pub fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}
