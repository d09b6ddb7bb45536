//! `bus status` (which, like every command but `stop`, starts busd if none runs), `bus stop`
//! and `bus restart`.

use std::path::Path;
use std::time::Duration;

use proto::Request;
use proto::client::{Client, ClientError};
use serde::Serialize;

use super::reply;
use crate::{identity, output};

/// How long `bus stop` waits for busd to exit once asked.
const STOP_WAIT: Duration = Duration::from_secs(30);

pub async fn status(client: &Client, json: bool) -> anyhow::Result<()> {
    let s = reply!(client.call(Request::Status).await?, Status);
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
        println!("{label:<9} {value}");
    }
    Ok(())
}

/// The result of `bus stop --json`.
#[derive(Serialize)]
struct Stopped {
    stopped: bool,
    pid: Option<u32>,
}

/// Ask busd to shut down and wait until it has exited (its daemon lock is free again).
pub async fn stop(client: &Client, json: bool) -> anyhow::Result<()> {
    let Some(pid) = shut_down(client, Request::Shutdown).await? else {
        if json {
            return output::json(&Stopped {
                stopped: false,
                pid: None,
            });
        }
        println!("busd is not running");
        return Ok(());
    };
    if json {
        return output::json(&Stopped {
            stopped: true,
            pid: Some(pid),
        });
    }
    println!("stopped busd (pid {pid})");
    Ok(())
}

/// The result of `bus restart --json`.
#[derive(Serialize)]
struct Restarted {
    /// The busd that was stopped, if one was running.
    old_pid: Option<u32>,
    pid: u32,
}

/// Restart busd: the old one tells its clients it is restarting (waiting hooks and shims wait
/// on with the new one, instead of taking it as the bus stopping), exits, and a new busd —
/// the one installed now — is started.
pub async fn restart(json: bool) -> anyhow::Result<()> {
    let old_pid = shut_down(&identity::client(false)?, Request::Restart).await?;
    let info = identity::client(true)?.connect().await?;
    if json {
        return output::json(&Restarted {
            old_pid,
            pid: info.pid,
        });
    }
    match old_pid {
        Some(old) => println!("restarted busd (pid {old} -> {})", info.pid),
        None => println!("started busd (pid {})", info.pid),
    }
    Ok(())
}

/// Send `request` (`Shutdown` or `Restart`) and wait until busd has exited; the pid of the busd
/// that was running, `None` if none was.
async fn shut_down(client: &Client, request: Request) -> anyhow::Result<Option<u32>> {
    let paths = &client.options().paths;
    let pid = match client.call(Request::Status).await {
        Ok(answer) => reply!(answer, Status).pid,
        Err(ClientError::Unavailable(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    client.call(request).await?;
    if !wait_for_exit(&paths.daemon_lock).await? {
        anyhow::bail!(
            "busd (pid {pid}) did not exit within {}s: see its log at {}",
            STOP_WAIT.as_secs(),
            paths.log.display()
        );
    }
    Ok(Some(pid))
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
