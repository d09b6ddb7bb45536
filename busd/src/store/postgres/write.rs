//! The writes, each applied inside the savepoint its batch opened for it (`sqlite/write.rs`
//! states the rules; these are the same in PostgreSQL's dialect).

use super::Conn;
use super::read::{self, AGENT, agent_row};
use crate::store::{
    AgentRow, Claim, ClaimRow, Consume, MessageRow, NewMessage, Page, Register, Release, SetState,
    StoreError,
};

pub(super) fn register(
    c: &mut Conn,
    w: &Register,
    host: &str,
) -> Result<(AgentRow, u64), StoreError> {
    let Register {
        name,
        role,
        owns,
        session_id,
        now,
    } = w;
    let owns_json = match owns {
        Some(owns) if !owns.is_empty() => {
            Some(serde_json::to_string(owns).map_err(StoreError::io)?)
        }
        _ => None,
    };
    let row = c.one(
        &format!(
            "INSERT INTO agents(name, role, owns, last_seen, last_read_id, session_id, host) \
             VALUES ($1, COALESCE($2, ''), $3, $4, 0, $5, $7) \
             ON CONFLICT(name) DO UPDATE SET role = COALESCE($2, agents.role), \
                 owns = CASE WHEN $6 THEN $3 ELSE agents.owns END, last_seen = $4, \
                 session_id = COALESCE($5, agents.session_id), host = $7 \
             RETURNING {AGENT}, last_read_id"
        ),
        &[
            name,
            role,
            &owns_json,
            now,
            session_id,
            &owns.is_some(),
            &host,
        ],
    )?;
    let agent = agent_row(&row);
    let cursor: Option<i64> = row.get(5);
    let pending = read::unread(c, name, cursor.unwrap_or(0))?;
    Ok((agent, pending))
}

pub(super) fn touch(c: &mut Conn, name: &str, now: f64) -> Result<(), StoreError> {
    c.exec(
        "INSERT INTO agents(name, role, owns, last_seen, last_read_id) \
         VALUES ($1, '', NULL, $2, 0) ON CONFLICT(name) DO UPDATE SET last_seen = $2",
        &[&name, &now],
    )?;
    Ok(())
}

pub(super) fn send(c: &mut Conn, w: &NewMessage) -> Result<MessageRow, StoreError> {
    let NewMessage {
        sender,
        to,
        content,
        reply_to,
        now,
        ..
    } = w;
    if let Some(id) = *reply_to
        && c.opt("SELECT 1 FROM messages WHERE id = $1", &[&id])?
            .is_none()
    {
        return Err(StoreError::UnknownReplyTo(id));
    }
    let row = c.one(
        "INSERT INTO messages(ts, sender, recipient, content, reply_to) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
        &[now, sender, to, content, reply_to],
    )?;
    Ok(MessageRow {
        id: row.get(0),
        sender: sender.clone(),
        recipient: to.clone(),
        content: content.clone(),
        reply_to: *reply_to,
        ts: *now,
    })
}

/// Hand over up to `limit` unread messages (see `sqlite/write.rs`). The agent's row is locked
/// first: two busd consuming for one name take turns, so each message goes to one of them.
pub(super) fn consume(c: &mut Conn, w: &Consume) -> Result<Page, StoreError> {
    let Consume {
        name, limit, now, ..
    } = w;
    let (limit, now) = (*limit, *now);
    // The row locked and the cursor read in one statement (the lock waits for another busd's
    // consume of the name, and the row read is then the one it committed).
    let cursor = c
        .opt(
            "SELECT last_read_id FROM agents WHERE name = $1 FOR UPDATE",
            &[name],
        )?
        .and_then(|r| r.get::<_, Option<i64>>(0))
        .unwrap_or(0);
    let messages = read::inbox(c, name, cursor, limit)?;
    let (newest, reserved) = super::reply::newest_and_first_reserved(c, name, cursor)?;
    let new_cursor = if messages.len() < limit as usize {
        newest.max(cursor)
    } else {
        messages.last().map_or(cursor, |m| m.id)
    };
    let new_cursor = match reserved {
        Some(reserved) => new_cursor.min(reserved - 1),
        None => new_cursor,
    };
    if messages.is_empty() {
        c.exec(
            "UPDATE agents SET last_seen = $2, last_read_id = $3 WHERE name = $1",
            &[name, &now, &new_cursor],
        )?;
    } else {
        c.exec(
            "INSERT INTO agents(name, role, owns, last_seen, last_read_id) \
             VALUES ($1, '', NULL, $2, $3) \
             ON CONFLICT(name) DO UPDATE SET last_seen = $2, last_read_id = $3",
            &[name, &now, &new_cursor],
        )?;
    }
    let ids: Vec<i64> = messages.iter().map(|m| m.id).collect();
    receipts(c, &ids, name, now)?;
    let pending = read::unread(c, name, new_cursor)?;
    Ok(Page { messages, pending })
}

