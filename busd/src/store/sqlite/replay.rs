//! At-most-once writes: a keyed write records its command and a compact form of its outcome in
//! `applied`, and a repeated key rebuilds the first outcome from it instead of applying the
//! write again. A key first used for another command is refused (`KeyReused`), never answered
//! with that command's outcome.
//!
//! The records' text is every backend's ([`records`](crate::store::records)). Rows written
//! before the command was recorded have a NULL `command`: those are checked by whether the
//! record parses as the asked command's.

use rusqlite::{Connection, OptionalExtension};

use super::{read, write};
use crate::store::records::{
    claim_record, claim_text, page_record, page_text, released_record, released_text, send_record,
    version_record,
};
use crate::store::{
    Claim, ClaimRow, Consume, Keyed, MessageRow, NewMessage, Page, Recorded, Release, RequestKey,
    SetState, StoreError,
};

/// A send or an ask, once per key; `true` when it was applied now (not replayed). A resent
/// ask waits again, and holds the reservation like the first one.
pub(super) fn send(
    c: &Connection,
    w: &NewMessage,
    ask: bool,
) -> Result<(MessageRow, bool), StoreError> {
    let (m, fresh) = once(
        c,
        w.key.as_ref(),
        Keyed::Send,
        w.now,
        || write::send(c, w),
        |m| Some(m.id.to_string()),
        |text| rebuild_send(c, text).map(|r| r.map(|(m, _)| m)),
    )?;
    if ask {
        super::reply::reserve(c, &w.sender, m.id)?;
    }
    Ok((m, fresh))
}

pub(super) fn consume(c: &Connection, w: &Consume) -> Result<Page, StoreError> {
    let record = page_text;
    let replay = |text: &str| rebuild_page(c, text);
    Ok(once(
        c,
        w.key.as_ref(),
        Keyed::Consume,
        w.now,
        || write::consume(c, w),
        record,
        replay,
    )?
    .0)
}

/// A state write, once per key; `true` when it was applied now.
pub(super) fn set_state(c: &Connection, w: &SetState) -> Result<(i64, bool), StoreError> {
    let replay = |text: &str| version_record(text).map(Ok);
    once(
        c,
        w.key.as_ref(),
        Keyed::SetState,
        w.now,
        || write::set_state(c, w),
        |v| Some(v.to_string()),
        replay,
    )
}

pub(super) fn claim(c: &Connection, w: &Claim) -> Result<(ClaimRow, bool), StoreError> {
    let record = |claim: &ClaimRow| Some(claim_text(claim));
    let replay = |text: &str| {
        let (expires_at, owner) = claim_record(text)?;
        Some(Ok(ClaimRow {
            path: w.path.clone(),
            owner: owner.unwrap_or_else(|| w.owner.clone()),
            expires_at,
        }))
    };
    once(
        c,
        w.key.as_ref(),
        Keyed::Claim,
        w.now,
        || write::claim(c, w),
        record,
        replay,
    )
}

pub(super) fn release(c: &Connection, w: &Release) -> Result<(bool, bool), StoreError> {
    let record = |released: &bool| Some(released_text(*released));
    let replay = |text: &str| released_record(text).map(Ok);
    once(
        c,
        w.key.as_ref(),
        Keyed::Release,
        w.now,
        || write::release(c, w),
        record,
        replay,
    )
}

/// Apply a write unless its key was applied already; then answer as the first time (and
/// `false`: nothing was applied now).
fn once<T>(
    c: &Connection,
    key: Option<&RequestKey>,
    kind: Keyed,
    now: f64,
    apply: impl FnOnce() -> Result<T, StoreError>,
    record: impl FnOnce(&T) -> Option<String>,
    replay: impl FnOnce(&str) -> Option<Result<T, StoreError>>,
) -> Result<(T, bool), StoreError> {
    let Some(key) = key else {
        return Ok((apply()?, true));
    };
    if let Some(text) = record_of(c, key, kind)? {
        return match replay(&text) {
            Some(first) => first.map(|first| (first, false)),
            None => Err(reused(key, kind, None)),
        };
    }
    let outcome = apply()?;
    if let Some(text) = record(&outcome) {
        c.prepare_cached(
            "INSERT INTO applied(client, request, outcome, at, command) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute((&key.client, key.request as i64, text, now, kind.name()))?;
    }
    Ok((outcome, true))
}

fn reused(key: &RequestKey, kind: Keyed, first: Option<String>) -> StoreError {
    StoreError::KeyReused {
        request: key.request,
        first,
        now: kind,
    }
}

/// The record of `key`, if there is one; refused when it is another command's.
fn record_of(c: &Connection, key: &RequestKey, kind: Keyed) -> Result<Option<String>, StoreError> {
    // The request id is stored bit for bit as SQLite's signed integer.
    let row: Option<(Option<String>, String)> = c
        .prepare_cached("SELECT command, outcome FROM applied WHERE client = ?1 AND request = ?2")?
        .query_row((&key.client, key.request as i64), |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let Some((command, text)) = row else {
        return Ok(None);
    };
    if let Some(first) = command
        && first != kind.name()
    {
        return Err(reused(key, kind, Some(first)));
    }
    Ok(Some(text))
}

/// The first outcome of `key`, if it was applied; refused when it was applied as another
/// command than `kind`.
pub(super) fn recorded(
    c: &Connection,
    key: &RequestKey,
    kind: Keyed,
) -> Result<Option<Recorded>, StoreError> {
    let Some(text) = record_of(c, key, kind)? else {
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
        None => Err(reused(key, kind, None)),
    }
}

/// A `send` record's message and the reply taken for it; `None` when the record is not a
/// send's.
fn rebuild_send(
    c: &Connection,
    text: &str,
) -> Option<Result<(MessageRow, Option<MessageRow>), StoreError>> {
    let (id, reply) = send_record(text)?;
    Some(read::message(c, id).and_then(|m| {
        let reply = reply.map(|id| read::message(c, id)).transpose()?;
        Ok((m, reply))
    }))
}

fn rebuild_page(c: &Connection, text: &str) -> Option<Result<Page, StoreError>> {
    let (pending, ids) = page_record(text)?;
    Some(
        ids.into_iter()
            .map(|id| read::message(c, id))
            .collect::<Result<_, _>>()
            .map(|messages| Page { messages, pending }),
    )
}
