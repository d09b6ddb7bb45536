//! Channels in the real CLI: with `BUS_CHANNEL=1` Claude Code connects to the shim over a
//! revision that carries channel notifications (its own log says which); with the channel
//! flags and its channels feature on, an idle session gets a message pushed into it and never
//! handed over again; where Claude Code drops a push (its feature off) no mail is lost.

use std::io::Read as _;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{Bus, PATIENCE};
use crate::fake_api::{Block, FakeApi, Request, Script};
use crate::install::{claude, tmux};
use crate::session::{Place, Tmux};

/// The flag that enables the plugin's channel in a session (no marketplace approval needed).
const DEV_CHANNELS: [&str; 2] = [
    "--dangerously-load-development-channels",
    "server:plugin:claude-bus:bus",
];

/// The channel tag Claude Code wraps a push of message `id` from the bus in.
fn channel_tag(id: i64) -> String {
    format!("<channel source=\"plugin:claude-bus:bus\" message_id=\"{id}\"")
}

/// Turn Claude Code's channels feature on, as a session that fetched its feature flags has
/// it: the flag cached in `~/.claude.json`, which Claude Code reads with telemetry off only
/// when told to (`CLAUDE_CODE_GB_DISK_CACHE_WHEN_TELEMETRY_OFF=1`, in the place's env).
fn feature_on(place: &Place) {
    let home = place.env.iter().find(|(k, _)| k == "HOME").unwrap();
    let file = std::path::Path::new(&home.1).join(".claude.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    config["cachedGrowthBookFeatures"] = json!({"tengu_harbor": true});
    std::fs::write(&file, config.to_string()).unwrap();
}

/// Terminal output as letters only: escape sequences (the TUI moves the cursor between
/// words) and whitespace taken out.
fn squeezed(raw: &str) -> String {
    let mut out = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ params final-byte; other escapes: one more character.
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// Accept the warning Claude Code shows for development channels: its pane's output is
/// piped to a FIFO and read (blocking, no polling) until the choice is on screen.
fn accept_dev_channels_warning(tui: &Tmux, dir: &std::path::Path) {
    const CHOICE: &str = "I am using this for local development";
    let fifo = dir.join("pane.fifo");
    let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path; mkfifo has no other preconditions.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux")
            .arg("-L")
            .arg(&tui.socket)
            .args(args)
            .output()
            .expect("run tmux")
    };
    tmux(&[
        "pipe-pane",
        "-t",
        "e2e",
        &format!("cat > '{}'", fifo.display()),
    ]);
    // Drawn before the pipe was set up: it is on screen already.
    let screen = tmux(&["capture-pane", "-p", "-t", "e2e"]);
    if !String::from_utf8_lossy(&screen.stdout).contains(CHOICE) {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            if let Ok(mut f) = std::fs::File::open(&fifo) {
                let mut buf = [0u8; 4096];
                while let Ok(n) = f.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    if squeezed(&String::from_utf8_lossy(&seen)).contains(&squeezed(CHOICE)) {
                        let _ = tx.send(());
                        break;
                    }
                }
            }
        });
        rx.recv_timeout(PATIENCE)
            .expect("Claude Code showed no development-channels warning");
    }
    tmux(&["pipe-pane", "-t", "e2e"]);
    tmux(&["send-keys", "-t", "e2e", "Enter"]);
}

/// Block until Claude Code's debug log at `log` holds `needle` (an inotify wait, no polling).
fn wait_for_log_line(log: &std::path::Path, needle: &str) {
    if let Err(text) = testkit::files::wait_for(log, PATIENCE, |l| l.contains(needle)) {
        panic!("Claude Code's debug log had no {needle:?} within {PATIENCE:?}:\n{text}");
    }
}

/// The line Claude Code's debug log writes when the bus's server connects.
fn connection_line(log: &str) -> String {
    log.lines()
        .find(|l| l.contains("\"plugin:claude-bus:bus\": Connection established"))
        .unwrap_or_else(|| panic!("no connection line for the bus in the debug log:\n{log}"))
        .to_owned()
}

/// The turn makes bob write to alice, so mail arrives while the session runs.
fn mail_mid_turn() -> Script {
    Box::new(|requests: &[Request]| {
        let text = requests.last()?.last_text();
        if text.contains("work on it") && !text.contains("ping from bob") {
            return Some(vec![Block::Tool(
                "Bash".into(),
                json!({"command": "bus send alice 'ping from bob' --as bob",
                       "description": "bob writes to alice"}),
            )]);
        }
        None
    })
}

