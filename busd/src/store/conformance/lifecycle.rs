//! The store across a restart (what the upgrade of an existing store must keep), and tokens.

use super::*;
use crate::store::TokenCreate;

/// Opening an existing store again (a restart, or an upgrade that finds nothing to do) keeps
/// every row and every reading of it.
pub fn reopening_the_store_keeps_everything_and_changes_nothing<S: Subject>(mut bus: Bus<S>) {
    bus.register("ann", 1.0);
    let m = bus.send("bob", "ann", "kept");
    let broadcast = bus.send("bob", "all", "kept too");
    bus.consume("ann", 1);
    bus.set_m(set_w("k", "v", None, false)).unwrap();
    bus.claim_m(claim_w(None, "a.rs", "ann", 100.0, 0.0))
        .unwrap();
    let sent = bus
        .send_m(send_w(key(1), "ann", "bob", "keyed", 5.0))
        .unwrap();
    let read = |bus: &mut Bus<S>| {
        let db = bus.db();
        (
            db.agents().unwrap(),
            db.peek("ann", 10).unwrap(),
            db.state(None, true).unwrap(),
            db.claims(1.0).unwrap(),
            db.message_status(m.id).unwrap(),
            db.tail(Some(0), 10).unwrap(),
        )
    };
    let before = read(&mut bus);
    assert_eq!(ids(&before.1), [broadcast.id]);
    for _ in 0..2 {
        bus.subject.restart();
        assert_eq!(read(&mut bus), before);
        assert_eq!(bus.cursor("ann"), m.id);
    }
    assert_eq!(
        bus.send_m(send_w(key(1), "ann", "bob", "keyed", 6.0)),
        Ok(sent),
        "request keys survive a restart"
    );
}

pub fn tokens_are_one_per_name_and_revocable<S: Subject>(mut bus: Bus<S>) {
    let create = |name: &str, digest: &str, now| TokenCreate {
        name: name.into(),
        role: Some("ci".into()),
        digest: digest.into(),
        now,
    };
    let w = create("bot", "d1", 1.0);
    bus.at(1.0, |tx| tx.token_create(&w)).unwrap();
    let again = create("bot", "d2", 2.0);
    assert_eq!(
        bus.at(2.0, |tx| tx.token_create(&again)),
        Err(StoreError::TokenExists("bot".into()))
    );
    let w = create("ann", "d3", 3.0);
    bus.at(3.0, |tx| tx.token_create(&w)).unwrap();
    bus.at(4.0, |tx| tx.token_used("bot", 4.0)).unwrap();
    let tokens = bus.db().tokens().unwrap();
    let seen: Vec<_> = tokens
        .iter()
        .map(|t| (t.name.as_str(), t.digest.as_str(), t.created, t.last_used))
        .collect();
    assert_eq!(
        seen,
        [("ann", "d3", 3.0, None), ("bot", "d1", 1.0, Some(4.0))],
        "by name; the first digest kept"
    );
    assert_eq!(tokens[1].role.as_deref(), Some("ci"));
    assert_eq!(bus.at(5.0, |tx| tx.token_revoke("bot")), Ok(true));
    assert_eq!(bus.at(5.0, |tx| tx.token_revoke("bot")), Ok(false));
    let w = create("bot", "d4", 6.0);
    bus.at(6.0, |tx| tx.token_create(&w)).unwrap();
    assert_eq!(bus.db().tokens().unwrap().len(), 2);
}
