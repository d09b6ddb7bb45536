//! Findable tools: what the bus puts in front of the model names the bus tools as Claude Code
//! lists them in a deferred-tools session, and the ToolSearch call that loads them, so a model
//! that does what the text says calls the right tool on its first try.

use std::time::Instant;

use serde_json::json;

use crate::common::{Bus, PATIENCE};
use crate::fake_api::{Block, FakeApi, Request, Script};
use crate::install::claude;
use crate::modes::{assert_wake_says_mail_from, last_tool_calls};
use crate::session::Place;

/// The query of the first `ToolSearch query "..."` the text names.
fn named_query(text: &str) -> Option<String> {
    let from = text.find("ToolSearch query \"")? + "ToolSearch query \"".len();
    let len = text[from..].find('"')?;
    Some(text[from..from + len].to_owned())
}

/// Every `mcp__...` name in a text.
fn tool_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("mcp__") {
        let name: String = rest[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
            .collect();
        rest = &rest[i + name.len()..];
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Woken by mail, does exactly what the wake text says: the ToolSearch call it names, then
/// the tool that loaded, with the sender and id of the mail.
fn literal_model() -> Script {
    Box::new(|requests: &[Request]| {
        let last = requests.last()?;
        let calls = last_tool_calls(last);
        if calls.iter().any(|c| c.starts_with("mcp__")) {
            return Some(vec![Block::Text("Answered.".into())]);
        }
        if calls.iter().any(|c| c == "ToolSearch") {
            let wake = requests
                .iter()
                .rev()
                .map(Request::last_text)
                .find(|t| t.contains("ping from bob"))?;
            let query = named_query(&wake)?;
            let tool = query.strip_prefix("select:")?.split(',').next()?.to_owned();
            let id = wake
                .split("--- message ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<i64>()
                .ok()?;
            return Some(vec![Block::Tool(
                tool,
                json!({"to": "bob", "content": "pong", "reply_to": id}),
            )]);
        }
        let text = last.last_text();
        if text.contains("ping from bob") {
            let query = named_query(&text)?;
            return Some(vec![Block::Tool(
                "ToolSearch".into(),
                json!({"query": query, "max_results": 5}),
            )]);
        }
        None
    })
}

#[tokio::test]
async fn the_texts_name_the_tools_claude_code_lists_and_how_to_load_them() {
    let Some(claude) = claude() else { return };
    let bus = Bus::start().await;
    let api = FakeApi::start(literal_model()).await;
    let place = Place::new(&bus, &api, &[("BUS_NAME", "alice")]);
    let mut sdk = place.sdk(&claude);
    sdk.say("say hello").await;
    sdk.event("result").await;

    // The first request: the server's instructions and the hook's context name tools that
    // Claude Code's own deferred-tools list holds.
    let first = api.requests()[0].text();
    let named = tool_names(&first);
    let bus_tools: Vec<&String> = named
        .iter()
        .filter(|n| n.starts_with("mcp__plugin_claude-bus_bus__"))
        .collect();
    assert!(
        bus_tools.len() >= 3,
        "the first request names no bus tools in full: {named:?}"
    );
    assert!(
        first.contains("select:mcp__plugin_claude-bus_bus__"),
        "no ToolSearch select call in the first request"
    );
    for tool in ["inbox", "send", "register"] {
        let name = format!("mcp__plugin_claude-bus_bus__{tool}");
        assert!(
            first.lines().any(|l| l.trim() == name),
            "Claude Code does not list {name}"
        );
    }

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
        "woke {:.0} ms after bus send",
        (woke.at - sent).as_secs_f64() * 1e3
    );
    assert_wake_says_mail_from(&woke, "bob");
    // The model did what the wake said, first try: the loaded tool ran and answered.
    let (_, answered) = api
        .wait_for(before, PATIENCE, "after the named tool ran", |r| {
            last_tool_calls(r).iter().any(|c| c.starts_with("mcp__"))
        })
        .await;
    assert!(
        answered.last_text().contains(r#""to":"bob""#),
        "the tool named in the wake text did not run: {}",
        answered.last_text()
    );
    let inbox = bus
        .bus(&["inbox", "--as", "bob", "--json"])
        .run()
        .await
        .json();
    assert_eq!(inbox["messages"][0]["content"], "pong", "{inbox}");
    sdk.close();
}
