//! `bus hook post-tool` as Claude Code runs it after each tool call: mail that arrived since
//! the last call is announced once, nothing is taken, nothing new prints nothing.

use std::time::Instant;

use serde_json::json;

use crate::common::{Bus, Cmd, Out, hook_command, hook_input};

impl Bus {
    /// The PostToolUse command of hooks.json for the session `session_id`.
    fn post_tool_cmd(&self, session_id: &str) -> Cmd {
        self.sh(&hook_command("PostToolUse"))
            .env("CLAUDE_CODE_SESSION_ID", session_id)
            .stdin(hook_input("PostToolUse", session_id))
    }

    async fn post_tool(&self, session_id: &str) -> Out {
        self.post_tool_cmd(session_id).run().await
    }
}

/// The note a hook printed, or "" when it printed nothing.
fn note(out: &Out) -> String {
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    if out.stdout.trim().is_empty() {
        return String::new();
    }
    let json = out.json();
    assert_eq!(json["hookSpecificOutput"]["hookEventName"], "PostToolUse");
    json["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .expect("additionalContext")
        .to_owned()
}

#[tokio::test]
async fn announces_each_new_message_once_and_takes_nothing() {
    let bus = Bus::start().await;
    let alice = bus.named("alice", "sess-alice", "", &[]).await;
    let bob = bus.named("bob", "sess-bob", "", &[]).await;

    let quiet = bus.post_tool("sess-alice").await;
    assert!(quiet.silent(), "nothing new prints nothing: {quiet:?}");

    bob.ok(
        "send",
        json!({"to": "alice", "content": "deploy is blocked\nlogs attached"}),
    )
    .await;
    let started = Instant::now();
    let first = note(&bus.post_tool("sess-alice").await);
    println!(
        "post-tool hook with news: {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    for needle in [
        "new message for 'alice'",
        "message 1 from 'bob': deploy is blocked",
        "nothing was marked read",
        "call the bus tool inbox",
    ] {
        assert!(first.contains(needle), "{needle:?} missing from {first}");
    }
    assert!(
        !first.contains("logs attached"),
        "only the first line: {first}"
    );

    let again = bus.post_tool("sess-alice").await;
    assert!(again.silent(), "announced once: {again:?}");

    bob.ok("send", json!({"to": "alice", "content": "now it works"}))
        .await;
    let second = note(&bus.post_tool("sess-alice").await);
    assert!(
        second.contains("message 2 from 'bob': now it works"),
        "{second}"
    );
    assert!(!second.contains("message 1"), "{second}");
    assert!(second.contains("2 messages are unread"), "{second}");

    // Nothing was taken: both are still unread.
    let left = alice.ok("inbox", json!({"peek": true})).await;
    assert_eq!(left["messages"].as_array().unwrap().len(), 2, "{left}");
}

#[tokio::test]
async fn parallel_tool_calls_announce_each_message_once() {
    let bus = Bus::start().await;
    let _alice = bus.named("alice", "sess-alice", "", &[]).await;
    let bob = bus.named("bob", "sess-bob", "", &[]).await;
    for i in 0..3 {
        bob.ok(
            "send",
            json!({"to": "alice", "content": format!("note {i}")}),
        )
        .await;
    }
    // Claude Code runs the hooks of parallel tool calls at the same time.
    let mut hooks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        hooks.spawn(bus.post_tool_cmd("sess-alice").run());
    }
    let outs = hooks.join_all().await;
    let notes: Vec<String> = outs.iter().map(note).collect();
    for id in 1..=3 {
        let told = notes
            .iter()
            .filter(|n| n.contains(&format!("message {id} from 'bob'")))
            .count();
        assert_eq!(told, 1, "message {id} announced {told} times: {notes:#?}");
    }
}

#[tokio::test]
async fn silent_without_a_name_or_a_daemon() {
    let bus = Bus::start().await;
    let out = bus.post_tool("sess-nobody").await;
    assert!(out.silent(), "{out:?}");
    let empty = Bus::empty();
    let out = empty.post_tool("sess-nobody").await;
    assert!(out.silent(), "{out:?}");
    assert!(!empty.daemon_running(), "a hook never starts busd");
}
