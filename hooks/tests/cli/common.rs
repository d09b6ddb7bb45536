//! The fixture: the workspace's temp bus ([`testkit`]) with `bus` commands and hook command
//! lines in that bus's environment, and the plugin files as Claude Code reads them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
pub use testkit::{PATIENCE, TempBus};

pub use crate::process::{Cmd, Out};

pub fn bus_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bus"))
}

/// A binary of the workspace built beside `bus` (busd, bus-shim).
pub fn sibling(name: &str) -> PathBuf {
    let path = bus_exe().with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace` so it is built",
        path.display()
    );
    path
}

/// The repository root, where the marketplace file lives.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("hooks/ is inside the repository")
        .to_path_buf()
}

/// The plugin's folder: what Claude Code copies and names `${CLAUDE_PLUGIN_ROOT}`.
pub fn plugin_root() -> PathBuf {
    repo_root().join("plugin")
}

/// A file of the repository (`plugin/...` for the plugin's), parsed as Claude Code reads it.
pub fn plugin_json(path: &str) -> Value {
    let text =
        std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"))
}

/// The command line plugin/hooks/hooks.json gives for an event.
pub fn hook_command(event: &str) -> String {
    let hooks = plugin_json("plugin/hooks/hooks.json");
    hooks["hooks"][event][0]["hooks"][0]["command"]
        .as_str()
        .unwrap_or_else(|| panic!("hooks.json has no command for {event}"))
        .to_owned()
}

/// The JSON Claude Code writes to a hook's stdin.
pub fn hook_input(event: &str, session_id: &str) -> String {
    let mut input = json!({
        "session_id": session_id,
        "transcript_path": "/tmp/transcript.jsonl",
        "cwd": "/tmp",
        "permission_mode": "default",
        "hook_event_name": event,
    });
    match event {
        "Stop" => {
            input["stop_hook_active"] = json!(false);
            input["last_assistant_message"] = json!("Done.");
        }
        "UserPromptSubmit" => input["prompt"] = json!("what next?"),
        "SessionStart" => input["source"] = json!("startup"),
        "PostToolUse" => {
            input["tool_name"] = json!("Bash");
            input["tool_input"] = json!({"command": "true"});
            input["tool_response"] = json!({"stdout": "", "stderr": ""});
        }
        _ => {}
    }
    input.to_string()
}

/// The workspace's temp bus ([`TempBus`]) with `bus` commands and hook command lines in its
/// environment. Dropping it stops every busd of the bus.
pub struct Bus(TempBus);

impl std::ops::Deref for Bus {
    type Target = TempBus;
    fn deref(&self) -> &TempBus {
        &self.0
    }
}

impl std::ops::DerefMut for Bus {
    fn deref_mut(&mut self) -> &mut TempBus {
        &mut self.0
    }
}

impl Bus {
    /// A new bus with busd serving it.
    pub async fn start() -> Bus {
        Bus(TempBus::start().await)
    }

    /// A bus folder with no daemon (a `bus` command may start one).
    pub fn empty() -> Bus {
        Bus(TempBus::empty())
    }

    /// `bus ARGS` with this bus's environment and nothing naming a session.
    pub fn bus(&self, args: &[&str]) -> Cmd {
        self.bus_os(args)
    }

    /// `bus ARGS` where an argument may be bytes that are not UTF-8.
    pub fn bus_os<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Cmd {
        let mut cmd = tokio::process::Command::new(bus_exe());
        cmd.args(args);
        self.env(&mut cmd);
        Cmd::new(cmd)
    }

    /// `sh -c LINE` with the workspace's binaries first on PATH and `CLAUDE_PLUGIN_ROOT` set:
    /// how Claude Code runs a hook.
    pub fn sh(&self, line: &str) -> Cmd {
        let bin = bus_exe().parent().unwrap().to_path_buf();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let path =
            std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&path))).unwrap();
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg(line)
            .env("PATH", path)
            .env("CLAUDE_PLUGIN_ROOT", plugin_root());
        self.env(&mut cmd);
        Cmd::new(cmd)
    }

    /// The bus's environment, in the bus's folder as the project.
    fn env(&self, cmd: &mut tokio::process::Command) {
        self.0.env(cmd);
        cmd.env("CLAUDE_PROJECT_DIR", self.dir.path());
    }

    /// Kill busd as a crash would (SIGKILL) and reap it.
    pub fn crash_daemon(&mut self) {
        self.kill();
    }
}
