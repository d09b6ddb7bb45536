//! The writes, each applied inside the savepoint its batch opened for it.

use rusqlite::{Connection, OptionalExtension};

use super::read::{self, AGENT, agent_row};
use crate::store::{
    AgentRow, Claim, ClaimRow, Consume, MessageRow, NewMessage, Page, Register, Release, SetState,
    StoreError,
};

/// Create or update `name`; `None` keeps the stored role/owns. An empty `owns` is stored as
/// NULL, as the Python claude-bus did.
pub(super) fn register(c: &Connection, w: &Register) -> Result<(AgentRow, u64), StoreError> {
    let Register {
        name,
        role,
        owns,
        session_id,
        now,
    } = w;
    let owns_json = match owns {
        Some(owns) if !owns.is_empty() => {
            Some(serde_json::to_string(owns).map_err(StoreError::io)?)
        }
        _ => None,
    };
    c.prepare_cached(
        "INSERT INTO agents(name, role, owns, last_seen, last_read_id, session_id) \
         VALUES (?1, COALESCE(?2, ''), ?3, ?4, 0, ?5) \
         ON CONFLICT(name) DO UPDATE SET role = COALESCE(?2, role), \
             owns = CASE WHEN ?6 THEN ?3 ELSE owns END, last_seen = ?4, \
             session_id = COALESCE(?5, session_id)",
    )?
    .execute((name, role, owns_json, now, session_id, owns.is_some()))?;
    let agent = c
        .prepare_cached(&format!(
            "SELECT {AGENT}, last_read_id FROM agents WHERE name = ?1"
        ))?
        .query_row([name], |r| Ok((agent_row(r)?, r.get::<_, Option<i64>>(5)?)))?;
    let pending = read::unread(c, name, agent.1.unwrap_or(0))?;
    Ok((agent.0, pending))
}

pub(super) fn touch(c: &Connection, name: &str, now: f64) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO agents(name, role, owns, last_seen, last_read_id) \
         VALUES (?1, '', NULL, ?2, 0) ON CONFLICT(name) DO UPDATE SET last_seen = ?2",
    )?
    .execute((name, now))?;
    Ok(())
}

pub(super) fn send(c: &Connection, w: &NewMessage) -> Result<MessageRow, StoreError> {
    let NewMessage {
        sender,
        to,
        content,
        reply_to,
        now,
        ..
    } = w;
    if let Some(id) = *reply_to {
        let exists = c
            .prepare_cached("SELECT 1 FROM messages WHERE id = ?1")?
            .exists([id])?;
        if !exists {
            return Err(StoreError::UnknownReplyTo(id));
        }
    }
    c.prepare_cached(
        "INSERT INTO messages(ts, sender, recipient, content, reply_to) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute((now, sender, to, content, reply_to))?;
    Ok(MessageRow {
        id: c.last_insert_rowid(),
        sender: sender.clone(),
        recipient: to.clone(),
        content: content.clone(),
        reply_to: *reply_to,
        ts: *now,
    })
}

/// Hand over up to `limit` unread messages: move the cursor past exactly those (never past a
/// reserved reply) and record their receipts. When that emptied the inbox the cursor jumps to
/// the newest message instead (nothing between is for `name`), so a broadcaster does not
/// rescan its own broadcasts. A reader without an agents row gets one when it reads something;
/// an existing one is marked seen.
pub(super) fn consume(c: &Connection, w: &Consume) -> Result<Page, StoreError> {
    let Consume {
        name, limit, now, ..
    } = w;
    let (limit, now) = (*limit, *now);
    let cursor = read::cursor(c, name)?;
    let messages = read::inbox(c, name, cursor, limit)?;
    let new_cursor = if messages.len() < limit as usize {
        let newest: Option<i64> = c
            .prepare_cached("SELECT MAX(id) FROM messages")?
            .query_row([], |r| r.get(0))?;
        newest.unwrap_or(0).max(cursor)
    } else {
        messages.last().map_or(cursor, |m| m.id)
    };
    // Never past a reply reserved for an ask: it must stay unread for the inbox should the
    // reservation go without the ask taking it (busd restarting). What the cursor stays
    // behind and was handed over now has its receipt, so it is not handed over again.
    let new_cursor = match super::reply::first_reserved(c, name, cursor)? {
        Some(reserved) => new_cursor.min(reserved - 1),
        None => new_cursor,
    };
    if messages.is_empty() {
        // Reading nothing makes no agent: `bus inbox --as TYPO` must not add a name.
        c.prepare_cached("UPDATE agents SET last_seen = ?2, last_read_id = ?3 WHERE name = ?1")?
            .execute((name, now, new_cursor))?;
    } else {
        c.prepare_cached(
            "INSERT INTO agents(name, role, owns, last_seen, last_read_id) \
             VALUES (?1, '', NULL, ?2, ?3) \
             ON CONFLICT(name) DO UPDATE SET last_seen = ?2, last_read_id = ?3",
        )?
        .execute((name, now, new_cursor))?;
    }
    for m in &messages {
        receipt(c, m.id, name, now)?;
    }
    let pending = read::unread(c, name, new_cursor)?;
    Ok(Page { messages, pending })
}

/// A receipt for message `id` of `name` (to it or to `all`, not from it), if there is one.
pub(super) fn mark_read(c: &Connection, name: &str, id: i64, now: f64) -> Result<(), StoreError> {
    let theirs: bool = c
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM messages WHERE id = ?1 \
             AND (recipient = ?2 OR recipient = 'all') AND ?2 != 'all' AND sender IS NOT ?2)",
        )?
        .query_row((id, name), |r| r.get(0))?;
    if theirs {
        receipt(c, id, name, now)?;
    }
    Ok(())
}

