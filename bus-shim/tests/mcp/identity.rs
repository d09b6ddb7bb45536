//! Identity binding: no tool takes a sender, a held name cannot be taken, and `BUS_NAME`
//! registers at start (or leaves the session unregistered, saying why, when the name is held).

use std::collections::BTreeMap;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::*;

#[tokio::test]
async fn the_tools_take_the_python_arguments_and_no_sender() {
    let bus = TempBus::empty();
    let s = bus.session().await;
    let arguments: BTreeMap<String, Vec<String>> = s
        .tools()
        .await
        .into_iter()
        .map(|t| {
            let props = t
                .input_schema
                .get("properties")
                .and_then(|p| p.as_object())
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            (t.name.to_string(), props)
        })
        .collect();
    let expected: BTreeMap<String, Vec<String>> = [
        ("agents", &["active_within", "all"][..]),
        ("claim", &["path", "ttl"]),
        // The Python arguments, plus issue 15's after_version, wait, thread and wait_reply.
        ("get_state", &["after_version", "key", "wait"]),
        ("inbox", &["consume", "limit", "peek", "thread", "wait"]),
        ("list_claims", &[]),
        ("list_state", &[]),
        ("message_status", &["message_id"]),
        ("register", &["name", "owns", "role"]),
        ("release", &["path"]),
        ("send", &["content", "reply_to", "to", "wait_reply"]),
        ("set_state", &["expected_version", "key", "mode", "value"]),
        ("whoami", &[]),
    ]
    .into_iter()
    .map(|(tool, args)| {
        (
            tool.to_owned(),
            args.iter().map(|a| a.to_string()).collect(),
        )
    })
    .collect();
    assert_eq!(arguments, expected);
}

#[tokio::test]
async fn a_sender_slipped_into_the_arguments_is_ignored() {
    let bus = TempBus::empty();
    let a = bus.named("a").await;
    let b = bus.named("b").await;
    a.ok(
        "send",
        json!({"to": "b", "content": "hi", "from": "mallory", "sender": "mallory"}),
    )
    .await;
    a.ok("claim", json!({"path": "x", "owner": "mallory"}))
        .await;
    let page = b.ok("inbox", json!({})).await;
    assert_eq!(page["messages"][0]["from"], "a");
    let claims = b.ok("list_claims", json!({})).await;
    assert_eq!(claims["claims"][0]["owner"], "a");
}

#[tokio::test]
async fn a_second_session_cannot_take_a_held_name() {
    let bus = TempBus::empty();
    let a = bus.session().await;
    a.ok("register", json!({"name": "api", "role": "backend"}))
        .await;
    let b = bus.session().await;
    let why = b.err("register", json!({"name": "api"})).await;
    assert!(
        why.starts_with("name 'api' is held by a connected session (role 'backend', since 20")
            && why.ends_with("): choose another name"),
        "{why}"
    );
    assert_eq!(b.ok("whoami", json!({})).await, json!({"name": null}));
    assert_eq!(a.ok("whoami", json!({})).await, json!({"name": "api"}));
}

#[tokio::test]
async fn bus_name_registers_at_start() {
    let bus = TempBus::empty();
    let a = bus.session_with(&[("BUS_NAME", "alpha")]).await;
    assert_eq!(a.ok("whoami", json!({})).await, json!({"name": "alpha"}));
    let b = bus.named("beta").await;
    b.ok("send", json!({"to": "alpha", "content": "hello"}))
        .await;
    let page = a.ok("inbox", json!({})).await;
    assert_eq!(page["messages"][0]["content"], "hello");
}

#[tokio::test]
async fn a_held_bus_name_leaves_the_session_unregistered_and_says_why() {
    let bus = TempBus::empty();
    let _holder = bus.named("alpha").await;
    let (s, stderr) = bus
        .session_with_stderr(&[("BUS_NAME", "alpha"), ("BUS_LOG", "warn")])
        .await;
    assert_eq!(s.ok("whoami", json!({})).await, json!({"name": null}));

    let mut lines = BufReader::new(stderr).lines();
    let warning = tokio::time::timeout(PATIENCE, async {
        while let Some(line) = lines.next_line().await.expect("read stderr") {
            if line.contains("BUS_NAME") {
                return line;
            }
        }
        panic!("the shim exited without a warning")
    })
    .await
    .expect("a warning on stderr");
    assert!(
        warning.contains("alpha") && warning.contains("unregistered"),
        "{warning}"
    );

    let why = s.err("send", json!({"to": "x", "content": "hi"})).await;
    assert!(
        why.starts_with("BUS_NAME 'alpha' could not be registered (name 'alpha' is held")
            && why.ends_with("register first: call register(name) to bind this session's identity"),
        "the first identity-bound call says so: {why}"
    );
    assert!(s.ok("get_state", json!({})).await["state"].is_array());
    s.ok("register", json!({"name": "gamma"})).await;
    s.ok("send", json!({"to": "alpha", "content": "hi"})).await;
}