#[tokio::test]
async fn with_bus_channel_the_revision_carries_channels_and_no_mail_is_lost() {
    let Some(claude) = claude() else { return };
    let bus = Bus::start().await;
    let api = FakeApi::start(mail_mid_turn()).await;
    let place = Place::new(&bus, &api, &[("BUS_NAME", "alice"), ("BUS_CHANNEL", "1")]);
    let log = place.project.path().join("claude-debug.log");
    let child = place.headless_with(
        &claude,
        "work on it",
        &[
            "--dangerously-load-development-channels",
            "server:plugin:claude-bus:bus",
            "--debug-file",
            &log.to_string_lossy(),
        ],
    );
    let out = api.finish(child).await;
    assert!(out.status.success(), "{out:?}");
    let line = connection_line(&std::fs::read_to_string(&log).unwrap());
    assert!(
        line.contains(r#""protocolEra":"legacy""#),
        "Claude Code negotiated a revision without channel notifications: {line}"
    );
    // Offline, Claude Code's channels feature is off and it drops the push: the Stop hook
    // handed the mail over once the grace for the channel was past.
    assert!(
        api.requests()
            .iter()
            .any(|r| r.last_text().contains("--- message 1 from 'bob'")),
        "bob's mail was lost: {:#?}",
        api.summary()
    );
}

#[tokio::test]
async fn without_bus_channel_claude_code_connects_over_the_newest_revision() {
    let Some(claude) = claude() else { return };
    let bus = Bus::start().await;
    let api = FakeApi::start(Box::new(|_| None)).await;
    let place = Place::new(&bus, &api, &[("BUS_NAME", "alice")]);
    let log = place.project.path().join("claude-debug.log");
    let child = place.headless_with(&claude, "hi", &["--debug-file", &log.to_string_lossy()]);
    let out = api.finish(child).await;
    assert!(out.status.success(), "{out:?}");
    let line = connection_line(&std::fs::read_to_string(&log).unwrap());
    assert!(line.contains(r#""protocolEra":"modern""#), "{line}");
}

#[tokio::test]
async fn with_the_channel_flags_an_idle_session_gets_the_push_and_nothing_twice() {
    let Some(claude) = claude().filter(|_| tmux()) else {
        return;
    };
    let bus = Bus::start().await;
    let api = FakeApi::start(Box::new(|_| None)).await;
    let place = Place::new(
        &bus,
        &api,
        &[
            ("BUS_NAME", "alice"),
            ("BUS_CHANNEL", "1"),
            ("CLAUDE_CODE_GB_DISK_CACHE_WHEN_TELEMETRY_OFF", "1"),
        ],
    );
    feature_on(&place);
    let log = place.project.path().join("claude-debug.log");
    let log_arg = log.to_string_lossy().into_owned();
    let args = [DEV_CHANNELS[0], DEV_CHANNELS[1], "--debug-file", &log_arg];
    let tui = place.interactive_with(&claude, "say hello", &args);
    accept_dev_channels_warning(&tui, place.project.path());
    let (first, _) = api.next(0, "for the first prompt").await;
    // Claude Code takes the push only once its handler is on (it registers it after the
    // server connects, which on a slow machine comes after the first request); a push
    // before that is dropped and handed over by the Stop hook instead, a different test.
    let registered = log.clone();
    tokio::task::spawn_blocking(move || {
        wait_for_log_line(&registered, "Channel notifications registered")
    })
    .await
    .expect("the wait for the channel's registration");

    let sent = Instant::now();
    let out = bus
        .bus(&["send", "alice", "ping from bob", "--as", "bob"])
        .run()
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let (pushed_at, pushed) = api
        .wait_for(first + 1, PATIENCE, "carrying the pushed message", |r| {
            r.last_text().contains(&channel_tag(1))
        })
        .await;
    println!(
        "channel push: in the model's next request {:.0} ms after bus send",
        (pushed.at - sent).as_secs_f64() * 1000.0
    );
    let text = pushed.last_text();
    assert!(
        text.contains("sender=\"bob\"") && text.contains("ping from bob"),
        "{text}"
    );

    // Past the Stop hook's grace nothing hands it over again: no wake-up, and a later inbox
    // finds it read.
    tokio::time::sleep(proto::channel::GRACE + Duration::from_secs(2)).await;
    let again: Vec<String> = api.requests()[pushed_at + 1..]
        .iter()
        .map(|r| r.last_text())
        .filter(|t| t.contains("ping from bob"))
        .collect();
    assert!(again.is_empty(), "handed over a second time: {again:#?}");
    let inbox = bus
        .bus(&["inbox", "--as", "alice", "--json"])
        .run()
        .await
        .json();
    assert_eq!(inbox["messages"], json!([]), "{inbox}");

    // The channel still listens: the next message is pushed too.
    bus.bus(&["send", "alice", "second from bob", "--as", "bob"])
        .run()
        .await;
    api.wait_for(pushed_at + 1, PATIENCE, "carrying the second push", |r| {
        r.last_text().contains(&channel_tag(2))
    })
    .await;
}

#[tokio::test]
async fn a_push_claude_code_drops_is_handed_over_by_the_wake_once() {
    let Some(claude) = claude().filter(|_| tmux()) else {
        return;
    };
    let bus = Bus::start().await;
    let api = FakeApi::start(Box::new(|_| None)).await;
    // The channel flag, but Claude Code's channels feature is off: it drops every push.
    let place = Place::new(&bus, &api, &[("BUS_NAME", "alice"), ("BUS_CHANNEL", "1")]);
    let _tui = place.interactive_with(&claude, "say hello", &DEV_CHANNELS);
    let (first, _) = api.next(0, "for the first prompt").await;

    let sent = Instant::now();
    bus.bus(&["send", "alice", "ping from bob", "--as", "bob"])
        .run()
        .await;
    let (woke_at, woke) = api
        .wait_for(first + 1, PATIENCE, "carrying bob's mail", |r| {
            r.last_text().contains("--- message 1 from 'bob'")
        })
        .await;
    println!(
        "dropped push: the Stop hook woke the session {:.0} ms after bus send",
        (woke.at - sent).as_secs_f64() * 1000.0
    );
    assert!(
        woke.at - sent >= proto::channel::GRACE,
        "woke before the grace"
    );
    assert!(
        !woke.last_text().contains(&channel_tag(1)),
        "Claude Code took the push after all: {}",
        woke.last_text()
    );
    // Once: the next message is not pushed any more (the channel is deaf) and wakes again.
    bus.bus(&["send", "alice", "second from bob", "--as", "bob"])
        .run()
        .await;
    api.wait_for(woke_at + 1, PATIENCE, "carrying the second message", |r| {
        r.last_text().contains("second from bob")
    })
    .await;
    let handed = api
        .requests()
        .iter()
        .filter(|r| r.last_text().contains("--- message 1 from 'bob'"))
        .count();
    assert_eq!(handed, 1, "{:#?}", api.summary());
}
