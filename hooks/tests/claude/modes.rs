//! The Stop hook in each mode of the real CLI: a headless run ends when its turn is done
//! (handing over mail pending at that moment once), while SDK and interactive sessions wake
//! on mail and answer it.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{Bus, PATIENCE};
use crate::fake_api::{Block, FakeApi, Request, Script};
use crate::install::{claude, tmux};
use crate::session::Place;

/// The first line of what the Stop hook handed a woken session (after Claude Code's own
/// notification preamble) must say what happened and from whom, not "blocking error".
pub fn assert_wake_says_mail_from(request: &Request, from: &str) {
    let text = request.last_text();
    let own = text.rsplit("<system-reminder>").next().unwrap_or_default();
    let first = own
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
        .to_owned();
    assert!(
        first.contains("new message") && first.contains(&format!("from '{from}'")),
        "the wake's first line does not say who wrote: {first:?} in {text}"
    );
    assert!(
        !text.contains("blocking error"),
        "the wake reads as an error: {text}"
    );
}

/// The bus's `send` tool as the plugin's server lists it in Claude Code.
const SEND_TOOL: &str = "mcp__plugin_claude-bus_bus__send";

/// The tool calls in the model's last answer that a request carries.
pub fn last_tool_calls(request: &Request) -> Vec<String> {
    let messages = request.body["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let Some(last) = messages.iter().rev().find(|m| m["role"] == "assistant") else {
        return Vec::new();
    };
    last["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["type"] == "tool_use")
        .filter_map(|b| b["name"].as_str().map(str::to_owned))
        .collect()
}

/// The id of the first message a wake-up hands over (`--- message N from ...`).
fn handed_id(text: &str) -> Option<i64> {
    let rest = &text[text.find("--- message ")? + "--- message ".len()..];
    rest.split_whitespace().next()?.parse().ok()
}

/// Says hello; woken by mail, answers it as a model in a deferred-tools session must: it
/// loads the bus's `send` through ToolSearch, then calls it with `reply_to`.
fn answering_model() -> Script {
    Box::new(|requests: &[Request]| {
        let last = requests.last()?;
        let calls = last_tool_calls(last);
        if calls.iter().any(|c| c == SEND_TOOL) {
            return Some(vec![Block::Text("Answered bob.".into())]);
        }
        if calls.iter().any(|c| c == "ToolSearch") {
            let id = requests
                .iter()
                .rev()
                .find_map(|r| handed_id(&r.last_text()))?;
            return Some(vec![Block::Tool(
                SEND_TOOL.into(),
                json!({"to": "bob", "content": "pong from alice", "reply_to": id}),
            )]);
        }
        if last.last_text().contains("ping from bob") {
            return Some(vec![Block::Tool(
                "ToolSearch".into(),
                json!({"query": format!("select:{SEND_TOOL}"), "max_results": 1}),
            )]);
        }
        None
    })
}

/// Bob's inbox holds alice's answer to his message.
async fn assert_bob_got_the_answer(bus: &Bus, api: &FakeApi) {
    let (_, answered) = api
        .wait_for(0, PATIENCE, "after the send tool ran", |r| {
            last_tool_calls(r).iter().any(|c| c == SEND_TOOL)
        })
        .await;
    let result = answered.last_text();
    assert!(
        result.contains(r#""to":"bob""#),
        "the bus tool did not answer with its result: {result}"
    );
    let inbox = bus
        .bus(&["inbox", "--as", "bob", "--json"])
        .run()
        .await
        .json();
    let answer = &inbox["messages"][0];
    assert_eq!(answer["content"], "pong from alice", "{inbox}");
    assert_eq!(answer["from"], "alice", "{inbox}");
    assert!(answer["reply_to"].is_i64(), "{inbox}");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::test]
async fn headless_run_ends_when_its_turn_is_done() {
    let Some(claude) = claude() else { return };
    let bus = Bus::start().await;
    let api = FakeApi::start(answering_model()).await;
    let place = Place::new(&bus, &api, &[("BUS_NAME", "alice")]);
    let started = Instant::now();
    let child = place.headless(&claude, "say hello");
    let out = api.finish(child).await;
    println!(
        "claude -p with the plugin ran for {:.0} ms",
        ms(started.elapsed())
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Done."),
        "{out:?}"
    );
    let requests = api.requests();
    assert_eq!(requests.len(), 1, "one turn, no wake-up");
    assert!(
        requests[0]
            .text()
            .contains("this session is 'alice' on the bus"),
        "the bus context reaches the model: {:#?}",
        api.summary()
    );
}

#[tokio::test]
async fn headless_run_hands_over_mail_pending_at_its_end_once() {
    let Some(claude) = claude() else { return };
    let bus = Bus::start().await;
    // The turn's tool call makes bob write to alice, so mail is pending when the turn ends.
    let script: Script = Box::new(|requests: &[Request]| {
        let text = requests.last()?.last_text();
        if text.contains("work on it") {
            return Some(vec![Block::Tool(
                "Bash".into(),
                json!({"command": "bus send alice 'ping from bob' --as bob",
                       "description": "bob writes to alice"}),
            )]);
        }
        if text.contains("ping from bob") {
            return Some(vec![Block::Text("Read bob's ping.".into())]);
        }
        None
    });
    let api = FakeApi::start(script).await;
    let place = Place::new(&bus, &api, &[("BUS_NAME", "alice")]);
    let child = place.headless(&claude, "work on it");
    let out = api.finish(child).await;
    assert!(out.status.success(), "{out:?}");
    let requests = api.requests();
    // Three requests: the prompt, the tool's result, and one more turn with the mail in
    // front of the model (the Stop hook of that turn lets the run end).
    let summary = api.summary();
    assert_eq!(requests.len(), 3, "{summary:#?}");
    let handed = &requests[2];
    assert!(
        handed.last_text().contains("--- message 1 from 'bob'"),
        "the last turn carries the whole mail: {summary:#?}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Read bob's ping."),
        "{out:?}"
    );
    // Handed over means read: nothing is left for a later session.
    let left = bus
        .bus(&["inbox", "--peek", "--as", "alice", "--json"])
        .run()
        .await
        .json();
    assert_eq!(left["messages"], json!([]), "{left}");
}

#[tokio::test]
async fn sdk_session_wakes_on_mail_and_answers_it() {
    let Some(claude) = claude() else { return };
    let bus = Bus::start().await;
    let api = FakeApi::start(answering_model()).await;
    let place = Place::new(&bus, &api, &[("BUS_NAME", "alice")]);
    let mut sdk = place.sdk(&claude);
    sdk.say("say hello").await;
    sdk.event("result").await;
    let before = api.requests().len();

    let sent = Instant::now();
    let out = bus
        .bus(&["send", "alice", "ping from bob", "--as", "bob"])
        .run()
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let (_, woke) = api
        .wait_for(before, PATIENCE, "carrying bob's mail", |r| {
            r.last_text().contains("ping from bob")
        })
        .await;
    println!(
        "SDK mode: woke {:.0} ms after bus send (send -> next request)",
        ms(woke.at - sent)
    );
    assert_wake_says_mail_from(&woke, "bob");
    sdk.event("result").await;
    assert_bob_got_the_answer(&bus, &api).await;
    sdk.close();
}

#[tokio::test]
async fn interactive_session_wakes_on_mail_and_answers_it() {
    let Some(claude) = claude().filter(|_| tmux()) else {
        return;
    };
    let bus = Bus::start().await;
    let api = FakeApi::start(answering_model()).await;
    let place = Place::new(&bus, &api, &[("BUS_NAME", "alice")]);
    let tui = place.interactive(&claude, "say hello");
    let (first, _) = api.next(0, "for the typed prompt").await;

    let sent = Instant::now();
    let out = bus
        .bus(&["send", "alice", "ping from bob", "--as", "bob"])
        .run()
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let (_, woke) = api
        .wait_for(first + 1, PATIENCE, "carrying bob's mail", |r| {
            r.last_text().contains("ping from bob")
        })
        .await;
    println!(
        "interactive mode: woke {:.0} ms after bus send (send -> next request)",
        ms(woke.at - sent)
    );
    assert_wake_says_mail_from(&woke, "bob");
    assert_bob_got_the_answer(&bus, &api).await;

    // Woken and answered, the session still takes prompts from its terminal.
    tui.type_line("what next?");
    api.wait_for(
        first + 1,
        PATIENCE,
        "for the prompt typed after the wake",
        |r| r.last_text().contains("what next?"),
    )
    .await;
}
