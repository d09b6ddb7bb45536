//! Inbox, read cursor, receipts, message status, agents, tail and counts.

use super::*;

#[test]
fn register_creates_keeps_and_replaces() {
    let mut bus = bus();
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
    let w =
        |role: Option<&str>, owns: Option<Vec<&str>>, session: Option<&str>, now| Write::Register {
            name: "ann".into(),
            role: role.map(Into::into),
            owns: owns.map(|o| o.into_iter().map(Into::into).collect()),
            session_id: session.map(Into::into),
            now,
        };
    let Ok(Outcome::Agent(ann, _)) =
        bus.write(w(Some("api"), Some(vec!["src/**"]), Some("s1"), 2.0))
    else {
        panic!()
    };
    assert_eq!(
        (ann.role.as_str(), ann.owns.clone()),
        ("api", vec!["src/**".to_string()])
    );
    assert_eq!(
        (ann.last_seen, ann.session_id.as_deref()),
        (2.0, Some("s1"))
    );
    // None keeps role, owns and session.
    let Ok(Outcome::Agent(ann, _)) = bus.write(w(None, None, None, 3.0)) else {
        panic!()
    };
    assert_eq!(
        (ann.role.as_str(), ann.owns.len(), ann.last_seen),
        ("api", 1, 3.0)
    );
    assert_eq!(ann.session_id.as_deref(), Some("s1"));
    // Some replaces, even with empty values.
    let Ok(Outcome::Agent(ann, _)) = bus.write(w(Some(""), Some(vec![]), Some("s2"), 4.0)) else {
        panic!()
    };
    assert_eq!((ann.role.as_str(), ann.owns.len()), ("", 0));
    assert_eq!(ann.session_id.as_deref(), Some("s2"));
    // Registering again does not move the cursor: pending mail stays pending.
    bus.send("bob", "ann", "hi");
    let (_, pending) = bus.register("ann", 5.0);
    assert_eq!(pending, 1);
}

