//! The reads, and the row and inbox queries that the writes share: SQLite's queries
//! (`sqlite/read.rs` explains the inbox) in PostgreSQL's dialect.

use postgres::Row;

use super::Conn;
use crate::store::{
    AgentRow, ClaimRow, Counts, MessageRow, MessageStatusRow, Page, ReceiptRow, StateRow,
    StoreError, Tail,
};

pub(super) fn peek(c: &mut Conn, name: &str, limit: u32) -> Result<Page, StoreError> {
    let cursor = cursor(c, name)?;
    Ok(Page {
        messages: inbox(c, name, cursor, limit)?,
        pending: unread(c, name, cursor)?,
    })
}

pub(super) fn agents(c: &mut Conn) -> Result<Vec<AgentRow>, StoreError> {
    let rows = c.rows(&format!("SELECT {AGENT} FROM agents ORDER BY name"), &[])?;
    Ok(rows.iter().map(agent_row).collect())
}

pub(super) fn resolve(c: &mut Conn, session_id: &str) -> Result<Option<String>, StoreError> {
    Ok(c.opt(
        "SELECT name FROM agents WHERE session_id = $1 ORDER BY last_seen DESC, name LIMIT 1",
        &[&session_id],
    )?
    .map(|r| r.get(0)))
}

pub(super) fn claims(c: &mut Conn, now: f64) -> Result<Vec<ClaimRow>, StoreError> {
    let rows = c.rows(
        "SELECT path, owner, ts + ttl FROM claims WHERE ts + ttl >= $1 ORDER BY path",
        &[&now],
    )?;
    Ok(rows
        .iter()
        .map(|r| ClaimRow {
            path: r.get(0),
            owner: text(r, 1),
            expires_at: r.get(2),
        })
        .collect())
}

pub(super) fn counts(c: &mut Conn, now: f64) -> Result<Counts, StoreError> {
    let r = c.one(
        "SELECT (SELECT COUNT(*) FROM agents), (SELECT COUNT(*) FROM messages), \
         (SELECT COUNT(*) FROM state), (SELECT COUNT(*) FROM claims WHERE ts + ttl >= $1)",
        &[&now],
    )?;
    Ok(Counts {
        agents: count(&r, 0),
        messages: count(&r, 1),
        state_keys: count(&r, 2),
        live_claims: count(&r, 3),
    })
}

/// The columns that [`agent_row`] reads.
pub(super) const AGENT: &str = "name, role, owns, last_seen, session_id";

pub(super) fn agent_row(r: &Row) -> AgentRow {
    let owns: Option<String> = r.get(2);
    let name: String = r.get(0);
    let owns = match owns.as_deref().map(serde_json::from_str::<Vec<String>>) {
        None => Vec::new(),
        Some(Ok(owns)) => owns,
        Some(Err(e)) => {
            tracing::warn!(agent = name, error = %e, "ignoring an agent's unreadable owns");
            Vec::new()
        }
    };
    AgentRow {
        name,
        role: text(r, 1),
        owns,
        last_seen: r.get::<_, Option<f64>>(3).unwrap_or(0.0),
        session_id: r.get(4),
    }
}

/// The columns that [`message_row`] reads.
pub(super) const MESSAGE: &str = "id, sender, recipient, content, reply_to, ts";

pub(super) fn message_row(r: &Row) -> MessageRow {
    MessageRow {
        id: r.get(0),
        sender: text(r, 1),
        recipient: text(r, 2),
        content: text(r, 3),
        reply_to: r.get(4),
        ts: r.get::<_, Option<f64>>(5).unwrap_or(0.0),
    }
}

/// A `COUNT(*)`.
fn count(r: &Row, i: usize) -> u64 {
    r.get::<_, i64>(i).unsigned_abs()
}

/// A text column that may be NULL.
fn text(r: &Row, i: usize) -> String {
    r.get::<_, Option<String>>(i).unwrap_or_default()
}

pub(super) fn message(c: &mut Conn, id: i64) -> Result<MessageRow, StoreError> {
    c.opt(
        &format!("SELECT {MESSAGE} FROM messages WHERE id = $1"),
        &[&id],
    )?
    .map(|r| message_row(&r))
    .ok_or(StoreError::UnknownMessage(id))
}

/// The read cursor of `name` (0 for a stranger).
pub(super) fn cursor(c: &mut Conn, name: &str) -> Result<i64, StoreError> {
    let row = c.opt("SELECT last_read_id FROM agents WHERE name = $1", &[&name])?;
    Ok(row.and_then(|r| r.get::<_, Option<i64>>(0)).unwrap_or(0))
}

/// The condition, on a `messages` row, that `$2` has no read receipt for it.
pub(super) const NOT_TAKEN: &str = "NOT EXISTS (SELECT 1 FROM deliveries \
    WHERE message_id = messages.id AND deliveries.recipient = $2 AND read = 1)";

