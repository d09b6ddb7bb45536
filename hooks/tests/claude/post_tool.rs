//! Mail mid-turn: the PostToolUse hook tells a working session, between tool calls, that mail
//! has arrived, once per message, without taking it.

use serde_json::json;

use crate::common::Bus;
use crate::fake_api::{Block, FakeApi, Request, Script};
use crate::install::claude;
use crate::session::Place;

/// How many tool results a request carries: which step of the scripted turn it is.
fn step(r: &Request) -> usize {
    r.body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .filter(|b| b["type"] == "tool_result")
        .count()
}

fn bash(command: &str) -> Vec<Block> {
    vec![Block::Tool(
        "Bash".into(),
        json!({"command": command, "description": "a step of the scripted turn"}),
    )]
}

#[tokio::test]
async fn a_working_session_learns_of_mail_between_tool_calls_once_without_taking_it() {
    let Some(claude) = claude() else { return };
    let bus = Bus::start().await;
    // Step 0: a tool call during which bob writes; step 1: another tool call; step 2: done.
    let script: Script = Box::new(|requests: &[Request]| {
        let last = requests.last()?;
        match step(last) {
            0 => Some(bash(
                "bus send alice \"$(printf 'please review auth.rs\\nthe details')\" --as bob",
            )),
            1 => Some(bash("true")),
            _ => None,
        }
    });
    let api = FakeApi::start(script).await;
    let place = Place::new(&bus, &api, &[("BUS_NAME", "alice")]);
    let child = place.headless(&claude, "work through it");
    let out = api.finish(child).await;
    assert!(out.status.success(), "{out:?}");

    let requests = api.requests();
    let after_send = requests
        .iter()
        .find(|r| step(r) == 1)
        .expect("a request after the first tool call");
    let note = after_send.last_text();
    assert!(
        note.contains("message 1 from 'bob': please review auth.rs"),
        "the tool call's result carries no note of bob's mail: {note}"
    );
    assert!(!note.contains("the details"), "only the first line: {note}");
    assert!(note.contains("call the bus tool inbox"), "{note}");
    // The whole conversation, as the last request carries it, has the note once: the second
    // tool call did not announce the same message again.
    let last = requests.last().unwrap().text();
    assert_eq!(
        last.matches("from 'bob': please review").count(),
        1,
        "announced once, not after every tool call: {last}"
    );
    // Nothing was consumed: the mail was still there for the Stop hook at the turn's end.
    assert!(
        last.contains("--- message 1 from 'bob'"),
        "the Stop hook found the mail unread at the end of the turn: {last}"
    );
}