#[test]
fn late_joiner_gets_earlier_broadcasts_and_direct_mail() {
    let mut bus = bus();
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

#[test]
fn interleaved_sends_and_consumes_deliver_exactly_once() {
    let mut bus = bus();
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

#[test]
fn limit_takes_oldest_first_and_counts_the_rest() {
    let mut bus = bus();
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

#[test]
fn a_drained_inbox_moves_the_cursor_to_the_newest_message() {
    let mut bus = bus();
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

#[test]
fn peek_changes_nothing_and_counts_everything() {
    let mut bus = bus();
    bus.register("bob", 1.0);
    let sent: Vec<i64> = (0..3).map(|_| bus.send("ann", "bob", "m").id).collect();
    let first = bus.peek("bob", 2);
    assert_eq!((ids(&first), first.pending), (sent[0..2].to_vec(), 3));
    assert_eq!(bus.peek("bob", 2), first);
    assert_eq!(bus.cursor("bob"), 0);
    assert_eq!(bus.count("SELECT COUNT(*) FROM deliveries"), 0);
    // A stranger peeks from cursor 0 and gets no agents row.
    assert_eq!(bus.peek("zed", 10), Page::default());
    assert_eq!(
        bus.count("SELECT COUNT(*) FROM agents WHERE name = 'zed'"),
        0
    );
}

#[test]
fn consume_by_a_stranger_creates_its_row() {
    let mut bus = bus();
    let m = bus.send("ann", "all", "hi");
    assert_eq!(ids(&bus.consume("zed", 10)), vec![m.id]);
    let Outcome::Agents(agents) = bus.read(Read::Agents) else {
        panic!()
    };
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
#[test]
fn consume_of_nothing_by_a_stranger_creates_no_row() {
    let mut bus = bus();
    bus.send("ann", "bob", "not for zed");
    assert!(bus.consume("zed", 10).messages.is_empty());
    assert_eq!(
        bus.count("SELECT COUNT(*) FROM agents WHERE name = 'zed'"),
        0
    );
}

#[test]
fn receipts_and_message_status() {
    let mut bus = bus();
    for name in ["ann", "bob", "cid", "dan"] {
        bus.register(name, 1.0);
    }
    let direct = bus.send("ann", "bob", "direct");
    let broadcast = bus.send("ann", "all", "broadcast");
    let status = |bus: &mut Bus, id| match bus.read(Read::MessageStatus { id }) {
        Outcome::Status(s) => s,
        other => panic!("{other:?}"),
    };
    let s = status(&mut bus, direct.id);
    assert_eq!((s.sender.as_str(), s.recipient.as_str()), ("ann", "bob"));
    assert_eq!(
        (s.readers.len(), s.unread.clone()),
        (0, vec!["bob".to_string()])
    );
    let s = status(&mut bus, broadcast.id);
    assert_eq!(s.unread, vec!["bob", "cid", "dan"]);

    bus.write(consume_w(None, "dan", 10, 20.0)).unwrap();
    bus.write(consume_w(None, "bob", 10, 30.0)).unwrap();
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
    assert_eq!(bus.count("SELECT COUNT(*) FROM deliveries"), 3);
    assert_eq!(
        bus.db.read(&Read::MessageStatus { id: 999 }),
        Err(StoreError::UnknownMessage(999))
    );
}

#[test]
fn reply_to_must_exist() {
    let mut bus = bus();
    let first = bus.send("ann", "bob", "q");
    let mut w = send_w(None, "bob", "ann", "a", 6.0);
    if let Write::Send { reply_to, .. } = &mut w {
        *reply_to = Some(first.id + 100);
    }
    assert_eq!(
        bus.write(w.clone()),
        Err(StoreError::UnknownReplyTo(first.id + 100))
    );
    if let Write::Send { reply_to, .. } = &mut w {
        *reply_to = Some(first.id);
    }
    let Ok(Outcome::Message(reply)) = bus.write(w) else {
        panic!()
    };
    assert_eq!(reply.reply_to, Some(first.id));
    assert_eq!(bus.count("SELECT COUNT(*) FROM messages"), 2);
}

#[test]
fn agents_resolve_tail_and_counts() {
    let mut bus = bus();
    bus.db
        .conn
        .execute_batch(
            "INSERT INTO agents(name, role, owns, last_seen) VALUES ('old', NULL, NULL, NULL)",
        )
        .unwrap();
    for (name, now) in [("bob", 2.0), ("ann", 3.0)] {
        bus.write(Write::Register {
            name: name.into(),
            role: None,
            owns: None,
            session_id: Some("s1".into()),
            now,
        })
        .unwrap();
    }
    let Outcome::Agents(agents) = bus.read(Read::Agents) else {
        panic!()
    };
    let names: Vec<_> = agents
        .iter()
        .map(|a| (a.name.as_str(), a.last_seen))
        .collect();
    assert_eq!(names, vec![("ann", 3.0), ("bob", 2.0), ("old", 0.0)]);
    let resolve = |bus: &mut Bus, s: &str| {
        bus.read(Read::Resolve {
            session_id: s.into(),
        })
    };
    assert_eq!(resolve(&mut bus, "s1"), Outcome::Name(Some("ann".into())));
    assert_eq!(resolve(&mut bus, "s2"), Outcome::Name(None));

    assert_eq!(
        bus.read(Read::Tail {
            after: None,
            limit: 10
        }),
        Outcome::Tail(vec![], 0)
    );
    let sent: Vec<MessageRow> = (0..3).map(|_| bus.send("ann", "bob", "m")).collect();
    assert_eq!(
        bus.read(Read::Tail {
            after: None,
            limit: 10
        }),
        Outcome::Tail(vec![], sent[2].id)
    );
    let tail = bus.read(Read::Tail {
        after: Some(0),
        limit: 2,
    });
    assert_eq!(tail, Outcome::Tail(sent[0..2].to_vec(), sent[1].id));
    let tail = bus.read(Read::Tail {
        after: Some(sent[1].id),
        limit: 2,
    });
    assert_eq!(tail, Outcome::Tail(sent[2..].to_vec(), sent[2].id));
    let tail = bus.read(Read::Tail {
        after: Some(sent[2].id),
        limit: 2,
    });
    assert_eq!(tail, Outcome::Tail(vec![], sent[2].id));

    bus.write(set_w("k", "v", None, false)).unwrap();
    bus.write(claim_w(None, "a.rs", "ann", 10.0, 0.0)).unwrap();
    bus.write(claim_w(None, "b.rs", "ann", 100.0, 0.0)).unwrap();
    let Outcome::Counts(counts) = bus.read(Read::Counts { now: 50.0 }) else {
        panic!()
    };
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

#[test]
fn inbox_queries_use_the_recipient_index() {
    let bus = bus();
    let plan: Vec<String> = {
        let mut stmt = bus
            .db
            .conn
            .prepare(
                "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM messages \
                 WHERE recipient = 'all' AND id > 5 AND sender IS NOT 'x'",
            )
            .unwrap();
        stmt.query_map([], |r| r.get(3))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert!(
        plan.iter().any(|p| p.contains("messages_recipient")),
        "{plan:?}"
    );
}

/// Inbox cost does not grow with the table: `cargo test -p busd --lib store -- --ignored`.
#[test]
#[ignore = "slow: builds a million-message table"]
fn inbox_cost_is_flat_from_10k_to_1m_messages() {
    let mut bus = bus();
    let mut timings = Vec::new();
    for total in [10_000, 1_000_000] {
        bus.db.conn.execute_batch("BEGIN").unwrap();
        let have = bus.count("SELECT COUNT(*) FROM messages");
        let mut insert = bus
            .db
            .conn
            .prepare("INSERT INTO messages(ts, sender, recipient, content) VALUES (0, ?1, ?2, 'x')")
            .unwrap();
        for i in have..total {
            let to = ["all", "bob", "cid", "dan"][(i % 4) as usize];
            insert.execute(["ann", to]).unwrap();
        }
        drop(insert);
        bus.db.conn.execute_batch("COMMIT").unwrap();
        bus.consume("bob", 1000);
        while !bus.consume("bob", 1000).messages.is_empty() {}
        bus.send("ann", "bob", "m");
        let started = std::time::Instant::now();
        for _ in 0..2000 {
            assert_eq!(bus.peek("bob", 100).pending, 1);
        }
        timings.push(started.elapsed());
        assert_eq!(bus.consume("bob", 100).messages.len(), 1);
    }
    eprintln!(
        "2000 peeks at 10k: {:?}, at 1M: {:?}",
        timings[0], timings[1]
    );
    assert!(timings[1] < timings[0] * 3, "{timings:?}");
}
