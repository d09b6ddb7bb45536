//! Channels (opt-in, `BUS_CHANNEL=1`): new mail pushed into the session the moment it is
//! committed, as Claude Code's `notifications/claude/channel`.
//!
//! Claude Code 2.1.332 listens for a server's channel only when the server declares the
//! `claude/channel` experimental capability, the connection did not negotiate the
//! `initialize`-less revision 2026-07-28 (which has no path for unsolicited notifications),
//! and the session enabled it (`--channels` / `--dangerously-load-development-channels`
//! naming the server; plus its own feature flag and org policy). A notification it does not
//! listen for is dropped without a word, and one it takes is never acknowledged.
//!
//! The delivery rule, so that nothing is lost and nothing is handed over twice: a push is a
//! consuming read (busd marks the messages read as it hands them over, atomically, so the
//! Stop hook and `inbox` can never return them again), and the shim pushes only when every
//! gate of Claude Code's that it can see is open: Claude Code's own command line enables
//! this server's channel, its cached feature flag for channels (`tengu_harbor` in
//! `~/.claude.json`) is on, and it talks to Anthropic's API (not Bedrock, Vertex or Foundry).
//! Where one is closed, the shim pushes nothing and the mail waits, unread, for the Stop hook
//! or `inbox` as without channels. Not visible to the shim: an organization's policy.

use std::borrow::Cow;

use proto::{ErrorKind, Message, Request, Response};
use rmcp::model::{CustomNotification, ProtocolVersion, ServerNotification};
use rmcp::{Peer, RoleServer};
use serde_json::json;
use tokio::sync::watch;

use proto::client::{Client, ClientError};

/// Whether channels are asked for (`BUS_CHANNEL=1`).
pub fn enabled() -> bool {
    std::env::var("BUS_CHANNEL").is_ok_and(|v| v.trim() == "1")
}

/// The revisions offered with channels on: every known one before 2026-07-28.
pub fn protocols() -> Cow<'static, [ProtocolVersion]> {
    Cow::Owned(
        ProtocolVersion::KNOWN_VERSIONS
            .iter()
            .filter(|v| v.as_str() < "2026-07-28")
            .cloned()
            .collect(),
    )
}

/// `experimental: {"claude/channel": {}}`.
pub fn capability() -> rmcp::model::ExperimentalCapabilities {
    [("claude/channel".to_owned(), serde_json::Map::new())].into()
}

/// Whether a Claude Code command line enables this server's channel: an entry of
/// `--channels` or `--dangerously-load-development-channels` naming the server as Claude
/// Code knows it (`server:bus`, `server:plugin:claude-bus:bus`, `plugin:claude-bus@MARKET`).
pub fn enabled_in(args: &[String]) -> bool {
    let mut listing = false;
    for arg in args.iter().skip(1) {
        if arg == "--channels" || arg == "--dangerously-load-development-channels" {
            listing = true;
            continue;
        }
        if arg.starts_with('-') {
            listing = false;
            continue;
        }
        if listing
            && (arg == "server:bus"
                || arg == "server:plugin:claude-bus:bus"
                || arg.starts_with("plugin:claude-bus@"))
        {
            return true;
        }
    }
    false
}

/// Claude Code's command line, when this shim runs under it.
fn host_args() -> Option<Vec<String>> {
    let host = proto::Host::of_server()?;
    let raw = std::fs::read(format!("/proc/{}/cmdline", host.pid)).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
}

/// Whether Claude Code's cached feature flag for channels is on, read from its config
/// (`CLAUDE_CONFIG_DIR/.claude.json`, else `~/.claude.json`).
fn feature_on() -> bool {
    let file = match std::env::var_os("CLAUDE_CONFIG_DIR") {
        Some(dir) => std::path::PathBuf::from(dir).join(".claude.json"),
        None => match std::env::var_os("HOME") {
            Some(home) => std::path::PathBuf::from(home).join(".claude.json"),
            None => return false,
        },
    };
    let Ok(text) = std::fs::read_to_string(file) else {
        return false;
    };
    let config: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    config["cachedGrowthBookFeatures"]["tengu_harbor"] == json!(true)
}

