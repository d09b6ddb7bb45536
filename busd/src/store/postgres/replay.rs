//! At-most-once writes, as `sqlite/replay.rs` describes them: the record of a keyed write is in
//! the shared `applied` table, so a call resent to another busd after a crash is replayed
//! there too.

use super::{Conn, read, write};
use crate::store::records::{
    claim_record, claim_text, page_record, page_text, released_record, released_text, send_record,
    send_text, version_record,
};
use crate::store::{
    Claim, ClaimRow, Consume, Keyed, MessageRow, NewMessage, Page, Recorded, Release, RequestKey,
    SetState, StoreError,
};

/// A send or an ask, once per key; `true` when it was applied now (not replayed).
pub(super) fn send(
    c: &mut Conn,
    w: &NewMessage,
    ask: bool,
) -> Result<(MessageRow, bool), StoreError> {
    let (m, fresh) = match record_of(c, w.key.as_ref(), Keyed::Send)? {
        Some(text) => match rebuild_send(c, &text) {
            Some(first) => (first?.0, false),
            None => return Err(reused(w.key.as_ref(), Keyed::Send, None)),
        },
        None => {
            let m = write::send(c, w)?;
            record(
                c,
                w.key.as_ref(),
                Keyed::Send,
                w.now,
                &send_text(m.id, None),
            )?;
            (m, true)
        }
    };
    if ask {
        super::reply::reserve(c, &w.sender, m.id)?;
    }
    Ok((m, fresh))
}

pub(super) fn consume(c: &mut Conn, w: &Consume) -> Result<Page, StoreError> {
    if let Some(text) = record_of(c, w.key.as_ref(), Keyed::Consume)? {
        return match rebuild_page(c, &text) {
            Some(first) => first,
            None => Err(reused(w.key.as_ref(), Keyed::Consume, None)),
        };
    }
    let page = write::consume(c, w)?;
    if let Some(text) = page_text(&page) {
        record(c, w.key.as_ref(), Keyed::Consume, w.now, &text)?;
    }
    Ok(page)
}

pub(super) fn set_state(c: &mut Conn, w: &SetState) -> Result<(i64, bool), StoreError> {
    if let Some(text) = record_of(c, w.key.as_ref(), Keyed::SetState)? {
        return match version_record(&text) {
            Some(version) => Ok((version, false)),
            None => Err(reused(w.key.as_ref(), Keyed::SetState, None)),
        };
    }
    let version = write::set_state(c, w)?;
    record(
        c,
        w.key.as_ref(),
        Keyed::SetState,
        w.now,
        &version.to_string(),
    )?;
    Ok((version, true))
}

pub(super) fn claim(c: &mut Conn, w: &Claim) -> Result<(ClaimRow, bool), StoreError> {
    if let Some(text) = record_of(c, w.key.as_ref(), Keyed::Claim)? {
        return match claim_record(&text) {
            Some((expires_at, owner)) => Ok((
                ClaimRow {
                    path: w.path.clone(),
                    owner: owner.unwrap_or_else(|| w.owner.clone()),
                    expires_at,
                },
                false,
            )),
            None => Err(reused(w.key.as_ref(), Keyed::Claim, None)),
        };
    }
    let claim = write::claim(c, w)?;
    record(c, w.key.as_ref(), Keyed::Claim, w.now, &claim_text(&claim))?;
    Ok((claim, true))
}

pub(super) fn release(c: &mut Conn, w: &Release) -> Result<(bool, bool), StoreError> {
    if let Some(text) = record_of(c, w.key.as_ref(), Keyed::Release)? {
        return match released_record(&text) {
            Some(released) => Ok((released, false)),
            None => Err(reused(w.key.as_ref(), Keyed::Release, None)),
        };
    }
    let released = write::release(c, w)?;
    record(
        c,
        w.key.as_ref(),
        Keyed::Release,
        w.now,
        &released_text(released),
    )?;
    Ok((released, true))
}

/// Record the outcome of a keyed write (nothing for an unkeyed one).
fn record(
    c: &mut Conn,
    key: Option<&RequestKey>,
    kind: Keyed,
    now: f64,
    text: &str,
) -> Result<(), StoreError> {
    let Some(key) = key else { return Ok(()) };
    c.exec(
        "INSERT INTO applied(client, request, outcome, at, command) VALUES ($1, $2, $3, $4, $5)",
        &[
            &key.client,
            &(key.request as i64),
            &text,
            &now,
            &kind.name(),
        ],
    )?;
    Ok(())
}

fn reused(key: Option<&RequestKey>, kind: Keyed, first: Option<String>) -> StoreError {
    StoreError::KeyReused {
        request: key.map_or(0, |k| k.request),
        first,
        now: kind,
    }
}