/// A receipt for message `id` of `name` (to it or to `all`, not from it), if there is one.
pub(super) fn mark_read(c: &mut Conn, name: &str, id: i64, now: f64) -> Result<(), StoreError> {
    let theirs: bool = c
        .one(
            "SELECT EXISTS (SELECT 1 FROM messages WHERE id = $1 \
             AND (recipient = $2 OR recipient = 'all') AND $2 <> 'all' \
             AND sender IS DISTINCT FROM $2)",
            &[&id, &name],
        )?
        .get(0);
    if theirs {
        receipt(c, id, name, now)?;
    }
    Ok(())
}

/// Record that `name` has read the messages `ids`, in one statement (a first receipt is kept).
fn receipts(c: &mut Conn, ids: &[i64], name: &str, now: f64) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    c.exec(
        "INSERT INTO deliveries(message_id, recipient, read, read_ts) \
         SELECT id, $2, 1, $3 FROM unnest($1::bigint[]) AS id \
         ON CONFLICT(message_id, recipient) DO UPDATE SET read = 1, read_ts = excluded.read_ts \
         WHERE deliveries.read IS DISTINCT FROM 1",
        &[&ids, &name, &now],
    )?;
    Ok(())
}

/// Record that `name` has read message `id` (a first receipt is kept).
pub(super) fn receipt(c: &mut Conn, id: i64, name: &str, now: f64) -> Result<(), StoreError> {
    c.exec(
        "INSERT INTO deliveries(message_id, recipient, read, read_ts) VALUES ($1, $2, 1, $3) \
         ON CONFLICT(message_id, recipient) DO UPDATE SET read = 1, read_ts = excluded.read_ts \
         WHERE deliveries.read IS DISTINCT FROM 1",
        &[&id, &name, &now],
    )?;
    Ok(())
}

pub(super) fn set_state(c: &mut Conn, w: &SetState) -> Result<i64, StoreError> {
    let SetState {
        state_key: key,
        value,
        by,
        expected_version,
        append,
        now,
        ..
    } = w;
    let key = key.as_str();
    let old = c.opt(
        "SELECT value, version FROM state WHERE key = $1 FOR UPDATE",
        &[&key],
    )?;
    let old: Option<(Option<String>, Option<i64>)> = old.map(|r| (r.get(0), r.get(1)));
    let current = old.as_ref().map_or(0, |(_, version)| version.unwrap_or(1));
    if let Some(expected) = *expected_version
        && expected != current
    {
        return Err(StoreError::Stale {
            key: key.into(),
            expected,
            current,
        });
    }
    let new_value = match old.and_then(|(value, _)| value) {
        Some(old) if *append && !old.is_empty() => format!("{old}\n{value}"),
        _ => value.to_owned(),
    };
    if new_value.len() > proto::limits::VALUE_MAX_BYTES {
        return Err(StoreError::TooLarge(new_value.len()));
    }
    let version = current + 1;
    c.exec(
        "INSERT INTO state(key, value, version, updated_by, ts) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT(key) DO UPDATE SET value = $2, version = $3, updated_by = $4, ts = $5",
        &[&key, &new_value, &version, by, now],
    )?;
    Ok(version)
}

/// The owner and expiry of the claim on `path`, live or not.
fn current_claim(c: &mut Conn, path: &str) -> Result<Option<(String, f64)>, StoreError> {
    Ok(c.opt(
        "SELECT COALESCE(owner, ''), COALESCE(ts, 0) + COALESCE(ttl, 0) FROM claims \
         WHERE path = $1 FOR UPDATE",
        &[&path],
    )?
    .map(|r| (r.get(0), r.get(1))))
}

pub(super) fn claim(c: &mut Conn, w: &Claim) -> Result<ClaimRow, StoreError> {
    let Claim {
        path,
        owner,
        ttl,
        now,
        ..
    } = w;
    let (path, owner, ttl, now) = (path.as_str(), owner.as_str(), *ttl, *now);
    if let Some((holder, expires_at)) = current_claim(c, path)?
        && holder != owner
        && expires_at >= now
    {
        return Err(StoreError::Claimed {
            path: path.into(),
            owner: holder,
            seconds_left: expires_at - now,
        });
    }
    c.exec(
        "INSERT INTO claims(path, owner, ts, ttl) VALUES ($1, $2, $3, $4) \
         ON CONFLICT(path) DO UPDATE SET owner = $2, ts = $3, ttl = $4",
        &[&path, &owner, &now, &ttl],
    )?;
    Ok(ClaimRow {
        path: path.into(),
        owner: owner.into(),
        expires_at: now + ttl,
    })
}

pub(super) fn release(c: &mut Conn, w: &Release) -> Result<bool, StoreError> {
    let Release {
        path, owner, now, ..
    } = w;
    let (path, owner, now) = (path.as_str(), owner.as_str(), *now);
    let Some((holder, expires_at)) = current_claim(c, path)? else {
        return Ok(false);
    };
    let live = expires_at >= now;
    if holder != owner {
        return match live {
            true => Err(StoreError::NotOwner {
                path: path.into(),
                owner: holder,
            }),
            false => Ok(false),
        };
    }
    c.exec("DELETE FROM claims WHERE path = $1", &[&path])?;
    Ok(live)
}
