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
