//! At-most-once writes: a keyed write records its command and a compact form of its outcome in
//! `applied`, and a repeated key rebuilds the first outcome from it instead of applying the
//! write again. A key first used for another command is refused (`KeyReused`), never answered
//! with that command's outcome.
//!
//! Records: `Send` → the message id, then the id of the reply `TakeReply` took for it, if any;
//! `Consume` → the pending count, then the message ids
//! (messages never change, so they are re-read); `SetState` → the version; `Claim` → the
//! expiry, then the owner; `Release` → `1` or `0`. An empty `Consume` handed nothing over and
//! is not recorded. Rows written before the command was recorded have a NULL `command`: those
//! are checked by whether the record parses as the asked command's.

use rusqlite::{Connection, OptionalExtension};

use super::{read, write};
use crate::store::{ClaimRow, Keyed, Outcome, Page, Recorded, RequestKey, StoreError, Write};

/// Apply `w` unless its key was applied already; then answer as the first time.
pub(super) fn apply(c: &Connection, w: &Write) -> Result<Outcome, StoreError> {
    let Some((key, kind, now)) = key_of(w) else {
        return write::apply(c, w);
    };
    if let Some(recorded) = recorded(c, key, kind)? {
        let outcome = outcome(recorded, w);
        // A resent ask waits again, and holds the reservation like the first one.
        if let (Write::Ask { sender, .. }, Outcome::Message(m)) = (w, &outcome) {
            super::reply::reserve(c, sender, m.id)?;
        }
        return Ok(outcome);
    }
    let outcome = write::apply(c, w)?;
    if let Some(text) = record(&outcome) {
        c.prepare_cached(
            "INSERT INTO applied(client, request, outcome, at, command) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute((&key.client, key.request as i64, text, now, kind.name()))?;
    }
    Ok(outcome)
}

/// The first outcome of `key`, if it was applied; refused when it was applied as another
/// command than `kind`.
pub(super) fn recorded(
    c: &Connection,
    key: &RequestKey,
    kind: Keyed,
) -> Result<Option<Recorded>, StoreError> {
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
    let reused = |first: Option<String>| StoreError::KeyReused {
        request: key.request,
        first,
        now: kind,
    };
    if let Some(first) = command
        && first != kind.name()
    {
        return Err(reused(Some(first)));
    }
    match rebuild(c, kind, &text) {
        Some(recorded) => recorded.map(Some),
        None => Err(reused(None)),
    }
}

fn key_of(w: &Write) -> Option<(&RequestKey, Keyed, f64)> {
    let (key, kind, now) = match w {
        Write::Send { key, now, .. } | Write::Ask { key, now, .. } => (key, Keyed::Send, now),
        Write::Consume { key, now, .. } => (key, Keyed::Consume, now),
        Write::SetState { key, now, .. } => (key, Keyed::SetState, now),
        Write::Claim { key, now, .. } => (key, Keyed::Claim, now),
        Write::Release { key, now, .. } => (key, Keyed::Release, now),
        // `TakeReply` adds to the record of its `Send` itself (`reply.rs`).
        Write::Register { .. }
        | Write::Touch { .. }
        | Write::TakeReply { .. }
        | Write::TokenCreate { .. }
        | Write::TokenRevoke { .. }
        | Write::TokenUsed { .. } => return None,
    };
    key.as_ref().map(|k| (k, kind, *now))
}

fn record(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Message(m) => Some(m.id.to_string()),
        Outcome::Page(page) if !page.messages.is_empty() => {
            let mut text = page.pending.to_string();
            for m in &page.messages {
                text.push(' ');
                text.push_str(&m.id.to_string());
            }
            Some(text)
        }
        Outcome::Version(v) => Some(v.to_string()),
        // `Display` for f64 prints the shortest text that parses back to the same value.
        Outcome::Claim(claim) => Some(format!("{} {}", claim.expires_at, claim.owner)),
        Outcome::Released(released) => Some(if *released { "1" } else { "0" }.into()),
        _ => None,
    }
}

/// The first outcome of a `kind` command from its record; `None` when the record is not of
/// that kind.
fn rebuild(c: &Connection, kind: Keyed, text: &str) -> Option<Result<Recorded, StoreError>> {
    Some(match kind {
        Keyed::Send => {
            let (id, reply) = send_record(text)?;
            read::message(c, id).and_then(|m| {
                let reply = reply.map(|id| read::message(c, id)).transpose()?;
                Ok(Recorded::Message(m, reply))
            })
        }
        Keyed::Consume => {
            let mut fields = text.split(' ');
            let pending = fields.next()?.parse().ok()?;
            let ids: Vec<i64> = fields.map(|f| f.parse().ok()).collect::<Option<_>>()?;
            if ids.is_empty() {
                return None;
            }
            ids.into_iter()
                .map(|id| read::message(c, id))
                .collect::<Result<_, _>>()
                .map(|messages| Recorded::Page(Page { messages, pending }))
        }
        Keyed::SetState => Ok(Recorded::Version(text.parse().ok()?)),
        Keyed::Claim => {
            let (expires_at, owner) = match text.split_once(' ') {
                Some((expires_at, owner)) => (expires_at, Some(owner.to_owned())),
                None => (text, None),
            };
            Ok(Recorded::Claim {
                expires_at: expires_at.parse().ok()?,
                owner,
            })
        }
        Keyed::Release => Ok(Recorded::Released(match text {
            "1" => true,
            "0" => false,
            _ => return None,
        })),
    })
}

/// A `Send` record: the message id, and the reply taken for it.
pub(super) fn send_record(text: &str) -> Option<(i64, Option<i64>)> {
    let mut fields = text.split(' ');
    let id = fields.next()?.parse().ok()?;
    let reply = match fields.next() {
        Some(field) => Some(field.parse().ok()?),
        None => None,
    };
    fields.next().is_none().then_some((id, reply))
}

/// The outcome `w` had the first time, from its record.
fn outcome(recorded: Recorded, w: &Write) -> Outcome {
    match recorded {
        Recorded::Message(m, _) => Outcome::Message(m),
        Recorded::Page(page) => Outcome::Page(page),
        Recorded::Version(v) => Outcome::Version(v),
        Recorded::Released(r) => Outcome::Released(r),
        Recorded::Claim { expires_at, owner } => {
            let (path, asking) = match w {
                Write::Claim { path, owner, .. } => (path.clone(), owner.clone()),
                _ => Default::default(),
            };
            Outcome::Claim(ClaimRow {
                path,
                owner: owner.unwrap_or(asking),
                expires_at,
            })
        }
    }
}
