//! The channel mark: which Claude Code's shim pushes a name's mail into its session as channel
//! notifications (`BUS_CHANNEL=1`), kept in `channel-<name>` beside the database.
//!
//! The shim writes it when it starts pushing for a name; the hooks of the same Claude Code
//! (the same [`Host`]) read it: the Stop hook leaves pushed mail to the channel for a grace
//! period, and turns the mark deaf when Claude Code did not take a push in that time (it
//! dropped it); the shim stops pushing once the mark is deaf.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Host;

/// How long a message stays the channel's once an idle session could have taken it: Claude
/// Code 2.1.332 takes a push into an idle session within ~0.1 s (its UserPromptSubmit hook
/// then marks it read); one still unread after this was dropped.
pub const GRACE: Duration = Duration::from_secs(3);

/// What the mark of one name says; on disk four lines: the pid, the start time, `since` and
/// `deaf` or `listening`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// The Claude Code whose shim pushes.
    pub host: Host,
    /// The newest message when the shim started pushing: it pushes every later one.
    pub since: i64,
    /// Claude Code did not take a push within [`GRACE`]: it does not listen.
    pub deaf: bool,
}

fn path(dir: &Path, name: &str) -> PathBuf {
    // Names are `[A-Za-z0-9._-]`: no separator can reach outside the bus folder.
    dir.join(format!("channel-{name}"))
}

/// The mark of `name`, if there is a readable one.
pub fn read(dir: &Path, name: &str) -> Option<Mark> {
    let text = std::fs::read_to_string(path(dir, name)).ok()?;
    let mut lines = text.lines();
    let pid = lines.next()?.parse().ok()?;
    let started = lines.next()?.to_owned();
    let since = lines.next()?.parse().ok()?;
    let deaf = lines.next()? == "deaf";
    Some(Mark {
        host: Host { pid, started },
        since,
        deaf,
    })
}

/// Write the mark of `name` (replacing it whole: a rename, so a reader never sees half).
pub fn write(dir: &Path, name: &str, mark: &Mark) -> std::io::Result<()> {
    let target = path(dir, name);
    let tmp = dir.join(format!(".channel-{name}.{}", std::process::id()));
    let state = if mark.deaf { "deaf" } else { "listening" };
    let text = format!(
        "{}\n{}\n{}\n{state}\n",
        mark.host.pid, mark.host.started, mark.since
    );
    std::fs::write(&tmp, text)?;
    std::fs::rename(tmp, target)
}

/// The mark of `name` when the shim of `host` pushes its mail into that session and Claude
/// Code has not been seen dropping a push.
pub fn listening(dir: &Path, name: &str, host: &Host) -> Option<Mark> {
    read(dir, name).filter(|m| &m.host == host && !m.deaf)
}

/// Record that Claude Code `host` dropped a push for `name` (when the mark is its own).
pub fn deafen(dir: &Path, name: &str, host: &Host) -> std::io::Result<()> {
    match read(dir, name) {
        Some(mut m) if &m.host == host && !m.deaf => {
            m.deaf = true;
            write(dir, name, &m)
        }
        _ => Ok(()),
    }
}

/// The message ids of this bus's channel tags in a prompt Claude Code submitted: each
/// `<channel source="SERVER" ... message_id="N"` whose source is the bus's server, as Claude
/// Code names it for the plugin (`plugin:claude-bus:bus`) or for `claude mcp add bus`.
pub fn taken_ids(prompt: &str) -> Vec<i64> {
    let mut ids = Vec::new();
    for tag in prompt.split("<channel ").skip(1) {
        let head = tag.split('>').next().unwrap_or_default();
        let source = attribute(head, "source");
        if !matches!(source, Some("plugin:claude-bus:bus" | "bus")) {
            continue;
        }
        if let Some(id) = attribute(head, "message_id").and_then(|v| v.parse().ok()) {
            ids.push(id);
        }
    }
    ids
}

/// The value of `key="..."` in a tag's attributes (` head`: after the tag's name).
fn attribute<'a>(head: &'a str, key: &str) -> Option<&'a str> {
    let needle = format!("{key}=\"");
    let at = head
        .match_indices(&needle)
        .find(|(i, _)| *i == 0 || head.as_bytes()[i - 1] == b' ')?
        .0;
    let rest = &head[at + needle.len()..];
    Some(&rest[..rest.find('"')?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_bus_s_message_ids_from_channel_tags_only() {
        let prompt = "<channel source=\"plugin:claude-bus:bus\" message_id=\"12\" sender=\"bob\">\nhi\n</channel>\n\
                      <channel source=\"other\" message_id=\"13\">x</channel>\
                      <channel source=\"bus\" sender=\"a\" message_id=\"14\">y</channel>";
        assert_eq!(taken_ids(prompt), vec![12, 14]);
        assert_eq!(taken_ids("message_id=\"3\" no tag"), Vec::<i64>::new());
    }

    #[test]
    fn a_mark_is_its_hosts_until_deaf() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host {
            pid: 7,
            started: "1".into(),
        };
        let other = Host {
            pid: 7,
            started: "2".into(),
        };
        assert_eq!(listening(dir.path(), "alice", &host), None);
        let mark = Mark {
            host: host.clone(),
            since: 4,
            deaf: false,
        };
        write(dir.path(), "alice", &mark).unwrap();
        assert_eq!(listening(dir.path(), "alice", &host), Some(mark.clone()));
        assert_eq!(listening(dir.path(), "alice", &other), None);
        deafen(dir.path(), "alice", &other).unwrap();
        assert_eq!(listening(dir.path(), "alice", &host), Some(mark));
        deafen(dir.path(), "alice", &host).unwrap();
        assert_eq!(listening(dir.path(), "alice", &host), None);
    }
}
