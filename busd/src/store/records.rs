//! The text of an applied request's record, as every backend keeps it in its `applied` table:
//! a compact form of the first outcome, from which a repeated key rebuilds that outcome.
//!
//! `send` → the message id, then the id of the reply `take_reply` took for it, if any;
//! `consume` → the pending count, then the message ids (messages never change, so they are
//! re-read); `set_state` → the version; `claim` → the expiry, then the owner; `release` → `1`
//! or `0`. An empty `consume` handed nothing over and is not recorded.

use super::{ClaimRow, Page};

/// A `send` record: the message id, and the reply taken for it.
pub(crate) fn send_text(id: i64, reply: Option<i64>) -> String {
    match reply {
        Some(reply) => format!("{id} {reply}"),
        None => id.to_string(),
    }
}

/// Read back [`send_text`]; `None` when the text is not a send's record.
pub(crate) fn send_record(text: &str) -> Option<(i64, Option<i64>)> {
    let mut fields = text.split(' ');
    let id = fields.next()?.parse().ok()?;
    let reply = match fields.next() {
        Some(field) => Some(field.parse().ok()?),
        None => None,
    };
    fields.next().is_none().then_some((id, reply))
}

/// A `consume` record; `None` for a page that handed nothing over (not recorded).
pub(crate) fn page_text(page: &Page) -> Option<String> {
    if page.messages.is_empty() {
        return None;
    }
    let mut text = page.pending.to_string();
    for m in &page.messages {
        text.push(' ');
        text.push_str(&m.id.to_string());
    }
    Some(text)
}

/// Read back [`page_text`]: the pending count and the message ids.
pub(crate) fn page_record(text: &str) -> Option<(u64, Vec<i64>)> {
    let mut fields = text.split(' ');
    let pending = fields.next()?.parse().ok()?;
    let ids: Vec<i64> = fields.map(|f| f.parse().ok()).collect::<Option<_>>()?;
    (!ids.is_empty()).then_some((pending, ids))
}

pub(crate) fn version_record(text: &str) -> Option<i64> {
    text.parse().ok()
}

/// `Display` for f64 prints the shortest text that parses back to the same value.
pub(crate) fn claim_text(claim: &ClaimRow) -> String {
    format!("{} {}", claim.expires_at, claim.owner)
}

/// A claim's expiry and owner (`None` in records written before the owner was kept).
pub(crate) fn claim_record(text: &str) -> Option<(f64, Option<String>)> {
    let (expires_at, owner) = match text.split_once(' ') {
        Some((expires_at, owner)) => (expires_at, Some(owner.to_owned())),
        None => (text, None),
    };
    Some((expires_at.parse().ok()?, owner))
}

pub(crate) fn released_text(released: bool) -> String {
    if released { "1" } else { "0" }.to_owned()
}

pub(crate) fn released_record(text: &str) -> Option<bool> {
    match text {
        "1" => Some(true),
        "0" => Some(false),
        _ => None,
    }
}
