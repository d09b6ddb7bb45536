//! At-most-once request keys, batches, failed writes and failed commits.

use super::*;

#[test]
fn a_repeated_send_key_returns_the_first_message() {
    let mut bus = bus();
    let first = bus.write(send_w(key(1), "ann", "bob", "once", 5.0));
    let again = bus.write(send_w(key(1), "ann", "bob", "once", 6.0));
    assert!(matches!(first, Ok(Outcome::Message(_))));
    assert_eq!(again, first);
    // Within one batch too.
    let w = send_w(key(2), "ann", "bob", "twice in a batch", 7.0);
    let outcomes = bus.db.write(&[w.clone(), w]).unwrap();
    assert_eq!(outcomes[0], outcomes[1]);
    assert_eq!(bus.count("SELECT COUNT(*) FROM messages"), 2);
    // Another client's request 1 is another request; so is this client's request 3.
    let other = Some(RequestKey {
        client: "client-2".into(),
        request: 1,
    });
    assert!(bus.write(send_w(other, "ann", "bob", "x", 8.0)) != first);
    let huge = bus.write(send_w(key(u64::MAX), "ann", "bob", "x", 8.0));
    assert_eq!(
        bus.write(send_w(key(u64::MAX), "ann", "bob", "x", 9.0)),
        huge
    );
    assert_eq!(bus.count("SELECT COUNT(*) FROM messages"), 4);
}

#[test]
fn a_repeated_consume_key_hands_the_same_messages_over_again() {
    let mut bus = bus();
    let sent: Vec<i64> = (0..3).map(|_| bus.send("ann", "bob", "m").id).collect();
    let first = bus.write(consume_w(key(1), "bob", 2, 7.0)).unwrap();
    let Outcome::Page(page) = &first else {
        panic!()
    };
    assert_eq!((ids(page), page.pending), (sent[0..2].to_vec(), 1));
    // More mail arrives; the reply was lost; the client retries.
    bus.send("ann", "bob", "later");
    assert_eq!(bus.write(consume_w(key(1), "bob", 2, 8.0)).unwrap(), first);
    assert_eq!(bus.cursor("bob"), sent[1], "the replay moved nothing");
    assert_eq!(bus.count("SELECT COUNT(*) FROM deliveries"), 2);
    // A new request carries on after the first one.
    let Ok(Outcome::Page(next)) = bus.write(consume_w(key(2), "bob", 10, 9.0)) else {
        panic!()
    };
    assert_eq!(next.messages.len(), 2);
    assert_eq!(next.messages[0].id, sent[2]);
}

#[test]
fn an_empty_consume_is_not_recorded() {
    let mut bus = bus();
    assert_eq!(
        bus.write(consume_w(key(1), "bob", 10, 7.0)),
        Ok(Outcome::Page(Page::default()))
    );
    let m = bus.send("ann", "bob", "m");
    let Ok(Outcome::Page(page)) = bus.write(consume_w(key(1), "bob", 10, 8.0)) else {
        panic!()
    };
    assert_eq!(ids(&page), vec![m.id]);
}

#[test]
fn repeated_state_claim_and_release_keys_replay() {
    let mut bus = bus();
    let mut set = set_w("k", "v", Some(0), false);
    if let Write::SetState { key: k, .. } = &mut set {
        *k = key(1);
    }
    assert_eq!(bus.write(set.clone()), Ok(Outcome::Version(1)));
    // Without the key this CAS would now be stale; with it, it is answered as the first time.
    assert_eq!(bus.write(set), Ok(Outcome::Version(1)));
    let Outcome::State(rows) = bus.read(Read::State {
        key: None,
        with_values: true,
    }) else {
        panic!()
    };
    assert_eq!(rows[0].version, 1);

    let claim = claim_w(key(2), "a.rs", "ann", 0.1, 0.2);
    let first = bus.write(claim.clone()).unwrap();
    assert_eq!(
        first,
        Outcome::Claim(ClaimRow {
            path: "a.rs".into(),
            owner: "ann".into(),
            expires_at: 0.1 + 0.2,
        })
    );
    assert_eq!(
        bus.write(claim).unwrap(),
        first,
        "the expiry survives its record exactly"
    );

    let release = release_w(key(3), "a.rs", "ann", 0.25);
    assert_eq!(bus.write(release.clone()), Ok(Outcome::Released(true)));
    assert_eq!(bus.write(release), Ok(Outcome::Released(true)));
}

