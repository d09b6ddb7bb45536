//! Replies and threads (`sqlite/reply.rs` explains them). The reservations of waiting asks are
//! in a temporary table of the database thread's connection, so they end with it, as they end
//! with busd's SQLite connection; a reply reserved by an ask waiting on one busd stays out of
//! that busd's inboxes only.

use super::Conn;
use super::read::{self, MESSAGE, NOT_TAKEN, message_row};
use super::write::receipt;
use crate::store::records::{send_record, send_text};
use crate::store::{MessageRow, Page, RequestKey, StoreError, TakeReply};

/// Reserve the replies to `message` for `name`, for one more ask.
pub(super) fn reserve(c: &mut Conn, name: &str, message: i64) -> Result<(), StoreError> {
    c.exec(
        "INSERT INTO pg_temp.bus_asks(name, message_id, holders) VALUES ($1, $2, 1) \
         ON CONFLICT(name, message_id) DO UPDATE SET holders = bus_asks.holders + 1",
        &[&name, &message],
    )?;
    Ok(())
}

/// One ask fewer holds the reservation; the last one ends it.
fn release(c: &mut Conn, name: &str, message: i64) -> Result<(), StoreError> {
    c.exec(
        "UPDATE pg_temp.bus_asks SET holders = holders - 1 WHERE name = $1 AND message_id = $2",
        &[&name, &message],
    )?;
    c.exec(
        "DELETE FROM pg_temp.bus_asks WHERE name = $1 AND message_id = $2 AND holders <= 0",
        &[&name, &message],
    )?;
    Ok(())
}

/// The newest message id (0 on an empty bus), and the oldest message past `cursor` for `name`
/// that is a reply reserved for its asks, in one round trip.
pub(super) fn newest_and_first_reserved(
    c: &mut Conn,
    name: &str,
    cursor: i64,
) -> Result<(i64, Option<i64>), StoreError> {
    let row = c.one(
        "SELECT (SELECT MAX(id) FROM messages), \
         (SELECT MIN(m.id) FROM pg_temp.bus_asks a JOIN messages m ON m.reply_to = a.message_id \
         WHERE a.name = $1 AND m.id > $2 AND (m.recipient = $1 OR m.recipient = 'all') \
         AND m.sender IS DISTINCT FROM $1)",
        &[&name, &cursor],
    )?;
    Ok((row.get::<_, Option<i64>>(0).unwrap_or(0), row.get(1)))
}

/// Take the oldest unread message of `name` replying to `message` (see [`TakeReply`]).
pub(super) fn take(c: &mut Conn, w: &TakeReply) -> Result<Option<MessageRow>, StoreError> {
    let (name, message) = (w.name.as_str(), w.message);
    let reply = take_first(c, w.key.as_ref(), name, message, w.keep_until, w.now)?;
    if reply.is_some() || w.last {
        release(c, name, message)?;
    }
    Ok(reply)
}

fn take_first(
    c: &mut Conn,
    key: Option<&RequestKey>,
    name: &str,
    message: i64,
    keep_until: f64,
    now: f64,
) -> Result<Option<MessageRow>, StoreError> {
    let record = match key {
        Some(key) => {
            let request = key.request as i64;
            c.exec(
                "UPDATE applied SET at = GREATEST(at, $3) WHERE client = $1 AND request = $2",
                &[&key.client, &request, &keep_until],
            )?;
            c.opt(
                "SELECT outcome FROM applied WHERE client = $1 AND request = $2 \
                 AND command = 'send'",
                &[&key.client, &request],
            )?
            .map(|r| (request, r.get::<_, String>(0)))
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
    let reply = c
        .opt(
            &format!(
                "SELECT {MESSAGE} FROM messages WHERE reply_to = $3 AND id > $1 \
                 AND (recipient = $2 OR recipient = 'all') AND $2 <> 'all' \
                 AND sender IS DISTINCT FROM $2 AND {NOT_TAKEN} ORDER BY id LIMIT 1"
            ),
            &[&cursor, &name, &message],
        )?
        .map(|r| message_row(&r));
    if let Some(reply) = &reply {
        receipt(c, reply.id, name, now)?;
        if let (Some((request, _)), Some(key)) = (&record, key) {
            c.exec(
                "UPDATE applied SET outcome = $3 WHERE client = $1 AND request = $2",
                &[&key.client, request, &send_text(message, Some(reply.id))],
            )?;
        }
    }
    Ok(reply)
}

/// The reply chain holding `id`, as far as `name` may see it (see `Backend::thread`).
pub(super) fn thread(c: &mut Conn, name: &str, id: i64) -> Result<Page, StoreError> {
    let mut root = read::message(c, id)?;
    while let Some(parent) = root.reply_to.filter(|parent| *parent < root.id) {
        match read::message(c, parent) {
            Ok(m) => root = m,
            Err(StoreError::UnknownMessage(_)) => break,
            Err(e) => return Err(e),
        }
    }
    let messages: Vec<MessageRow> = c
        .rows(
            &format!(
                "WITH RECURSIVE chain(id) AS (SELECT $1::BIGINT UNION \
                     SELECT m.id FROM messages m JOIN chain ON m.reply_to = chain.id \
                     AND m.id > chain.id) \
                 SELECT {MESSAGE} FROM messages WHERE id IN (SELECT id FROM chain) \
                     AND (sender = $2 OR recipient = $2 OR recipient = 'all') \
                 ORDER BY id LIMIT $3"
            ),
            &[&root.id, &name, &i64::from(proto::limits::LIMIT_MAX)],
        )?
        .iter()
        .map(message_row)
        .collect();
    let cursor = read::cursor(c, name)?;
    let pending = read::unread(c, name, cursor)?;
    Ok(Page { messages, pending })
}