/// The record of `key`, if there is one; refused when it is another command's.
fn record_of(
    c: &mut Conn,
    key: Option<&RequestKey>,
    kind: Keyed,
) -> Result<Option<String>, StoreError> {
    let Some(key) = key else { return Ok(None) };
    // The request id is stored bit for bit as a signed BIGINT.
    let row = c.opt(
        "SELECT command, outcome FROM applied WHERE client = $1 AND request = $2",
        &[&key.client, &(key.request as i64)],
    )?;
    let Some(row) = row else { return Ok(None) };
    let (command, text): (Option<String>, String) = (row.get(0), row.get(1));
    if let Some(first) = command
        && first != kind.name()
    {
        return Err(reused(Some(key), kind, Some(first)));
    }
    Ok(Some(text))
}

/// The first outcome of `key`, if it was applied.
pub(super) fn recorded(
    c: &mut Conn,
    key: &RequestKey,
    kind: Keyed,
) -> Result<Option<Recorded>, StoreError> {
    let Some(text) = record_of(c, Some(key), kind)? else {
        return Ok(None);
    };
    let text = text.as_str();
    let recorded = match kind {
        Keyed::Send => {
            rebuild_send(c, text).map(|r| r.map(|(m, reply)| Recorded::Message(m, reply)))
        }
        Keyed::Consume => rebuild_page(c, text).map(|r| r.map(Recorded::Page)),
        Keyed::SetState => version_record(text).map(|v| Ok(Recorded::Version(v))),
        Keyed::Claim => {
            claim_record(text).map(|(expires_at, owner)| Ok(Recorded::Claim { expires_at, owner }))
        }
        Keyed::Release => released_record(text).map(|r| Ok(Recorded::Released(r))),
    };
    match recorded {
        Some(recorded) => recorded.map(Some),
        None => Err(reused(Some(key), kind, None)),
    }
}

fn rebuild_send(
    c: &mut Conn,
    text: &str,
) -> Option<Result<(MessageRow, Option<MessageRow>), StoreError>> {
    let (id, reply) = send_record(text)?;
    Some(read::message(c, id).and_then(|m| {
        let reply = reply.map(|id| read::message(c, id)).transpose()?;
        Ok((m, reply))
    }))
}

fn rebuild_page(c: &mut Conn, text: &str) -> Option<Result<Page, StoreError>> {
    let (pending, ids) = page_record(text)?;
    Some(
        ids.into_iter()
            .map(|id| read::message(c, id))
            .collect::<Result<_, _>>()
            .map(|messages| Page { messages, pending }),
    )
}

/// A send in one statement, without a savepoint of its own: the request record looked up,
/// the reply-to checked, the message and its record inserted, all at once. A refusal (the key
/// is another command's, the reply-to is unknown) is decided by what the statement read, and
/// it inserted nothing then; the outer error is a failed statement, which ends the whole
/// transaction (its batch fails, nothing of it commits).
pub(super) fn send_at_once(
    c: &mut Conn,
    w: &NewMessage,
) -> Result<Result<(MessageRow, bool), StoreError>, StoreError> {
    let key = w.key.as_ref();
    let client = key.map(|k| k.client.as_str());
    // The request id is stored bit for bit as a signed BIGINT.
    let request = key.map(|k| k.request as i64);
    let row = c.one(
        "WITH prior AS (SELECT command, outcome FROM applied \
             WHERE client = $1::text AND request = $2::bigint), \
         fresh AS (SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM prior) \
             AND ($7::bigint IS NULL OR EXISTS (SELECT 1 FROM messages WHERE id = $7::bigint))), \
         m AS (INSERT INTO messages(ts, sender, recipient, content, reply_to) \
             SELECT $3::float8, $4::text, $5::text, $6::text, $7::bigint FROM fresh RETURNING id), \
         a AS (INSERT INTO applied(client, request, outcome, at, command) \
             SELECT $1::text, $2::bigint, m.id::text, $3::float8, $8::text FROM m \
             WHERE $1::text IS NOT NULL) \
         SELECT (SELECT id FROM m), (SELECT command FROM prior), (SELECT outcome FROM prior)",
        &[
            &client,
            &request,
            &w.now,
            &w.sender,
            &w.to,
            &w.content,
            &w.reply_to,
            &Keyed::Send.name(),
        ],
    )?;
    let (id, command, outcome): (Option<i64>, Option<String>, Option<String>) =
        (row.get(0), row.get(1), row.get(2));
    if let Some(id) = id {
        let m = MessageRow {
            id,
            sender: w.sender.clone(),
            recipient: w.to.clone(),
            content: w.content.clone(),
            reply_to: w.reply_to,
            ts: w.now,
        };
        return Ok(Ok((m, true)));
    }
    let Some(text) = outcome else {
        // Not applied, no record: the message it answers is not there.
        return Ok(Err(StoreError::UnknownReplyTo(w.reply_to.unwrap_or(0))));
    };
    if let Some(first) = command
        && first != Keyed::Send.name()
    {
        return Ok(Err(reused(key, Keyed::Send, Some(first))));
    }
    match rebuild_send(c, &text) {
        // Reading the first outcome back failed: a statement may have, so the batch fails.
        Some(first) => first.map(|(m, _)| Ok((m, false))),
        None => Ok(Err(reused(key, Keyed::Send, None))),
    }
}
