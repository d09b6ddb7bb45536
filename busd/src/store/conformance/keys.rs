//! At-most-once request keys and their replay window, batches, and what a transaction reports.

use super::*;
use crate::store::{KEY_MEMORY_SECONDS, Keyed, Recorded};

pub fn a_repeated_send_key_returns_the_first_message<S: Subject>(mut bus: Bus<S>) {
    let first = bus.send_m(send_w(key(1), "ann", "bob", "once", 5.0));
    let again = bus.send_m(send_w(key(1), "ann", "bob", "once", 6.0));
    assert!(first.is_ok());
    assert_eq!(again, first);
    // Within one batch too.
    let w = send_w(key(2), "ann", "bob", "twice in a batch", 7.0);
    let ((a, b), _) = bus.batch(7.0, |tx| (tx.send(&w), tx.send(&w))).unwrap();
    assert_eq!(a, b);
    assert_eq!(bus.messages(), 2);
    // Another client's request 1 is another request; so is this client's request 3.
    let other = Some(RequestKey {
        client: "client-2".into(),
        request: 1,
    });
    assert!(bus.send_m(send_w(other, "ann", "bob", "x", 8.0)) != first);
    let huge = bus.send_m(send_w(key(u64::MAX), "ann", "bob", "x", 8.0));
    assert_eq!(
        bus.send_m(send_w(key(u64::MAX), "ann", "bob", "x", 9.0)),
        huge
    );
    assert_eq!(bus.messages(), 4);
}

pub fn a_repeated_consume_key_hands_the_same_messages_over_again<S: Subject>(mut bus: Bus<S>) {
    let sent: Vec<i64> = (0..3).map(|_| bus.send("ann", "bob", "m").id).collect();
    let first = bus.consume_m(consume_w(key(1), "bob", 2, 7.0)).unwrap();
    assert_eq!((ids(&first), first.pending), (sent[0..2].to_vec(), 1));
    // More mail arrives; the reply was lost; the client retries.
    bus.send("ann", "bob", "later");
    assert_eq!(
        bus.consume_m(consume_w(key(1), "bob", 2, 8.0)).unwrap(),
        first
    );
    assert_eq!(bus.cursor("bob"), sent[1], "the replay moved nothing");
    assert_eq!(bus.rows(Rows::Receipts), 2);
    // A new request carries on after the first one.
    let next = bus.consume_m(consume_w(key(2), "bob", 10, 9.0)).unwrap();
    assert_eq!(next.messages.len(), 2);
    assert_eq!(next.messages[0].id, sent[2]);
}

pub fn an_empty_consume_is_not_recorded<S: Subject>(mut bus: Bus<S>) {
    assert_eq!(
        bus.consume_m(consume_w(key(1), "bob", 10, 7.0)),
        Ok(Page::default())
    );
    let m = bus.send("ann", "bob", "m");
    let page = bus.consume_m(consume_w(key(1), "bob", 10, 8.0)).unwrap();
    assert_eq!(ids(&page), vec![m.id]);
}

pub fn repeated_state_claim_and_release_keys_replay<S: Subject>(mut bus: Bus<S>) {
    let set = SetState {
        key: key(1),
        ..set_w("k", "v", Some(0), false)
    };
    assert_eq!(bus.set_m(set.clone()), Ok(1));
    // Without the key this CAS would now be stale; with it, it is answered as the first time.
    assert_eq!(bus.set_m(set), Ok(1));
    let rows = bus.db().state(None, true).unwrap();
    assert_eq!(rows[0].version, 1);

    let claim = claim_w(key(2), "a.rs", "ann", 0.1, 0.2);
    let first = bus.claim_m(claim.clone()).unwrap();
    assert_eq!(
        first,
        ClaimRow {
            path: "a.rs".into(),
            owner: "ann".into(),
            expires_at: 0.1 + 0.2,
        }
    );
    assert_eq!(
        bus.claim_m(claim).unwrap(),
        first,
        "the expiry survives its record exactly"
    );

    let release = release_w(key(3), "a.rs", "ann", 0.25);
    assert_eq!(bus.release_m(release.clone()), Ok(true));
    assert_eq!(bus.release_m(release), Ok(true));
}

/// The replay window: a key is remembered [`KEY_MEMORY_SECONDS`] (ten minutes) after its
/// record, and forgotten by the first transaction past that.
pub fn keys_are_forgotten_after_ten_minutes<S: Subject>(mut bus: Bus<S>) {
    assert_eq!(KEY_MEMORY_SECONDS, 600.0);
    let first = bus
        .send_m(send_w(key(1), "ann", "bob", "m", 100.0))
        .unwrap();
    assert_eq!(
        bus.send_m(send_w(key(1), "ann", "bob", "m", 650.0))
            .unwrap(),
        first
    );
    bus.touch("ann", 701.0);
    assert_eq!(bus.rows(Rows::Applied), 0);
    assert_ne!(
        bus.send_m(send_w(key(1), "ann", "bob", "m", 702.0))
            .unwrap(),
        first
    );
}

