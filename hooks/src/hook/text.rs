//! What the hooks tell the model: delivered mail, and a short picture of the bus.
//!
//! Written as plain statements (who sent what, how to answer), as Claude Code's documentation
//! advises for hook output: text framed as system orders can trip prompt-injection defences.

use std::fmt::Write as _;

use proto::{AgentList, AgentStatus, ClaimList, InboxPage, Message};

/// The most a context note may be: Claude Code shows hook context to the model on every prompt.
pub const CONTEXT_MAX_CHARS: usize = 999;

/// Mail for `name`, already taken from its inbox, as the model should see it.
pub fn mail(name: &str, page: &InboxPage) -> String {
    let n = page.messages.len();
    // The first line says what happened and from whom: it is what a woken session reads first
    // (after the prefix hooks.json gives Claude Code as `rewakeMessage`).
    let mut senders: Vec<String> = Vec::new();
    for m in &page.messages {
        let quoted = format!("'{}'", m.from);
        if !senders.contains(&quoted) {
            senders.push(quoted);
        }
    }
    let mut out = format!(
        "claude-bus: {} for '{name}' (this session's name on the bus) from {}.\n",
        if n == 1 {
            "1 new message".to_owned()
        } else {
            format!("{n} new messages")
        },
        list(&senders, 5)
    );
    for m in &page.messages {
        let to = if m.to == proto::limits::BROADCAST {
            " to all"
        } else {
            ""
        };
        let _ = write!(
            out,
            "\n--- message {} from '{}'{to}, sent {}",
            m.id, m.from, m.ts
        );
        if let Some(r) = m.reply_to {
            let _ = write!(out, ", in reply to message {r}");
        }
        let _ = write!(out, " ---\n{}\n", m.content);
    }
    let (from, id) = page
        .messages
        .last()
        .map_or(("NAME", 0), |m| (m.from.as_str(), m.id));
    // Named in full, with the ToolSearch call that loads it: in a session whose MCP tools
    // are deferred the model cannot call `send` before it has loaded it.
    let answer = format!(
        "send(to=\"{from}\", content=\"...\", reply_to={id}) (if it is deferred, load it first \
         with {}) (or run: bus send {from} \"...\" --reply-to {id})",
        proto::host::tool_search(&["send"])
    );
    if n == 1 {
        let _ = write!(
            out,
            "\nThis message is now marked read on the bus. To answer, call the bus tool {answer}."
        );
    } else {
        let _ = write!(
            out,
            "\nThese messages are now marked read on the bus. To answer one, call the bus tool send \
             with its sender and id, for example {answer}."
        );
    }
    if page.pending_count > 0 {
        let _ = write!(
            out,
            " {} more unread: call inbox to read them.",
            page.pending_count
        );
    }
    out
}

/// How long the first line of an announced message may be.
const FIRST_LINE_MAX_CHARS: usize = 120;

/// The most messages one announcement lists; the rest are counted.
const ARRIVED_MAX: usize = 5;

/// Mail that arrived while `name` works, announced between tool calls and left unread:
/// who wrote, each message's first line, how to read it. `unread` is all of `name`'s unread.
pub fn arrived(name: &str, new: &[&Message], unread: u64) -> String {
    let n = new.len();
    let mut out = format!(
        "claude-bus: {} for '{name}' (this session's name on the bus) while you work:",
        if n == 1 {
            "new message".to_owned()
        } else {
            format!("{n} new messages")
        }
    );
    for m in new.iter().take(ARRIVED_MAX) {
        let first = m
            .content
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        let _ = write!(
            out,
            "\n- message {} from '{}': {}",
            m.id,
            m.from,
            clip(first.trim(), FIRST_LINE_MAX_CHARS)
        );
    }
    if n > ARRIVED_MAX {
        let _ = write!(out, "\n- and {} more", n - ARRIVED_MAX);
    }
    let them = if unread == 1 { "it" } else { "them" };
    let _ = write!(
        out,
        "\n{} unread; nothing was marked read. To read {them}, call the bus tool inbox \
         (if it is deferred, load it first with {}) (or run: bus inbox).",
        if unread == 1 {
            "1 message is".to_owned()
        } else {
            format!("{unread} messages are")
        },
        proto::host::tool_search(&["inbox"])
    );
    out
}

