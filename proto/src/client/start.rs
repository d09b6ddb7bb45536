//! Starting busd when no daemon answers: one starter at a time, detached, waited for.
//!
//! Clients serialise start-up with an exclusive lock on `start_lock`. The holder probes the
//! socket again (another client may have just started a daemon), refuses to start a second busd
//! for a database that one already serves on another socket, removes a socket file only when
//! connecting to it was refused *and* no busd holds the daemon lock, then spawns busd in a new
//! session with null stdin/stdout and its stderr appended to the log beside the database. busd
//! reports readiness by writing one byte to a pipe it inherits as `--ready-fd`; if it exits
//! first, the pipe closes and its own error (from its log) is reported. A busd that holds its
//! lock but never answers (its socket file was removed) is named, pid and all, instead of waited
//! for. Every folder and file on the way is checked private first ([`crate::private`]).

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::paths::{BusPaths, DbLockHolder};
use crate::private::{self, PrivateError};

/// The descriptor number busd's readiness pipe gets in the child.
const READY_FD: i32 = 3;

/// How long a busd that holds its lock without a socket file may take to exit on its own (it
/// removes its socket just before it exits).
const EXITING_GRACE: Duration = Duration::from_secs(1);

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
    /// A folder or file of the bus is not private to this user, or cannot be made.
    #[error("{0}")]
    Private(#[from] PrivateError),
    /// The database is already served by a busd listening elsewhere.
    #[error(
        "busd (pid {pid}) already serves the database {db} on the socket {socket}, not on {wanted}: set BUS_SOCKET={socket} to use it, or stop it with `kill {pid}`"
    )]
    OtherSocket {
        pid: u32,
        db: PathBuf,
        socket: PathBuf,
        wanted: PathBuf,
    },
    /// A live busd holds the daemon lock but does not answer on the socket.
    #[error(
        "busd (pid {pid}) holds {lock} but does not answer on {socket}{why}: stop it with `bus stop` (or `kill {pid}`), then try again"
    )]
    NotAnswering {
        pid: String,
        lock: PathBuf,
        socket: PathBuf,
        why: &'static str,
    },
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
}

impl StartError {
    fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> StartError {
        let context = context.into();
        move |source| StartError::Io { context, source }
    }
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
    prepare_dirs(paths)?;
    let lock = private::open_file(&paths.start_lock, "the start lock", false)?;
    let Some(guard) = lock_within(lock, deadline).await else {
        return Err(StartError::Timeout(deadline));
    };

    let result = async {
        if probe().await {
            return Ok(Started::AlreadyRunning);
        }
        if let Some(holder) = db_lock_holder(&paths.db_lock)
            && holder.socket != paths.socket
        {
            return Err(StartError::OtherSocket {
                pid: holder.pid,
                db: paths.db.clone(),
                socket: holder.socket,
                wanted: paths.socket.clone(),
            });
        }
        if let Some(held) = open_if_held(&paths.daemon_lock)? {
            // A busd is alive but not listening: shutting down (it removes its socket last,
            // just before it exits), or its socket file was removed under it.
            let socket_gone = !paths.socket.exists();
            let wait = if socket_gone {
                deadline.min(EXITING_GRACE)
            } else {
                deadline
            };
            let pid = std::fs::read_to_string(&paths.daemon_lock).unwrap_or_default();
            if lock_within(held, wait).await.is_none() {
                if probe().await {
                    return Ok(Started::AlreadyRunning);
                }
                return Err(StartError::NotAnswering {
                    pid: pid.trim().to_string(),
                    lock: paths.daemon_lock.clone(),
                    socket: paths.socket.clone(),
                    why: if socket_gone {
                        " (its socket file was removed)"
                    } else {
                        ""
                    },
                });
            }
        }
        match std::fs::remove_file(&paths.socket) {
            Ok(()) => tracing::info!(socket = %paths.socket.display(), "removed a stale socket"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(StartError::io(format!(
                    "cannot remove the stale socket {}",
                    paths.socket.display()
                ))(e));
            }
        }
        spawn_and_wait(paths, program, deadline).await?;
        Ok(Started::Spawned)
    }
    .await;
    drop(guard);
    result
}

