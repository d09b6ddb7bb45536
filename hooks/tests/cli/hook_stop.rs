//! `bus hook stop` as Claude Code runs it: the command from hooks/hooks.json under `sh -c`, the
//! hook input on stdin, `CLAUDE_CODE_SESSION_ID` in the environment, sessions as real shims.

use std::time::Instant;

use serde_json::json;

use crate::common::{Bus, Cmd, hook_command, hook_input};

/// The Stop command of hooks.json, telling the test when its wait is issued.
fn stop_ready() -> String {
    format!("{} --ready-fd 3", hook_command("Stop"))
}

#[tokio::test]
async fn wakes_within_milliseconds_of_a_send_from_a_shim() {
    let bus = Bus::start().await;
    let alice = bus.named("alice", "sess-alice", "backend", &[]).await;
    let bob = bus.named("bob", "sess-bob", "frontend", &[]).await;
    let asked = alice
        .ok("send", json!({"to": "bob", "content": "ready?"}))
        .await;

    let hook = bus
        .sh(&stop_ready())
        .env("CLAUDE_CODE_SESSION_ID", "sess-alice")
        .stdin(hook_input("Stop", "sess-alice"))
        .start_ready()
        .await;
    let t0 = Instant::now();
    let sent = bob
        .ok(
            "send",
            json!({"to": "alice", "content": "yes, the API is up", "reply_to": asked["id"]}),
        )
        .await;
    let out = hook.finish().await;
    let latency = t0.elapsed();
    println!(
        "Stop hook woke {:.2} ms after the send from bob's shim",
        latency.as_secs_f64() * 1000.0
    );

    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let id = sent["id"].as_i64().unwrap();
    for needle in [
        "1 new message for 'alice'".to_owned(),
        format!("message {id} from 'bob'"),
        format!("in reply to message {}", asked["id"]),
        "yes, the API is up".to_owned(),
        format!("send(to=\"bob\", content=\"...\", reply_to={id})"),
    ] {
        assert!(out.stderr.contains(&needle), "{needle:?} missing: {out:?}");
    }
    // The hook took the mail: it is not delivered twice.
    let left = alice.ok("inbox", json!({"peek": true})).await;
    assert_eq!(left["messages"], json!([]));
}

#[tokio::test]
async fn pending_mail_wakes_at_once_with_the_session_id_from_stdin_alone() {
    let bus = Bus::start().await;
    let _alice = bus.named("alice", "sess-alice", "", &[]).await;
    bus.bus(&["send", "alice", "waiting for you", "--as", "bob"])
        .run()
        .await;
    // No CLAUDE_CODE_SESSION_ID: the session id comes from the hook input only.
    let out = bus
        .sh(&hook_command("Stop"))
        .stdin(hook_input("Stop", "sess-alice"))
        .run()
        .await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("waiting for you"), "{out:?}");
}

#[tokio::test]
async fn silent_without_a_name() {
    let bus = Bus::start().await;
    let _alice = bus.named("alice", "sess-alice", "", &[]).await;
    bus.bus(&["send", "alice", "not for a stranger", "--as", "bob"])
        .run()
        .await;
    let out = bus
        .sh(&hook_command("Stop"))
        .env("CLAUDE_CODE_SESSION_ID", "sess-unknown")
        .stdin(hook_input("Stop", "sess-unknown"))
        .run()
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.silent(), "{out:?}");
}

#[tokio::test]
async fn silent_without_a_daemon_and_starts_none() {
    let bus = Bus::empty();
    let out = bus
        .sh(&hook_command("Stop"))
        .env("BUS_NAME", "alice")
        .stdin(hook_input("Stop", "sess-alice"))
        .run()
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.silent(), "{out:?}");
    assert!(!bus.daemon_running(), "a hook never starts busd");
}

