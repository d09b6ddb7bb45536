//! Getting a socket to serve: the bus folder, the daemon lock, binding, or inheriting one.
//!
//! The database's and the socket's folders are created `0700` and must be private to busd's
//! user (see [`proto::private`]); the socket is created `0600`. busd holds an exclusive lock
//! beside the database and one beside the socket for its whole life, so exactly one daemon
//! serves a database and exactly one a socket. Under systemd
//! (`LISTEN_FDS`) or launchd (`launch_activate_socket`) the listening socket is inherited, and
//! busd never binds a second one.

use std::fs::File;
use std::io::{self, Write as _};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

use anyhow::{Context, bail};
use interprocess::local_socket::tokio::{Listener, Stream};
use interprocess::local_socket::traits::StreamCommon;
use interprocess::local_socket::{GenericFilePath, ListenerOptions, ToFsName};
use interprocess::os::unix::local_socket::ListenerOptionsExt;
use proto::paths::{BusPaths, DbLockHolder};

/// First inherited descriptor under systemd socket activation (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: i32 = 3;

/// The daemon's locks, held until busd exits: the database's (one busd per SQLite database,
/// whatever socket it serves) and the socket's (one busd per socket).
#[derive(Debug)]
pub struct DaemonLock {
    _db: File,
    _socket: File,
}

impl DaemonLock {
    /// Take both locks for `paths`, or say which busd holds one and what to do.
    pub fn acquire(paths: &BusPaths) -> anyhow::Result<DaemonLock> {
        let mut db = lock_file(&paths.db_lock, "the database lock")?;
        if !try_lock(&db, &paths.db_lock)? {
            let text = std::fs::read_to_string(&paths.db_lock).unwrap_or_default();
            match DbLockHolder::parse(&text) {
                Some(holder) if holder.socket != paths.socket => bail!(
                    "busd is already running for the database {} (pid {}) on the socket {}: set BUS_SOCKET={} to use it, or stop it with `kill {}`; one database is served by one busd",
                    paths.db_shown(),
                    holder.pid,
                    holder.socket.display(),
                    holder.socket.display(),
                    holder.pid
                ),
                holder => bail!(
                    "busd is already running for {} (pid {}): use it, or stop it with `bus stop`",
                    paths.socket.display(),
                    holder.map_or_else(|| "unknown".to_string(), |h| h.pid.to_string())
                ),
            }
        }
        let mut socket = lock_file(&paths.daemon_lock, "the daemon lock")?;
        if !try_lock(&socket, &paths.daemon_lock)? {
            let pid = std::fs::read_to_string(&paths.daemon_lock).unwrap_or_default();
            bail!(
                "busd is already running for {} (pid {}): use it, or stop it with `bus stop`",
                paths.socket.display(),
                pid.trim()
            );
        }
        let holder = DbLockHolder {
            pid: std::process::id(),
            socket: paths.socket.clone(),
        };
        rewrite(&mut db, &paths.db_lock, &holder.to_text())?;
        rewrite(
            &mut socket,
            &paths.daemon_lock,
            &std::process::id().to_string(),
        )?;
        Ok(DaemonLock {
            _db: db,
            _socket: socket,
        })
    }
}

fn lock_file(path: &Path, what: &'static str) -> anyhow::Result<File> {
    Ok(proto::private::open_file(path, what, false)?)
}

/// Take `file`'s exclusive lock if it is free; `false` if another process holds it.
fn try_lock(file: &File, path: &Path) -> anyhow::Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

fn rewrite(file: &mut File, path: &Path, text: &str) -> anyhow::Result<()> {
    file.set_len(0)
        .and_then(|()| file.write_all(text.as_bytes()))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Create the database's and the socket's folders `0700`, or check that existing ones are
/// real folders of ours that no one else can write to (see [`proto::private`]).
pub fn prepare_dirs(paths: &BusPaths) -> anyhow::Result<()> {
    proto::private::prepare_dir(paths.dir(), "the bus folder")?;
    if paths.socket_dir() != paths.dir() {
        proto::private::make_or_check_dir(paths.socket_dir(), "the socket's folder")?;
    }
    Ok(())
}

/// Bind the socket `0600`, replacing a stale file (the daemon lock proves no busd owns it).
pub fn bind(socket: &Path, _lock: &DaemonLock) -> anyhow::Result<Listener> {
    match std::fs::remove_file(socket) {
        Ok(()) => tracing::info!(socket = %socket.display(), "replaced a stale socket file"),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e)
                .with_context(|| format!("removing the stale socket {}", socket.display()));
        }
    }
    let name = socket.to_fs_name::<GenericFilePath>()?;
    let mut listener = ListenerOptions::new()
        .name(name)
        .mode(0o600)
        .create_tokio()
        .with_context(|| format!("binding {}", socket.display()))?;
    // busd removes the file itself, last, once the database is closed.
    interprocess::local_socket::traits::tokio::Listener::do_not_reclaim_name_on_drop(&mut listener);
    Ok(listener)
}

