//! `bus demo`: a newcomer sees two sessions talk and a Stop hook wake up, without Claude Code.

use crate::common::{Bus, sibling};

#[tokio::test]
async fn demo_shows_two_sessions_talking_and_the_hook_waking() {
    let bus = Bus::empty();
    let out = bus
        .bus(&["demo", "--rounds", "2"])
        .env("BUS_DAEMON", sibling("busd"))
        .run()
        .await;
    println!("{}", out.stdout);
    assert_eq!(out.code, 0, "{out:?}");
    for needle in [
        "bob -> alice  #1 \"message 1 from bob\"",
        "alice woke up",
        "alice -> bob  #2 \"message 2 from alice\" (reply to #1)",
        "the hook exited 2",
        "| are you still there?",
        "wake-up latency through bus-shim over 2 messages: median",
        "wake-up latency of the Stop hook:",
    ] {
        assert!(out.stdout.contains(needle), "{needle:?} missing");
    }
}

/// A demo started and read up to its fifth line, by which both sessions have registered and
/// their busd runs: the demo, the rest of its stdout, its temp folder and its busd's pid.
async fn demo_under_way(
    bus: &Bus,
) -> (
    crate::process::Running,
    tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    std::path::PathBuf,
    i32,
) {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let mut running = bus
        .bus(&["demo", "--rounds", "2"])
        .env("BUS_DAEMON", sibling("busd"))
        .start()
        .await;
    let stdout = running.child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut head = Vec::new();
    while head.len() < 5 {
        let line = lines.next_line().await.expect("read").expect("5 lines");
        head.push(line);
    }
    let dir = head[0]
        .rsplit(" in ")
        .next()
        .expect("the first line names the throwaway bus");
    let dir = std::path::PathBuf::from(dir);
    let paths = proto::paths::BusPaths::new(dir.join("bus.db"), None);
    let pid: i32 = std::fs::read_to_string(&paths.daemon_lock)
        .expect("the demo's busd lock")
        .trim()
        .parse()
        .expect("a pid in the lock");
    (running, lines, dir, pid)
}

/// Whether process `pid` exits (is gone, or a zombie not reaped yet) within a few seconds.
/// busd's lock is released when its files close, a moment before the process itself ends, so
/// the test waits on a pidfd for the end rather than looking once.
fn exits(pid: i32) -> bool {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if fd < 0 {
        return std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
    }
    let mut poll = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd that lives across the call; the descriptor is ours to close.
    let ready = unsafe { libc::poll(&mut poll, 1, 5_000) };
    unsafe { libc::close(fd) };
    ready == 1
}

/// `bus demo | head -5`: the demo ends quietly when its reader goes away, and stops the busd of
/// its throwaway bus before that bus's folder is removed.
#[tokio::test]
async fn demo_into_a_closed_pipe_ends_quietly_and_stops_its_busd() {
    let bus = Bus::empty();
    let (running, lines, dir, pid) = demo_under_way(&bus).await;
    drop(lines);
    let out = running.finish().await;
    assert!(!out.stderr.contains("panicked"), "{out:?}");
    assert_eq!(out.code, 141, "{out:?}");
    assert!(!dir.exists(), "the temp bus is removed");
    assert!(exits(pid), "busd {pid} still runs 5 s after the demo ended");
}

/// Ctrl-C during the demo stops its bus too.
#[tokio::test]
async fn demo_interrupted_stops_its_busd() {
    let bus = Bus::empty();
    let (running, _lines, dir, pid) = demo_under_way(&bus).await;
    let demo = running.child.id().expect("the demo runs") as i32;
    // SAFETY: signalling the demo this test started.
    unsafe { libc::kill(demo, libc::SIGINT) };
    let out = running.finish().await;
    assert_eq!(out.code, 130, "{out:?}");
    assert!(out.stderr.contains("interrupted"), "{out:?}");
    assert!(!dir.exists(), "the temp bus is removed");
    assert!(exits(pid), "busd {pid} still runs 5 s after the demo ended");
}

#[tokio::test]
async fn demo_json_prints_one_document_with_the_figures() {
    let bus = Bus::empty();
    let out = bus
        .bus(&["demo", "--rounds", "2", "--json"])
        .env("BUS_DAEMON", sibling("busd"))
        .run()
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let doc = out.json();
    assert_eq!(doc["messages"].as_array().map(Vec::len), Some(2), "{doc}");
    assert_eq!(doc["messages"][1]["reply_to"], 1, "{doc}");
    assert_eq!(doc["stop_hook"]["exit_code"], 2, "{doc}");
    assert!(doc["wake_ms"]["median"].is_f64(), "{doc}");
}
