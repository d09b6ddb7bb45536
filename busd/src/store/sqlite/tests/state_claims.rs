//! Shared state (compare-and-set, append, size) and claims.

use super::*;
use crate::store::StateRow;

fn state(bus: &mut Bus, key: Option<&str>, with_values: bool) -> Vec<StateRow> {
    match bus.read(Read::State {
        key: key.map(Into::into),
        with_values,
    }) {
        Outcome::State(rows) => rows,
        other => panic!("{other:?}"),
    }
}

#[test]
fn versions_and_compare_and_set() {
    let mut bus = bus();
    let stale = |expected, current| {
        Err(StoreError::Stale {
            key: "k".into(),
            expected,
            current,
        })
    };
    assert_eq!(bus.write(set_w("k", "a", Some(1), false)), stale(1, 0));
    assert_eq!(
        bus.write(set_w("k", "a", Some(0), false)),
        Ok(Outcome::Version(1))
    );
    assert_eq!(bus.write(set_w("k", "b", Some(0), false)), stale(0, 1));
    assert_eq!(
        bus.write(set_w("k", "b", Some(1), false)),
        Ok(Outcome::Version(2))
    );
    assert_eq!(
        bus.write(set_w("k", "c", None, false)),
        Ok(Outcome::Version(3))
    );
    assert_eq!(bus.write(set_w("k", "d", Some(2), false)), stale(2, 3));
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

#[test]
fn append_adds_a_line() {
    let mut bus = bus();
    bus.write(set_w("log", "one", None, true)).unwrap();
    bus.write(set_w("log", "two", None, true)).unwrap();
    assert_eq!(state(&mut bus, Some("log"), true)[0].value, "one\ntwo");
    bus.write(set_w("empty", "", None, false)).unwrap();
    assert_eq!(
        bus.write(set_w("empty", "x", None, true)),
        Ok(Outcome::Version(2))
    );
    assert_eq!(state(&mut bus, Some("empty"), true)[0].value, "x");
}

#[test]
fn values_over_one_mebibyte_are_refused() {
    let mut bus = bus();
    let max = proto::limits::VALUE_MAX_BYTES;
    assert_eq!(
        bus.write(set_w("k", &"é".repeat(max / 2 + 1), None, false)),
        Err(StoreError::TooLarge(max + 2))
    );
    assert_eq!(
        bus.write(set_w("k", &"x".repeat(max - 2), None, false)),
        Ok(Outcome::Version(1))
    );
    // The stored total counts: old + newline + new.
    assert_eq!(
        bus.write(set_w("k", "xy", None, true)),
        Err(StoreError::TooLarge(max + 1))
    );
    assert_eq!(
        bus.write(set_w("k", "x", None, true)),
        Ok(Outcome::Version(2))
    );
    assert_eq!(state(&mut bus, Some("k"), true)[0].value.len(), max);
}

#[test]
fn state_reads_are_sorted_and_may_leave_values_out() {
    let mut bus = bus();
    for k in ["b", "a", "c"] {
        bus.write(set_w(k, "value", None, false)).unwrap();
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

fn claims(bus: &mut Bus, now: f64) -> Vec<(String, String, f64)> {
    match bus.read(Read::Claims { now }) {
        Outcome::Claims(rows) => rows
            .into_iter()
            .map(|c| (c.path, c.owner, c.expires_at))
            .collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn claims_refuse_others_until_they_expire() {
    let mut bus = bus();
    let row = |owner: &str, expires_at| {
        Ok(Outcome::Claim(ClaimRow {
            path: "a.rs".into(),
            owner: owner.into(),
            expires_at,
        }))
    };
    assert_eq!(
        bus.write(claim_w(None, "a.rs", "ann", 100.0, 0.0)),
        row("ann", 100.0)
    );
    assert_eq!(
        bus.write(claim_w(None, "a.rs", "bob", 100.0, 40.0)),
        Err(StoreError::Claimed {
            path: "a.rs".into(),
            owner: "ann".into(),
            seconds_left: 60.0
        })
    );
    // The owner refreshes; at the very second of expiry the claim is still live.
    assert_eq!(
        bus.write(claim_w(None, "a.rs", "ann", 100.0, 50.0)),
        row("ann", 150.0)
    );
    assert!(
        bus.write(claim_w(None, "a.rs", "bob", 10.0, 150.0))
            .is_err()
    );
    assert_eq!(
        bus.write(claim_w(None, "a.rs", "bob", 10.0, 150.5)),
        row("bob", 160.5)
    );
    bus.write(claim_w(None, "0.rs", "ann", 1.0, 150.0)).unwrap();
    bus.write(claim_w(None, "z.rs", "cid", 100.0, 150.0))
        .unwrap();
    assert_eq!(
        claims(&mut bus, 155.0),
        vec![
            ("a.rs".into(), "bob".into(), 160.5),
            ("z.rs".into(), "cid".into(), 250.0)
        ]
    );
}

#[test]
fn release_rules() {
    let mut bus = bus();
    assert_eq!(
        bus.write(release_w(None, "a.rs", "ann", 0.0)),
        Ok(Outcome::Released(false))
    );
    bus.write(claim_w(None, "a.rs", "ann", 100.0, 0.0)).unwrap();
    assert_eq!(
        bus.write(release_w(None, "a.rs", "bob", 10.0)),
        Err(StoreError::NotOwner {
            path: "a.rs".into(),
            owner: "ann".into()
        })
    );
    assert_eq!(
        bus.write(release_w(None, "a.rs", "ann", 10.0)),
        Ok(Outcome::Released(true))
    );
    assert_eq!(claims(&mut bus, 10.0), vec![]);
    assert_eq!(
        bus.write(release_w(None, "a.rs", "ann", 10.0)),
        Ok(Outcome::Released(false))
    );
    // Another owner's expired claim: nothing to release, and it is not ours to delete.
    bus.write(claim_w(None, "b.rs", "ann", 1.0, 0.0)).unwrap();
    assert_eq!(
        bus.write(release_w(None, "b.rs", "bob", 5.0)),
        Ok(Outcome::Released(false))
    );
    assert_eq!(bus.count("SELECT COUNT(*) FROM claims"), 1);
    // One's own expired claim: `false`, and the stale row is cleaned up.
    assert_eq!(
        bus.write(release_w(None, "b.rs", "ann", 5.0)),
        Ok(Outcome::Released(false))
    );
    assert_eq!(bus.count("SELECT COUNT(*) FROM claims"), 0);
}
