//! The reads, and the row and inbox queries that the writes share.
//!
//! The inbox of `name` is every message past its cursor addressed to it or to `all` and not
//! sent by it. It is queried as two ranges of the `messages(recipient, id)` index merged in id
//! order, so its cost follows what is unread, not the size of the table. A message with a read
//! receipt of `name` is read even past the cursor (a reply taken by `send(wait_reply)`), and a
//! reply reserved for an ask of `name` that waits for it is the ask's, not the inbox's.

use rusqlite::{Connection, OptionalExtension, Row};

use crate::store::{
    AgentRow, ClaimRow, Counts, MessageRow, MessageStatusRow, Page, ReceiptRow, StateRow,
    StoreError, Tail,
};

pub(super) fn peek(c: &Connection, name: &str, limit: u32) -> Result<Page, StoreError> {
    let cursor = cursor(c, name)?;
    Ok(Page {
        messages: inbox(c, name, cursor, limit)?,
        pending: unread(c, name, cursor)?,
    })
}

pub(super) fn agents(c: &Connection) -> Result<Vec<AgentRow>, StoreError> {
    let mut stmt = c.prepare_cached(&format!("SELECT {AGENT} FROM agents ORDER BY name"))?;
    let rows = stmt.query_map([], agent_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn resolve(c: &Connection, session_id: &str) -> Result<Option<String>, StoreError> {
    Ok(c.prepare_cached(
        "SELECT name FROM agents WHERE session_id = ?1 \
             ORDER BY last_seen DESC, name LIMIT 1",
    )?
    .query_row([session_id], |r| r.get(0))
    .optional()?)
}

pub(super) fn claims(c: &Connection, now: f64) -> Result<Vec<ClaimRow>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT path, owner, ts + ttl FROM claims WHERE ts + ttl >= ?1 ORDER BY path",
    )?;
    let rows = stmt.query_map([now], |r| {
        Ok(ClaimRow {
            path: r.get(0)?,
            owner: text(r, 1)?,
            expires_at: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn counts(c: &Connection, now: f64) -> Result<Counts, StoreError> {
    Ok(c.query_row(
        "SELECT (SELECT COUNT(*) FROM agents), (SELECT COUNT(*) FROM messages), \
         (SELECT COUNT(*) FROM state), (SELECT COUNT(*) FROM claims WHERE ts + ttl >= ?1)",
        [now],
        |r| {
            Ok(Counts {
                agents: count(r, 0)?,
                messages: count(r, 1)?,
                state_keys: count(r, 2)?,
                live_claims: count(r, 3)?,
            })
        },
    )?)
}

/// The columns that [`agent_row`] reads.
pub(super) const AGENT: &str = "name, role, owns, last_seen, session_id";

pub(super) fn agent_row(r: &Row) -> rusqlite::Result<AgentRow> {
    let owns: Option<String> = r.get(2)?;
    let name: String = r.get(0)?;
    let owns = match owns.as_deref().map(serde_json::from_str::<Vec<String>>) {
        None => Vec::new(),
        Some(Ok(owns)) => owns,
        Some(Err(e)) => {
            tracing::warn!(agent = name, error = %e, "ignoring an agent's unreadable owns");
            Vec::new()
        }
    };
    Ok(AgentRow {
        name,
        role: text(r, 1)?,
        owns,
        last_seen: r.get::<_, Option<f64>>(3)?.unwrap_or(0.0),
        session_id: r.get(4)?,
    })
}

/// The columns that [`message_row`] reads.
pub(super) const MESSAGE: &str = "id, sender, recipient, content, reply_to, ts";

pub(super) fn message_row(r: &Row) -> rusqlite::Result<MessageRow> {
    Ok(MessageRow {
        id: r.get(0)?,
        sender: text(r, 1)?,
        recipient: text(r, 2)?,
        content: text(r, 3)?,
        reply_to: r.get(4)?,
        ts: r.get::<_, Option<f64>>(5)?.unwrap_or(0.0),
    })
}

/// A `COUNT(*)`.
fn count(r: &Row, i: usize) -> rusqlite::Result<u64> {
    Ok(r.get::<_, i64>(i)?.unsigned_abs())
}

/// A text column that older versions may have left NULL.
fn text(r: &Row, i: usize) -> rusqlite::Result<String> {
    Ok(r.get::<_, Option<String>>(i)?.unwrap_or_default())
}

pub(super) fn message(c: &Connection, id: i64) -> Result<MessageRow, StoreError> {
    c.prepare_cached(&format!("SELECT {MESSAGE} FROM messages WHERE id = ?1"))?
        .query_row([id], message_row)
        .optional()?
        .ok_or(StoreError::UnknownMessage(id))
}

/// The read cursor of `name`: the id after which its unread messages start (0 for a stranger).
pub(super) fn cursor(c: &Connection, name: &str) -> Result<i64, StoreError> {
    let cursor: Option<Option<i64>> = c
        .prepare_cached("SELECT last_read_id FROM agents WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?;
    Ok(cursor.flatten().unwrap_or(0))
}

/// The condition, on a `messages` row, that `?2` has no read receipt for it: a reply taken
/// out of order by `send(wait_reply)` has one while the cursor is still before it.
pub(super) const NOT_TAKEN: &str = "NOT EXISTS (SELECT 1 FROM deliveries \
    WHERE message_id = messages.id AND deliveries.recipient = ?2 AND read = 1)";

/// The condition, on a `messages` row, that it is not a reply reserved for an ask of `?2`
/// that is waiting for it (`reply.rs`).
const NOT_RESERVED: &str = "(reply_to IS NULL OR NOT EXISTS (SELECT 1 FROM temp.asks \
    WHERE asks.name = ?2 AND asks.message_id = messages.reply_to))";

/// Up to `limit` unread messages of `name` past `cursor`, oldest first.
pub(super) fn inbox(
    c: &Connection,
    name: &str,
    cursor: i64,
    limit: u32,
) -> Result<Vec<MessageRow>, StoreError> {
    // `?2 != 'all'` keeps the two ranges apart even for a (refused) name `all`. Each arm
    // walks `messages_recipient` in id order, so the compound merges them as they come and
    // stops at the limit: no temporary b-tree to sort either (the form with a limited
    // subquery per arm sorted each one, opening two temporary page caches per call).
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {MESSAGE} FROM messages \
             WHERE recipient = ?2 AND ?2 != 'all' AND id > ?1 AND sender IS NOT ?2 \
             AND {NOT_TAKEN} AND {NOT_RESERVED} \
         UNION ALL \
         SELECT {MESSAGE} FROM messages \
             WHERE recipient = 'all' AND id > ?1 AND sender IS NOT ?2 AND {NOT_TAKEN} \
             AND {NOT_RESERVED} \
         ORDER BY id LIMIT ?3"
    ))?;
    let rows = stmt.query_map((cursor, name, limit), message_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// How many messages of `name` past `cursor` are unread.
pub(super) fn unread(c: &Connection, name: &str, cursor: i64) -> Result<u64, StoreError> {
    Ok(c.prepare_cached(&format!(
        "SELECT (SELECT COUNT(*) FROM messages \
             WHERE recipient = ?2 AND ?2 != 'all' AND id > ?1 AND sender IS NOT ?2 \
             AND {NOT_TAKEN} AND {NOT_RESERVED}) \
         + (SELECT COUNT(*) FROM messages \
             WHERE recipient = 'all' AND id > ?1 AND sender IS NOT ?2 AND {NOT_TAKEN} \
             AND {NOT_RESERVED})"
    ))?
    .query_row((cursor, name), |r| count(r, 0))?)
}

pub(super) fn status(c: &Connection, id: i64) -> Result<MessageStatusRow, StoreError> {
    let m = message(c, id)?;
    let mut stmt = c.prepare_cached(
        "SELECT recipient, read_ts FROM deliveries WHERE message_id = ?1 AND read = 1 \
         ORDER BY read_ts, recipient",
    )?;
    let readers: Vec<ReceiptRow> = stmt
        .query_map([id], |r| {
            Ok(ReceiptRow {
                recipient: text(r, 0)?,
                read_ts: r.get::<_, Option<f64>>(1)?.unwrap_or(0.0),
            })
        })?
        .collect::<Result<_, _>>()?;
    let has_read = |name: &String| readers.iter().any(|r| &r.recipient == name);
    let mut unread: Vec<String> = if m.recipient == proto::limits::BROADCAST {
        let mut stmt =
            c.prepare_cached("SELECT name FROM agents WHERE name IS NOT ?1 ORDER BY name")?;
        stmt.query_map([&m.sender], |r| r.get(0))?
            .collect::<Result<_, _>>()?
    } else {
        vec![m.recipient.clone()]
    };
    unread.retain(|name| !has_read(name));
    Ok(MessageStatusRow {
        id: m.id,
        sender: m.sender,
        recipient: m.recipient,
        readers,
        unread,
    })
}

pub(super) fn state(
    c: &Connection,
    key: Option<&str>,
    with_values: bool,
) -> Result<Vec<StateRow>, StoreError> {
    let value = if with_values { "value" } else { "''" };
    let filter = if key.is_some() { "WHERE key = ?1" } else { "" };
    let mut stmt = c.prepare_cached(&format!(
        "SELECT key, {value}, updated_by, ts, version FROM state {filter} ORDER BY key"
    ))?;
    let params: &[&dyn rusqlite::ToSql] = match &key {
        Some(key) => &[key],
        None => &[],
    };
    let rows = stmt.query_map(params, |r| {
        Ok(StateRow {
            key: r.get(0)?,
            value: text(r, 1)?,
            updated_by: text(r, 2)?,
            updated_at: r.get::<_, Option<f64>>(3)?.unwrap_or(0.0),
            version: r.get::<_, Option<i64>>(4)?.unwrap_or(1),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn tail(c: &Connection, after: Option<i64>, limit: u32) -> Result<Tail, StoreError> {
    let Some(after) = after else {
        let newest: Option<i64> = c
            .prepare_cached("SELECT MAX(id) FROM messages")?
            .query_row([], |r| r.get(0))?;
        return Ok(Tail {
            messages: Vec::new(),
            last_id: newest.unwrap_or(0),
        });
    };
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {MESSAGE} FROM messages WHERE id > ?1 ORDER BY id LIMIT ?2"
    ))?;
    let messages: Vec<MessageRow> = stmt
        .query_map((after, limit), message_row)?
        .collect::<Result<_, _>>()?;
    let last = messages.last().map_or(after, |m| m.id);
    Ok(Tail {
        messages,
        last_id: last,
    })
}
