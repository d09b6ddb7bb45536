//! At-most-once writes: a keyed write records a compact form of its outcome in `applied`, and
//! a repeated key rebuilds the first outcome from it instead of applying the write again.
//!
//! Records: `Send` → the message id; `Consume` → the pending count, then the message ids
//! (messages never change, so they are re-read); `SetState` → the version; `Claim` → the
//! expiry; `Release` → `1` or `0`. An empty `Consume` handed nothing over and is not recorded.

use rusqlite::{Connection, OptionalExtension};

use super::{read, write};
use crate::store::{ClaimRow, Outcome, Page, RequestKey, StoreError, Write};

/// Apply `w` unless its key was applied already; then answer as the first time.
pub(super) fn apply(c: &Connection, w: &Write) -> Result<Outcome, StoreError> {
    let Some((key, now)) = key_of(w) else {
        return write::apply(c, w);
    };
    if let Some(recorded) = lookup(c, key)? {
        return rebuild(c, w, &recorded).ok_or_else(|| {
            StoreError::Io(format!(
                "request {} of client {} was first used for another command",
                key.request, key.client
            ))
        })?;
    }
    let outcome = write::apply(c, w)?;
    if let Some(recorded) = record(&outcome) {
        c.prepare_cached(
            "INSERT INTO applied(client, request, outcome, at) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute((&key.client, key.request as i64, recorded, now))?;
    }
    Ok(outcome)
}

fn key_of(w: &Write) -> Option<(&RequestKey, f64)> {
    match w {
        Write::Send { key, now, .. }
        | Write::Consume { key, now, .. }
        | Write::SetState { key, now, .. }
        | Write::Claim { key, now, .. }
        | Write::Release { key, now, .. } => key.as_ref().map(|k| (k, *now)),
        Write::Register { .. } | Write::Touch { .. } => None,
    }
}

fn lookup(c: &Connection, key: &RequestKey) -> Result<Option<String>, StoreError> {
    // The request id is stored bit for bit as SQLite's signed integer.
    Ok(
        c.prepare_cached("SELECT outcome FROM applied WHERE client = ?1 AND request = ?2")?
            .query_row((&key.client, key.request as i64), |r| r.get(0))
            .optional()?,
    )
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
        Outcome::Claim(claim) => Some(claim.expires_at.to_string()),
        Outcome::Released(released) => Some(if *released { "1" } else { "0" }.into()),
        _ => None,
    }
}

/// The first outcome of `w`, from its record; `None` when the record is not of `w`'s kind.
fn rebuild(c: &Connection, w: &Write, recorded: &str) -> Option<Result<Outcome, StoreError>> {
    Some(match w {
        Write::Send { .. } => {
            let id = recorded.parse().ok()?;
            read::message(c, id).map(Outcome::Message)
        }
        Write::Consume { .. } => {
            let mut fields = recorded.split(' ');
            let pending = fields.next()?.parse().ok()?;
            let ids: Vec<i64> = fields.map(|f| f.parse().ok()).collect::<Option<_>>()?;
            ids.into_iter()
                .map(|id| read::message(c, id))
                .collect::<Result<_, _>>()
                .map(|messages| Outcome::Page(Page { messages, pending }))
        }
        Write::SetState { .. } => Ok(Outcome::Version(recorded.parse().ok()?)),
        Write::Claim { path, owner, .. } => Ok(Outcome::Claim(ClaimRow {
            path: path.clone(),
            owner: owner.clone(),
            expires_at: recorded.parse().ok()?,
        })),
        Write::Release { .. } => Ok(Outcome::Released(match recorded {
            "1" => true,
            "0" => false,
            _ => return None,
        })),
        Write::Register { .. } | Write::Touch { .. } => return None,
    })
}
