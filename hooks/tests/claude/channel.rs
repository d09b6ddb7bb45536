//! Channels in the real CLI: with `BUS_CHANNEL=1` Claude Code connects to the shim over a
//! revision that carries channel notifications (its own log says which), and where Claude
//! Code would drop a push (here: no channels feature offline) no mail is lost.

use serde_json::json;

use crate::common::Bus;
use crate::fake_api::{Block, FakeApi, Request, Script};
use crate::install::claude;
use crate::session::Place;

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
    // Offline, Claude Code's channels feature is off and it would drop a push: the shim did
    // not push, and the Stop hook handed the mail over.
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
