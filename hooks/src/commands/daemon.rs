//! `bus status` and `bus stop`, which never start busd, and `bus restart`. `stop` and `restart`
//! also stop, by its pid, a busd that holds its lock but does not answer.

use std::path::Path;
use std::time::Duration;

use proto::client::{Call, Client, ClientError, RunningBusd, call, running_busd};
use serde::Serialize;

use crate::identity;
use crate::output::{self, say};

/// How long `bus stop` waits for busd to exit once asked.
const STOP_WAIT: Duration = Duration::from_secs(30);

pub async fn status(client: &Client, json: bool) -> anyhow::Result<()> {
    let s = match client.run(call::status()).await {
        Ok(s) => s,
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
            db_path: paths.db_shown(),
            socket_path: paths.socket.display().to_string(),
        })?;
    } else {
        say!("busd      not running (the next session or bus command starts it)")?;
        say!("database  {}", paths.db_shown())?;
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
    let (pid, unanswered) = match shut_down(client, call::shutdown()).await? {
        ShutDown::Done(pid) => (Some(pid), None),
        ShutDown::NotRunning => (None, None),
        ShutDown::Unanswering(busd, why) => {
            stop_unanswering(&busd, &why).await?;
            (Some(busd.pid), Some(busd.socket))
        }
    };
    if json {
        return output::json(&Stopped {
            stopped: pid.is_some(),
            pid,
        });
    }
    match (pid, unanswered) {
        (None, _) => say!("busd is not running")?,
        (Some(pid), None) => say!("stopped busd (pid {pid})")?,
        (Some(pid), Some(socket)) => say!(
            "stopped busd (pid {pid}), which did not answer on {}",
            socket.display()
        )?,
    }
    Ok(())
}

/// Kill, by its pid, a busd that holds its lock but does not answer on the socket (its socket
/// file was removed, or it serves another socket for this database), and wait until it exits.
async fn stop_unanswering(busd: &RunningBusd, why: &str) -> anyhow::Result<()> {
    let pid = busd.pid;
    tracing::info!(pid, why, "busd does not answer; stopping it by its pid");
    // SAFETY: kill has no memory preconditions; the pid is the live holder of a bus lock.
    if unsafe { libc::kill(pid as i32, libc::SIGTERM) } != 0 {
        anyhow::bail!(
            "busd (pid {pid}) does not answer on {} and cannot be stopped: {}",
            busd.socket.display(),
            std::io::Error::last_os_error()
        );
    }
    if !wait_for_exit(&busd.lock).await? {
        anyhow::bail!(
            "busd (pid {pid}) did not exit within {}s of SIGTERM",
            STOP_WAIT.as_secs()
        );
    }
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
    let old_pid = match shut_down(&identity::local(false)?, call::restart()).await? {
        ShutDown::Done(pid) => Some(pid),
        ShutDown::NotRunning => None,
        ShutDown::Unanswering(busd, why) => {
            stop_unanswering(&busd, &why).await?;
            Some(busd.pid)
        }
    };
    let info = identity::local(true)?.connect().await?;
    if json {
        return output::json(&Restarted {
            old_pid,
            pid: info.pid,
        });
    }
    match old_pid {
        Some(old) => say!("restarted busd (pid {old} -> {})", info.pid)?,
        None => say!("started busd (pid {})", info.pid)?,
    }
    Ok(())
}

/// What asking busd to shut down found.
enum ShutDown {
    /// The busd of this pid has exited.
    Done(u32),
    NotRunning,
    /// A busd holds the bus's lock but does not answer on the socket.
    Unanswering(RunningBusd, String),
}

/// Run `shut_down` (`Shutdown` or `Restart`) and wait until busd has exited.
async fn shut_down(client: &Client, shut_down: Call<()>) -> anyhow::Result<ShutDown> {
    let paths = &client.options().paths;
    let pid = match client.run(call::status()).await {
        Ok(status) => status.pid,
        Err(ClientError::Unavailable(why)) => {
            return Ok(match running_busd(paths) {
                Some(busd) => ShutDown::Unanswering(busd, why),
                None => ShutDown::NotRunning,
            });
        }
        Err(e) => return Err(e.into()),
    };
    client.run(shut_down).await?;
    if !wait_for_exit(&paths.daemon_lock).await? {
        anyhow::bail!(
            "busd (pid {pid}) did not exit within {}s: see its log at {}",
            STOP_WAIT.as_secs(),
            paths.log.display()
        );
    }
    Ok(ShutDown::Done(pid))
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

/// `bus migrate --to URL`: busd does the copy (it owns the storage code); its output is ours.
pub async fn migrate(to: &str) -> anyhow::Result<()> {
    let busd = proto::client::find_busd(None).map_err(|e| anyhow::anyhow!("{e}"))?;
    let status = tokio::process::Command::new(&busd)
        .args(["migrate", "--to", to])
        .status()
        .await
        .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", busd.display()))?;
    if !status.success() {
        // busd said why on stderr.
        std::process::exit(status.code().unwrap_or(1));
    }
    Ok(())
}