#[test]
fn keys_are_forgotten_after_ten_minutes() {
    let mut bus = bus();
    let first = bus.write(send_w(key(1), "ann", "bob", "m", 100.0)).unwrap();
    assert_eq!(
        bus.write(send_w(key(1), "ann", "bob", "m", 650.0)).unwrap(),
        first
    );
    bus.write(Write::Touch {
        name: "ann".into(),
        now: 701.0,
    })
    .unwrap();
    assert_eq!(bus.count("SELECT COUNT(*) FROM applied"), 0);
    assert_ne!(
        bus.write(send_w(key(1), "ann", "bob", "m", 702.0)).unwrap(),
        first
    );
}

#[test]
fn a_refused_write_leaves_no_trace_and_spares_its_batch() {
    let mut bus = bus();
    bus.write(set_w("k", "v", None, false)).unwrap();
    let mut stale = set_w("k", "w", Some(5), false);
    if let Write::SetState { key: k, .. } = &mut stale {
        *k = key(9);
    }
    let outcomes = bus
        .db
        .write(&[
            send_w(None, "ann", "bob", "before", 5.0),
            stale.clone(),
            send_w(None, "ann", "bob", "after", 5.0),
        ])
        .unwrap();
    assert!(matches!(outcomes[0], Ok(Outcome::Message(_))));
    assert_eq!(
        outcomes[1],
        Err(StoreError::Stale {
            key: "k".into(),
            expected: 5,
            current: 1
        })
    );
    assert!(matches!(outcomes[2], Ok(Outcome::Message(_))));
    assert_eq!(bus.count("SELECT COUNT(*) FROM messages"), 2);
    assert_eq!(
        bus.count("SELECT COUNT(*) FROM applied"),
        0,
        "a refusal is not recorded"
    );
    // Retrying the same key once the CAS is right applies it.
    if let Write::SetState {
        expected_version, ..
    } = &mut stale
    {
        *expected_version = Some(1);
    }
    assert_eq!(bus.write(stale), Ok(Outcome::Version(2)));
}

/// The outcome of a single write, whether the write or the commit failed.
fn flat(r: Result<Vec<Result<Outcome, StoreError>>, StoreError>) -> Result<Outcome, StoreError> {
    r.and_then(|mut v| v.pop().unwrap())
}

#[test]
fn a_full_disk_fails_the_write_and_the_next_batch_works_again() {
    let mut bus = bus();
    bus.send("ann", "bob", "small");
    let pages = bus.count("PRAGMA page_count");
    bus.db
        .conn
        .pragma_update(None, "max_page_count", pages)
        .unwrap();
    let big = "x".repeat(60 * 1024);
    let failed = flat(bus.db.write(&[send_w(None, "ann", "bob", &big, 5.0)]));
    let Err(StoreError::Io(message)) = failed else {
        panic!("{failed:?}")
    };
    assert!(message.contains("full"), "{message}");
    assert!(bus.db.conn.is_autocommit(), "no transaction is left open");
    // Reads keep working and the failed write left nothing.
    assert_eq!(bus.peek("bob", 10).messages.len(), 1);
    bus.db
        .conn
        .pragma_update(None, "max_page_count", 1_000_000)
        .unwrap();
    let sent = flat(bus.db.write(&[send_w(None, "ann", "bob", &big, 5.0)]));
    assert!(matches!(sent, Ok(Outcome::Message(_))), "{sent:?}");
    assert_eq!(bus.peek("bob", 10).messages.len(), 2);
}

#[test]
fn a_failed_commit_applies_nothing_and_leaves_the_connection_usable() {
    let mut bus = bus();
    // A deferred foreign key violated by every new message makes COMMIT itself fail.
    bus.db
        .conn
        .execute_batch(
            "PRAGMA foreign_keys = ON;
             CREATE TEMP TABLE parent(id INTEGER PRIMARY KEY);
             CREATE TEMP TABLE child(p INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);
             CREATE TEMP TRIGGER boom AFTER INSERT ON main.messages
                 BEGIN INSERT INTO child VALUES (42); END;",
        )
        .unwrap();
    let batch = [
        set_w("k", "v", None, false),
        send_w(key(1), "ann", "bob", "lost", 5.0),
    ];
    let failed = bus.db.write(&batch);
    assert!(matches!(failed, Err(StoreError::Io(_))), "{failed:?}");
    assert!(bus.db.conn.is_autocommit());
    assert_eq!(
        bus.read(Read::Tail {
            after: None,
            limit: 1
        }),
        Outcome::Tail(vec![], 0)
    );
    assert_eq!(
        bus.read(Read::State {
            key: None,
            with_values: true
        }),
        Outcome::State(vec![])
    );
    bus.db.conn.execute_batch("DROP TRIGGER temp.boom").unwrap();
    let outcomes = bus.db.write(&batch).unwrap();
    assert_eq!(outcomes[0], Ok(Outcome::Version(1)));
    assert!(
        matches!(outcomes[1], Ok(Outcome::Message(_))),
        "the key was not recorded"
    );
}