/// Who this session is, who else is online, how much mail waits, and live claims by others
/// on the paths this session owns; at most [`CONTEXT_MAX_CHARS`] characters.
pub fn context(name: &str, agents: &AgentList, unread: u64, claims: &ClaimList) -> String {
    let me = agents.agents.iter().find(|a| a.name == name);
    let mut out = format!("claude-bus: this session is '{name}' on the bus");
    let mut about = Vec::new();
    if let Some(me) = me {
        if !me.role.is_empty() {
            about.push(format!("role: {}", clip(&me.role, 80)));
        }
        if !me.owns.is_empty() {
            about.push(format!("owns: {}", list(&me.owns, 5)));
        }
    }
    if !about.is_empty() {
        let _ = write!(out, " ({})", about.join("; "));
    }
    out.push('.');
    // First, so that a crowded bus cannot clip it: the tools' full names and how to load
    // them where Claude Code defers MCP tools.
    let _ = write!(
        out,
        " Bus tools, if deferred: load them with {}.",
        proto::host::tool_search(&["inbox", "send", "agents"])
    );

    // On a bus shared across machines, say where the sessions on other machines are.
    let my_host = me.and_then(|m| m.host.as_deref());
    let online: Vec<String> = agents
        .agents
        .iter()
        .filter(|a| a.name != name && a.status == AgentStatus::Online)
        .map(|a| {
            let mut about = Vec::new();
            if !a.role.is_empty() {
                about.push(clip(&a.role, 40));
            }
            if let Some(host) = a.host.as_deref().filter(|h| Some(*h) != my_host) {
                about.push(format!("on {}", clip(host, 40)));
            }
            if about.is_empty() {
                a.name.clone()
            } else {
                format!("{} ({})", a.name, about.join(", "))
            }
        })
        .collect();
    if online.is_empty() {
        out.push_str(" No other session is online.");
    } else {
        let _ = write!(out, " Online: {}.", list(&online, 8));
    }

    match unread {
        0 => out.push_str(" No unread messages."),
        1 => out.push_str(" 1 unread message: the bus inbox tool shows it."),
        n => {
            let _ = write!(out, " {n} unread messages: the bus inbox tool shows them.");
        }
    }

    // One time budget for all the claims: pathological globs cannot hold the hook up.
    let owns = proto::overlap::Footprint::new(me.map(|m| m.owns.as_slice()).unwrap_or_default());
    let deadline = std::time::Instant::now() + proto::overlap::BUDGET;
    let overlapping: Vec<String> = claims
        .claims
        .iter()
        .filter(|c| c.owner != name && owns.touches(&c.path, deadline))
        .map(|c| {
            format!(
                "{} by {} ({} left)",
                clip(&c.path, 80),
                c.owner,
                crate::output::duration(c.ttl_remaining)
            )
        })
        .collect();
    if !overlapping.is_empty() {
        let _ = write!(
            out,
            " Claims by others on paths '{name}' owns: {}.",
            list(&overlapping, 5)
        );
    }
    clip(&out, CONTEXT_MAX_CHARS)
}

/// The first `max` items joined, and how many more there are.
fn list(items: &[String], max: usize) -> String {
    let mut s = items
        .iter()
        .take(max)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > max {
        let _ = write!(s, " and {} more", items.len() - max);
    }
    s
}

