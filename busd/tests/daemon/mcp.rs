//! A real `bus-shim` process driven over MCP stdio (newline-delimited JSON-RPC), with calls
//! in flight concurrently, as Claude Code drives it.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use proto::paths::BusPaths;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::oneshot;

use crate::common::busd_exe;

type Waiters = Arc<Mutex<Option<HashMap<u64, oneshot::Sender<Value>>>>>;

/// The bus-shim built beside busd, if it is there (`cargo build -p bus-shim` puts it there).
pub fn shim_exe() -> Option<PathBuf> {
    Some(busd_exe().with_file_name("bus-shim")).filter(|p| p.is_file())
}

/// One bus-shim process and its MCP session.
pub struct Shim {
    child: Child,
    stdin: tokio::sync::Mutex<ChildStdin>,
    waiters: Waiters,
    next: AtomicU64,
}

impl Shim {
    /// Start bus-shim on the bus `paths` (it starts busd itself when none answers) and
    /// initialize MCP. `env` adds variables such as `BUS_NAME`. Its stderr goes to `log`.
    pub async fn start(paths: &BusPaths, env: &[(&str, &str)], log: &std::path::Path) -> Shim {
        let exe =
            shim_exe().expect("bus-shim beside busd: build it with `cargo build -p bus-shim`");
        let mut cmd = Command::new(exe);
        cmd.env("BUS_DB", &paths.db)
            .env("BUS_SOCKET", &paths.socket)
            .env("BUS_DAEMON", busd_exe())
            .env("BUS_LOG", "info")
            .env_remove("BUS_NAME")
            .env_remove("CLAUDE_CODE_SESSION_ID")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).expect("shim log"))
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn bus-shim");
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take().unwrap();
        let waiters: Waiters = Arc::new(Mutex::new(Some(HashMap::new())));
        tokio::spawn(read_answers(BufReader::new(stdout), waiters.clone()));
        let shim = Shim {
            child,
            stdin: tokio::sync::Mutex::new(stdin),
            waiters,
            next: AtomicU64::new(1),
        };
        let init = shim
            .request(
                "initialize",
                json!({
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "busd-tests", "version": "0"}
                }),
            )
            .await
            .expect("bus-shim answers initialize");
        assert!(init.get("result").is_some(), "initialize failed: {init}");
        shim.write(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await
            .expect("write to bus-shim");
        shim
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("bus-shim is running")
    }

    /// Call a tool: `Ok(structuredContent)`, or `Err(text)` for a tool error. A shim that
    /// died answers `Err("bus-shim exited")`.
    pub async fn call(&self, tool: &str, args: Value) -> Result<Value, String> {
        let answer = self
            .request("tools/call", json!({"name": tool, "arguments": args}))
            .await
            .ok_or_else(|| "bus-shim exited".to_owned())?;
        let result = answer
            .get("result")
            .ok_or_else(|| format!("protocol error: {answer}"))?;
        if result.get("isError").and_then(Value::as_bool) == Some(true) {
            let text = result["content"][0]["text"].as_str().unwrap_or("");
            return Err(text.to_owned());
        }
        Ok(result["structuredContent"].clone())
    }

    /// `kill -9` the shim (it is reaped when dropped).
    pub fn kill9(&self) {
        crate::common::signal(self.pid(), libc::SIGKILL);
    }

    async fn request(&self, method: &str, params: Value) -> Option<Value> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().unwrap().as_mut()?.insert(id, tx);
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.write(message).await.ok()?;
        rx.await.ok()
    }

    async fn write(&self, message: Value) -> std::io::Result<()> {
        let mut line = message.to_string();
        line.push('\n');
        let mut stdin = self.stdin.lock().await;
        stdin.write_all(line.as_bytes()).await?;
        stdin.flush().await
    }
}

/// Hand each answer to the request with its id; notifications and requests from the server
/// are ignored. When stdout ends, every waiting request learns that the shim is gone.
async fn read_answers(stdout: BufReader<tokio::process::ChildStdout>, waiters: Waiters) {
    let mut lines = stdout.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            // stdout is the MCP channel: anything else on it breaks the session.
            eprintln!("bus-shim wrote something that is not JSON-RPC to stdout: {line}");
            break;
        };
        if message.get("method").is_some() {
            continue;
        }
        let Some(id) = message.get("id").and_then(Value::as_u64) else {
            continue;
        };
        let waiter = waiters.lock().unwrap().as_mut().and_then(|w| w.remove(&id));
        if let Some(waiter) = waiter {
            let _ = waiter.send(message);
        }
    }
    waiters.lock().unwrap().take();
}
