//! MCP sessions over stdio: our bus-shim, or any other MCP server command to compare with.
//!
//! Results are read from `structuredContent` when there is one, else from the text (parsed as
//! JSON when it is JSON): the Python claude-bus answers in text only.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use rmcp::RoleClient;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use serde_json::{Value, json};
use testkit::mcp::Recorder;
use tokio::process::Command;

use crate::fixture::TempBus;

/// How long one tool call may take before the benchmark calls it a failure.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// An MCP stdio server to measure.
#[derive(Debug, Clone)]
pub struct Server {
    pub label: String,
    pub launch: Launch,
    /// Its `inbox` takes `wait` (a reader can block for mail instead of polling).
    pub inbox_wait: bool,
    /// Its `inbox` takes `limit`.
    pub inbox_limit: bool,
}

#[derive(Debug, Clone)]
pub enum Launch {
    /// bus-shim, with busd beside it for autostart.
    Shim { shim: PathBuf, busd: PathBuf },
    /// A shell command.
    Command(String),
}

impl Server {
    pub fn ours(shim: PathBuf, busd: PathBuf) -> Server {
        Server {
            label: "claude-bus".into(),
            launch: Launch::Shim { shim, busd },
            inbox_wait: true,
            inbox_limit: true,
        }
    }

    /// Another server; its `inbox` arguments are read from its tool list.
    pub async fn other(label: String, command: String, bus: &TempBus) -> anyhow::Result<Server> {
        let mut server = Server {
            label,
            launch: Launch::Command(command),
            inbox_wait: false,
            inbox_limit: false,
        };
        let session = Session::spawn(&server, bus, &[]).await?;
        let tools = session.client.list_all_tools().await?;
        let inbox = tools
            .iter()
            .find(|t| t.name == "inbox")
            .context("the server has no inbox tool")?;
        let takes = |arg: &str| {
            inbox
                .input_schema
                .get("properties")
                .and_then(|p| p.get(arg))
                .is_some()
        };
        server.inbox_wait = takes("wait");
        server.inbox_limit = takes("limit");
        session.close().await;
        Ok(server)
    }

    pub fn is_ours(&self) -> bool {
        matches!(self.launch, Launch::Shim { .. })
    }

    /// The command that starts one session of this server on `bus`.
    pub fn command(&self, bus: &TempBus, env: &[(&str, &str)]) -> Command {
        let mut cmd = match &self.launch {
            Launch::Shim { shim, busd } => {
                let mut cmd = Command::new(shim);
                cmd.env("BUS_DAEMON", busd);
                cmd
            }
            Launch::Command(line) => {
                let mut cmd = Command::new("sh");
                cmd.arg("-c").arg(format!("exec {line}"));
                cmd
            }
        };
        bus.env(&mut cmd);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }
}

/// One session: a server process and the workspace's MCP client talking to it.
pub struct Session {
    pub client: RunningService<RoleClient, Recorder>,
    pub pid: u32,
}

impl Session {
    /// Start a session and complete the MCP handshake.
    pub async fn spawn(
        server: &Server,
        bus: &TempBus,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Session> {
        let (session, _) = testkit::Session::spawn(server.command(bus, env), Stdio::null())
            .await
            .map_err(|e| anyhow::anyhow!("starting {}: {e}", server.label))?;
        let pid = session.pid.context("the server's pid")?;
        Ok(Session {
            client: session.client,
            pid,
        })
    }

    /// A session registered as `name`.
    pub async fn named(server: &Server, bus: &TempBus, name: &str) -> anyhow::Result<Session> {
        let s = Session::spawn(server, bus, &[]).await?;
        s.call("register", json!({ "name": name })).await?;
        Ok(s)
    }

    /// Call a tool; a tool error is an error. Returns the result as JSON.
    pub async fn call(&self, tool: &str, args: Value) -> anyhow::Result<Value> {
        let Value::Object(args) = args else {
            bail!("arguments must be an object")
        };
        let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(args);
        let result = tokio::time::timeout(CALL_TIMEOUT, self.client.call_tool(params))
            .await
            .with_context(|| format!("{tool} did not answer within {CALL_TIMEOUT:?}"))?
            .with_context(|| format!("{tool} failed"))?;
        if result.is_error == Some(true) {
            bail!("{tool} was refused: {}", text(&result));
        }
        Ok(value(result))
    }

    /// Close stdin and wait for the server to exit (kill it if it does not).
    pub async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.client.cancel()).await;
    }
}

fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `structuredContent`, else the text as JSON, else the text as a string.
fn value(r: CallToolResult) -> Value {
    if let Some(v) = r.structured_content {
        return v;
    }
    let text = text(&r);
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

/// The messages of an `inbox` result: their contents, and the pending count after the call.
pub fn inbox_contents(v: &Value) -> (Vec<String>, u64) {
    let messages = v
        .get("messages")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .filter_map(|m| m.get("content").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let pending = v.get("pending_count").and_then(Value::as_u64).unwrap_or(0);
    (messages, pending)
}
