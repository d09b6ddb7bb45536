//! `bus status` and `bus stop`, the two commands that never start busd.

use std::path::Path;
use std::time::Duration;

use proto::Request;
use proto::client::{Client, ClientError};
use serde::Serialize;

use super::reply;
use crate::output::{self, say};

/// How long `bus stop` waits for busd to exit once asked.
const STOP_WAIT: Duration = Duration::from_secs(30);

pub async fn status(client: &Client, json: bool) -> anyhow::Result<()> {
    let s = match client.call(Request::Status).await {
        Ok(answer) => reply!(answer, Status),
        Err(ClientError::Unavailable(_)) => return not_running(client, json),
        Err(e) => return Err(e.into()),
    };
    if json {
        return output::json(&s);
    }
    let rows = [
        (
            "busd",
            format!(
                "running, pid {}, version {} (protocol {})",
                s.pid, s.version, s.protocol
            ),
        ),
        (
            "uptime",
            format!(
                "{} (since {})",
                output::duration(s.uptime_seconds),
                s.started_at
            ),
        ),
        ("database", s.db_path.clone()),
        ("socket", s.socket_path.clone()),
        ("log", s.log_path.clone().unwrap_or_else(|| "-".into())),
        (
            "now",
            format!(
                "{}, {}, {}",
                output::count(s.connections, "connection", "connections"),
                output::count(s.sessions, "session", "sessions"),
                output::count(s.waiting, "waiting for mail", "waiting for mail")
            ),
        ),
        (
            "stored",
            format!(
                "{}, {}, {}, {}",
                output::count(s.agents, "agent", "agents"),
                output::count(s.messages, "message", "messages"),
                output::count(s.state_keys, "state key", "state keys"),
                output::count(s.live_claims, "live claim", "live claims")
            ),
        ),
    ];
    for (label, value) in rows {
        say!("{label:<9} {value}")?;
    }
    Ok(())
}

/// The result of `bus status --json` when no busd runs.
#[derive(Serialize)]
struct NotRunning {
    running: bool,
    db_path: String,
    socket_path: String,
}

/// `bus status` with no busd: say so, where it would be, and exit 1.
fn not_running(client: &Client, json: bool) -> anyhow::Result<()> {
    let paths = &client.options().paths;
    if json {
        output::json(&NotRunning {
            running: false,
            db_path: paths.db.display().to_string(),
            socket_path: paths.socket.display().to_string(),
        })?;
    } else {
        say!("busd      not running (the next session or bus command starts it)")?;
        say!("database  {}", paths.db.display())?;
        say!("socket    {}", paths.socket.display())?;
    }
    Err(super::Answered(1).into())
}

/// The result of `bus stop --json`.
#[derive(Serialize)]
struct Stopped {
    stopped: bool,
    pid: Option<u32>,
}

/// Ask busd to shut down and wait until it has exited (its daemon lock is free again).
pub async fn stop(client: &Client, json: bool) -> anyhow::Result<()> {
    let pid = match client.call(Request::Status).await {
        Ok(answer) => reply!(answer, Status).pid,
        Err(ClientError::Unavailable(_)) => {
            if json {
                return output::json(&Stopped {
                    stopped: false,
                    pid: None,
                });
            }
            println!("busd is not running");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    client.call(Request::Shutdown).await?;
    let paths = &client.options().paths;
    if !wait_for_exit(&paths.daemon_lock).await? {
        anyhow::bail!(
            "busd (pid {pid}) did not exit within {}s: see its log at {}",
            STOP_WAIT.as_secs(),
            paths.log.display()
        );
    }
    if json {
        return output::json(&Stopped {
            stopped: true,
            pid: Some(pid),
        });
    }
    println!("stopped busd (pid {pid})");
    Ok(())
}

/// Wait for the daemon lock to be released, which happens when busd exits. Returns false on
/// timeout.
pub async fn wait_for_exit(lock: &Path) -> anyhow::Result<bool> {
    let file = match std::fs::OpenOptions::new().write(true).open(lock) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(e.into()),
    };
    let locked = tokio::time::timeout(STOP_WAIT, tokio::task::spawn_blocking(move || file.lock()));
    match locked.await {
        Ok(joined) => {
            joined??;
            Ok(true)
        }
        Err(_) => Ok(false),
    }
}
