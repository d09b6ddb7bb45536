//! Observing a running busd from outside: its counts, memory, descriptors and log events, and
//! raw connections whose log lines can be told apart.

#![allow(dead_code)]

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicU32, Ordering};

use proto::Welcome;
use proto::client::Client;

use crate::common::{Raw, TestBus, hello, status};

/// Tagged connections announce pids from here up: above any real pid (the kernel's limit is
/// 2^22).
const FAKE_PIDS: u32 = 1 << 23;

/// A handshaken raw connection with a client id of its own (request ids are keyed by it) and
/// a made-up pid of its own, which names it in busd's log ([`conn_of_pid`]); and that pid.
pub async fn tagged(bus: &TestBus) -> (Raw, u32) {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut hello = hello(
        proto::PROTOCOL_VERSION,
        &format!("tagged-{}-{n}", std::process::id()),
    );
    hello.pid = FAKE_PIDS + n;
    let (raw, welcome) = Raw::greet(bus, &hello).await;
    assert!(
        matches!(welcome, Welcome::Accepted { .. }),
        "handshake refused: {welcome:?}"
    );
    (raw, hello.pid)
}

/// What leaks would show in: open connections, sessions, waiting calls, descriptors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    pub connections: u64,
    pub sessions: u64,
    pub waiting: u64,
    pub fds: usize,
}

/// The daemon's footprint, as seen by `client` (whose own connection is counted).
pub async fn footprint(client: &Client) -> Footprint {
    let s = status(client).await;
    Footprint {
        connections: s.connections,
        sessions: s.sessions,
        waiting: s.waiting,
        fds: fd_count(s.pid),
    }
}

/// Resident memory of a process in KiB (`VmRSS`), 0 when it is gone.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Open descriptors of a process.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Block until `found` accepts the text of the log at `path`, or `timeout` passes (then the
/// log is returned as the error). Waits on inotify events for the file, never by sleeping.
pub fn wait_for_log(
    path: &Path,
    timeout: Duration,
    found: impl Fn(&str) -> bool,
) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    let watch = Inotify::new(path);
    loop {
        let log = std::fs::read_to_string(path).unwrap_or_default();
        if found(&log) {
            return Ok(log);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(log);
        }
        match &watch {
            Some(w) => w.wait(left),
            // No inotify: the deadline is the only event left (the caller then reports it).
            None => std::thread::sleep(left),
        }
    }
}

/// [`wait_for_log`] off the async runtime; panics with the log when it times out.
pub async fn log_event(
    path: &Path,
    what: &str,
    found: impl Fn(&str) -> bool + Send + 'static,
) -> String {
    let path: PathBuf = path.to_owned();
    let what = what.to_owned();
    tokio::task::spawn_blocking(move || {
        wait_for_log(&path, Duration::from_secs(30), found)
            .unwrap_or_else(|log| panic!("busd never logged {what}:\n{log}"))
    })
    .await
    .unwrap()
}

/// The connection number busd gave the client process `pid` (from its "connected" line).
pub fn conn_of_pid(log: &str, pid: u32) -> Option<u64> {
    let pid = format!(" pid={pid} ");
    log.lines()
        .rev()
        .filter(|l| l.contains("busd::conn: connected conn=") && l.contains(&pid))
        .find_map(|l| l.split("conn=").nth(1)?.split(' ').next()?.parse().ok())
}

/// Whether busd logged that connection `conn` is closed and accounted for.
pub fn disconnected(log: &str, conn: u64) -> bool {
    let line = format!("disconnected conn={conn}");
    log.lines().any(|l| l.ends_with(&line))
}

/// An inotify watch on one file's modifications.
struct Inotify {
    fd: i32,
}

impl Inotify {
    fn new(path: &Path) -> Option<Inotify> {
        let name = CString::new(path.as_os_str().as_bytes()).ok()?;
        // SAFETY: plain syscalls on a descriptor we own and a valid C string.
        unsafe {
            let fd = libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK);
            if fd < 0 {
                return None;
            }
            if libc::inotify_add_watch(fd, name.as_ptr(), libc::IN_MODIFY) < 0 {
                libc::close(fd);
                return None;
            }
            Some(Inotify { fd })
        }
    }

    /// Wait for the next modification (or `timeout`), then drain the queued events.
    fn wait(&self, timeout: Duration) {
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        let mut buf = [0u8; 4096];
        // SAFETY: poll and read on our own descriptor into a buffer we own.
        unsafe {
            libc::poll(&mut pfd, 1, ms);
            while libc::read(self.fd, buf.as_mut_ptr().cast(), buf.len()) > 0 {}
        }
    }
}

impl Drop for Inotify {
    fn drop(&mut self) {
        // SAFETY: closing the descriptor we opened.
        unsafe {
            libc::close(self.fd);
        }
    }
}
