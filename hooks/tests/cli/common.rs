//! The fixture: a real busd on a temp bus (stopped on drop), the real `bus` binary run as a
//! person, a script or Claude Code would run it, and real bus-shim sessions over MCP.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use proto::client::{Client, ClientOptions, spawn_daemon};
use proto::paths::BusPaths;
use proto::{ClientKind, PROTOCOL_VERSION};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

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

/// The repository root, where the plugin files live.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("hooks/ is inside the repository")
        .to_path_buf()
}

/// A plugin file, parsed as Claude Code reads it.
pub fn plugin_json(path: &str) -> Value {
    let text =
        std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"))
}

/// The command line hooks/hooks.json gives for an event.
pub fn hook_command(event: &str) -> String {
    let hooks = plugin_json("hooks/hooks.json");
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
        let mut cmd = tokio::process::Command::new(bus_exe());
        cmd.args(args);
        self.env(&mut cmd);
        Cmd { cmd, stdin: None }
    }

    /// `sh -c LINE` with the workspace's binaries first on PATH: how Claude Code runs a hook.
    pub fn sh(&self, line: &str) -> Cmd {
        let bin = bus_exe().parent().unwrap().to_path_buf();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let path =
            std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&path))).unwrap();
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c").arg(line).env("PATH", path);
        self.env(&mut cmd);
        Cmd { cmd, stdin: None }
    }

    fn env(&self, cmd: &mut tokio::process::Command) {
        cmd.env("BUS_DB", &self.paths.db)
            .env("BUS_DAEMON", sibling("busd"))
            .env("CLAUDE_PROJECT_DIR", self.dir.path())
            .env_remove("BUS_NAME")
            .env_remove("BUS_SOCKET")
            .env_remove("BUS_LOG")
            .env_remove("CLAUDE_CODE_SESSION_ID");
    }

    /// A bus-shim for the Claude Code session `session_id`, unregistered.
    pub async fn session(&self, session_id: &str) -> Session {
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
                .env_remove("BUS_SOCKET");
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

    /// A protocol client for setting up a test (never starts busd).
    pub fn client(&self) -> Client {
        Client::new(ClientOptions {
            paths: self.paths.clone(),
            kind: ClientKind::Other,
            session_id: None,
            autostart: false,
            busd: None,
            reconnect_for: Duration::from_secs(5),
            protocol: PROTOCOL_VERSION,
        })
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
        } else if self.daemon_running()
            && let Some(pid) = std::fs::read_to_string(&self.paths.daemon_lock)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
        {
            // A busd that a `bus` command started for this bus.
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

/// A command about to run.
pub struct Cmd {
    cmd: tokio::process::Command,
    stdin: Option<String>,
}

/// What a finished command did.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// stdout as one JSON document.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    pub fn silent(&self) -> bool {
        self.stdout.is_empty() && self.stderr.is_empty()
    }
}

impl Cmd {
    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Cmd {
        self.cmd.env(key, value);
        self
    }

    pub fn stdin(mut self, text: impl Into<String>) -> Cmd {
        self.stdin = Some(text.into());
        self
    }

    /// Run to completion.
    pub async fn run(self) -> Out {
        self.spawn(None).await.finish().await
    }

    /// Start it and return at once.
    pub async fn start(self) -> Running {
        self.spawn(None).await
    }

    /// Start it with a pipe as descriptor 3 (for `--ready-fd 3`) and return once it has
    /// written its readiness byte.
    pub async fn start_ready(self) -> Running {
        let (ready, ready_tx) = std::io::pipe().expect("pipe");
        let running = self.spawn(Some(ready_tx)).await;
        let read = tokio::task::spawn_blocking(move || {
            let mut ready = ready;
            let mut byte = [0u8; 1];
            std::io::Read::read(&mut ready, &mut byte).map(|n| n == 1)
        });
        let ok = tokio::time::timeout(PATIENCE, read).await;
        assert!(
            matches!(ok, Ok(Ok(Ok(true)))),
            "the command did not signal readiness"
        );
        running
    }

    async fn spawn(mut self, ready: Option<std::io::PipeWriter>) -> Running {
        self.cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(tx) = &ready {
            let fd = std::os::fd::AsRawFd::as_raw_fd(tx);
            // SAFETY: only dup2, which is async-signal-safe, between fork and exec.
            unsafe {
                self.cmd.pre_exec(move || {
                    if libc::dup2(fd, 3) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = self.cmd.spawn().expect("spawn");
        drop(ready);
        let mut stdin = child.stdin.take().expect("stdin");
        if let Some(text) = self.stdin {
            stdin.write_all(text.as_bytes()).await.expect("write stdin");
        }
        drop(stdin);
        Running {
            child,
            started: Instant::now(),
        }
    }
}

/// A command still running.
pub struct Running {
    pub child: tokio::process::Child,
    pub started: Instant,
}

impl Running {
    /// Wait for it to exit (within [`PATIENCE`]).
    pub async fn finish(self) -> Out {
        let out = tokio::time::timeout(PATIENCE, self.child.wait_with_output())
            .await
            .expect("the command finished within the safety timeout")
            .expect("wait for the command");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
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
