//! Channels (opt-in, `BUS_CHANNEL=1`): new mail pushed into the session the moment it is
//! committed, as Claude Code's `notifications/claude/channel`.
//!
//! Claude Code 2.1.332 listens for a server's channel only when the server declares the
//! `claude/channel` experimental capability, the connection did not negotiate the
//! `initialize`-less revision 2026-07-28, the provider is Anthropic's, its channels feature
//! flag (`tengu_harbor`) is on, the organization's policy allows channels, and the session
//! names the server in `--channels` (approved plugins) or
//! `--dangerously-load-development-channels`. A notification it does not listen for is
//! dropped without a word; one it takes becomes a prompt, and the plugin's UserPromptSubmit
//! hook sees it (`<channel source="plugin:claude-bus:bus" message_id="N" ...>`).
//!
//! The delivery rule: a push consumes nothing. The shim pushes each message committed for
//! its name and writes the channel mark (`proto::channel`) that tells the session's hooks it
//! does. `bus hook prompt` marks a message read when Claude Code submits its channel tag (the
//! evidence that it took the push), so neither `inbox` nor the Stop hook hands it over again.
//! The Stop hook leaves unread mail to the channel for `proto::channel::GRACE` and then hands
//! over what is still unread (a push Claude Code dropped) and marks the channel deaf, after
//! which the shim pushes no more. The shim skips pushing where it can see Claude Code would
//! drop it anyway (its command line does not enable this server's channel, or a third-party
//! provider); a drop it cannot see costs the grace period, never the message.

use std::borrow::Cow;

use proto::{Message, Request, Response};
use rmcp::model::{CustomNotification, ProtocolVersion, ServerNotification};
use rmcp::{Peer, RoleServer};
use serde_json::json;
use tokio::sync::watch;

use proto::client::Client;

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
fn host_args(host: &proto::Host) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{}/cmdline", host.pid)).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
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

/// Why Claude Code would surely drop this server's pushes, as far as the shim can tell.
fn closed_gate(host: &proto::Host) -> Option<&'static str> {
    if !host_args(host).is_some_and(|a| enabled_in(&a)) {
        return Some(
            "Claude Code's command line does not enable this server's channel \
             (--channels / --dangerously-load-development-channels)",
        );
    }
    if third_party() {
        return Some("Claude Code has no channels with a third-party provider");
    }
    None
}

/// Start pushing mail for the session's name once it has one, unless Claude Code surely
/// drops the pushes.
pub fn start(client: Client, named: watch::Receiver<Option<String>>, peer: Peer<RoleServer>) {
    let Some(host) = proto::Host::of_server() else {
        tracing::warn!("BUS_CHANNEL=1, but this shim does not run under Claude Code: not pushing");
        return;
    };
    if let Some(why) = closed_gate(&host) {
        tracing::warn!(
            "BUS_CHANNEL=1, but {why}: not pushing; mail waits for inbox and the Stop hook"
        );
        return;
    }
    let dir = match proto::paths::BusPaths::from_env() {
        Ok(paths) => paths.dir().to_path_buf(),
        Err(e) => {
            tracing::warn!("BUS_CHANNEL=1, but the bus folder is unknown ({e}): not pushing");
            return;
        }
    };
    tokio::spawn(push(client, named, peer, Pusher { host, dir }));
}

/// The Claude Code this shim pushes into and the bus folder holding the channel marks.
struct Pusher {
    host: proto::Host,
    dir: std::path::PathBuf,
}

/// For each name the session holds: mark the channel, then push every message committed
/// for that name (a waiting tail: nothing polls) until the name changes or Claude Code is
/// found deaf.
async fn push(
    client: Client,
    mut named: watch::Receiver<Option<String>>,
    peer: Peer<RoleServer>,
    pusher: Pusher,
) {
    loop {
        let Ok(name) = named.wait_for(Option::is_some).await.map(|n| n.clone()) else {
            return;
        };
        let Some(name) = name else { return };
        named.mark_unchanged();
        // Only mail committed from now on: what waits already is the hooks' to announce.
        let newest = Request::Tail {
            after: None,
            wait: 0.0,
            limit: 1,
        };
        let since = match client.call(newest).await {
            Ok(Response::Tail(page)) => page.last_id,
            Ok(_) | Err(_) => {
                tracing::warn!("channel: busd did not answer a tail; not pushing");
                return;
            }
        };
        let mark = proto::channel::Mark {
            host: pusher.host.clone(),
            since,
            deaf: false,
        };
        if let Err(e) = proto::channel::write(&pusher.dir, &name, &mark) {
            tracing::warn!("channel: cannot write the channel mark of '{name}' ({e}): not pushing");
            return;
        }
        let mut after = Some(since);
        loop {
            let tail = Request::Tail {
                after,
                wait: proto::limits::WAIT_MAX_SECONDS,
                limit: 100,
            };
            let page = tokio::select! {
                page = client.call(tail) => page,
                changed = named.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    break;
                }
            };
            let page = match page {
                Ok(Response::Tail(page)) => page,
                Ok(_) | Err(_) => {
                    tracing::warn!(
                        "channel: busd did not answer the waiting tail; stopping pushes"
                    );
                    return;
                }
            };
            after = Some(page.last_id);
            if proto::channel::listening(&pusher.dir, &name, &pusher.host).is_none() {
                tracing::warn!(
                    "channel: Claude Code did not take a push for '{name}' (see the Stop hook); \
                     not pushing any more"
                );
                return;
            }
            let mine = page
                .messages
                .iter()
                .filter(|m| (m.to == name || m.to == "all") && m.from != name);
            for m in mine {
                if peer.send_notification(notification(m)).await.is_err() {
                    tracing::warn!(id = m.id, "the session closed before a push was sent");
                    return;
                }
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
