//! One real Claude Code session with the plugin, offline against the fake API, in one of its
//! three modes: headless (`-p`), SDK (`-p --input-format stream-json`), interactive (tmux).
//!
//! It starts with no dialog because of a temp `HOME` whose `~/.claude.json` says onboarding is
//! done, the fake key is approved and the project folder is trusted, `~/.claude/settings.json`
//! skipping the bypass-permissions prompt, and the environment below. The binaries under test
//! (`bus`, `bus-shim`, `busd`) are the ones cargo built, first on `PATH`.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use proto::paths::BusPaths;
use serde_json::{Value, json};
use testkit::procs;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::common::{Bus, PATIENCE, bus_exe, repo_root, sibling};
use crate::fake_api::FakeApi;

/// The plugin folder, relative to the repository root (`""`: the root itself holds
/// `.claude-plugin/`, `.mcp.json` and `hooks/hooks.json`).
pub const PLUGIN_DIR: &str = "plugin";

/// The fake API key; Claude Code asks about a custom key unless its last 20 characters are
/// approved in `~/.claude.json`.
const API_KEY: &str = "sk-ant-api03-claude-bus-e2e-fake-key-0000000000000000000000";

pub fn plugin_dir() -> PathBuf {
    repo_root().join(PLUGIN_DIR)
}

