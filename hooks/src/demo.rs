//! `bus demo`: the bus at work, for a newcomer without Claude Code.
//!
//! Two real `bus-shim` processes (what Claude Code launches, one per session) on a throwaway
//! bus: each in turn waits with `inbox(wait=30)` while the other sends, and the time from the
//! send to the waiter's wake-up is measured. Then the Stop hook: `bus hook stop` waits for
//! alice's mail the way Claude Code runs it, and exits 2 with the message when bob sends.
//!
//! With `--json` the figures come as one JSON document at the end instead of the text. A write
//! to stdout that fails (the reader of a pipe went away, as with `bus demo | head`) ends the
//! demo early, and so does Ctrl-C; either way it stops its shims and its busd before the temp
//! folder goes.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use proto::ClientKind;
use proto::client::{Client, ClientOptions, call};
use proto::paths::BusPaths;
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::commands::daemon::wait_for_exit;
use crate::output;

/// The demo was stopped with Ctrl-C (after it stopped its bus).
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted; the demo's bus is stopped")
    }
}

impl std::error::Error for Interrupted {}

/// What the demo tells a person: text lines, or nothing until the JSON document at the end.
struct Say {
    json: bool,
}

impl Say {
    /// One line on stdout; an error when stdout is gone.
    fn line(&self, text: std::fmt::Arguments) -> std::io::Result<()> {
        if self.json {
            return Ok(());
        }
        output::say!("{text}")
    }
}

/// `say!(say, "format", args)`: print a line, returning from the function if stdout is gone.
macro_rules! say {
    ($say:expr, $($arg:tt)*) => {
        $say.line(format_args!($($arg)*))?
    };
}

pub async fn run(rounds: u32, json: bool) -> anyhow::Result<()> {
    let say = Say { json };
    let shim = find_shim()?;
    let dir = tempfile::Builder::new()
        .prefix("claude-bus-demo-")
        .tempdir()?;
    let db = dir.path().join("bus.db");
    say!(
        say,
        "claude-bus demo: two sessions on a throwaway bus in {}",
        dir.path().display()
    );
    say!(
        say,
        "(each session is a real bus-shim, {}, driven over MCP)\n",
        shim.display()
    );
    let alice = Shim::start(&shim, &db, "alice").await?;
    let bob = match Shim::start(&shim, &db, "bob").await {
        Ok(bob) => bob,
        Err(e) => {
            alice.close().await;
            stop_daemon(&db).await;
            return Err(e);
        }
    };
    let result = tokio::select! {
        result = exchange(&say, &alice, &bob, &db, rounds.max(1)) => result,
        // Ctrl-C stops the demo's bus too, rather than leaving busd over a deleted folder.
        _ = tokio::signal::ctrl_c() => Err(Interrupted.into()),
    };
    alice.close().await;
    bob.close().await;
    stop_daemon(&db).await;
    if json {
        output::json(&result?)?;
        return Ok(());
    }
    result.map(|_| ())
}

async fn exchange(
    say: &Say,
    alice: &Shim,
    bob: &Shim,
    db: &Path,
    rounds: u32,
) -> anyhow::Result<Value> {
    say!(say, "1. both sessions register");
    alice
        .call("register", json!({"name": "alice", "role": "listens"}))
        .await?;
    let joined = bob
        .call("register", json!({"name": "bob", "role": "talks"}))
        .await?;
    say!(
        say,
        "   alice and bob are on the bus (bob sees peers {})\n",
        joined["peers"]
    );

    say!(
        say,
        "2. messages back and forth; the receiver waits in inbox(wait=30) until the send commits"
    );
    let mut latencies = Vec::new();
    let mut messages = Vec::new();
    let mut reply_to = Value::Null;
    for round in 1..=rounds {
        let (sender, receiver) = if round % 2 == 1 {
            (bob, alice)
        } else {
            (alice, bob)
        };
        let content = format!("message {round} from {}", sender.name);
        let waiting = async {
            let page = receiver.call("inbox", json!({"wait": 30})).await;
            (page, Instant::now())
        };
        let sending = async {
            // A look at the roster first, as a session would: meanwhile the receiver parks.
            sender.call("agents", json!({})).await?;
            let t0 = Instant::now();
            let sent = sender
                .call(
                    "send",
                    json!({"to": receiver.name, "content": content, "reply_to": reply_to}),
                )
                .await?;
            anyhow::Ok((sent, t0, t0.elapsed()))
        };
        let ((page, woke), sent) = tokio::join!(waiting, sending);
        let (sent, t0, acked) = sent?;
        let page = page?;
        let got = &page["messages"][0];
        anyhow::ensure!(
            got["id"] == sent["id"],
            "{} did not get message {}",
            receiver.name,
            sent["id"]
        );
        let latency = woke.duration_since(t0);
        latencies.push(latency);
        messages.push(json!({
            "id": sent["id"],
            "from": sender.name,
            "to": receiver.name,
            "reply_to": reply_to,
            "send_ms": millis(acked),
            "wake_ms": millis(latency),
        }));
        say!(
            say,
            "   {} -> {}  #{} {:?}{}",
            sender.name,
            receiver.name,
            sent["id"],
            got["content"].as_str().unwrap_or_default(),
            if reply_to.is_null() {
                String::new()
            } else {
                format!(" (reply to #{reply_to})")
            }
        );
        say!(
            say,
            "   send answered in {}; {} woke up {} after the send\n",
            ms(acked),
            receiver.name,
            ms(latency)
        );
        reply_to = sent["id"].clone();
    }

    say!(
        say,
        "3. the Stop hook: when alice's session goes idle, Claude Code runs `bus hook stop`"
    );
    say!(
        say,
        "   in the background (asyncRewake); it waits in busd for alice's mail"
    );
    let (hook_latency, status, stderr) = stop_hook(bob, db).await?;
    say!(say, "   bob -> alice: \"are you still there?\"");
    say!(
        say,
        "   the hook exited {} {} after the send; Claude Code would wake alice with:",
        status,
        ms(hook_latency)
    );
    for line in stderr.lines() {
        say!(say, "   | {line}");
    }

    latencies.sort();
    let median = latencies[latencies.len() / 2];
    say!(
        say,
        "\nwake-up latency through bus-shim over {} messages: median {}, min {}, max {}",
        latencies.len(),
        ms(median),
        ms(latencies[0]),
        ms(latencies[latencies.len() - 1])
    );
    say!(
        say,
        "wake-up latency of the Stop hook: {}",
        ms(hook_latency)
    );
    Ok(json!({
        "messages": messages,
        "wake_ms": {
            "median": millis(median),
            "min": millis(latencies[0]),
            "max": millis(latencies[latencies.len() - 1]),
        },
        "stop_hook": {
            "exit_code": status,
            "wake_ms": millis(hook_latency),
            "stderr": stderr,
        },
    }))
}

