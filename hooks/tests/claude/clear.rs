//! Names that survive `/clear`: a session that registered through the bus tool (no
//! `BUS_NAME`) still wakes on mail after `/clear` gave its hooks a new session id.

use serde_json::json;

use crate::common::{Bus, PATIENCE};
use crate::fake_api::{Block, FakeApi, Request, Script};
use crate::install::{claude, tmux};
use crate::modes::{assert_wake_says_mail_from, last_tool_calls};
use crate::session::Place;

const REGISTER_TOOL: &str = "mcp__plugin_claude-bus_bus__register";

/// Registers as alice when asked (loading the tool through ToolSearch first); otherwise
/// answers with a short text.
fn registering_model() -> Script {
    Box::new(|requests: &[Request]| {
        let last = requests.last()?;
        let calls = last_tool_calls(last);
        // The register tool's result is in: done (checked first, so it is called once).
        if last.last_text().contains(r#""name":"alice""#) {
            return Some(vec![Block::Text("Registered as alice.".into())]);
        }
        if calls.iter().any(|c| c == "ToolSearch") {
            return Some(vec![Block::Tool(
                REGISTER_TOOL.into(),
                json!({"name": "alice"}),
            )]);
        }
        if last.last_text().contains("register as alice") {
            return Some(vec![Block::Tool(
                "ToolSearch".into(),
                json!({"query": format!("select:{REGISTER_TOOL}"), "max_results": 1}),
            )]);
        }
        None
    })
}

#[tokio::test]
async fn an_interactive_session_still_wakes_on_mail_after_clear() {
    let Some(claude) = claude().filter(|_| tmux()) else {
        return;
    };
    let bus = Bus::start().await;
    let api = FakeApi::start(registering_model()).await;
    let place = Place::new(&bus, &api, &[]);
    let stops = place.signal_stops();
    let first_turn = stops.next();
    let tui = place.interactive(&claude, "register as alice");
    let (registered, _) = api
        .wait_for(0, PATIENCE, "after the register tool ran", |r| {
            last_tool_calls(r).iter().any(|c| c == REGISTER_TOOL)
        })
        .await;
    tokio::time::timeout(PATIENCE, first_turn)
        .await
        .expect("the first turn ends")
        .unwrap();

    tui.type_line("/clear");
    tui.type_line("hello again");
    let (after_clear, prompt) = api
        .wait_for(
            registered + 1,
            PATIENCE,
            "for the prompt after /clear",
            |r| r.last_text().contains("hello again"),
        )
        .await;
    // The hooks of the cleared session still know its name: its context reaches the model.
    assert!(
        prompt.last_text().contains(
            "UserPromptSubmit hook additional context: claude-bus: this session is 'alice'"
        ),
        "no bus context after /clear: {}",
        prompt.last_text()
    );

    let out = bus
        .bus(&["send", "alice", "ping from bob", "--as", "bob"])
        .run()
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let (_, woke) = api
        .wait_for(after_clear + 1, PATIENCE, "carrying bob's mail", |r| {
            r.last_text().contains("ping from bob")
        })
        .await;
    assert_wake_says_mail_from(&woke, "bob");
}

#[tokio::test]
async fn after_clear_a_session_keeps_waking_on_mail() {
    // The Stop hook left waiting from before /clear may deliver one message; every later turn
    // ends with a Stop hook of the new session id, which must still find the name.
    let Some(claude) = claude().filter(|_| tmux()) else {
        return;
    };
    let bus = Bus::start().await;
    let api = FakeApi::start(registering_model()).await;
    let place = Place::new(&bus, &api, &[]);
    let stops = place.signal_stops();
    let first_turn = stops.next();
    let tui = place.interactive(&claude, "register as alice");
    let turn_end = |ended: tokio::sync::oneshot::Receiver<()>| async {
        tokio::time::timeout(PATIENCE, ended)
            .await
            .expect("the turn ends")
            .unwrap();
    };
    turn_end(first_turn).await;
    tui.type_line("/clear");
    let cleared_turn = stops.next();
    tui.type_line("hello again");
    turn_end(cleared_turn).await;

    let mut seen = api.requests().len();
    for n in 1..=2 {
        let ended = stops.next();
        let text = format!("ping {n} from bob");
        let out = bus
            .bus(&["send", "alice", &text, "--as", "bob"])
            .run()
            .await;
        assert_eq!(out.code, 0, "{out:?}");
        let (at, woke) = api
            .wait_for(seen, PATIENCE, &format!("carrying {text:?}"), |r| {
                r.last_text().contains(&text)
            })
            .await;
        assert_wake_says_mail_from(&woke, "bob");
        seen = at + 1;
        turn_end(ended).await;
    }
}
