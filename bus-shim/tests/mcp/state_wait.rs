//! `get_state(key, after_version, wait)`: woken by the commit of a write of its key by another
//! session, not by writes of other keys, at once when the key is already past the version,
//! empty when the time is up; progress and cancellation as for a waiting `inbox`.
//!
//! The writing session is made by `peer` (`peer.rs`): the seam for running these across two
//! busd on a shared bus once that backend exists.

use serde_json::json;

use crate::common::*;
use crate::peer::peer;

fn set(key: &str, value: &str) -> serde_json::Value {
    json!({"key": key, "value": value})
}

#[tokio::test]
async fn a_waiter_is_woken_by_another_sessions_write_of_its_key_and_not_by_other_keys() {
    let bus = TempBus::empty();
    let a = bus.named("a").await;
    let b = peer(&bus, "b").await;
    b.ok("set_state", set("schema", "v1")).await;
    let waiting = a
        .start(
            "get_state",
            json!({"key": "schema", "after_version": 1, "wait": 3600}),
        )
        .await;
    // The first progress note shows the call is parked in busd, not still on its way.
    let note = a.next_progress().await;
    assert_eq!(note.progress_token, waiting.progress_token);
    assert_eq!((note.progress, note.total), (10.0, Some(3600.0)));
    assert_eq!(
        note.message.as_deref(),
        Some("waiting for a change of state")
    );
    // Writes of other keys commit first; had any of them ended the wait, it would answer
    // without version 2 of schema.
    b.ok("set_state", set("other", "x")).await;
    b.ok("set_state", set("schema.v", "x")).await;
    b.ok("set_state", set("schema", "v2")).await;
    let got = Session::finish(waiting).await;
    assert_eq!(got["state"].as_array().unwrap().len(), 1, "{got}");
    assert_eq!(got["state"][0]["key"], "schema");
    assert_eq!(got["state"][0]["value"], "v2");
    assert_eq!(got["state"][0]["version"], 2);
    assert_eq!(got["state"][0]["updated_by"], "b");
}

#[tokio::test]
async fn a_key_already_past_after_version_answers_at_once() {
    let bus = TempBus::empty();
    let a = bus.named("a").await;
    for value in ["v1", "v2", "v3"] {
        a.ok("set_state", set("schema", value)).await;
    }
    // A wait of an hour that does not wait: the test's patience is a minute.
    let got = a
        .ok(
            "get_state",
            json!({"key": "schema", "after_version": 2, "wait": 3600}),
        )
        .await;
    assert_eq!(got["state"][0]["version"], 3);
    let got = a
        .ok("get_state", json!({"key": "schema", "after_version": 0}))
        .await;
    assert_eq!(got["state"][0]["version"], 3, "without wait: a plain look");
}

#[tokio::test]
async fn a_wait_that_runs_out_is_an_empty_list() {
    let bus = TempBus::empty();
    let a = bus.named("a").await;
    let b = peer(&bus, "b").await;
    b.ok("set_state", set("schema", "v1")).await;
    let got = a
        .ok(
            "get_state",
            json!({"key": "schema", "after_version": 1, "wait": 0.3}),
        )
        .await;
    assert_eq!(got, json!({"state": []}));
    let got = a
        .ok("get_state", json!({"key": "absent", "wait": 0.2}))
        .await;
    assert_eq!(got, json!({"state": []}), "an absent key has no version");
    let got = a
        .ok("get_state", json!({"key": "schema", "after_version": 1}))
        .await;
    assert_eq!(got, json!({"state": []}), "without wait: at once");
}

#[tokio::test]
async fn a_created_key_wakes_a_waiter_from_version_zero_and_bad_arguments_are_refused() {
    let bus = TempBus::empty();
    let a = bus.named("a").await;
    let b = peer(&bus, "b").await;
    let waiting = a
        .start("get_state", json!({"key": "ready", "wait": 3600}))
        .await;
    b.ok("set_state", set("ready", "yes")).await;
    let got = Session::finish(waiting).await;
    assert_eq!(got["state"][0]["version"], 1);
    let why = a
        .err("get_state", json!({"after_version": 1, "wait": 1}))
        .await;
    assert!(why.contains("need a key"), "{why}");
    let why = a
        .err("get_state", json!({"key": "k", "after_version": -1}))
        .await;
    assert!(why.contains("after_version"), "{why}");
    let why = a.err("get_state", json!({"key": "k", "wait": 3601})).await;
    assert!(why.contains("wait"), "{why}");
}