/// Run `bus hook stop` for alice as Claude Code would, let bob send, and time the wake-up.
async fn stop_hook(bob: &Shim, db: &Path) -> anyhow::Result<(Duration, i32, String)> {
    let (ready, ready_tx) = std::io::pipe()?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&ready_tx);
    let mut cmd = tokio::process::Command::new(std::env::current_exe()?);
    cmd.args(["hook", "stop", "--timeout", "60", "--ready-fd", "3"])
        .env("BUS_DB", db)
        .env("CLAUDE_CODE_SESSION_ID", "demo-alice")
        .env_remove("BUS_NAME")
        .env_remove("BUS_SOCKET")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: only dup2, which is async-signal-safe, between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    drop(ready_tx);
    if let Some(mut stdin) = child.stdin.take() {
        let input = json!({
            "session_id": "demo-alice",
            "transcript_path": "/dev/null",
            "cwd": std::env::current_dir().unwrap_or_default(),
            "hook_event_name": "Stop",
            "stop_hook_active": false,
        });
        stdin.write_all(input.to_string().as_bytes()).await?;
    }
    let waited = tokio::task::spawn_blocking(move || {
        let mut ready = ready;
        let mut byte = [0u8; 1];
        std::io::Read::read(&mut ready, &mut byte).map(|n| n == 1)
    });
    let started = tokio::time::timeout(Duration::from_secs(30), waited).await;
    anyhow::ensure!(
        matches!(started, Ok(Ok(Ok(true)))),
        "the Stop hook did not start waiting"
    );
    let t0 = Instant::now();
    bob.call(
        "send",
        json!({"to": "alice", "content": "are you still there?"}),
    )
    .await?;
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output()).await??;
    let latency = t0.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).trim_end().to_owned();
    Ok((latency, out.status.code().unwrap_or(-1), stderr))
}

/// One session: a bus-shim process and the MCP client talking to it.
struct Shim {
    name: &'static str,
    client: RunningService<RoleClient, ()>,
}

impl Shim {
    async fn start(shim: &Path, db: &Path, name: &'static str) -> anyhow::Result<Shim> {
        let cmd = tokio::process::Command::new(shim).configure(|cmd| {
            cmd.env("BUS_DB", db)
                .env("CLAUDE_CODE_SESSION_ID", format!("demo-{name}"))
                .env_remove("BUS_NAME")
                .env_remove("BUS_SOCKET");
        });
        let (transport, _) = TokioChildProcess::builder(cmd)
            .stderr(Stdio::null())
            .spawn()?;
        let client = ().serve(transport).await?;
        Ok(Shim { name, client })
    }

    /// Call a tool; its structured result, or its error text as an error.
    async fn call(&self, tool: &str, args: Value) -> anyhow::Result<Value> {
        let Value::Object(args) = args else {
            anyhow::bail!("tool arguments must be an object");
        };
        let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(args);
        let result = tokio::time::timeout(Duration::from_secs(60), self.client.call_tool(params))
            .await
            .map_err(|_| anyhow::anyhow!("{tool} did not answer within 60s"))??;
        if result.is_error == Some(true) {
            let text: Vec<String> = result
                .content
                .iter()
                .filter_map(|c| c.as_text().map(|t| t.text.clone()))
                .collect();
            anyhow::bail!("{tool} failed for {}: {}", self.name, text.join(" "));
        }
        Ok(result.structured_content.unwrap_or(Value::Null))
    }

    async fn close(self) {
        let _ = self.client.cancel().await;
    }
}

/// bus-shim beside this executable (installed together), else on PATH.
fn find_shim() -> anyhow::Result<PathBuf> {
    proto::client::find_program("bus-shim").ok_or_else(|| {
        anyhow::anyhow!(
            "cannot find bus-shim beside this bus or on PATH: install claude-bus (see README)"
        )
    })
}

/// Stop the throwaway bus's daemon (started by the first shim) and wait until it has exited.
async fn stop_daemon(db: &Path) {
    let paths = BusPaths::new(db.to_path_buf(), None);
    let lock = paths.daemon_lock.clone();
    let client = Client::new(ClientOptions {
        autostart: false,
        reconnect_for: Duration::from_secs(2),
        ..ClientOptions::new(paths, ClientKind::Cli)
    });
    if client.run(call::shutdown()).await.is_ok() {
        let _ = wait_for_exit(&lock).await;
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", millis(d))
}

/// Milliseconds, to the hundredth.
fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 100_000.0).round() / 100.0
}
