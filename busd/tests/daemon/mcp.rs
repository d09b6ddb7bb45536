//! A real `bus-shim` process driven over MCP stdio by the workspace's session driver
//! ([`testkit::Session`]), with calls in flight concurrently, as Claude Code drives it.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;

use proto::paths::BusPaths;
use serde_json::Value;
use tokio::process::Command;

use crate::common::busd_exe;

/// The bus-shim built beside busd, if it is there (`cargo build -p bus-shim` puts it there).
pub fn shim_exe() -> Option<PathBuf> {
    testkit::find_bin("bus-shim")
}

/// One bus-shim process and its MCP session.
pub struct Shim {
    session: testkit::Session,
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
            .env_remove("CLAUDE_CODE_SESSION_ID");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let log = std::fs::File::create(log).expect("shim log");
        let (session, _) = testkit::Session::spawn(cmd, Stdio::from(log))
            .await
            .expect("bus-shim answers initialize");
        Shim { session }
    }

    pub fn pid(&self) -> u32 {
        self.session.pid.expect("bus-shim is running")
    }

    /// Call a tool: `Ok(structuredContent)`, or `Err(text)` for a tool error. A shim that
    /// died answers `Err("bus-shim exited")`.
    pub async fn call(&self, tool: &str, args: Value) -> Result<Value, String> {
        let result = self
            .session
            .try_call(tool, args)
            .await
            .map_err(|_| "bus-shim exited".to_owned())?;
        if result.is_error == Some(true) {
            return Err(testkit::mcp::text(&result));
        }
        Ok(result.structured_content.unwrap_or(Value::Null))
    }

    /// `kill -9` the shim (it is reaped when dropped).
    pub fn kill9(&self) {
        crate::common::signal(self.pid(), libc::SIGKILL);
    }
}