/// Whether Claude Code talks to a third-party provider, which gets no channels.
fn third_party() -> bool {
    [
        "CLAUDE_CODE_USE_BEDROCK",
        "CLAUDE_CODE_USE_VERTEX",
        "CLAUDE_CODE_USE_FOUNDRY",
    ]
    .iter()
    .any(|v| std::env::var(v).is_ok_and(|v| !v.is_empty() && v != "0"))
}

/// Why Claude Code would drop this server's pushes, as far as the shim can tell.
fn closed_gate() -> Option<&'static str> {
    if !host_args().is_some_and(|a| enabled_in(&a)) {
        return Some(
            "Claude Code's command line does not enable this server's channel \
             (--channels / --dangerously-load-development-channels)",
        );
    }
    if third_party() {
        return Some("Claude Code has no channels with a third-party provider");
    }
    if !feature_on() {
        return Some("Claude Code's channels feature is not on for this account");
    }
    None
}

/// Start pushing mail for the session's name once it has one, if Claude Code listens.
pub fn start(client: Client, named: watch::Receiver<Option<String>>, peer: Peer<RoleServer>) {
    if let Some(why) = closed_gate() {
        tracing::warn!(
            "BUS_CHANNEL=1, but {why}: not pushing; mail waits for inbox and the Stop hook"
        );
        return;
    }
    tokio::spawn(push(client, named, peer));
}

/// One waiting consuming read after another, each message pushed as it is taken.
async fn push(client: Client, mut named: watch::Receiver<Option<String>>, peer: Peer<RoleServer>) {
    loop {
        let Ok(name) = named.wait_for(Option::is_some).await.map(|n| n.clone()) else {
            return;
        };
        let Some(name) = name else { return };
        let read = Request::Inbox {
            consume: true,
            limit: 100,
            wait: proto::limits::WAIT_MAX_SECONDS,
            waiter: Some(format!("channel:{name}")),
        };
        match client.call(read).await {
            Ok(Response::Inbox(page)) => {
                for m in &page.messages {
                    if peer.send_notification(notification(m)).await.is_err() {
                        tracing::warn!(id = m.id, "the session closed before a push was sent");
                        return;
                    }
                }
            }
            // Renamed or replaced: wait for the next name.
            Err(ClientError::Refused(e))
                if matches!(e.kind, ErrorKind::NotRegistered | ErrorKind::Replaced) =>
            {
                named.mark_unchanged();
                if named.changed().await.is_err() {
                    return;
                }
            }
            Ok(_) | Err(_) => {
                tracing::warn!("channel: busd did not answer the waiting read; stopping pushes");
                return;
            }
        }
    }
}

/// `notifications/claude/channel` for one message: the content, and `meta` keys Claude Code
/// keeps (identifiers only: letters, digits, underscores; it drops other keys).
pub fn notification(m: &Message) -> ServerNotification {
    let mut meta = serde_json::Map::new();
    meta.insert("sender".into(), json!(m.from));
    meta.insert("message_id".into(), json!(m.id.to_string()));
    meta.insert("to".into(), json!(m.to));
    if let Some(r) = m.reply_to {
        meta.insert("reply_to".into(), json!(r.to_string()));
    }
    let params = json!({"content": m.content, "meta": meta});
    ServerNotification::CustomNotification(CustomNotification::new(
        "notifications/claude/channel",
        Some(params),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn reads_which_servers_claude_codes_command_line_enables() {
        assert!(enabled_in(&args("claude --channels server:bus")));
        assert!(enabled_in(&args(
            "claude --dangerously-load-development-channels server:x server:plugin:claude-bus:bus -p hi"
        )));
        assert!(enabled_in(&args(
            "claude --channels plugin:claude-bus@claude-bus"
        )));
        assert!(!enabled_in(&args("claude --channels server:other")));
        assert!(!enabled_in(&args("claude -p server:bus")));
        assert!(!enabled_in(&args(
            "claude --channels server:x --plugin-dir server:bus"
        )));
    }

    #[test]
    fn offers_no_revision_without_initialize() {
        let offered = protocols();
        assert!(offered.iter().all(|v| v.as_str() < "2026-07-28"));
        assert!(offered.iter().any(|v| v.as_str() == "2025-11-25"));
    }
}
