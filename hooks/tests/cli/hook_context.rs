//! `bus hook prompt` and `bus hook session-start` as Claude Code runs them: a short note in
//! `hookSpecificOutput.additionalContext`, or nothing at all.

use proto::Request;
use serde_json::{Value, json};

use crate::common::{Bus, hook_command, hook_input};

fn context(out: &crate::common::Out, event: &str) -> String {
    assert_eq!(out.code, 0, "{out:?}");
    let json = out.json();
    let specific = &json["hookSpecificOutput"];
    assert_eq!(specific["hookEventName"], event, "{json}");
    let note = specific["additionalContext"]
        .as_str()
        .expect("additionalContext");
    assert!(
        note.chars().count() < 1000,
        "{} characters: {note}",
        note.len()
    );
    note.to_owned()
}

#[tokio::test]
async fn describes_the_session_its_peers_unread_mail_and_overlapping_claims() {
    let bus = Bus::start().await;
    let alice = bus
        .named("alice", "sess-alice", "backend", &["src/api/**"])
        .await;
    let bob = bus.named("bob", "sess-bob", "frontend", &["web/**"]).await;
    bob.ok("claim", json!({"path": "src/api/auth.rs"})).await;
    bob.ok("claim", json!({"path": "web/index.ts"})).await;
    bob.ok("send", json!({"to": "alice", "content": "hello"}))
        .await;

    for (event, hook) in [
        ("UserPromptSubmit", "UserPromptSubmit"),
        ("SessionStart", "SessionStart"),
    ] {
        let out = bus
            .sh(&hook_command(hook))
            .env("CLAUDE_CODE_SESSION_ID", "sess-alice")
            .stdin(hook_input(event, "sess-alice"))
            .run()
            .await;
        let note = context(&out, event);
        println!("{event}: {note}");
        for needle in [
            "this session is 'alice'",
            "role: backend; owns: src/api/**",
            "Online: bob (frontend).",
            "1 unread message",
            "src/api/auth.rs by bob",
        ] {
            assert!(note.contains(needle), "{needle:?} missing from {note}");
        }
        assert!(!note.contains("web/index.ts"), "{note}");
    }
    // The hooks only look: the message is still unread.
    let inbox = alice.ok("inbox", json!({})).await;
    assert_eq!(inbox["messages"][0]["content"], "hello");
}

#[tokio::test]
async fn silent_without_a_name_or_a_daemon() {
    let bus = Bus::start().await;
    let out = bus
        .sh(&hook_command("UserPromptSubmit"))
        .env("CLAUDE_CODE_SESSION_ID", "sess-nobody")
        .stdin(hook_input("UserPromptSubmit", "sess-nobody"))
        .run()
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.silent(), "{out:?}");

    let empty = Bus::empty();
    let out = empty
        .sh(&hook_command("SessionStart"))
        .env("CLAUDE_CODE_SESSION_ID", "sess-nobody")
        .stdin(hook_input("SessionStart", "sess-nobody"))
        .run()
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.silent(), "{out:?}");
    assert!(
        !empty.daemon_running(),
        "a hook with no name to speak for never starts busd"
    );
}

#[tokio::test]
async fn a_named_session_gets_its_context_on_a_fresh_bus() {
    // Claude Code runs SessionStart before the session's shim has connected (and started
    // busd): the hook starts busd itself so the first request carries the context.
    let empty = Bus::empty();
    for event in ["SessionStart", "UserPromptSubmit"] {
        let out = empty
            .sh(&hook_command(event))
            .env("BUS_NAME", "alice")
            .stdin(hook_input(event, "sess-alice"))
            .run()
            .await;
        assert_eq!(out.code, 0, "{out:?}");
        let note = out.json()["hookSpecificOutput"]["additionalContext"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            note.starts_with("claude-bus: this session is 'alice' on the bus"),
            "{event}: {out:?}"
        );
    }
    assert!(empty.daemon_running(), "the context hook started busd");
}

/// The hook's input and `CLAUDE_PID` as Claude Code gives them, this test process standing
/// for Claude Code (the shims it starts are its children, as Claude Code's are).
fn under_claude(bus: &Bus, event: &str, session_id: &str) -> crate::common::Cmd {
    bus.sh(&hook_command(event))
        .env("CLAUDE_PID", std::process::id().to_string())
        .env("CLAUDE_CODE_SESSION_ID", session_id)
        .stdin(hook_input(event, session_id))
}

#[tokio::test]
async fn on_a_fresh_bus_the_first_context_waits_for_the_shims_name() {
    // BUS_NAME only in the shim's environment (`claude mcp add -e BUS_NAME=...`): the hook
    // learns the name from the shim, which connects after SessionStart has started.
    let empty = Bus::empty();
    let hook = under_claude(&empty, "SessionStart", "sess-1").run();
    // Started together, as in Claude Code, where SessionStart runs a few hundred milliseconds
    // before the shim connects.
    let shim = empty.session_under_claude("sess-1", Some("alice"));
    let (out, _alice) = tokio::join!(hook, shim);
    let note = context(&out, "SessionStart");
    assert!(
        note.starts_with("claude-bus: this session is 'alice' on the bus"),
        "{note}"
    );
}

#[tokio::test]
async fn after_clear_the_hooks_find_the_name_through_the_claude_code_process() {
    let bus = Bus::start().await;
    let alice = bus.session_under_claude("sess-before-clear", None).await;
    alice.ok("register", json!({"name": "alice"})).await;
    // /clear: Claude Code gives hooks a new session id; the shim keeps the old one.
    let out = under_claude(&bus, "UserPromptSubmit", "sess-after-clear")
        .run()
        .await;
    let note = context(&out, "UserPromptSubmit");
    assert!(
        note.starts_with("claude-bus: this session is 'alice'"),
        "{note}"
    );
}

#[tokio::test]
async fn a_shim_without_a_name_ends_the_wait_at_once() {
    let bus = Bus::start().await;
    let nameless = bus.session_under_claude("sess-1", None).await;
    // A tool call waits for the shim's start-up, which tells busd its Claude Code.
    nameless.ok("whoami", json!({})).await;
    let started = std::time::Instant::now();
    let out = under_claude(&bus, "SessionStart", "sess-1").run().await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.silent(), "{out:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "waited {:?} for a name no one will register",
        started.elapsed()
    );
}

#[tokio::test]
async fn stays_under_1000_characters_on_a_crowded_bus() {
    let bus = Bus::start().await;
    // Thirty sessions with long roles, each holding a connection (and so its name) open.
    let mut clients = Vec::new();
    for i in 0..30 {
        let client = bus.client();
        let role = format!(
            "{i} {}",
            "a very long description of what this agent does ".repeat(20)
        );
        let register = Request::Register {
            name: format!("agent-{i}"),
            role: Some(role.chars().take(1000).collect()),
            owns: Some(vec![format!("src/part-{i}/**")]),
        };
        client.call(register).await.expect("register");
        let claim = Request::Claim {
            path: format!("src/shared/{i}/{}.rs", "x".repeat(100)),
            ttl: 600.0,
        };
        client.call(claim).await.expect("claim");
        clients.push(client);
    }
    let out = bus
        .bus(&["hook", "prompt"])
        .env("BUS_NAME", "agent-0")
        .stdin(hook_input("UserPromptSubmit", "s"))
        .run()
        .await;
    let note = context(&out, "UserPromptSubmit");
    assert!(note.contains("this session is 'agent-0'"), "{note}");
    let json: Value = out.json();
    assert!(
        json.get("decision").is_none(),
        "a context hook never blocks: {json}"
    );
}
