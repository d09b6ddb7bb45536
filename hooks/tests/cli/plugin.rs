//! The plugin files, read as Claude Code reads them, and the binaries they call.

use std::path::Path;
use std::process::Stdio;

use rmcp::ServiceExt;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};

use crate::common::{Bus, bus_exe, hook_input, plugin_json, plugin_root, repo_root, sibling};

/// How every command of the plugin starts: the launcher that finds the binaries.
const LAUNCH: &str = "${CLAUDE_PLUGIN_ROOT}/scripts/launch";

/// Every file under `dir`, relative to it, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap();
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn marketplace_lists_the_plugin_folder_which_holds_only_the_plugin() {
    let plugin = plugin_json("plugin/.claude-plugin/plugin.json");
    assert_eq!(plugin["name"], "claude-bus");
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
    // Claude Code copies the source folder whole: the repository root would bring the
    // sources and every build (gigabytes of target/).
    assert_eq!(entry["source"], "./plugin", "the plugin is its own folder");
    // With no version, Claude Code versions the plugin by the repository's git commit, so a
    // re-install after any change takes the new files (a fixed version reads as up to date).
    assert!(plugin.get("version").is_none(), "no fixed version");
    assert!(entry.get("version").is_none(), "no fixed version");
    // Components live in the default places, which the manifest does not override.
    for key in ["commands", "hooks", "mcpServers"] {
        assert!(
            plugin.get(key).is_none(),
            "{key} must use the default location"
        );
    }

    assert_eq!(
        files_under(&plugin_root()),
        [
            ".claude-plugin/plugin.json",
            ".mcp.json",
            "commands/bus.md",
            "hooks/hooks.json",
            "scripts/launch",
        ],
        "the plugin folder holds the plugin's own files and nothing else"
    );
    // A project `.mcp.json` at the root would add a second `bus` server to every session
    // started in the clone, and hide install.sh's fallback registration there.
    assert!(!repo_root().join(".mcp.json").exists());
}

#[tokio::test]
async fn mcp_server_bus_runs_bus_shim_through_the_launcher() {
    let mcp = plugin_json("plugin/.mcp.json");
    let servers = mcp["mcpServers"].as_object().unwrap();
    assert_eq!(servers.keys().collect::<Vec<_>>(), ["bus"]);
    assert_eq!(servers["bus"]["command"], LAUNCH);
    assert_eq!(servers["bus"]["args"], serde_json::json!(["bus-shim"]));
    // `cargo install --path .` installs the binary cargo builds here.
    sibling("bus-shim");

    // Claude Code substitutes the plugin's folder and spawns the command with no shell.
    let bus = Bus::start().await;
    let bin = bus_exe().parent().unwrap().to_path_buf();
    let path = std::env::join_paths(
        std::iter::once(bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let command = LAUNCH.replace("${CLAUDE_PLUGIN_ROOT}", plugin_root().to_str().unwrap());
    let (db, busd) = (bus.paths.db.clone(), sibling("busd"));
    let cmd = tokio::process::Command::new(command).configure(|cmd| {
        cmd.arg("bus-shim")
            .env("PATH", &path)
            .env("BUS_DB", &db)
            .env("BUS_DAEMON", &busd)
            .env_remove("BUS_NAME")
            .env_remove("BUS_SOCKET");
    });
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the launcher");
    let client = ().serve(transport).await.expect("MCP initialize");
    let tools = client.list_all_tools().await.expect("tools/list");
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
    let hooks = plugin_json("plugin/hooks/hooks.json");
    let launched = |hook: &serde_json::Value| -> String {
        let line = hook["command"].as_str().unwrap();
        line.strip_prefix(&format!("\"{LAUNCH}\" "))
            .unwrap_or_else(|| panic!("{line} runs through the launcher, quoted"))
            .to_owned()
    };
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
    let command = launched(stop);
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
        assert_eq!(launched(hook), expected);
        assert!(
            hook["timeout"].as_f64().unwrap() <= 30.0,
            "{event} runs before every prompt"
        );
        assert!(hook.get("asyncRewake").is_none());
    }

    // Each command runs as written (the launcher finds `bus` on PATH) and, with no name on the
    // bus, is silent.
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
    let text = std::fs::read_to_string(plugin_root().join("commands/bus.md")).unwrap();
    assert!(text.is_ascii(), "plugin/commands/bus.md is plain English");
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