pub fn a_refused_write_leaves_no_trace_and_spares_its_batch<S: Subject>(mut bus: Bus<S>) {
    bus.set_m(set_w("k", "v", None, false)).unwrap();
    let mut stale = SetState {
        key: key(9),
        ..set_w("k", "w", Some(5), false)
    };
    let ((before, refused, after), _) = bus
        .batch(5.0, |tx| {
            (
                tx.send(&send_w(None, "ann", "bob", "before", 5.0)),
                tx.set_state(&stale),
                tx.send(&send_w(None, "ann", "bob", "after", 5.0)),
            )
        })
        .unwrap();
    assert!(before.is_ok());
    assert_eq!(
        refused,
        Err(StoreError::Stale {
            key: "k".into(),
            expected: 5,
            current: 1
        })
    );
    assert!(after.is_ok());
    assert_eq!(bus.messages(), 2);
    assert_eq!(bus.rows(Rows::Applied), 0, "a refusal is not recorded");
    // Retrying the same key once the CAS is right applies it.
    stale.expected_version = Some(1);
    assert_eq!(bus.set_m(stale), Ok(2));
}

pub fn a_key_reused_for_another_command_is_refused_not_answered_with_its_outcome<S: Subject>(
    mut bus: Bus<S>,
) {
    bus.send("ann", "bob", "someone else's message");
    let set = SetState {
        key: key(1),
        ..set_w("k", "v", None, false)
    };
    assert_eq!(bus.set_m(set), Ok(1));
    // The version (1) is also a message id: a send reusing the key must not answer with it.
    assert_eq!(
        bus.send_m(send_w(key(1), "ann", "bob", "mine", 5.0)),
        Err(StoreError::KeyReused {
            request: 1,
            first: Some("set_state".into()),
            now: Keyed::Send,
        })
    );
    let first = bus
        .send_m(send_w(key(2), "ann", "bob", "sent", 6.0))
        .unwrap();
    assert!(matches!(
        bus.consume_m(consume_w(key(2), "bob", 10, 7.0)),
        Err(StoreError::KeyReused {
            now: Keyed::Consume,
            ..
        })
    ));
    assert_eq!(
        bus.rows(Rows::Receipts),
        0,
        "the refused consume took nothing"
    );
    assert_eq!(
        bus.db().applied(&key(2).unwrap(), Keyed::Send),
        Ok(Some(Recorded::Message(first, None)))
    );
    assert_eq!(bus.db().applied(&key(3).unwrap(), Keyed::Send), Ok(None));
}

/// A transaction reports each message it appended, each state version it wrote, each claim
/// taken or released and each registration, once committed; nothing for a refused write, a
/// replayed one, or a write no reader or viewer cares about (a touch).
pub fn a_transaction_reports_what_it_committed_and_nothing_else<S: Subject>(mut bus: Bus<S>) {
    let (sent, committed) = bus
        .batch(5.0, |tx| {
            let direct = tx.send(&send_w(key(1), "ann", "bob", "m", 5.0)).unwrap();
            let ask = tx.ask(&ask_w(None, "ann", "all")).unwrap();
            let v1 = tx.set_state(&set_w("k", "v", None, false)).unwrap();
            let stale = tx.set_state(&set_w("k", "w", Some(7), false));
            assert!(stale.is_err());
            tx.touch("cy", 5.0).unwrap();
            tx.claim(&claim_w(None, "a.rs", "ann", 10.0, 5.0)).unwrap();
            tx.register(&Register {
                name: "dee".into(),
                role: None,
                owns: None,
                session_id: None,
                now: 5.0,
            })
            .unwrap();
            (direct, ask, v1)
        })
        .unwrap();
    let (direct, ask, v1) = sent;
    assert_eq!(
        committed,
        vec![
            Committed::Message {
                id: direct.id,
                recipient: "bob".into()
            },
            Committed::Message {
                id: ask.id,
                recipient: "all".into()
            },
            Committed::State {
                key: "k".into(),
                version: v1
            },
            Committed::Claim {
                path: "a.rs".into()
            },
            Committed::Agent { name: "dee".into() },
        ]
    );
    let (_, replayed) = bus
        .batch(6.0, |tx| tx.send(&send_w(key(1), "ann", "bob", "m", 6.0)))
        .unwrap();
    assert_eq!(replayed, vec![], "a replay commits nothing new");
}