/// The home, project folder and environment one session runs in.
pub struct Place {
    _home: tempfile::TempDir,
    /// The bus this session's processes use.
    paths: BusPaths,
    pub project: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

impl Place {
    pub fn new(bus: &Bus, api: &FakeApi, extra_env: &[(&str, &str)]) -> Place {
        let home = tempfile::tempdir().expect("temp home");
        let project = tempfile::tempdir().expect("temp project");
        let cwd = project.path().canonicalize().expect("project path");
        let key_tail = &API_KEY[API_KEY.len() - 20..];
        let config = json!({
            "hasCompletedOnboarding": true,
            "customApiKeyResponses": {"approved": [key_tail], "rejected": []},
            "projects": {cwd.to_string_lossy(): {"hasTrustDialogAccepted": true}},
        });
        std::fs::write(home.path().join(".claude.json"), config.to_string()).unwrap();
        std::fs::create_dir_all(home.path().join(".claude")).unwrap();
        std::fs::write(
            home.path().join(".claude/settings.json"),
            json!({"skipDangerousModePermissionPrompt": true}).to_string(),
        )
        .unwrap();

        let bin = bus_exe().parent().unwrap().to_path_buf();
        let system = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
        let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&system)))
            .unwrap();
        let mut env: Vec<(String, String)> = vec![
            ("PATH".into(), path.to_string_lossy().into_owned()),
            ("HOME".into(), home.path().to_string_lossy().into_owned()),
            ("TERM".into(), "xterm-256color".into()),
            ("LANG".into(), "C.UTF-8".into()),
            ("ANTHROPIC_BASE_URL".into(), api.base_url()),
            ("ANTHROPIC_API_KEY".into(), API_KEY.into()),
            (
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".into(),
                "1".into(),
            ),
            ("DISABLE_TELEMETRY".into(), "1".into()),
            ("DISABLE_AUTOUPDATER".into(), "1".into()),
            ("BUS_DB".into(), bus.paths.db.to_string_lossy().into_owned()),
            (
                "BUS_DAEMON".into(),
                sibling("busd").to_string_lossy().into_owned(),
            ),
        ];
        // SAFETY: getuid has no preconditions.
        if unsafe { libc::getuid() } == 0 {
            // Root may use bypassPermissions only in what Claude Code is told is a sandbox.
            env.push(("IS_SANDBOX".into(), "1".into()));
        }
        for (k, v) in extra_env {
            env.push(((*k).into(), (*v).into()));
        }
        Place {
            _home: home,
            paths: bus.paths.clone(),
            project,
            env,
        }
    }

    /// End the hooks this session's Claude Code left running. Claude Code starts each hook in
    /// a session of its own, so killing Claude Code leaves its background Stop hook waiting
    /// in busd; were busd then stopped under it, the hook would start busd again in a removed
    /// folder. They are found by this place's `BUS_DB`, a temp path no other process has.
    fn end_hooks(&self) {
        let is_hook = |pid| String::from_utf8_lossy(&procs::cmdline(pid)).contains("hook\0stop");
        for pid in procs::of_bus(&self.paths, is_hook) {
            procs::signal(pid, libc::SIGKILL);
        }
    }

    fn cwd(&self) -> &Path {
        self.project.path()
    }

    /// Have every turn's end signalled to the test (call before starting Claude Code): a
    /// user-level Stop hook writes to a FIFO without ever blocking (`1<>` opens it read-write),
    /// and [`StopSignal::next`] waits for that write.
    pub fn signal_stops(&self) -> StopSignal {
        let home = self
            .env
            .iter()
            .find(|(k, _)| k == "HOME")
            .map(|(_, v)| PathBuf::from(v))
            .expect("HOME");
        let fifo = home.join("turn-ended.fifo");
        let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path; mkfifo has no other preconditions.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
        let hook = json!({"type": "command",
                          "command": format!("printf ended 1<>'{}'", fifo.display())});
        let settings = json!({"skipDangerousModePermissionPrompt": true,
                              "hooks": {"Stop": [{"hooks": [hook]}]}});
        std::fs::write(home.join(".claude/settings.json"), settings.to_string()).unwrap();
        StopSignal { fifo }
    }

    /// The flags every mode passes: the plugin and no permission prompts.
    fn common_args() -> Vec<String> {
        vec![
            "--permission-mode".into(),
            "bypassPermissions".into(),
            "--plugin-dir".into(),
            plugin_dir().to_string_lossy().into_owned(),
        ]
    }

    fn command(&self, claude: &Path, args: &[String]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(claude);
        cmd.args(args)
            .current_dir(self.cwd())
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .kill_on_drop(true);
        cmd
    }

    /// `claude -p PROMPT`: runs one turn (and whatever its hooks add) and exits.
    pub fn headless(&self, claude: &Path, prompt: &str) -> tokio::process::Child {
        self.headless_with(claude, prompt, &[])
    }

    /// `claude -p PROMPT` with more flags.
    pub fn headless_with(
        &self,
        claude: &Path,
        prompt: &str,
        extra: &[&str],
    ) -> tokio::process::Child {
        let mut args = vec!["-p".to_owned(), prompt.to_owned()];
        args.extend(Self::common_args());
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        self.command(claude, &args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn claude -p")
    }

    /// `claude -p --input-format stream-json --output-format stream-json`: the SDK's form.
    pub fn sdk(&self, claude: &Path) -> Sdk {
        let mut args: Vec<String> = [
            "-p",
            "--input-format",
            "stream-json",
            "--output-format",
            "stream-json",
            "--verbose",
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend(Self::common_args());
        let mut child = self
            .command(claude, &args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn claude in SDK mode");
        let stdin = child.stdin.take();
        let (tx, events) = tokio::sync::mpsc::unbounded_channel();
        let stdout = child.stdout.take().expect("stdout");
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        Sdk {
            _child: child,
            stdin,
            events,
        }
    }

    /// The interactive TUI in a detached tmux session on a private tmux server, given its
    /// first prompt on the command line (typing it would race the TUI's start-up).
    pub fn interactive(&self, claude: &Path, prompt: &str) -> Tmux {
        self.interactive_with(claude, prompt, &[])
    }

    /// The interactive TUI with more flags.
    pub fn interactive_with(&self, claude: &Path, prompt: &str, extra: &[&str]) -> Tmux {
        let socket =
            format!("claude-bus-e2e-{}", std::process::id()) + &format!("-{}", rand_suffix());
        let mut line = shell_quote(&claude.to_string_lossy());
        for a in Self::common_args()
            .into_iter()
            .chain(extra.iter().map(|a| (*a).to_owned()))
        {
            line.push(' ');
            line.push_str(&shell_quote(&a));
        }
        line.push_str(" -- ");
        line.push_str(&shell_quote(prompt));
        let status = std::process::Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", "200", "-y", "50", "-s", "e2e"])
            .arg(line)
            .current_dir(self.cwd())
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .status()
            .expect("run tmux");
        assert!(status.success(), "tmux new-session failed");
        Tmux { socket }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.end_hooks();
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The end of each turn, as the Stop hook of [`Place::signal_stops`] reports it.
pub struct StopSignal {
    fifo: PathBuf,
}

impl StopSignal {
    /// Open the FIFO for reading: the open completes when the next Stop hook opens it, and
    /// the read when it has written. Start this before what ends the turn. (A thread of its
    /// own: a blocking task would hold the runtime's shutdown up if no turn ended.)
    pub fn next(&self) -> tokio::sync::oneshot::Receiver<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let fifo = self.fifo.clone();
        std::thread::spawn(move || {
            use std::io::Read as _;
            if let Ok(mut f) = std::fs::File::open(&fifo) {
                let mut byte = [0u8; 1];
                let _ = f.read(&mut byte);
            }
            let _ = tx.send(());
        });
        rx
    }
}

impl Drop for StopSignal {
    fn drop(&mut self) {
        // Release a reader still waiting for a turn that never ended.
        let _ = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.fifo);
    }
}

/// A session in SDK mode: JSON lines in, JSON events out.
pub struct Sdk {
    _child: tokio::process::Child,
    stdin: Option<tokio::process::ChildStdin>,
    events: tokio::sync::mpsc::UnboundedReceiver<Value>,
}

impl Sdk {
    /// Send a user message.
    pub async fn say(&mut self, text: &str) {
        let line = json!({"type": "user", "message": {"role": "user", "content": text}});
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write to claude");
        stdin.flush().await.unwrap();
    }

    /// Wait for the next event of `kind` (`"result"`: a turn has ended).
    pub async fn event(&mut self, kind: &str) -> Value {
        tokio::time::timeout(PATIENCE, async {
            while let Some(e) = self.events.recv().await {
                if e["type"] == kind {
                    return e;
                }
            }
            panic!("claude's output ended before a {kind} event")
        })
        .await
        .unwrap_or_else(|_| panic!("no {kind} event within {PATIENCE:?}"))
    }

    /// Close stdin: the SDK is done with the session.
    pub fn close(&mut self) {
        self.stdin.take();
    }
}

/// A private tmux server running the interactive session; killed on drop.
pub struct Tmux {
    pub socket: String,
}

impl Tmux {
    fn tmux(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }

    /// Type a line and press Enter.
    pub fn type_line(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "e2e", "-l", text]);
        self.tmux(&["send-keys", "-t", "e2e", "Enter"]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}