/// Create the database's and the socket's folders `0700` if missing, or check them.
fn prepare_dirs(paths: &BusPaths) -> Result<(), PrivateError> {
    private::prepare_dir(paths.dir(), "the bus folder")?;
    if paths.socket_dir() != paths.dir() {
        private::make_or_check_dir(paths.socket_dir(), "the socket's folder")?;
    }
    Ok(())
}

/// Take an exclusive lock on `file`, waiting at most `deadline`. The wait runs on a thread of
/// its own, detached when the deadline passes, so an abandoned wait never keeps this process
/// from exiting (a blocking task of the runtime would).
async fn lock_within(file: File, deadline: Duration) -> Option<File> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("bus-lock-wait".into())
        .spawn(move || {
            if file.lock().is_ok() {
                let _ = tx.send(file);
            }
        })
        .ok()?;
    tokio::time::timeout(deadline, rx).await.ok()?.ok()
}

/// The lock file at `path`, opened, if a live process holds it (a lock dies with its process).
fn open_if_held(path: &Path) -> Result<Option<File>, StartError> {
    let file = match open_existing(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StartError::io(format!("cannot open {}", path.display()))(e)),
    };
    match file.try_lock() {
        Ok(()) => Ok(None),
        Err(std::fs::TryLockError::WouldBlock) => Ok(Some(file)),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(StartError::io(format!("cannot lock {}", path.display()))(e))
        }
    }
}

/// A busd that runs for a bus, answering or not, as its locks tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningBusd {
    pub pid: u32,
    /// The socket it serves.
    pub socket: PathBuf,
    /// A lock it holds, free once it has exited.
    pub lock: PathBuf,
}

/// The busd that holds the socket's lock of `paths`, or else the database's lock (then it may
/// serve another socket), if one runs.
pub fn running_busd(paths: &BusPaths) -> Option<RunningBusd> {
    if let Ok(Some(mut file)) = open_if_held(&paths.daemon_lock) {
        let mut text = String::new();
        if file.read_to_string(&mut text).is_ok()
            && let Ok(pid) = text.trim().parse()
        {
            return Some(RunningBusd {
                pid,
                socket: paths.socket.clone(),
                lock: paths.daemon_lock.clone(),
            });
        }
    }
    db_lock_holder(&paths.db_lock).map(|holder| RunningBusd {
        pid: holder.pid,
        socket: holder.socket,
        lock: paths.db_lock.clone(),
    })
}

/// Who serves the database, if a live busd holds its lock.
fn db_lock_holder(path: &Path) -> Option<DbLockHolder> {
    let mut file = open_if_held(path).ok()??;
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    DbLockHolder::parse(&text)
}

/// Open an existing lock file for reading, never through a symlink.
fn open_existing(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
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
    prepare_dirs(paths)?;
    let log = private::open_file(&paths.log, "busd's log", true)?;
    let log_len = log
        .metadata()
        .map_err(StartError::io(format!(
            "cannot read {}",
            paths.log.display()
        )))?
        .len();
    let (mut ready_rx, ready_tx) =
        io::pipe().map_err(StartError::io("cannot make busd's readiness pipe"))?;

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
    let mut child = cmd.spawn().map_err(StartError::io(format!(
        "cannot run busd ({}; set BUS_DAEMON to the busd to run)",
        program.display()
    )))?;
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
            let status = child
                .wait()
                .map_err(StartError::io("cannot wait for busd"))?;
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

/// Why busd exited, from what it wrote to its log after `from`: its own last word (the line it
/// prints as `busd: …` when it gives up), else the last few lines.
fn log_tail(path: &Path, from: u64) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let start = (from as usize).min(text.len());
    let text = String::from_utf8_lossy(&text[start..]);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if let Some(last_word) = lines.iter().rev().find_map(|l| l.strip_prefix("busd: ")) {
        return last_word.to_string();
    }
    lines[lines.len().saturating_sub(3)..].join(" | ")
}
