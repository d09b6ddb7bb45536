//! Inbox, read cursor, receipts, message status, agents, tail and counts.
//!
//! The inbox of a name is every message past its cursor addressed to it or to `all`, not sent
//! by it, that it has no receipt for (and that is not a reply reserved for one of its asks).

use super::*;
use crate::store::Tail;

pub fn register_creates_keeps_and_replaces<S: Subject>(mut bus: Bus<S>) {
    let (ann, pending) = bus.register("ann", 1.0);
    assert_eq!(
        ann,
        AgentRow {
            name: "ann".into(),
            role: String::new(),
            owns: vec![],
            last_seen: 1.0,
            session_id: None,
        }
    );
    assert_eq!(pending, 0);
    let w = |role: Option<&str>, owns: Option<Vec<&str>>, session: Option<&str>, now| Register {
        name: "ann".into(),
        role: role.map(Into::into),
        owns: owns.map(|o| o.into_iter().map(Into::into).collect()),
        session_id: session.map(Into::into),
        now,
    };
    let (ann, _) = bus
        .register_w(w(Some("api"), Some(vec!["src/**"]), Some("s1"), 2.0))
        .unwrap();
    assert_eq!(
        (ann.role.as_str(), ann.owns.clone()),
        ("api", vec!["src/**".to_string()])
    );
    assert_eq!(
        (ann.last_seen, ann.session_id.as_deref()),
        (2.0, Some("s1"))
    );
    // None keeps role, owns and session.
    let (ann, _) = bus.register_w(w(None, None, None, 3.0)).unwrap();
    assert_eq!(
        (ann.role.as_str(), ann.owns.len(), ann.last_seen),
        ("api", 1, 3.0)
    );
    assert_eq!(ann.session_id.as_deref(), Some("s1"));
    // Some replaces, even with empty values.
    let (ann, _) = bus
        .register_w(w(Some(""), Some(vec![]), Some("s2"), 4.0))
        .unwrap();
    assert_eq!((ann.role.as_str(), ann.owns.len()), ("", 0));
    assert_eq!(ann.session_id.as_deref(), Some("s2"));
    // Registering again does not move the cursor: pending mail stays pending.
    bus.send("bob", "ann", "hi");
    let (_, pending) = bus.register("ann", 5.0);
    assert_eq!(pending, 1);
}

pub fn late_joiner_gets_earlier_broadcasts_and_direct_mail<S: Subject>(mut bus: Bus<S>) {
    bus.register("ann", 1.0);
    let b = bus.send("ann", "all", "hello everyone");
    let d = bus.send("ann", "cid", "for cid, before it joined");
    bus.send("ann", "bob", "not for cid");
    let (_, pending) = bus.register("cid", 2.0);
    assert_eq!(pending, 2);
    let page = bus.consume("cid", 100);
    assert_eq!(ids(&page), vec![b.id, d.id]);
    assert_eq!(page.messages[0], b);
    assert_eq!(page.pending, 0);
}

pub fn interleaved_sends_and_consumes_deliver_exactly_once<S: Subject>(mut bus: Bus<S>) {
    bus.register("ann", 1.0);
    bus.register("bob", 1.0);
    let mut seen = Vec::new();
    let mut sent = Vec::new();
    for i in 0..20 {
        sent.push(
            bus.send("ann", if i % 3 == 0 { "all" } else { "bob" }, "m")
                .id,
        );
        // Noise that bob must never get: cid's mail, and his own broadcasts.
        bus.send("ann", "cid", "not bob's");
        bus.send("bob", "all", "bob's own broadcast");
        if i % 2 == 1 {
            let page = bus.consume("bob", 100);
            seen.extend(ids(&page));
        }
    }
    seen.extend(ids(&bus.consume("bob", 100)));
    assert_eq!(seen, sent, "no skip, no duplicate, in order");
    assert!(bus.consume("bob", 100).messages.is_empty());
}

pub fn limit_takes_oldest_first_and_counts_the_rest<S: Subject>(mut bus: Bus<S>) {
    let sent: Vec<i64> = (0..5).map(|_| bus.send("ann", "bob", "m").id).collect();
    let page = bus.consume("bob", 2);
    assert_eq!((ids(&page), page.pending), (sent[0..2].to_vec(), 3));
    assert_eq!(
        bus.cursor("bob"),
        sent[1],
        "the cursor moves past exactly what was returned"
    );
    let page = bus.consume("bob", 2);
    assert_eq!((ids(&page), page.pending), (sent[2..4].to_vec(), 1));
    let page = bus.consume("bob", 10);
    assert_eq!((ids(&page), page.pending), (sent[4..].to_vec(), 0));
    assert_eq!(bus.consume("bob", 10), Page::default());
}

