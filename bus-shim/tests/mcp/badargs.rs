//! Bad arguments through MCP: wrong types, invalid names, oversize content, out-of-range
//! numbers and unknown ids each get a one-line tool error saying what to do, and the session
//! carries on.

use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn wrong_argument_types_name_the_tool_and_its_arguments() {
    let bus = TempBus::empty();
    let s = bus.named("a").await;
    let cases: [(&str, Value); 9] = [
        ("send", json!({"to": 5, "content": "x"})),
        ("send", json!({"to": "b"})),
        ("inbox", json!({"limit": "ten"})),
        ("inbox", json!({"limit": 2.5})),
        ("inbox", json!({"limit": -1})),
        ("inbox", json!({"wait": "soon"})),
        ("register", json!({"name": "a", "owns": "src/**"})),
        (
            "set_state",
            json!({"key": "k", "value": "v", "mode": "prepend"}),
        ),
        ("message_status", json!({"message_id": "7"})),
    ];
    for (tool, args) in cases {
        let why = s.err(tool, args.clone()).await;
        assert!(
            why.starts_with(&format!("invalid arguments for {tool}:")),
            "{args}: {why}"
        );
        assert!(why.contains("; arguments: "), "lists the arguments: {why}");
        assert!(!why.contains('\n'), "one line: {why}");
    }
    let why = s.err("send", json!({"to": "b"})).await;
    assert!(
        why.contains("content") && why.contains("to (string)"),
        "{why}"
    );
    assert_eq!(
        s.ok("whoami", json!({})).await["name"],
        "a",
        "still serving"
    );
}

#[tokio::test]
async fn invalid_names_are_refused_with_the_rule() {
    let bus = TempBus::empty();
    let s = bus.session().await;
    for bad in ["bad name", "", "é", "a/b", &"x".repeat(65)] {
        let why = s.err("register", json!({"name": bad})).await;
        assert!(
            why.contains("use 1-64 characters of letters, digits, '.', '_' or '-'"),
            "{why}"
        );
    }
    let why = s.err("register", json!({"name": "all"})).await;
    assert!(why.contains("reserved for broadcasts"), "{why}");
    s.ok("register", json!({"name": "a"})).await;
    let why = s
        .err("send", json!({"to": "no/such", "content": "x"}))
        .await;
    assert!(why.starts_with("invalid name 'no/such'"), "{why}");
}

#[tokio::test]
async fn oversize_values_are_refused_with_the_limit() {
    let bus = TempBus::empty();
    let s = bus.named("a").await;
    let why = s
        .err(
            "send",
            json!({"to": "b", "content": "x".repeat(64 * 1024 + 1)}),
        )
        .await;
    assert_eq!(
        why,
        "content is 65537 bytes, over the limit of 65536: split it or put it in set_state"
    );
    let why = s.err("send", json!({"to": "b", "content": ""})).await;
    assert!(why.contains("content is empty"), "{why}");
    let why = s
        .err(
            "set_state",
            json!({"key": "k", "value": "v".repeat(1024 * 1024 + 1)}),
        )
        .await;
    assert!(
        why.starts_with("value would be 1048577 bytes, over the limit of 1048576"),
        "{why}"
    );
    let why = s
        .err(
            "set_state",
            json!({"key": "k", "value": "v".repeat(3 * 1024 * 1024)}),
        )
        .await;
    assert!(
        why.starts_with("value would be 3145728 bytes, over the limit of 1048576"),
        "a value too large for a frame is refused by its own limit: {why}"
    );
    let why = s
        .err(
            "send",
            json!({"to": "b", "content": "x".repeat(3 * 1024 * 1024)}),
        )
        .await;
    assert!(
        why.starts_with("content is 3145728 bytes, over the limit of 65536"),
        "content too large for a frame is refused by its own limit: {why}"
    );
    s.ok(
        "set_state",
        json!({"key": "k", "value": "v".repeat(1024 * 1024)}),
    )
    .await;
    let why = s
        .err(
            "set_state",
            json!({"key": "k", "value": "more", "mode": "append"}),
        )
        .await;
    assert!(
        why.starts_with("value would be 1048581 bytes"),
        "the stored total counts: {why}"
    );
    let why = s
        .err("set_state", json!({"key": "k".repeat(257), "value": "v"}))
        .await;
    assert!(why.starts_with("invalid key"), "{why}");
    let why = s.err("claim", json!({"path": "p".repeat(4097)})).await;
    assert!(why.starts_with("invalid path"), "{why}");
}

#[tokio::test]
async fn numbers_out_of_range_are_refused_with_the_range() {
    let bus = TempBus::empty();
    let s = bus.named("a").await;
    let cases: [(&str, Value, &str); 7] = [
        (
            "inbox",
            json!({"limit": 0}),
            "limit must be an integer from 1 to 1000: got 0",
        ),
        (
            "inbox",
            json!({"limit": 1001}),
            "limit must be an integer from 1 to 1000: got 1001",
        ),
        (
            "inbox",
            json!({"wait": 3601}),
            "wait is 3601s, over the limit of 3600s",
        ),
        (
            "inbox",
            json!({"wait": -1}),
            "wait must be a number of seconds, 0 or more: got -1",
        ),
        (
            "claim",
            json!({"path": "p", "ttl": 0}),
            "ttl must be more than 0 seconds",
        ),
        (
            "agents",
            json!({"active_within": -3}),
            "active_within must be a number of seconds, 0 or more: got -3",
        ),
        (
            "set_state",
            json!({"key": "k", "value": "v", "expected_version": -1}),
            "expected_version must be 0 (must not exist) or a version: got -1",
        ),
    ];
    for (tool, args, expected) in cases {
        assert_eq!(s.err(tool, args).await, expected);
    }
}

#[tokio::test]
async fn unknown_ids_are_refused() {
    let bus = TempBus::empty();
    let s = bus.named("a").await;
    assert_eq!(
        s.err("message_status", json!({"message_id": 999})).await,
        "no message with id 999: check the id returned by send or inbox"
    );
    let why = s
        .err("send", json!({"to": "b", "content": "re", "reply_to": 999}))
        .await;
    assert_eq!(
        why,
        "reply_to 999 is not a message id: pass the id of an existing message, or leave reply_to out"
    );
}
