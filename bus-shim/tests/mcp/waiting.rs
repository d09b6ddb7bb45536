//! `inbox(wait=…)` through MCP: woken by the commit of its mail, progress every 10 s while it
//! waits (the period is the contract, so one test takes ~10 s), and a cancelled call stops
//! without losing the mail that arrives around it.

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn a_waiting_inbox_returns_when_mail_arrives() {
    let bus = TempBus::empty();
    let a = bus.named("a").await;
    let b = bus.named("b").await;
    let waiting = a.start("inbox", json!({"wait": 3600})).await;
    let sent = b.ok("send", json!({"to": "a", "content": "wake up"})).await;
    let page = Session::finish(waiting).await;
    assert_eq!(page["messages"][0]["id"], sent["id"]);
    assert_eq!(page["pending_count"], 0);
}

#[tokio::test]
async fn a_wait_that_runs_out_returns_an_empty_list() {
    let bus = TempBus::empty();
    let a = bus.named("a").await;
    let page = a.ok("inbox", json!({"wait": 0.3})).await;
    assert_eq!(page, json!({"messages": [], "pending_count": 0}));
}

#[tokio::test]
async fn a_waiting_inbox_reports_progress_every_ten_seconds() {
    let bus = TempBus::empty();
    let a = bus.named("a").await;
    let b = bus.named("b").await;
    let waiting = a.start("inbox", json!({"wait": 600})).await;
    let token = waiting.progress_token.clone();
    let note = a.next_progress().await;
    assert_eq!(note.progress_token, token, "for the waiting call");
    assert_eq!(note.progress, 10.0, "after the first 10 s");
    assert_eq!(note.total, Some(600.0));
    assert_eq!(note.message.as_deref(), Some("waiting for mail"));
    let sent = b.ok("send", json!({"to": "a", "content": "at last"})).await;
    let page = Session::finish(waiting).await;
    assert_eq!(page["messages"][0]["id"], sent["id"]);
}

#[tokio::test]
async fn a_cancelled_wait_loses_nothing() {
    let bus = TempBus::empty();
    let a = bus.named("a").await;
    let b = bus.named("b").await;
    let waiting = a.start("inbox", json!({"wait": 3600})).await;
    waiting
        .cancel(Some("the user pressed escape".into()))
        .await
        .expect("cancel sent");
    // Mail that arrives while the cancellation travels is either left unread or held by the
    // shim for the next call: it is handed over exactly once either way.
    let sent = b
        .ok("send", json!({"to": "a", "content": "after the cancel"}))
        .await;
    let page = a.ok("inbox", json!({"wait": 60})).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["messages"][0]["id"], sent["id"]);
    let again = a.ok("inbox", json!({})).await;
    assert_eq!(again, json!({"messages": [], "pending_count": 0}));
    assert_eq!(
        a.ok("whoami", json!({})).await["name"],
        "a",
        "the session carries on"
    );
}
