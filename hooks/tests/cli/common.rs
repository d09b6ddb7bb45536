//! The fixture: a real busd on a temp bus (stopped on drop), `bus` commands and hook command
//! lines in that bus's environment, and the plugin files as Claude Code reads them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use proto::ClientKind;
use proto::client::{Client, ClientOptions, spawn_daemon};
use proto::paths::BusPaths;
use serde_json::{Value, json};

pub use crate::process::{Cmd, Out};

/// The safety net for anything a test waits on; never a measure of speed.
pub const PATIENCE: Duration = Duration::from_secs(60);

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

/// A temp bus, with busd running unless made with [`Bus::empty`]. Dropping it stops busd.
pub struct Bus {
    pub dir: tempfile::TempDir,
    pub paths: BusPaths,
    daemon: Option<std::process::Child>,
}

impl Bus {
    /// A new bus with busd serving it.
    pub async fn start() -> Bus {
        let mut bus = Bus::empty();
        let child = spawn_daemon(&bus.paths, &sibling("busd"), &[], false, PATIENCE)
            .await
            .expect("busd starts");
        bus.daemon = Some(child);
        bus
    }

    /// A bus folder with no daemon (a `bus` command may start one).
    pub fn empty() -> Bus {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = BusPaths::new(dir.path().join("bus.db"), None);
        Bus {
            dir,
            paths,
            daemon: None,
        }
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

    fn env(&self, cmd: &mut tokio::process::Command) {
        cmd.env("BUS_DB", &self.paths.db)
            .env("BUS_DAEMON", sibling("busd"))
            .env("CLAUDE_PROJECT_DIR", self.dir.path())
            .env_remove("BUS_NAME")
            .env_remove("BUS_SOCKET")
            .env_remove("BUS_LOG")
            .env_remove("BUS_URL")
            .env_remove("BUS_TOKEN")
            .env_remove("BUS_CA")
            .env_remove("CLAUDE_CODE_SESSION_ID")
            .env_remove("CLAUDE_PID")
            .env_remove("CLAUDECODE");
    }

    /// A protocol client for setting up a test (never starts busd).
    pub fn client(&self) -> Client {
        Client::new(ClientOptions {
            autostart: false,
            reconnect_for: Duration::from_secs(5),
            ..ClientOptions::new(self.paths.clone(), ClientKind::Other)
        })
    }

    /// Kill busd as a crash would (SIGKILL) and reap it.
    pub fn crash_daemon(&mut self) {
        let mut child = self.daemon.take().expect("a busd started by the fixture");
        child.kill().expect("kill busd");
        child.wait().expect("reap busd");
    }

    /// Whether a daemon holds this bus's daemon lock.
    pub fn daemon_running(&self) -> bool {
        match std::fs::OpenOptions::new()
            .write(true)
            .open(&self.paths.daemon_lock)
        {
            Ok(f) => matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
            Err(_) => false,
        }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            // SAFETY: signalling the busd this fixture started.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let _ = child.wait();
        }
        // A busd that a `bus` command (or a hook) started for this bus.
        if self.daemon_running()
            && let Some(pid) = std::fs::read_to_string(&self.paths.daemon_lock)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
        {
            // SAFETY: signalling that busd, named by its own lock file.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            // Its lock is free once it has exited.
            if let Ok(f) = std::fs::OpenOptions::new()
                .write(true)
                .open(&self.paths.daemon_lock)
            {
                let _ = f.lock();
            }
        }
    }
}
