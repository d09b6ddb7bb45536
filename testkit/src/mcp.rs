//! [`Session`]: one Claude Code session as its MCP client sees it — rmcp's client over a
//! spawned `bus-shim` (or any MCP stdio server, or any transport), recording the progress
//! notifications the server sends.

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

use crate::{PATIENCE, TempBus, bin};

/// The MCP client side of a session: it records the progress notifications the server sends.
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

/// Why a session could not be opened, or a call did not come back.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// One session: the MCP client, and the server's pid when it is a process of ours.
pub struct Session {
    pub client: RunningService<RoleClient, Recorder>,
    pub pid: Option<u32>,
    progress: Mutex<mpsc::UnboundedReceiver<ProgressNotificationParam>>,
}

impl TempBus {
    /// `bus-shim` (built beside the test) on this bus, with extra environment variables.
    pub fn shim_command(&self, env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(bin("bus-shim"));
        self.env(&mut cmd);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// A shim for a new session, unregistered.
    pub async fn session(&self) -> Session {
        self.session_with(&[]).await
    }

    /// A shim for a new session with extra environment variables (e.g. `BUS_NAME`).
    pub async fn session_with(&self, env: &[(&str, &str)]) -> Session {
        let cmd = self.shim_command(env);
        Session::spawn(cmd, Stdio::inherit())
            .await
            .expect("bus-shim starts and answers initialize")
            .0
    }

    /// Like [`TempBus::session_with`], with the shim's stderr (its log) piped to the test.
    pub async fn session_with_stderr(&self, env: &[(&str, &str)]) -> (Session, ChildStderr) {
        let cmd = self.shim_command(env);
        let (session, stderr) = Session::spawn(cmd, Stdio::piped())
            .await
            .expect("bus-shim starts and answers initialize");
        (session, stderr.expect("stderr is piped"))
    }

    /// A registered session.
    pub async fn named(&self, name: &str) -> Session {
        let s = self.session().await;
        s.ok("register", json!({ "name": name })).await;
        s
    }
}

impl Session {
    /// Start the MCP stdio server `cmd` and complete the MCP handshake (within
    /// [`PATIENCE`]); `stderr` is where its log goes.
    pub async fn spawn(
        cmd: Command,
        stderr: Stdio,
    ) -> Result<(Session, Option<ChildStderr>), Error> {
        let (transport, stderr) = TokioChildProcess::builder(cmd.configure(|_| {}))
            .stderr(stderr)
            .spawn()?;
        let pid = transport.id();
        let mut session = tokio::time::timeout(PATIENCE, Session::over(transport))
            .await
            .map_err(|_| format!("no answer to initialize within {PATIENCE:?}"))??;
        session.pid = pid;
        Ok((session, stderr))
    }

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
            pid: None,
            progress: Mutex::new(rx),
        })
    }

    /// Call a tool and return the raw result, or why none came back within [`PATIENCE`]
    /// (beyond the `wait` or `wait_reply` the call asks for).
    pub async fn try_call(&self, tool: &str, args: Value) -> Result<CallToolResult, Error> {
        let wait = ["wait", "wait_reply"]
            .iter()
            .find_map(|k| args.get(k).and_then(Value::as_f64))
            .and_then(|w| Duration::try_from_secs_f64(w).ok())
            .unwrap_or_default();
        let within = PATIENCE + wait;
        let answer = tokio::time::timeout(within, self.client.call_tool(params(tool, args)))
            .await
            .map_err(|_| format!("{tool} did not answer within {within:?}"))?;
        Ok(answer?)
    }

    /// Call a tool and return the raw result.
    pub async fn call(&self, tool: &str, args: Value) -> CallToolResult {
        self.try_call(tool, args)
            .await
            .unwrap_or_else(|e| panic!("{tool}: no tool result: {e}"))
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

    /// The next progress notification the server sent.
    pub async fn next_progress(&self) -> ProgressNotificationParam {
        let mut rx = self.progress.lock().await;
        tokio::time::timeout(PATIENCE, rx.recv())
            .await
            .expect("a progress notification in time")
            .expect("the session is open")
    }

    /// Every tool the server lists.
    pub async fn tools(&self) -> Vec<Tool> {
        self.client.list_all_tools().await.expect("tools/list")
    }

    /// Close the session as Claude Code does when it exits, and wait for the server to exit.
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

/// The text content of a tool result, its parts joined by newlines.
pub fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}