pub fn a_drained_inbox_moves_the_cursor_to_the_newest_message<S: Subject>(mut bus: Bus<S>) {
    bus.register("ann", 1.0);
    for _ in 0..3 {
        bus.send("ann", "all", "broadcast");
    }
    let last = bus.send("bob", "cid", "not for ann").id;
    assert!(bus.consume("ann", 100).messages.is_empty());
    assert_eq!(
        bus.cursor("ann"),
        last,
        "her own broadcasts are never rescanned"
    );
    // Everything after the jump is still delivered.
    let next = bus.send("bob", "ann", "after").id;
    assert_eq!(ids(&bus.consume("ann", 100)), vec![next]);
}

pub fn peek_changes_nothing_and_counts_everything<S: Subject>(mut bus: Bus<S>) {
    bus.register("bob", 1.0);
    let sent: Vec<i64> = (0..3).map(|_| bus.send("ann", "bob", "m").id).collect();
    let first = bus.peek("bob", 2);
    assert_eq!((ids(&first), first.pending), (sent[0..2].to_vec(), 3));
    assert_eq!(bus.peek("bob", 2), first);
    assert_eq!(bus.cursor("bob"), 0);
    assert_eq!(bus.rows(Rows::Receipts), 0);
    // A stranger peeks from cursor 0 and gets no agents row.
    assert_eq!(bus.peek("zed", 10), Page::default());
    assert!(!bus.has_agent("zed"));
}

pub fn consume_by_a_stranger_creates_its_row<S: Subject>(mut bus: Bus<S>) {
    let m = bus.send("ann", "all", "hi");
    assert_eq!(ids(&bus.consume("zed", 10)), vec![m.id]);
    let agents = bus.db().agents().unwrap();
    assert_eq!(
        agents,
        vec![AgentRow {
            name: "zed".into(),
            role: String::new(),
            owns: vec![],
            last_seen: 7.0,
            session_id: None,
        }]
    );
}

/// `bus inbox --as TYPO`: a consuming read that finds nothing adds no name to the bus.
pub fn consume_of_nothing_by_a_stranger_creates_no_row<S: Subject>(mut bus: Bus<S>) {
    bus.send("ann", "bob", "not for zed");
    assert!(bus.consume("zed", 10).messages.is_empty());
    assert!(!bus.has_agent("zed"));
}

pub fn receipts_and_message_status<S: Subject>(mut bus: Bus<S>) {
    for name in ["ann", "bob", "cid", "dan"] {
        bus.register(name, 1.0);
    }
    let direct = bus.send("ann", "bob", "direct");
    let broadcast = bus.send("ann", "all", "broadcast");
    let status = |bus: &mut Bus<S>, id| bus.db().message_status(id).unwrap();
    let s = status(&mut bus, direct.id);
    assert_eq!((s.sender.as_str(), s.recipient.as_str()), ("ann", "bob"));
    assert_eq!(
        (s.readers.len(), s.unread.clone()),
        (0, vec!["bob".to_string()])
    );
    let s = status(&mut bus, broadcast.id);
    assert_eq!(s.unread, vec!["bob", "cid", "dan"]);

    bus.consume_m(consume_w(None, "dan", 10, 20.0)).unwrap();
    bus.consume_m(consume_w(None, "bob", 10, 30.0)).unwrap();
    let s = status(&mut bus, direct.id);
    assert_eq!((s.readers.len(), s.unread.len()), (1, 0));
    assert_eq!(
        (s.readers[0].recipient.as_str(), s.readers[0].read_ts),
        ("bob", 30.0)
    );
    let s = status(&mut bus, broadcast.id);
    let readers: Vec<_> = s
        .readers
        .iter()
        .map(|r| (r.recipient.as_str(), r.read_ts))
        .collect();
    assert_eq!(
        readers,
        vec![("dan", 20.0), ("bob", 30.0)],
        "oldest receipt first"
    );
    assert_eq!(s.unread, vec!["cid"]);
    // A receipt per returned message only.
    assert_eq!(bus.rows(Rows::Receipts), 3);
    assert_eq!(
        bus.db().message_status(999),
        Err(StoreError::UnknownMessage(999))
    );
}

