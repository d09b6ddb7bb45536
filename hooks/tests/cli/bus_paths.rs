//! Bad `BUS_DB`/`BUS_SOCKET` values, as a newcomer meets them: each error names the path and
//! the fix, once; and `bus stop` stops a busd that runs but no longer answers on its socket.

use serde_json::json;

use crate::common::*;

/// `bus agents` (a command that starts busd) with `var` set to `value`: its one-line error.
async fn start_error(bus: &Bus, var: &str, value: impl AsRef<std::ffi::OsStr>) -> String {
    let out = bus.bus(&["agents"]).env(var, value).run().await;
    assert_eq!(out.code, 1, "{out:?}");
    let line = out.stderr.trim().to_string();
    assert_eq!(line.lines().count(), 1, "one line: {out:?}");
    assert!(!line.contains(" | "), "no reason said twice: {line}");
    line
}

#[tokio::test]
async fn a_bus_db_under_a_file_names_the_path_and_the_fix() {
    let bus = Bus::empty();
    let file = bus.dir.path().join("plain-file");
    std::fs::write(&file, b"").unwrap();
    let why = start_error(&bus, "BUS_DB", file.join("bus.db")).await;
    assert!(why.contains(&file.display().to_string()), "{why}");
    assert!(why.contains("is not a folder"), "{why}");
    assert!(why.contains("BUS_DB"), "{why}");
}

#[tokio::test]
async fn a_relative_bus_db_is_refused_with_the_absolute_path_to_use() {
    let bus = Bus::empty();
    let why = start_error(&bus, "BUS_DB", "rel/bus.db").await;
    assert!(
        why.contains("BUS_DB=rel/bus.db is a relative path"),
        "{why}"
    );
}

#[tokio::test]
async fn a_socket_path_too_long_says_to_set_bus_socket() {
    let bus = Bus::empty();
    let deep = bus.dir.path().join("d".repeat(100)).join("bus.db");
    let why = start_error(&bus, "BUS_DB", &deep).await;
    assert!(why.contains("set BUS_SOCKET to a shorter path"), "{why}");
}

#[tokio::test]
async fn a_socket_in_a_folder_not_made_yet_just_works() {
    let bus = Bus::empty();
    let socket = bus.dir.path().join("run/sub/b.sock");
    let out = bus
        .bus(&["send", "b", "hello", "--as", "a"])
        .env("BUS_SOCKET", &socket)
        .run()
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let stopped = bus.bus(&["stop"]).env("BUS_SOCKET", &socket).run().await;
    assert_eq!(stopped.code, 0, "{stopped:?}");
}

#[tokio::test]
async fn a_refusal_by_busd_is_said_once() {
    let bus = Bus::empty();
    std::fs::write(
        &bus.paths.db,
        b"not a database, just some bytes, long enough",
    )
    .unwrap();
    let out = bus.bus(&["agents"]).run().await;
    assert_eq!(out.code, 1, "{out:?}");
    let line = out.stderr.trim();
    assert!(line.contains("is not a usable SQLite database"), "{line}");
    assert_eq!(line.matches("not a usable").count(), 1, "{line}");
}

#[tokio::test]
async fn stop_stops_a_busd_whose_socket_file_was_removed() {
    let bus = Bus::start().await;
    let pid = bus.bus(&["status", "--json"]).run().await.json()["pid"].clone();
    std::fs::remove_file(&bus.paths.socket).unwrap();
    let stopped = bus.bus(&["stop", "--json"]).run().await;
    assert_eq!(
        stopped.json(),
        json!({"stopped": true, "pid": pid}),
        "{stopped:?}"
    );
    assert!(!bus.daemon_running(), "stop returns once busd has exited");
    let sent = bus.bus(&["send", "b", "hello", "--as", "a"]).run().await;
    assert_eq!(sent.code, 0, "a new busd starts: {sent:?}");
}