/// Record that `name` has read message `id` (a first receipt is kept).
pub(super) fn receipt(c: &Connection, id: i64, name: &str, now: f64) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO deliveries(message_id, recipient, read, read_ts) VALUES (?1, ?2, 1, ?3) \
         ON CONFLICT(message_id, recipient) DO UPDATE SET read = 1, read_ts = excluded.read_ts \
         WHERE read IS NOT 1",
    )?
    .execute((id, name, now))?;
    Ok(())
}

pub(super) fn set_state(c: &Connection, w: &SetState) -> Result<i64, StoreError> {
    let SetState {
        state_key: key,
        value,
        by,
        expected_version,
        append,
        now,
        ..
    } = w;
    let key = key.as_str();
    let old: Option<(Option<String>, Option<i64>)> = c
        .prepare_cached("SELECT value, version FROM state WHERE key = ?1")?
        .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let current = old.as_ref().map_or(0, |(_, version)| version.unwrap_or(1));
    if let Some(expected) = *expected_version
        && expected != current
    {
        return Err(StoreError::Stale {
            key: key.into(),
            expected,
            current,
        });
    }
    let new_value = match old.and_then(|(value, _)| value) {
        Some(old) if *append && !old.is_empty() => format!("{old}\n{value}"),
        _ => value.to_owned(),
    };
    if new_value.len() > proto::limits::VALUE_MAX_BYTES {
        return Err(StoreError::TooLarge(new_value.len()));
    }
    let version = current + 1;
    c.prepare_cached(
        "INSERT INTO state(key, value, version, updated_by, ts) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT(key) DO UPDATE SET value = ?2, version = ?3, updated_by = ?4, ts = ?5",
    )?
    .execute((key, new_value, version, by, now))?;
    Ok(version)
}

/// The owner and expiry of the claim on `path`, live or not.
fn current_claim(c: &Connection, path: &str) -> Result<Option<(String, f64)>, StoreError> {
    Ok(c.prepare_cached(
        "SELECT COALESCE(owner, ''), COALESCE(ts, 0) + COALESCE(ttl, 0) FROM claims \
         WHERE path = ?1",
    )?
    .query_row([path], |r| Ok((r.get(0)?, r.get(1)?)))
    .optional()?)
}

pub(super) fn claim(c: &Connection, w: &Claim) -> Result<ClaimRow, StoreError> {
    let Claim {
        path,
        owner,
        ttl,
        now,
        ..
    } = w;
    let (path, owner, ttl, now) = (path.as_str(), owner.as_str(), *ttl, *now);
    if let Some((holder, expires_at)) = current_claim(c, path)?
        && holder != owner
        && expires_at >= now
    {
        return Err(StoreError::Claimed {
            path: path.into(),
            owner: holder,
            seconds_left: expires_at - now,
        });
    }
    c.prepare_cached(
        "INSERT INTO claims(path, owner, ts, ttl) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT(path) DO UPDATE SET owner = ?2, ts = ?3, ttl = ?4",
    )?
    .execute((path, owner, now, ttl))?;
    // The same sum that `Claims` reads back as `ts + ttl`.
    Ok(ClaimRow {
        path: path.into(),
        owner: owner.into(),
        expires_at: now + ttl,
    })
}

/// Remove `owner`'s live claim. An expired claim is nothing to release (`false`); when it is
/// the owner's own it is deleted on the way, as a refresh would have replaced it anyway.
pub(super) fn release(c: &Connection, w: &Release) -> Result<bool, StoreError> {
    let Release {
        path, owner, now, ..
    } = w;
    let (path, owner, now) = (path.as_str(), owner.as_str(), *now);
    let Some((holder, expires_at)) = current_claim(c, path)? else {
        return Ok(false);
    };
    let live = expires_at >= now;
    if holder != owner {
        return match live {
            true => Err(StoreError::NotOwner {
                path: path.into(),
                owner: holder,
            }),
            false => Ok(false),
        };
    }
    c.prepare_cached("DELETE FROM claims WHERE path = ?1")?
        .execute([path])?;
    Ok(live)
}