/// At most `max` characters, ending in `…` when cut.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut cut: String = s.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::{Agent, ClaimEntry, Message};

    fn agent(name: &str, role: &str, owns: &[&str], online: bool) -> Agent {
        Agent {
            name: name.into(),
            role: role.into(),
            owns: owns.iter().map(|s| s.to_string()).collect(),
            status: if online {
                AgentStatus::Online
            } else {
                AgentStatus::Away
            },
            connected: online,
            waiting: false,
            last_seen: "2026-01-01T00:00:00Z".into(),
            seconds_ago: 0.0,
            overlaps: vec![],
            host: online.then(|| "laptop".into()),
        }
    }

    #[test]
    fn mail_names_sender_id_reply_and_how_to_answer() {
        let page = InboxPage {
            messages: vec![Message {
                id: 7,
                from: "web".into(),
                to: "api".into(),
                content: "please review".into(),
                reply_to: Some(3),
                ts: "2026-01-01T00:00:00Z".into(),
            }],
            pending_count: 2,
        };
        let text = mail("api", &page);
        for needle in [
            "1 new message for 'api'",
            "message 7 from 'web'",
            "(this session's name on the bus) from 'web'.\n",
            "in reply to message 3",
            "please review",
            "send(to=\"web\", content=\"...\", reply_to=7)",
            "2 more unread",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from {text}");
        }
    }

    #[test]
    fn arrived_names_senders_first_lines_and_how_to_read() {
        let m = |id, from: &str, content: &str| Message {
            id,
            from: from.into(),
            to: "api".into(),
            content: content.into(),
            reply_to: None,
            ts: String::new(),
        };
        let a = m(4, "web", "\n  review auth.rs please\nsecond line stays out");
        let b = m(5, "ops", &"x".repeat(500));
        let text = arrived("api", &[&a, &b], 3);
        for needle in [
            "2 new messages for 'api'",
            "message 4 from 'web': review auth.rs please",
            "message 5 from 'ops': xxx",
            "3 messages are unread; nothing was marked read",
            "call the bus tool inbox",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from {text}");
        }
        assert!(!text.contains("second line"), "{text}");
        assert!(text.len() < 600, "{}", text.len());
    }

    #[test]
    fn context_is_short_even_for_a_crowded_bus() {
        let mut agents = vec![agent("api", &"r".repeat(500), &["src/api/**"], true)];
        for i in 0..100 {
            agents.push(agent(&format!("agent-{i}"), &"x".repeat(300), &[], true));
        }
        let claims = ClaimList {
            claims: (0..50)
                .map(|i| ClaimEntry {
                    path: format!("src/api/{}/{i}.rs", "d".repeat(200)),
                    owner: format!("agent-{i}"),
                    expires_at: String::new(),
                    ttl_remaining: 60.0,
                })
                .collect(),
        };
        let text = context("api", &AgentList { agents }, 12, &claims);
        assert!(text.chars().count() <= CONTEXT_MAX_CHARS, "{}", text.len());
        assert!(text.starts_with("claude-bus: this session is 'api'"));
    }

    #[test]
    fn context_lists_online_peers_unread_and_overlapping_claims() {
        let agents = AgentList {
            agents: vec![
                agent("api", "backend", &["src/api/**"], true),
                agent("web", "frontend", &["web/**"], true),
                agent("old", "", &[], false),
            ],
        };
        let claims = ClaimList {
            claims: vec![
                ClaimEntry {
                    path: "src/api/auth.rs".into(),
                    owner: "web".into(),
                    expires_at: String::new(),
                    ttl_remaining: 600.0,
                },
                ClaimEntry {
                    path: "web/index.ts".into(),
                    owner: "web".into(),
                    expires_at: String::new(),
                    ttl_remaining: 600.0,
                },
            ],
        };
        let text = context("api", &agents, 2, &claims);
        assert!(text.contains("role: backend; owns: src/api/**"), "{text}");
        assert!(text.contains("Online: web (frontend)."), "{text}");
        assert!(!text.contains("old"), "{text}");
        assert!(text.contains("2 unread messages"), "{text}");
        assert!(
            text.contains("src/api/auth.rs by web (10m 0s left)"),
            "{text}"
        );
        assert!(!text.contains("web/index.ts"), "{text}");
    }

    #[test]
    fn context_says_which_machine_a_peer_on_another_one_is_on() {
        let mut build = agent("build", "", &[], true);
        build.host = Some("buildbox".into());
        let agents = AgentList {
            agents: vec![
                agent("api", "backend", &[], true),
                agent("web", "frontend", &[], true),
                build,
            ],
        };
        let text = context("api", &agents, 0, &ClaimList { claims: vec![] });
        assert!(
            text.contains("Online: web (frontend), build (on buildbox)."),
            "{text}"
        );
    }
}
