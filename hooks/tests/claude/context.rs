//! Bus context from the very first request, even on a fresh bus where no busd runs yet and
//! the session's shim has not connected when Claude Code runs its SessionStart hook.

use crate::common::Bus;
use crate::fake_api::FakeApi;
use crate::install::claude;
use crate::session::Place;

#[tokio::test]
async fn the_first_request_on_a_fresh_bus_carries_bus_context() {
    let Some(claude) = claude() else { return };
    // No busd: the first Claude Code session of the day.
    let bus = Bus::empty();
    let api = FakeApi::start(Box::new(|_| None)).await;
    let place = Place::new(&bus, &api, &[("BUS_NAME", "alice")]);
    let child = place.headless(&claude, "say hello");
    let out = api.finish(child).await;
    assert!(out.status.success(), "{out:?}");
    let requests = api.requests();
    let first = requests.first().expect("a request");
    assert!(
        first
            .text()
            .contains("SessionStart hook additional context: claude-bus: this session is 'alice'"),
        "the first request has no bus context: {:#?}",
        api.summary()
    );
}

#[tokio::test]
async fn a_name_only_the_shim_knows_reaches_the_first_request_on_a_fresh_bus() {
    let Some(claude) = claude() else { return };
    // No busd, and BUS_NAME only in the environment of a server added the `claude mcp add`
    // way: the hooks learn the name from busd, once that shim has registered it.
    let bus = Bus::empty();
    let api = FakeApi::start(Box::new(|_| None)).await;
    let place = Place::new(&bus, &api, &[]);
    let config = place.project.path().join("mcp.json");
    let shim = crate::common::sibling("bus-shim");
    let servers = serde_json::json!({"mcpServers": {"bus": {
        "command": shim, "args": [], "env": {"BUS_NAME": "alice"}}}});
    std::fs::write(&config, servers.to_string()).unwrap();
    let child = place.headless_with(
        &claude,
        "say hello",
        &["--mcp-config", &config.to_string_lossy()],
    );
    let out = api.finish(child).await;
    assert!(out.status.success(), "{out:?}");
    let requests = api.requests();
    let first = requests.first().expect("a request").text();
    assert!(
        first.contains("hook additional context: claude-bus: this session is 'alice'"),
        "the first request has no bus context: {:#?}",
        api.summary()
    );
    // That server's instructions name its tools in its own form, as Claude Code lists them.
    assert!(
        first.contains(r#"ToolSearch query "select:mcp__bus__register"#),
        "the claude mcp add form is not named"
    );
    assert!(
        first.lines().any(|l| l.trim() == "mcp__bus__register"),
        "Claude Code does not list mcp__bus__register"
    );
}
