//! The plugin files, read as Claude Code reads them, and the binaries they call.

use crate::common::{Bus, bus_exe, hook_input, plugin_json, repo_root, sibling};

#[test]
fn manifest_and_marketplace_describe_one_plugin_at_the_root() {
    let plugin = plugin_json(".claude-plugin/plugin.json");
    assert_eq!(plugin["name"], "claude-bus");
    assert_eq!(plugin["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        plugin["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );

    let market = plugin_json(".claude-plugin/marketplace.json");
    assert_eq!(market["name"], "claude-bus");
    assert!(
        market["owner"]["name"]
            .as_str()
            .is_some_and(|n| !n.is_empty())
    );
    let entry = &market["plugins"][0];
    assert_eq!(market["plugins"].as_array().unwrap().len(), 1);
    assert_eq!(entry["name"], plugin["name"]);
    assert_eq!(entry["source"], "./", "the plugin is the marketplace root");
    assert_eq!(entry["version"], plugin["version"]);
    // Components live in the default places, which the manifest does not override.
    for key in ["commands", "hooks", "mcpServers"] {
        assert!(
            plugin.get(key).is_none(),
            "{key} must use the default location"
        );
    }
}

#[tokio::test]
async fn mcp_server_bus_runs_bus_shim() {
    let mcp = plugin_json(".mcp.json");
    let servers = mcp["mcpServers"].as_object().unwrap();
    assert_eq!(servers.keys().collect::<Vec<_>>(), ["bus"]);
    assert_eq!(servers["bus"]["command"], "bus-shim");
    // `cargo install --path bus-shim` installs the binary cargo builds here.
    sibling("bus-shim");

    let bus = Bus::start().await;
    let session = bus.session("sess-check").await;
    let tools = session.client.list_all_tools().await.expect("tools/list");
    let mut names: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "agents",
            "claim",
            "get_state",
            "inbox",
            "list_claims",
            "list_state",
            "message_status",
            "register",
            "release",
            "send",
            "set_state",
            "whoami"
        ]
    );
}

#[tokio::test]
async fn hooks_json_wires_the_four_hooks_to_bus() {
    let hooks = plugin_json("hooks/hooks.json");
    let events = hooks["hooks"].as_object().unwrap();
    let mut names: Vec<&String> = events.keys().collect();
    names.sort();
    assert_eq!(
        names,
        ["PostToolUse", "SessionStart", "Stop", "UserPromptSubmit"]
    );

    let stop = &hooks["hooks"]["Stop"][0]["hooks"][0];
    assert_eq!(stop["type"], "command");
    assert_eq!(stop["asyncRewake"], true);
    let command = stop["command"].as_str().unwrap();
    assert!(command.starts_with("bus hook stop"), "{command}");
    let waits: f64 = command
        .split_whitespace()
        .skip_while(|w| *w != "--timeout")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("the Stop command passes --timeout");
    let timeout = stop["timeout"].as_f64().unwrap();
    assert!(waits >= 3600.0, "a long wait: {waits}");
    assert!(
        timeout > waits,
        "Claude Code's timeout outlasts the hook's own wait"
    );

    for (event, expected) in [
        ("UserPromptSubmit", "bus hook prompt"),
        ("SessionStart", "bus hook session-start"),
        ("PostToolUse", "bus hook post-tool"),
    ] {
        let hook = &hooks["hooks"][event][0]["hooks"][0];
        assert_eq!(hook["type"], "command");
        assert_eq!(hook["command"], expected);
        assert!(
            hook["timeout"].as_f64().unwrap() <= 30.0,
            "{event} runs before every prompt"
        );
        assert!(hook.get("asyncRewake").is_none());
    }

    // Each command runs as written (`bus` from PATH) and, with no name on the bus, is silent.
    assert!(bus_exe().ends_with("bus"));
    let bus = Bus::start().await;
    for (event, input) in [
        ("Stop", "Stop"),
        ("UserPromptSubmit", "UserPromptSubmit"),
        ("SessionStart", "SessionStart"),
        ("PostToolUse", "PostToolUse"),
    ] {
        let line = hooks["hooks"][event][0]["hooks"][0]["command"]
            .as_str()
            .unwrap();
        let out = bus
            .sh(line)
            .env("CLAUDE_CODE_SESSION_ID", "sess-none")
            .stdin(hook_input(input, "sess-none"))
            .run()
            .await;
        assert_eq!(out.code, 0, "{event}: {out:?}");
        assert!(out.silent(), "{event}: {out:?}");
    }
}

#[test]
fn the_bus_command_teaches_the_ritual_and_the_wait_loop() {
    let text = std::fs::read_to_string(repo_root().join("commands/bus.md")).unwrap();
    assert!(text.is_ascii(), "commands/bus.md is plain English");
    let front = text
        .strip_prefix("---\n")
        .and_then(|rest| rest.split_once("\n---\n"))
        .map(|(front, _)| front)
        .expect("YAML frontmatter");
    assert!(
        front.lines().any(|l| l.starts_with("description: ")),
        "{front}"
    );
    assert!(
        front.lines().any(|l| l.starts_with("argument-hint: ")),
        "{front}"
    );
    assert!(text.contains("$ARGUMENTS"));

    let ritual = ["register(", "agents()", "get_state()", "inbox()"];
    let at: Vec<usize> = ritual
        .iter()
        .map(|t| text.find(t).unwrap_or_else(|| panic!("{t} missing")))
        .collect();
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "register, agents, get_state, inbox in order"
    );
    assert!(text.contains("inbox(wait="), "the wait loop");
    for tool in [
        "send(",
        "set_state(",
        "claim(",
        "release(",
        "message_status(",
        "list_claims()",
    ] {
        assert!(
            text.contains(tool),
            "{tool} is mapped from natural language"
        );
    }
}
