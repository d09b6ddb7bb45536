//! Observing a running busd from outside: its counts, memory, descriptors and log events, and
//! raw connections whose log lines can be told apart.

#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use std::sync::atomic::{AtomicU32, Ordering};

use proto::Welcome;
use proto::client::Client;

use crate::common::{Raw, TempBus, hello, status};

/// Tagged connections announce pids from here up: above any real pid (the kernel's limit is
/// 2^22).
const FAKE_PIDS: u32 = 1 << 23;

/// A handshaken raw connection with a client id of its own (request ids are keyed by it) and
/// a made-up pid of its own, which names it in busd's log ([`conn_of_pid`]); and that pid.
pub async fn tagged(bus: &TempBus) -> (Raw, u32) {
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

/// Wait (off the async runtime) until busd's log at `path` satisfies `found`; panics with
/// the log when it does not within 30 s.
pub async fn log_event(
    path: &Path,
    what: &str,
    found: impl Fn(&str) -> bool + Send + 'static,
) -> String {
    testkit::files::event(path, Duration::from_secs(30), what, found).await
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