#[tokio::test]
async fn silent_when_its_timeout_passes() {
    let bus = Bus::start().await;
    let _alice = bus.named("alice", "sess-alice", "", &[]).await;
    let out = bus
        .bus(&["hook", "stop", "--timeout", "0.2"])
        .env("CLAUDE_CODE_SESSION_ID", "sess-alice")
        .stdin(hook_input("Stop", "sess-alice"))
        .run()
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.silent(), "{out:?}");
}

#[tokio::test]
async fn a_newer_waiter_replaces_the_older_which_exits_silently() {
    let bus = Bus::start().await;
    let _alice = bus.named("alice", "sess-alice", "", &[]).await;
    let hook = || {
        bus.sh(&stop_ready())
            .env("CLAUDE_CODE_SESSION_ID", "sess-alice")
            .stdin(hook_input("Stop", "sess-alice"))
    };
    let older = tokio::spawn(hook().start_ready().await.finish());
    let newer = tokio::spawn(hook().start_ready().await.finish());
    // Whichever lost the session's single waiter slot ends first, silently.
    let (mut older, mut newer) = (older, newer);
    let (replaced, survivor, which) = tokio::select! {
        out = &mut older => (out.unwrap(), newer, "older"),
        out = &mut newer => (out.unwrap(), older, "newer"),
    };
    println!("the {which} waiter was replaced");
    assert_eq!(replaced.code, 0, "{replaced:?}");
    assert!(replaced.silent(), "{replaced:?}");

    bus.bus(&["send", "alice", "one waiter, one delivery", "--as", "bob"])
        .run()
        .await;
    let out = survivor.await.unwrap();
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("one waiter, one delivery"), "{out:?}");
}

fn waiting_alice(bus: &Bus) -> Cmd {
    bus.sh(&stop_ready())
        .env("BUS_NAME", "alice")
        .stdin(hook_input("Stop", "sess-alice"))
}

#[tokio::test]
async fn a_shutdown_of_busd_ends_the_wait_silently() {
    let bus = Bus::start().await;
    let waiting = waiting_alice(&bus).start_ready().await;
    let stopped = bus.bus(&["stop"]).run().await;
    assert_eq!(stopped.code, 0, "{stopped:?}");
    let out = waiting.finish().await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.silent(), "{out:?}");
}

#[tokio::test]
async fn a_restart_of_busd_keeps_the_wait() {
    let bus = Bus::start().await;
    let waiting = waiting_alice(&bus).start_ready().await;
    let restarted = bus.bus(&["restart"]).run().await;
    assert_eq!(restarted.code, 0, "{restarted:?}");
    assert!(restarted.stdout.contains("restarted busd"), "{restarted:?}");
    let sent = bus
        .bus(&["send", "alice", "after the upgrade", "--as", "bob"])
        .run()
        .await;
    assert_eq!(sent.code, 0, "{sent:?}");
    let out = waiting.finish().await;
    assert_eq!(out.code, 2, "the hook still waited: {out:?}");
    assert!(out.stderr.contains("after the upgrade"), "{out:?}");
}

#[tokio::test]
async fn a_crash_of_busd_does_not_end_the_wait() {
    let mut bus = Bus::start().await;
    let waiting = waiting_alice(&bus).start_ready().await;
    bus.crash_daemon();
    // Whichever of the hook and this send comes first starts busd again.
    let sent = bus
        .bus(&["send", "alice", "after the crash", "--as", "bob"])
        .run()
        .await;
    assert_eq!(sent.code, 0, "{sent:?}");
    let out = waiting.finish().await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("after the crash"), "{out:?}");
}

