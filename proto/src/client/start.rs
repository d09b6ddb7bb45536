//! Starting busd when no daemon answers: one starter at a time, detached, waited for.
//!
//! Clients serialise start-up with an exclusive lock on `start_lock`. The holder probes the
//! socket again (another client may have just started a daemon), removes a socket file only when
//! connecting to it was refused *and* no busd holds the daemon lock, then spawns busd in a new
//! session with null stdin/stdout and its stderr appended to the log beside the database. busd
//! reports readiness by writing one byte to a pipe it inherits as `--ready-fd`; if it exits
//! first, the pipe closes and its own error (the tail of its log) is reported.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::paths::BusPaths;

/// The descriptor number busd's readiness pipe gets in the child.
const READY_FD: i32 = 3;

/// Why busd could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "cannot find busd beside {beside} or on PATH: install claude-bus (see README) or set BUS_DAEMON"
    )]
    NotFound { beside: String },
    #[error("busd did not start: {0}")]
    Failed(String),
    /// busd died from a signal before it served (killed while starting): worth another try.
    #[error("busd was killed while starting ({0})")]
    Killed(String),
    #[error("busd did not answer within {0:?}")]
    Timeout(Duration),
    #[error("starting busd failed: {0}")]
    Io(#[from] io::Error),
}

/// What the lock holder found.
pub(crate) enum Started {
    /// A daemon we spawned is listening.
    Spawned,
    /// Someone else's daemon is up (or coming up); just connect.
    AlreadyRunning,
}

/// Start busd for `paths` unless one is running, waiting at most `deadline` for it to listen.
/// `probe` reports whether a daemon answers on the socket right now.
pub(crate) async fn ensure_daemon<F, Fut>(
    paths: &BusPaths,
    program: Option<&Path>,
    deadline: Duration,
    probe: F,
) -> Result<Started, StartError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    prepare_dir(paths.dir())?;
    let lock = open_lock(&paths.start_lock)?;
    let guard = tokio::time::timeout(
        deadline,
        tokio::task::spawn_blocking(move || lock.lock().map(|()| lock)),
    )
    .await
    .map_err(|_| StartError::Timeout(deadline))?
    .map_err(|e| StartError::Failed(e.to_string()))??;

    let result = async {
        if probe().await {
            return Ok(Started::AlreadyRunning);
        }
        if daemon_lock_held(&paths.daemon_lock)? {
            // A busd is alive but not listening: starting up, or shutting down. Wait a moment
            // for its lock; if it is still held, that daemon is starting and will answer.
            let lock = open_lock(&paths.daemon_lock)?;
            let freed = tokio::time::timeout(
                deadline.min(Duration::from_secs(1)),
                tokio::task::spawn_blocking(move || lock.lock()),
            )
            .await;
            if freed.is_err() || probe().await {
                return Ok(Started::AlreadyRunning);
            }
        }
        match std::fs::remove_file(&paths.socket) {
            Ok(()) => tracing::info!(socket = %paths.socket.display(), "removed a stale socket"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        spawn_and_wait(paths, program, deadline).await?;
        Ok(Started::Spawned)
    }
    .await;
    drop(guard);
    result
}

/// Create the bus folder `0700` if missing.
fn prepare_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn open_lock(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
}

/// Whether a live busd holds the daemon lock (the lock dies with its process).
fn daemon_lock_held(path: &Path) -> io::Result<bool> {
    let file = match OpenOptions::new().write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    match file.try_lock() {
        Ok(()) => Ok(false),
        Err(std::fs::TryLockError::WouldBlock) => Ok(true),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// The busd to run: `BUS_DAEMON`, else beside this executable, else on PATH.
pub fn find_busd(explicit: Option<&Path>) -> Result<PathBuf, StartError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("BUS_DAEMON").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    find_program("busd").ok_or_else(|| StartError::NotFound {
        beside: std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.display().to_string()))
            .unwrap_or_default(),
    })
}

/// One of claude-bus's programs: beside this executable (they are installed together), else
/// on PATH.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let beside = std::env::current_exe().ok()?.with_file_name(name);
    if beside.is_file() {
        return Some(beside);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

async fn spawn_and_wait(
    paths: &BusPaths,
    program: Option<&Path>,
    deadline: Duration,
) -> Result<(), StartError> {
    let program = find_busd(program)?;
    match spawn_daemon(paths, &program, &[], true, deadline).await {
        Ok(child) => {
            // Reap busd whenever it exits, so it never lingers as a zombie of this client.
            std::thread::spawn(move || {
                let mut child = child;
                child.wait()
            });
            Ok(())
        }
        // Another busd won the race for the daemon lock: that one will answer.
        Err(StartError::Failed(why)) if why.contains("already running") => Ok(()),
        Err(e) => Err(e),
    }
}

/// Spawn `program` as the busd for `paths` — `detached` in a new session, as clients start
/// it; attached, as test fixtures do — with `extra` arguments, and wait until it serves. Its
/// stderr goes to the log beside the database. If it exits before serving, its own error (the
/// tail of that log) is returned.
pub async fn spawn_daemon(
    paths: &BusPaths,
    program: &Path,
    extra: &[&str],
    detached: bool,
    deadline: Duration,
) -> Result<Child, StartError> {
    prepare_dir(paths.dir())?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&paths.log)?;
    let log_len = log.metadata()?.len();
    let (mut ready_rx, ready_tx) = io::pipe()?;

    let mut cmd = Command::new(program);
    cmd.arg("--ready-fd")
        .arg(READY_FD.to_string())
        .args(extra)
        .env("BUS_DB", &paths.db)
        .env("BUS_SOCKET", &paths.socket)
        .env("BUS_LOG_FILE", &paths.log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log));
    let fd = std::os::fd::AsRawFd::as_raw_fd(&ready_tx);
    // SAFETY: only async-signal-safe calls (setsid, dup2) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if detached && libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::dup2(fd, READY_FD) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    drop(ready_tx);
    tracing::info!(pid = child.id(), program = %program.display(), "started busd");

    let ready = tokio::time::timeout(
        deadline,
        tokio::task::spawn_blocking(move || {
            let mut b = [0u8; 1];
            ready_rx.read(&mut b).map(|n| n == 1)
        }),
    )
    .await;
    match ready {
        Ok(Ok(Ok(true))) => Ok(child),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(StartError::Timeout(deadline))
        }
        _ => {
            let status = child.wait()?;
            if std::os::unix::process::ExitStatusExt::signal(&status).is_some() {
                return Err(StartError::Killed(status.to_string()));
            }
            let why = log_tail(&paths.log, log_len);
            Err(StartError::Failed(format!(
                "busd exited ({status}): {}",
                if why.is_empty() {
                    "no output".into()
                } else {
                    why
                }
            )))
        }
    }
}

/// What busd wrote to its log after `from`, trimmed to the last few lines.
fn log_tail(path: &Path, from: u64) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let start = (from as usize).min(text.len());
    let text = String::from_utf8_lossy(&text[start..]);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join(" | ")
}
