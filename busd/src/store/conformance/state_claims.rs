//! Shared state (compare-and-set, append, size) and claims.

use super::*;
use crate::store::StateRow;

fn state<S: Subject>(bus: &mut Bus<S>, key: Option<&str>, with_values: bool) -> Vec<StateRow> {
    bus.db().state(key, with_values).unwrap()
}

pub fn versions_and_compare_and_set<S: Subject>(mut bus: Bus<S>) {
    let stale = |expected, current| {
        Err(StoreError::Stale {
            key: "k".into(),
            expected,
            current,
        })
    };
    assert_eq!(bus.set_m(set_w("k", "a", Some(1), false)), stale(1, 0));
    assert_eq!(bus.set_m(set_w("k", "a", Some(0), false)), Ok(1));
    assert_eq!(bus.set_m(set_w("k", "b", Some(0), false)), stale(0, 1));
    assert_eq!(bus.set_m(set_w("k", "b", Some(1), false)), Ok(2));
    assert_eq!(bus.set_m(set_w("k", "c", None, false)), Ok(3));
    assert_eq!(bus.set_m(set_w("k", "d", Some(2), false)), stale(2, 3));
    assert_eq!(
        state(&mut bus, Some("k"), true),
        vec![StateRow {
            key: "k".into(),
            value: "c".into(),
            updated_by: "ann".into(),
            updated_at: 10.0,
            version: 3,
        }]
    );
}

pub fn append_adds_a_line<S: Subject>(mut bus: Bus<S>) {
    bus.set_m(set_w("log", "one", None, true)).unwrap();
    bus.set_m(set_w("log", "two", None, true)).unwrap();
    assert_eq!(state(&mut bus, Some("log"), true)[0].value, "one\ntwo");
    bus.set_m(set_w("empty", "", None, false)).unwrap();
    assert_eq!(bus.set_m(set_w("empty", "x", None, true)), Ok(2));
    assert_eq!(state(&mut bus, Some("empty"), true)[0].value, "x");
}

pub fn values_over_one_mebibyte_are_refused<S: Subject>(mut bus: Bus<S>) {
    let max = proto::limits::VALUE_MAX_BYTES;
    assert_eq!(
        bus.set_m(set_w("k", &"é".repeat(max / 2 + 1), None, false)),
        Err(StoreError::TooLarge(max + 2))
    );
    assert_eq!(
        bus.set_m(set_w("k", &"x".repeat(max - 2), None, false)),
        Ok(1)
    );
    // The stored total counts: old + newline + new.
    assert_eq!(
        bus.set_m(set_w("k", "xy", None, true)),
        Err(StoreError::TooLarge(max + 1))
    );
    assert_eq!(bus.set_m(set_w("k", "x", None, true)), Ok(2));
    assert_eq!(state(&mut bus, Some("k"), true)[0].value.len(), max);
}

pub fn state_reads_are_sorted_and_may_leave_values_out<S: Subject>(mut bus: Bus<S>) {
    for k in ["b", "a", "c"] {
        bus.set_m(set_w(k, "value", None, false)).unwrap();
    }
    let rows = state(&mut bus, None, false);
    let keys: Vec<_> = rows
        .iter()
        .map(|r| (r.key.as_str(), r.value.as_str()))
        .collect();
    assert_eq!(keys, vec![("a", ""), ("b", ""), ("c", "")]);
    assert_eq!(state(&mut bus, None, true)[1].value, "value");
    assert_eq!(state(&mut bus, Some("zz"), true), vec![]);
}

fn claims<S: Subject>(bus: &mut Bus<S>, now: f64) -> Vec<(String, String, f64)> {
    let rows = bus.db().claims(now).unwrap();
    rows.into_iter()
        .map(|c| (c.path, c.owner, c.expires_at))
        .collect()
}

pub fn claims_refuse_others_until_they_expire<S: Subject>(mut bus: Bus<S>) {
    let row = |owner: &str, expires_at| {
        Ok(ClaimRow {
            path: "a.rs".into(),
            owner: owner.into(),
            expires_at,
        })
    };
    assert_eq!(
        bus.claim_m(claim_w(None, "a.rs", "ann", 100.0, 0.0)),
        row("ann", 100.0)
    );
    assert_eq!(
        bus.claim_m(claim_w(None, "a.rs", "bob", 100.0, 40.0)),
        Err(StoreError::Claimed {
            path: "a.rs".into(),
            owner: "ann".into(),
            seconds_left: 60.0
        })
    );
    // The owner refreshes; at the very second of expiry the claim is still live.
    assert_eq!(
        bus.claim_m(claim_w(None, "a.rs", "ann", 100.0, 50.0)),
        row("ann", 150.0)
    );
    assert!(
        bus.claim_m(claim_w(None, "a.rs", "bob", 10.0, 150.0))
            .is_err()
    );
    assert_eq!(
        bus.claim_m(claim_w(None, "a.rs", "bob", 10.0, 150.5)),
        row("bob", 160.5)
    );
    bus.claim_m(claim_w(None, "0.rs", "ann", 1.0, 150.0))
        .unwrap();
    bus.claim_m(claim_w(None, "z.rs", "cid", 100.0, 150.0))
        .unwrap();
    assert_eq!(
        claims(&mut bus, 155.0),
        vec![
            ("a.rs".into(), "bob".into(), 160.5),
            ("z.rs".into(), "cid".into(), 250.0)
        ]
    );
}

pub fn release_rules<S: Subject>(mut bus: Bus<S>) {
    assert_eq!(
        bus.release_m(release_w(None, "a.rs", "ann", 0.0)),
        Ok(false)
    );
    bus.claim_m(claim_w(None, "a.rs", "ann", 100.0, 0.0))
        .unwrap();
    assert_eq!(
        bus.release_m(release_w(None, "a.rs", "bob", 10.0)),
        Err(StoreError::NotOwner {
            path: "a.rs".into(),
            owner: "ann".into()
        })
    );
    assert_eq!(
        bus.release_m(release_w(None, "a.rs", "ann", 10.0)),
        Ok(true)
    );
    assert_eq!(claims(&mut bus, 10.0), vec![]);
    assert_eq!(
        bus.release_m(release_w(None, "a.rs", "ann", 10.0)),
        Ok(false)
    );
    // Another owner's expired claim: nothing to release, and it is not ours to delete.
    bus.claim_m(claim_w(None, "b.rs", "ann", 1.0, 0.0)).unwrap();
    assert_eq!(
        bus.release_m(release_w(None, "b.rs", "bob", 5.0)),
        Ok(false)
    );
    assert_eq!(bus.rows(Rows::Claims), 1);
    // One's own expired claim: `false`, and the stale row is cleaned up.
    assert_eq!(
        bus.release_m(release_w(None, "b.rs", "ann", 5.0)),
        Ok(false)
    );
    assert_eq!(bus.rows(Rows::Claims), 0);
}