/// The condition, on a `messages` row, that it is not a reply reserved for an ask of `$2`.
const NOT_RESERVED: &str = "(reply_to IS NULL OR NOT EXISTS (SELECT 1 FROM pg_temp.bus_asks a \
    WHERE a.name = $2 AND a.message_id = messages.reply_to))";

/// Up to `limit` unread messages of `name` past `cursor`, oldest first.
pub(super) fn inbox(
    c: &mut Conn,
    name: &str,
    cursor: i64,
    limit: u32,
) -> Result<Vec<MessageRow>, StoreError> {
    let rows = c.rows(
        &format!(
            "SELECT * FROM (SELECT {MESSAGE} FROM messages \
                 WHERE recipient = $2 AND $2 <> 'all' AND id > $1 \
                 AND sender IS DISTINCT FROM $2 AND {NOT_TAKEN} AND {NOT_RESERVED} \
                 ORDER BY id LIMIT $3) direct \
             UNION ALL \
             SELECT * FROM (SELECT {MESSAGE} FROM messages \
                 WHERE recipient = 'all' AND id > $1 AND sender IS DISTINCT FROM $2 \
                 AND {NOT_TAKEN} AND {NOT_RESERVED} ORDER BY id LIMIT $3) broadcast \
             ORDER BY id LIMIT $3"
        ),
        &[&cursor, &name, &i64::from(limit)],
    )?;
    Ok(rows.iter().map(message_row).collect())
}

/// How many messages of `name` past `cursor` are unread.
pub(super) fn unread(c: &mut Conn, name: &str, cursor: i64) -> Result<u64, StoreError> {
    let r = c.one(
        &format!(
            "SELECT (SELECT COUNT(*) FROM messages \
                 WHERE recipient = $2 AND $2 <> 'all' AND id > $1 \
                 AND sender IS DISTINCT FROM $2 AND {NOT_TAKEN} AND {NOT_RESERVED}) \
             + (SELECT COUNT(*) FROM messages \
                 WHERE recipient = 'all' AND id > $1 AND sender IS DISTINCT FROM $2 \
                 AND {NOT_TAKEN} AND {NOT_RESERVED})"
        ),
        &[&cursor, &name],
    )?;
    Ok(count(&r, 0))
}

pub(super) fn status(c: &mut Conn, id: i64) -> Result<MessageStatusRow, StoreError> {
    let m = message(c, id)?;
    let readers: Vec<ReceiptRow> = c
        .rows(
            "SELECT recipient, read_ts FROM deliveries WHERE message_id = $1 AND read = 1 \
             ORDER BY read_ts, recipient",
            &[&id],
        )?
        .iter()
        .map(|r| ReceiptRow {
            recipient: text(r, 0),
            read_ts: r.get::<_, Option<f64>>(1).unwrap_or(0.0),
        })
        .collect();
    let has_read = |name: &String| readers.iter().any(|r| &r.recipient == name);
    let mut unread: Vec<String> = if m.recipient == proto::limits::BROADCAST {
        c.rows(
            "SELECT name FROM agents WHERE name IS DISTINCT FROM $1 ORDER BY name",
            &[&m.sender],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect()
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
    c: &mut Conn,
    key: Option<&str>,
    with_values: bool,
) -> Result<Vec<StateRow>, StoreError> {
    let value = if with_values { "value" } else { "''" };
    let columns = format!("key, {value}, updated_by, ts, version");
    let rows = match key {
        Some(key) => c.rows(
            &format!("SELECT {columns} FROM state WHERE key = $1 ORDER BY key"),
            &[&key],
        )?,
        None => c.rows(&format!("SELECT {columns} FROM state ORDER BY key"), &[])?,
    };
    Ok(rows
        .iter()
        .map(|r| StateRow {
            key: r.get(0),
            value: text(r, 1),
            updated_by: text(r, 2),
            updated_at: r.get::<_, Option<f64>>(3).unwrap_or(0.0),
            version: r.get::<_, Option<i64>>(4).unwrap_or(1),
        })
        .collect())
}

/// The newest message id (0 for none).
pub(super) fn newest(c: &mut Conn) -> Result<i64, StoreError> {
    let r = c.one("SELECT MAX(id) FROM messages", &[])?;
    Ok(r.get::<_, Option<i64>>(0).unwrap_or(0))
}

pub(super) fn tail(c: &mut Conn, after: Option<i64>, limit: u32) -> Result<Tail, StoreError> {
    let Some(after) = after else {
        return Ok(Tail {
            messages: Vec::new(),
            last_id: newest(c)?,
        });
    };
    let messages: Vec<MessageRow> = c
        .rows(
            &format!("SELECT {MESSAGE} FROM messages WHERE id > $1 ORDER BY id LIMIT $2"),
            &[&after, &i64::from(limit)],
        )?
        .iter()
        .map(message_row)
        .collect();
    let last = messages.last().map_or(after, |m| m.id);
    Ok(Tail {
        messages,
        last_id: last,
    })
}