#[test]
fn close_checkpoints_the_wal() {
    let mut bus = bus();
    bus.send("ann", "bob", "m");
    let wal = bus.dir.path().join("bus.db-wal");
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);
    bus.db.close().unwrap();
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
}

#[test]
fn a_key_reused_for_another_command_is_refused_not_answered_with_its_outcome() {
    let mut bus = bus();
    bus.send("ann", "bob", "someone else's message");
    let mut set = set_w("k", "v", None, false);
    if let Write::SetState { key: k, .. } = &mut set {
        *k = key(1);
    }
    assert_eq!(bus.write(set), Ok(Outcome::Version(1)));
    // The version (1) is also a message id: a send reusing the key must not answer with it.
    assert_eq!(
        bus.write(send_w(key(1), "ann", "bob", "mine", 5.0)),
        Err(StoreError::KeyReused {
            request: 1,
            first: Some("set_state".into()),
            now: Keyed::Send,
        })
    );
    let first = bus
        .write(send_w(key(2), "ann", "bob", "sent", 6.0))
        .unwrap();
    assert!(matches!(
        bus.write(consume_w(key(2), "bob", 10, 7.0)),
        Err(StoreError::KeyReused {
            now: Keyed::Consume,
            ..
        })
    ));
    assert_eq!(
        bus.count("SELECT COUNT(*) FROM deliveries"),
        0,
        "the refused consume took nothing"
    );
    assert_eq!(
        bus.read(Read::Applied {
            key: key(2).unwrap(),
            kind: Keyed::Send
        }),
        Outcome::Applied(Some(Recorded::Message(
            match first {
                Outcome::Message(m) => m,
                other => panic!("{other:?}"),
            },
            None
        )))
    );
    assert_eq!(
        bus.read(Read::Applied {
            key: key(3).unwrap(),
            kind: Keyed::Send
        }),
        Outcome::Applied(None)
    );
}

#[test]
fn a_record_from_before_commands_were_recorded_is_checked_by_its_shape() {
    let mut bus = bus();
    let m = bus.send("ann", "bob", "m");
    bus.db
        .conn
        .execute(
            "INSERT INTO applied(client, request, outcome, at) VALUES ('client-1', 9, ?1, 1.0)",
            [m.id.to_string()],
        )
        .unwrap();
    // A bare id is a send's record (a consume's always lists messages after its count).
    assert!(matches!(
        bus.write(consume_w(key(9), "bob", 10, 2.0)),
        Err(StoreError::KeyReused { first: None, .. })
    ));
    assert_eq!(
        bus.write(send_w(key(9), "ann", "bob", "m", 3.0)),
        Ok(Outcome::Message(m))
    );
    assert_eq!(bus.count("SELECT COUNT(*) FROM messages"), 1);
}

#[test]
fn a_v3_file_without_the_command_column_gains_it_and_keeps_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus.db");
    drop(SqliteBackend::open(&path).unwrap());
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "DROP TABLE applied;
             CREATE TABLE applied(client TEXT NOT NULL, request INTEGER NOT NULL,
                 outcome TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY(request, client)) WITHOUT ROWID;
             INSERT INTO applied VALUES ('client-1', 4, '2', 1.0);",
        )
        .unwrap();
    }
    let mut db = SqliteBackend::open(&path).unwrap();
    let command: Option<String> = db
        .conn
        .query_row("SELECT command FROM applied WHERE request = 4", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(command, None, "the old record is kept, its command unknown");
    assert_eq!(
        db.read(&Read::Applied {
            key: key(4).unwrap(),
            kind: Keyed::SetState
        }),
        Ok(Outcome::Applied(Some(Recorded::Version(2))))
    );
}