/// The listening socket systemd passed, if busd was socket-activated (`LISTEN_PID` is ours and
/// `LISTEN_FDS` ≥ 1). The variables are removed so children do not inherit them. Call it before
/// any thread starts; turn the descriptor into a listener with [`inherited`] inside the runtime.
pub fn from_systemd() -> anyhow::Result<Option<OwnedFd>> {
    let pid = std::env::var("LISTEN_PID").ok();
    let fds = std::env::var("LISTEN_FDS").ok();
    let (Some(pid), Some(fds)) = (pid, fds) else {
        return Ok(None);
    };
    // SAFETY: busd is single-threaded at this point (called before the runtime starts).
    unsafe {
        std::env::remove_var("LISTEN_PID");
        std::env::remove_var("LISTEN_FDS");
        std::env::remove_var("LISTEN_FDNAMES");
    }
    if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
        return Ok(None);
    }
    let count: i32 = fds.trim().parse().context("LISTEN_FDS is not a number")?;
    if count < 1 {
        return Ok(None);
    }
    if count > 1 {
        tracing::warn!(count, "systemd passed several sockets; serving the first");
    }
    // SAFETY: systemd hands busd descriptor 3 for it to own; nothing else in busd uses it.
    let fd = unsafe { OwnedFd::from_raw_fd(LISTEN_FDS_START) };
    set_cloexec(&fd)?;
    Ok(Some(fd))
}

/// The listening socket launchd created for the `Listeners` entry of busd's LaunchAgent, if
/// busd was started by launchd with socket activation.
#[cfg(target_os = "macos")]
pub fn from_launchd() -> anyhow::Result<Option<OwnedFd>> {
    use std::ffi::{CString, c_char, c_int};
    unsafe extern "C" {
        // From liblaunch (part of libSystem): hands over the sockets of a `Sockets` entry.
        fn launch_activate_socket(
            name: *const c_char,
            fds: *mut *mut c_int,
            cnt: *mut usize,
        ) -> c_int;
    }
    let name = CString::new("Listeners")?;
    let mut fds: *mut c_int = std::ptr::null_mut();
    let mut count: usize = 0;
    // SAFETY: launchd fills `fds` with `count` descriptors allocated with malloc; we own them.
    let rc = unsafe { launch_activate_socket(name.as_ptr(), &mut fds, &mut count) };
    if rc != 0 || fds.is_null() || count == 0 {
        // ESRCH: not started by launchd; ENOENT: no such socket entry.
        return Ok(None);
    }
    // SAFETY: `fds` points at `count` descriptors; we keep the first and close the others.
    let first = unsafe {
        let all = std::slice::from_raw_parts(fds, count);
        for &extra in &all[1..] {
            libc::close(extra);
        }
        let first = all[0];
        libc::free(fds.cast());
        OwnedFd::from_raw_fd(first)
    };
    set_cloexec(&first)?;
    Ok(Some(first))
}

/// Not macOS: there is no launchd to inherit a socket from.
#[cfg(not(target_os = "macos"))]
pub fn from_launchd() -> anyhow::Result<Option<OwnedFd>> {
    Ok(None)
}

/// The filesystem path an inherited listening socket is bound to, if it has one.
pub fn bound_path(fd: &OwnedFd) -> Option<std::path::PathBuf> {
    let listener = std::os::unix::net::UnixListener::from(fd.try_clone().ok()?);
    let path = listener.local_addr().ok()?.as_pathname()?.to_path_buf();
    Some(path)
}

/// A listener over an inherited listening socket (must run inside the runtime).
pub fn inherited(fd: OwnedFd) -> anyhow::Result<Listener> {
    let listener = interprocess::os::unix::uds_local_socket::tokio::Listener::try_from(fd)
        .context("the inherited descriptor is not a listening Unix socket")?;
    Ok(listener.into())
}

fn set_cloexec(fd: &OwnedFd) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: fcntl on a descriptor we own.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Only processes of busd's own user may connect.
pub(crate) fn check_peer(stream: &Stream) -> Result<(), String> {
    let creds = stream
        .peer_creds()
        .map_err(|e| format!("cannot read the peer's credentials: {e}"))?;
    // SAFETY: getuid has no preconditions and cannot fail.
    let ours = unsafe { libc::getuid() };
    match creds.euid() {
        Some(uid) if uid == ours => Ok(()),
        Some(uid) => Err(format!("peer uid {uid} is not busd's uid {ours}")),
        None => Err("the peer's uid is unknown".into()),
    }
}
