//! The fixture: real `bus-shim` processes driven by an rmcp client, on a temp bus whose busd
//! the first shim starts by itself.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::process::Command;

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
        let transport = TokioChildProcess::new(cmd).expect("spawn bus-shim");
        let client = ().serve(transport).await.expect("MCP initialize");
        Session { client }
    }

    /// A registered session.
    pub async fn named(&self, name: &str) -> Session {
        let s = self.session().await;
        s.ok("register", json!({ "name": name })).await;
        s
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

/// One Claude Code session as the MCP client sees it.
pub struct Session {
    pub client: RunningService<RoleClient, ()>,
}

impl Session {
    /// Call a tool and return the raw result.
    pub async fn call(&self, tool: &str, args: Value) -> CallToolResult {
        let Value::Object(args) = args else {
            panic!("arguments must be an object")
        };
        let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(args);
        tokio::time::timeout(Duration::from_secs(60), self.client.call_tool(params))
            .await
            .expect("tool call answered within 60s")
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
}

pub fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}
