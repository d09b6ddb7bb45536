//! `bus hook post-tool`: tell a working session, between tool calls, that mail has arrived.
//!
//! Run as a PostToolUse hook, it peeks at the session's inbox (nothing is consumed) and
//! announces each message it has not announced before, as `additionalContext`: who wrote,
//! the first line, how to read it. Nothing new prints nothing.
//!
//! What was announced is the highest message id, kept per name in `announced-<name>` beside
//! the database. Message ids grow in commit order (one database thread assigns them), so
//! "announced" is exactly "id <= mark". Parallel tool calls run their hooks at once: each
//! hook holds an exclusive lock on that file from its peek to its write, so two hooks never
//! announce the same message, and a message committed between them is announced by the one
//! that peeks after it.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use proto::client::call;
use proto::paths::BusPaths;
use proto::{InboxPage, Message};

use super::text;
use super::{Outcome, Session};

/// The most messages one peek looks at.
const PEEK_LIMIT: u32 = 100;

/// Announce the messages that arrived since the last announcement to this name.
pub async fn post_tool(session: &Session) -> anyhow::Result<Outcome> {
    let paths = BusPaths::from_env()?;
    let mut mark = Mark::lock(paths.dir(), &session.name)?;
    let page = peek(session).await?;
    let last = mark.read();
    // What the session's channel pushes, Claude Code shows between tool calls itself.
    let pushed_after = proto::Host::of_hook()
        .and_then(|host| proto::channel::listening(paths.dir(), &session.name, &host))
        .map_or(i64::MAX, |mark| mark.since);
    let new: Vec<&Message> = page
        .messages
        .iter()
        .filter(|m| m.id > last && m.id <= pushed_after)
        .collect();
    let Some(newest) = new.iter().map(|m| m.id).max() else {
        return Ok(Outcome::Silent);
    };
    mark.write(newest)?;
    let note = text::arrived(&session.name, &new, page.pending_count);
    Ok(Outcome::Stdout(serde_json::json!({
        "hookSpecificOutput": {
            "hookEventName": "PostToolUse",
            "additionalContext": note,
        }
    })))
}

async fn peek(session: &Session) -> anyhow::Result<InboxPage> {
    let peek = call::inbox(false, PEEK_LIMIT, 0.0, None);
    Ok(session.client.run(peek).await?)
}

/// The highest announced message id of one name, locked while this hook holds it.
struct Mark {
    file: std::fs::File,
    path: PathBuf,
}

impl Mark {
    /// Open (or create) the mark of `name` in the bus folder `dir` and lock it; the lock
    /// lasts until the mark is dropped.
    fn lock(dir: &Path, name: &str) -> anyhow::Result<Mark> {
        // Names are `[A-Za-z0-9._-]`: no separator can reach outside the bus folder.
        let path = dir.join(format!("announced-{name}"));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
        file.lock()
            .map_err(|e| anyhow::anyhow!("cannot lock {}: {e}", path.display()))?;
        Ok(Mark { file, path })
    }

    /// The mark, 0 when none (or unreadable: announcing again beats never announcing).
    fn read(&mut self) -> i64 {
        let mut text = String::new();
        let _ = self.file.read_to_string(&mut text);
        text.trim().parse().unwrap_or(0)
    }

    fn write(&mut self, id: i64) -> anyhow::Result<()> {
        let io = |e: std::io::Error| anyhow::anyhow!("cannot write {}: {e}", self.path.display());
        self.file.set_len(0).map_err(io)?;
        self.file.rewind().map_err(io)?;
        self.file.write_all(id.to_string().as_bytes()).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_is_exclusive_while_held_and_keeps_its_value() {
        let dir = tempfile::tempdir().unwrap();
        let mut held = Mark::lock(dir.path(), "alice").unwrap();
        assert_eq!(held.read(), 0);
        held.write(41).unwrap();
        held.write(7).unwrap();
        let other = std::fs::File::open(dir.path().join("announced-alice")).unwrap();
        assert!(
            matches!(other.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
            "a second hook must wait for the first to finish"
        );
        drop(held);
        let mut next = Mark::lock(dir.path(), "alice").unwrap();
        assert_eq!(
            next.read(),
            7,
            "a shorter number replaces a longer one whole"
        );
    }
}