#[tokio::test]
async fn no_wait_blocks_with_pending_mail_and_honours_stop_hook_active() {
    let bus = Bus::start().await;
    let alice = bus.named("alice", "sess-alice", "", &[]).await;
    let no_wait = |input: String| {
        bus.sh("bus hook stop --no-wait")
            .env("CLAUDE_CODE_SESSION_ID", "sess-alice")
            .stdin(input)
    };

    let nothing = no_wait(hook_input("Stop", "sess-alice")).run().await;
    assert_eq!(nothing.code, 0, "{nothing:?}");
    assert!(nothing.silent(), "{nothing:?}");

    bus.bus(&["send", "alice", "look at this", "--as", "bob"])
        .run()
        .await;
    let mut active: serde_json::Value =
        serde_json::from_str(&hook_input("Stop", "sess-alice")).unwrap();
    active["stop_hook_active"] = json!(true);
    let let_stop = no_wait(active.to_string()).run().await;
    assert_eq!(let_stop.code, 0, "{let_stop:?}");
    assert!(let_stop.silent(), "{let_stop:?}");
    let still = alice.ok("inbox", json!({"peek": true})).await;
    assert_eq!(
        still["pending_count"], 1,
        "stop_hook_active leaves the mail unread"
    );

    let block = no_wait(hook_input("Stop", "sess-alice")).run().await;
    assert_eq!(block.code, 0, "{block:?}");
    let decision = block.json();
    assert_eq!(decision["decision"], "block");
    let reason = decision["reason"].as_str().unwrap();
    assert!(
        reason.contains("look at this") && reason.contains("from 'bob'"),
        "{reason}"
    );
    assert_eq!(decision.as_object().unwrap().len(), 2);

    let after = no_wait(hook_input("Stop", "sess-alice")).run().await;
    assert!(after.silent(), "the mail was delivered once: {after:?}");
}

#[tokio::test]
async fn a_hook_never_breaks_the_host() {
    let bus = Bus::start().await;
    let bad_flag = bus.bus(&["hook", "stop", "--bogus"]).run().await;
    assert_eq!(bad_flag.code, 0, "{bad_flag:?}");
    assert!(bad_flag.stderr.starts_with("bus hook: "), "{bad_flag:?}");
    let no_event = bus.bus(&["hook"]).run().await;
    assert_eq!(no_event.code, 0, "{no_event:?}");

    let garbage = bus
        .bus(&["hook", "stop", "--no-wait"])
        .env("BUS_NAME", "alice")
        .stdin("{not json")
        .run()
        .await;
    assert_eq!(garbage.code, 0, "{garbage:?}");
    assert!(garbage.stdout.is_empty(), "{garbage:?}");
    assert!(
        garbage.stderr.contains("not the JSON Claude Code sends"),
        "{garbage:?}"
    );

    let bad_name = bus
        .bus(&["hook", "prompt"])
        .env("BUS_NAME", "not a valid name!")
        .stdin(hook_input("UserPromptSubmit", "s"))
        .run()
        .await;
    assert_eq!(bad_name.code, 0, "{bad_name:?}");
    assert!(bad_name.stdout.is_empty(), "{bad_name:?}");
    assert!(bad_name.stderr.contains("invalid name"), "{bad_name:?}");
}

#[tokio::test]
async fn a_hook_whose_claude_code_is_gone_stops_waiting() {
    let bus = Bus::start().await;
    // `sh` stands in for Claude Code: the hook runs under it with CLAUDE_PID naming it, and sh
    // does not exec the hook (a command follows), so killing sh leaves the hook orphaned.
    let line = format!(
        "CLAUDE_PID=$$; export CLAUDE_PID; {}; echo after",
        stop_ready()
    );
    let waiting = bus
        .sh(&line)
        .env("BUS_NAME", "alice")
        .stdin(hook_input("Stop", "sess-alice"))
        .start_ready()
        .await;
    let sh = waiting.child.id().expect("sh runs") as i32;
    // SAFETY: killing the shell this test started.
    unsafe { libc::kill(sh, libc::SIGKILL) };
    // The orphaned hook still holds the pipes: they end when it exits, long before its
    // one-day timeout.
    let out = waiting.finish().await;
    assert!(out.silent(), "{out:?}");
    // Nothing waits for alice any more, and mail for her stays unread.
    let status = bus.bus(&["status", "--json"]).run().await.json();
    assert_eq!(status["waiting"], 0, "{status}");
}
