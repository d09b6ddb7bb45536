//! Real bus-shim sessions, driven over MCP as Claude Code drives them.

use std::process::Stdio;

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

use crate::common::{Bus, PATIENCE, sibling};

impl Bus {
    /// A bus-shim for the Claude Code session `session_id`, unregistered.
    pub async fn session(&self, session_id: &str) -> Session {
        self.shim(session_id, &[]).await
    }

    /// A bus-shim as Claude Code starts it (`CLAUDECODE=1`): this test process is its Claude
    /// Code; `BUS_NAME` only when `name` is given.
    pub async fn session_under_claude(&self, session_id: &str, name: Option<&str>) -> Session {
        let mut env = vec![("CLAUDECODE", "1")];
        env.extend(name.map(|n| ("BUS_NAME", n)));
        self.shim(session_id, &env).await
    }

    async fn shim(&self, session_id: &str, extra: &[(&str, &str)]) -> Session {
        let extra: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let (db, busd, sid) = (
            self.paths.db.clone(),
            sibling("busd"),
            session_id.to_owned(),
        );
        let cmd = tokio::process::Command::new(sibling("bus-shim")).configure(|cmd| {
            cmd.env("BUS_DB", &db)
                .env("BUS_DAEMON", &busd)
                .env("CLAUDE_CODE_SESSION_ID", &sid)
                .env_remove("BUS_NAME")
                .env_remove("BUS_SOCKET")
                .env_remove("CLAUDECODE")
                .env_remove("CLAUDE_PID");
            for (k, v) in &extra {
                cmd.env(k, v);
            }
        });
        let (transport, _) = TokioChildProcess::builder(cmd)
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn bus-shim");
        let client = ().serve(transport).await.expect("MCP initialize");
        Session { client }
    }

    /// A bus-shim session registered as `name` with `role` and `owns`.
    pub async fn named(&self, name: &str, session_id: &str, role: &str, owns: &[&str]) -> Session {
        let s = self.session(session_id).await;
        s.ok(
            "register",
            json!({"name": name, "role": role, "owns": owns}),
        )
        .await;
        s
    }
}

/// One Claude Code session as its MCP client sees it.
pub struct Session {
    pub client: RunningService<RoleClient, ()>,
}

impl Session {
    pub async fn call(&self, tool: &str, args: Value) -> CallToolResult {
        let Value::Object(args) = args else {
            panic!("arguments must be an object")
        };
        let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(args);
        tokio::time::timeout(PATIENCE, self.client.call_tool(params))
            .await
            .expect("tool call answered within the safety timeout")
            .expect("tool call is a result, not a protocol error")
    }

    /// Call a tool that must succeed; returns its structured content.
    pub async fn ok(&self, tool: &str, args: Value) -> Value {
        let r = self.call(tool, args).await;
        assert_ne!(r.is_error, Some(true), "{tool} failed: {r:?}");
        r.structured_content.expect("structuredContent")
    }
}
