//! Replies and threads: taking the reply to an ask out of the inbox out of order, and reading
//! the reply chain around a message.
//!
//! A reply is taken by writing its read receipt: the inbox leaves out every message its reader
//! has a receipt for, so the cursor stays where it is and every other message stays unread.
//!
//! While an ask waits, the replies to its message are reserved for it in `temp.asks` (one row
//! per asker and message, counting the asks that hold it: a resent ask may overlap the first
//! one): the asker's inbox neither shows them nor moves its cursor past them, so a concurrent
//! `inbox` of the same name (a Stop hook still waiting) cannot take the reply from the ask.
//! The table is the connection's own, never in the file: when busd stops or crashes every
//! reservation goes with it, and what it held is ordinary unread mail again.

use rusqlite::{Connection, OptionalExtension};

use super::read::{self, MESSAGE, NOT_TAKEN, message_row};
use super::write::receipt;
use crate::store::records::{send_record, send_text};
use crate::store::{MessageRow, Page, RequestKey, StoreError, TakeReply};

/// The reservations, created when the connection opens.
pub(super) const RESERVATIONS: &str = "CREATE TEMP TABLE IF NOT EXISTS asks(name TEXT NOT NULL, \
    message_id INTEGER NOT NULL, holders INTEGER NOT NULL, PRIMARY KEY(name, message_id)) \
    WITHOUT ROWID;";

/// Reserve the replies to `message` for `name`, for one more ask.
pub(super) fn reserve(c: &Connection, name: &str, message: i64) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO temp.asks(name, message_id, holders) VALUES (?1, ?2, 1) \
         ON CONFLICT(name, message_id) DO UPDATE SET holders = holders + 1",
    )?
    .execute((name, message))?;
    Ok(())
}

/// One ask fewer holds the reservation; the last one ends it.
fn release(c: &Connection, name: &str, message: i64) -> Result<(), StoreError> {
    c.prepare_cached(
        "UPDATE temp.asks SET holders = holders - 1 WHERE name = ?1 AND message_id = ?2",
    )?
    .execute((name, message))?;
    c.prepare_cached("DELETE FROM temp.asks WHERE name = ?1 AND message_id = ?2 AND holders <= 0")?
        .execute((name, message))?;
    Ok(())
}

/// The oldest message past `cursor` for `name` that is a reply reserved for its asks.
pub(super) fn first_reserved(
    c: &Connection,
    name: &str,
    cursor: i64,
) -> Result<Option<i64>, StoreError> {
    Ok(c.prepare_cached(
        "SELECT MIN(m.id) FROM temp.asks a JOIN messages m ON m.reply_to = a.message_id \
         WHERE a.name = ?1 AND m.id > ?2 AND (m.recipient = ?1 OR m.recipient = 'all') \
         AND m.sender IS NOT ?1",
    )?
    .query_row((name, cursor), |r| r.get(0))?)
}

/// Take the oldest unread message of `name` replying to `message` (see [`TakeReply`]).
pub(super) fn take(c: &Connection, w: &TakeReply) -> Result<Option<MessageRow>, StoreError> {
    let (name, message) = (w.name.as_str(), w.message);
    let reply = take_first(c, w.key.as_ref(), name, message, w.keep_until, w.now)?;
    if reply.is_some() || w.last {
        release(c, name, message)?;
    }
    Ok(reply)
}

fn take_first(
    c: &Connection,
    key: Option<&RequestKey>,
    name: &str,
    message: i64,
    keep_until: f64,
    now: f64,
) -> Result<Option<MessageRow>, StoreError> {
    let record = match key {
        Some(key) => {
            // The request id is stored bit for bit as SQLite's signed integer.
            let request = key.request as i64;
            c.prepare_cached(
                "UPDATE applied SET at = MAX(at, ?3) WHERE client = ?1 AND request = ?2",
            )?
            .execute((&key.client, request, keep_until))?;
            c.prepare_cached(
                "SELECT outcome FROM applied WHERE client = ?1 AND request = ?2 \
                 AND command = 'send'",
            )?
            .query_row((&key.client, request), |r| r.get::<_, String>(0))
            .optional()?
            .map(|text| (request, text))
        }
        None => None,
    };
    if let Some((_, text)) = &record
        && let Some((sent, Some(reply))) = send_record(text)
        && sent == message
    {
        return Ok(Some(read::message(c, reply)?));
    }
    let cursor = read::cursor(c, name)?;
    let reply: Option<MessageRow> = c
        .prepare_cached(&format!(
            "SELECT {MESSAGE} FROM messages WHERE reply_to = ?3 AND id > ?1 \
             AND (recipient = ?2 OR recipient = 'all') AND ?2 != 'all' AND sender IS NOT ?2 \
             AND {NOT_TAKEN} ORDER BY id LIMIT 1"
        ))?
        .query_row((cursor, name, message), message_row)
        .optional()?;
    if let Some(reply) = &reply {
        receipt(c, reply.id, name, now)?;
        if let (Some((request, _)), Some(key)) = (&record, key) {
            c.prepare_cached("UPDATE applied SET outcome = ?3 WHERE client = ?1 AND request = ?2")?
                .execute((&key.client, request, send_text(message, Some(reply.id))))?;
        }
    }
    Ok(reply)
}

/// The reply chain holding `id`, as far as `name` may see it (see `Backend::thread`).
pub(super) fn thread(c: &Connection, name: &str, id: i64) -> Result<Page, StoreError> {
    let mut root = read::message(c, id)?;
    // A reply always names an older message, so the walk up ends.
    while let Some(parent) = root.reply_to.filter(|parent| *parent < root.id) {
        match read::message(c, parent) {
            Ok(m) => root = m,
            Err(StoreError::UnknownMessage(_)) => break,
            Err(e) => return Err(e),
        }
    }
    let mut stmt = c.prepare_cached(&format!(
        "WITH RECURSIVE chain(id) AS (SELECT ?1 UNION \
             SELECT m.id FROM messages m JOIN chain ON m.reply_to = chain.id AND m.id > chain.id) \
         SELECT {MESSAGE} FROM messages WHERE id IN chain \
             AND (sender = ?2 OR recipient = ?2 OR recipient = 'all') \
         ORDER BY id LIMIT ?3"
    ))?;
    let messages: Vec<MessageRow> = stmt
        .query_map((root.id, name, proto::limits::LIMIT_MAX), message_row)?
        .collect::<Result<_, _>>()?;
    let pending = read::unread(c, name, read::cursor(c, name)?)?;
    Ok(Page { messages, pending })
}