pub fn reply_to_must_exist<S: Subject>(mut bus: Bus<S>) {
    let first = bus.send("ann", "bob", "q");
    let mut w = send_w(None, "bob", "ann", "a", 6.0);
    w.reply_to = Some(first.id + 100);
    assert_eq!(
        bus.send_m(w.clone()),
        Err(StoreError::UnknownReplyTo(first.id + 100))
    );
    w.reply_to = Some(first.id);
    let reply = bus.send_m(w).unwrap();
    assert_eq!(reply.reply_to, Some(first.id));
    assert_eq!(bus.messages(), 2);
}

pub fn agents_resolve_tail_and_counts<S: Subject>(mut bus: Bus<S>) {
    bus.touch("old", 0.0);
    for (name, now) in [("bob", 2.0), ("ann", 3.0)] {
        bus.register_w(Register {
            name: name.into(),
            role: None,
            owns: None,
            session_id: Some("s1".into()),
            now,
        })
        .unwrap();
    }
    let agents = bus.db().agents().unwrap();
    let names: Vec<_> = agents
        .iter()
        .map(|a| (a.name.as_str(), a.last_seen))
        .collect();
    assert_eq!(names, vec![("ann", 3.0), ("bob", 2.0), ("old", 0.0)]);
    assert_eq!(bus.db().resolve("s1"), Ok(Some("ann".into())));
    assert_eq!(bus.db().resolve("s2"), Ok(None));

    let tail = |messages: &[MessageRow], last_id| {
        Ok(Tail {
            messages: messages.to_vec(),
            last_id,
        })
    };
    assert_eq!(bus.db().tail(None, 10), tail(&[], 0));
    let sent: Vec<MessageRow> = (0..3).map(|_| bus.send("ann", "bob", "m")).collect();
    assert_eq!(bus.db().tail(None, 10), tail(&[], sent[2].id));
    assert_eq!(bus.db().tail(Some(0), 2), tail(&sent[0..2], sent[1].id));
    assert_eq!(
        bus.db().tail(Some(sent[1].id), 2),
        tail(&sent[2..], sent[2].id)
    );
    assert_eq!(bus.db().tail(Some(sent[2].id), 2), tail(&[], sent[2].id));

    bus.set_m(set_w("k", "v", None, false)).unwrap();
    bus.claim_m(claim_w(None, "a.rs", "ann", 10.0, 0.0))
        .unwrap();
    bus.claim_m(claim_w(None, "b.rs", "ann", 100.0, 0.0))
        .unwrap();
    let counts = bus.db().counts(50.0).unwrap();
    assert_eq!(
        (
            counts.agents,
            counts.messages,
            counts.state_keys,
            counts.live_claims
        ),
        (3, 3, 1, 1)
    );
}

/// Nobody's inbox holds what it sent, to anyone or to everyone (`all`, the broadcast name: the
/// handlers refuse it as a name, so no reader is ever called `all`).
pub fn the_sender_never_sees_its_own_mail_and_a_broadcast_is_everyone_elses<S: Subject>(
    mut bus: Bus<S>,
) {
    bus.register("ann", 1.0);
    bus.register("bob", 1.0);
    let broadcast = bus.send("ann", "all", "to everyone");
    let direct = bus.send("bob", "ann", "to ann");
    assert_eq!(ids(&bus.peek("ann", 10)), [direct.id]);
    assert_eq!(ids(&bus.peek("bob", 10)), [broadcast.id]);
    assert_eq!(ids(&bus.peek("cy", 10)), [broadcast.id], "a stranger too");
    let s = bus.db().message_status(broadcast.id).unwrap();
    assert_eq!(
        s.unread,
        vec!["bob"],
        "every registered agent but the sender"
    );
}

/// A channel push Claude Code took is marked read by id: only that message leaves the inbox,
/// whatever is older stays unread, and a message that is not the name's is left alone.
pub fn mark_read_takes_out_one_message_of_the_name_only<S: Subject>(mut bus: Bus<S>) {
    bus.register("bob", 1.0);
    let older = bus.send("ann", "bob", "older");
    let pushed = bus.send("ann", "bob", "pushed");
    let foreign = bus.send("bob", "ann", "not bob's");
    for (name, id) in [("bob", pushed.id), ("bob", foreign.id), ("bob", 999)] {
        bus.at(8.0, |tx| tx.mark_read(name, id, 8.0)).unwrap();
    }
    let page = bus.peek("bob", 10);
    assert_eq!(ids(&page), vec![older.id]);
    assert_eq!(page.pending, 1, "the pushed one is not counted as unread");
    assert_eq!(ids(&bus.peek("ann", 10)), vec![foreign.id]);
    assert_eq!(ids(&bus.consume("bob", 10)), vec![older.id]);
    assert_eq!(bus.peek("bob", 10), Page::default());
}
