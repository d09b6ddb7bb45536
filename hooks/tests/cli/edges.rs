//! Edges a newcomer or a script hits: arguments that are not UTF-8, output cut short, names
//! never seen, and exit codes that say what happened.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::common::Bus;

fn not_utf8() -> &'static OsStr {
    OsStr::from_bytes(b"caf\xe9")
}

#[tokio::test]
async fn an_argument_that_is_not_utf8_is_a_usage_error_not_a_panic() {
    let bus = Bus::empty();
    for args in [
        vec![OsStr::new("send"), OsStr::new("bob"), not_utf8()],
        vec![OsStr::new("--as"), not_utf8(), OsStr::new("inbox")],
    ] {
        let out = bus.bus_os(&args).run().await;
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(!out.stderr.contains("panicked"), "{args:?}: {out:?}");
        assert!(out.stderr.contains("UTF-8"), "{args:?}: {out:?}");
    }
    assert!(!bus.daemon_running(), "a usage error starts no busd");
}

#[tokio::test]
async fn a_hook_with_an_argument_that_is_not_utf8_exits_0() {
    let bus = Bus::empty();
    for args in [
        vec![
            OsStr::new("hook"),
            OsStr::new("stop"),
            OsStr::new("--timeout"),
            not_utf8(),
        ],
        vec![
            OsStr::new("--as"),
            not_utf8(),
            OsStr::new("hook"),
            OsStr::new("prompt"),
        ],
        vec![OsStr::new("hook"), not_utf8()],
    ] {
        let out = bus.bus_os(&args).run().await;
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
        assert!(!out.stderr.contains("panicked"), "{args:?}: {out:?}");
    }
}

#[tokio::test]
async fn send_to_a_name_never_seen_is_accepted_with_a_note() {
    let bus = Bus::start().await;
    let out = bus
        .bus(&["send", "nosuchagent", "hi", "--as", "alice"])
        .run()
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("sent #1 to nosuchagent"), "{out:?}");
    assert!(
        out.stdout
            .contains("no session has registered 'nosuchagent'"),
        "{out:?}"
    );
    // JSON stays the tool's result; the note goes to stderr.
    let out = bus
        .bus(&["send", "nosuchagent", "hi", "--as", "alice", "--json"])
        .run()
        .await;
    assert_eq!(
        out.json(),
        serde_json::json!({"id": 2, "to": "nosuchagent"})
    );
    assert!(out.stderr.contains("no session has registered"), "{out:?}");
    // A name that registered gets no note, nor does a broadcast.
    bus.bus(&["inbox", "--as", "nosuchagent"]).run().await;
    for to in ["nosuchagent", "all"] {
        let out = bus.bus(&["send", to, "hi", "--as", "alice"]).run().await;
        assert_eq!(out.code, 0, "{out:?}");
        assert!(!out.stdout.contains("note:"), "{out:?}");
    }
}

#[tokio::test]
async fn inbox_as_a_new_name_with_no_mail_adds_no_agent() {
    let bus = Bus::start().await;
    let out = bus.bus(&["inbox", "--as", "typo"]).run().await;
    assert_eq!(out.code, 0, "{out:?}");
    let agents = bus.bus(&["agents", "--all", "--json"]).run().await.json();
    assert_eq!(agents, serde_json::json!({"agents": []}), "{agents}");
}

#[tokio::test]
async fn status_answers_whether_busd_runs_without_starting_one() {
    let bus = Bus::empty();
    let out = bus.bus(&["status"]).run().await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("not running"), "{out:?}");
    assert!(
        out.stdout.contains(&bus.paths.db.display().to_string()),
        "{out:?}"
    );
    let out = bus.bus(&["status", "--json"]).run().await;
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.json()["running"], false, "{out:?}");
    assert!(!bus.daemon_running(), "bus status started a busd");

    let bus = Bus::start().await;
    let out = bus.bus(&["status"]).run().await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("running, pid"), "{out:?}");
}

#[tokio::test]
async fn state_get_of_a_missing_key_exits_1() {
    let bus = Bus::start().await;
    let out = bus.bus(&["state", "get", "nokey"]).run().await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("no key 'nokey'"), "{out:?}");
    let out = bus.bus(&["state", "get", "nokey", "--json"]).run().await;
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.json(), serde_json::json!({"state": []}));
    // Every key of an empty bus is an answer, not a failure.
    let out = bus.bus(&["state", "get"]).run().await;
    assert_eq!((out.code, out.stdout.trim()), (0, "no keys"), "{out:?}");
    bus.bus(&["state", "set", "k", "v"]).run().await;
    let out = bus.bus(&["state", "get", "k"]).run().await;
    assert_eq!(out.code, 0, "{out:?}");
}

#[tokio::test]
async fn a_negative_wait_is_refused_with_the_range() {
    let bus = Bus::start().await;
    let out = bus
        .bus(&["inbox", "--as", "bob", "--wait", "-1"])
        .run()
        .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(!out.stderr.contains("unexpected argument"), "{out:?}");
    assert!(out.stderr.contains("wait"), "{out:?}");
}

#[tokio::test]
async fn stdin_that_is_not_utf8_says_what_to_do() {
    let bus = Bus::start().await;
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg("printf 'caf\\351' | \"$0\" send bob - --as alice")
        .arg(crate::common::bus_exe())
        .env("BUS_DB", &bus.paths.db);
    let out = crate::common::Cmd::new(cmd).run().await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("stdin is not UTF-8 text"), "{out:?}");
    assert!(out.stderr.contains("iconv"), "{out:?}");
}

/// Claude Code gone before the hook writes its context: the hook still exits 0.
#[tokio::test]
async fn a_hook_whose_stdout_is_closed_exits_0() {
    let bus = Bus::start().await;
    bus.bus(&["register", "alice", "--role", "backend"])
        .run()
        .await;
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = std::process::Command::new(crate::common::bus_exe())
        .args(["hook", "prompt"])
        .env("BUS_DB", &bus.paths.db)
        .env("BUS_NAME", "alice")
        .env_remove("BUS_SOCKET")
        .env_remove("CLAUDE_CODE_SESSION_ID")
        .stdin(std::process::Stdio::null())
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run the hook");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
