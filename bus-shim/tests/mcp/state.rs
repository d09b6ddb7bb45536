//! The tool table's rules for the blackboard (`set_state`, `get_state`, `list_state`) and the
//! advisory claims (`claim`, `release`, `list_claims`).

use std::time::Duration;

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn set_state_versions_and_compare_and_set() {
    let bus = TempBus::empty();
    let a = bus.named("a").await;
    let w = a
        .ok("set_state", json!({"key": "plan", "value": "v1"}))
        .await;
    assert_eq!(w, json!({"key": "plan", "version": 1}));
    let w = a
        .ok("set_state", json!({"key": "plan", "value": "v2"}))
        .await;
    assert_eq!(w["version"], 2);
    let why = a
        .err(
            "set_state",
            json!({"key": "plan", "value": "v3", "expected_version": 1}),
        )
        .await;
    assert_eq!(
        why,
        "stale write: expected_version 1 != current 2; re-read plan and retry"
    );
    let w = a
        .ok(
            "set_state",
            json!({"key": "plan", "value": "v3", "expected_version": 2}),
        )
        .await;
    assert_eq!(w["version"], 3);

    let why = a
        .err(
            "set_state",
            json!({"key": "plan", "value": "x", "expected_version": 0}),
        )
        .await;
    assert!(why.contains("expected_version 0 != current 3"), "{why}");
    let why = a
        .err(
            "set_state",
            json!({"key": "fresh", "value": "x", "expected_version": 4}),
        )
        .await;
    assert!(why.contains("current 0"), "an absent key is at 0: {why}");
    let w = a
        .ok(
            "set_state",
            json!({"key": "fresh", "value": "x", "expected_version": 0}),
        )
        .await;
    assert_eq!(w["version"], 1, "0 means must not exist");
    let got = a.ok("get_state", json!({"key": "plan"})).await;
    assert_eq!(got["state"][0]["value"], "v3");
}

#[tokio::test]
async fn append_adds_a_line_and_authors_are_bound_names() {
    let bus = TempBus::empty();
    let anon = bus.session().await;
    anon.ok(
        "set_state",
        json!({"key": "log", "value": "", "mode": "append"}),
    )
    .await;
    let a = bus.named("a").await;
    a.ok(
        "set_state",
        json!({"key": "log", "value": "one", "mode": "append"}),
    )
    .await;
    a.ok(
        "set_state",
        json!({"key": "log", "value": "two", "mode": "append"}),
    )
    .await;
    a.ok(
        "set_state",
        json!({"key": "new", "value": "first", "mode": "append"}),
    )
    .await;
    anon.ok("set_state", json!({"key": "anon", "value": "x"}))
        .await;

    let all = a.ok("get_state", json!({})).await;
    let entries = all["state"].as_array().unwrap();
    let keys: Vec<&str> = entries.iter().map(|e| e["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["anon", "log", "new"], "every key");
    assert_eq!(
        entries[1]["value"], "one\ntwo",
        "an empty key just takes the value"
    );
    assert_eq!(entries[1]["version"], 3);
    assert_eq!(
        entries[2]["value"], "first",
        "an absent key just takes the value"
    );
    assert_eq!(entries[1]["updated_by"], "a");
    assert_eq!(entries[0]["updated_by"], "", "empty before register");
    assert!(entries[0]["updated_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn get_state_of_an_absent_key_is_empty_and_list_state_has_no_values() {
    let bus = TempBus::empty();
    let a = bus.named("a").await;
    assert_eq!(
        a.ok("get_state", json!({"key": "nothing"})).await,
        json!({"state": []})
    );
    a.ok("set_state", json!({"key": "k", "value": "secret"}))
        .await;
    let list = a.ok("list_state", json!({})).await;
    let entry = &list["keys"][0];
    assert_eq!(
        (
            entry["key"].clone(),
            entry["version"].clone(),
            entry["updated_by"].clone()
        ),
        (json!("k"), json!(1), json!("a"))
    );
    assert!(entry.get("value").is_none(), "no values: {entry}");
    assert!(entry["updated_at"].is_string());
}

#[tokio::test]
async fn claims_are_refused_to_others_while_live_and_refreshed_by_their_owner() {
    let bus = TempBus::empty();
    let a = bus.named("a").await;
    let b = bus.named("b").await;
    let c = a
        .ok("claim", json!({"path": "src/lib.rs", "ttl": 600}))
        .await;
    assert_eq!(
        (c["path"].clone(), c["owner"].clone()),
        (json!("src/lib.rs"), json!("a"))
    );
    let why = b.err("claim", json!({"path": "src/lib.rs"})).await;
    assert!(
        why.contains("'src/lib.rs' is claimed by 'a' for another") && why.contains('s'),
        "names the owner and the seconds left: {why}"
    );
    let refreshed = a
        .ok("claim", json!({"path": "src/lib.rs", "ttl": 900}))
        .await;
    assert!(
        refreshed["expires_at"].as_str() > c["expires_at"].as_str(),
        "the owner may refresh its own claim"
    );
    let list = b.ok("list_claims", json!({})).await;
    let entry = &list["claims"][0];
    assert_eq!(
        (entry["path"].clone(), entry["owner"].clone()),
        (json!("src/lib.rs"), json!("a"))
    );
    let left = entry["ttl_remaining"].as_f64().unwrap();
    assert!(left > 600.0 && left <= 900.0, "{left}");
    assert_eq!(entry["expires_at"], refreshed["expires_at"]);

    let why = b.err("release", json!({"path": "src/lib.rs"})).await;
    assert!(why.contains("only its owner can release it"), "{why}");
    assert_eq!(
        b.ok("release", json!({"path": "nothing/here"})).await,
        json!({"path": "nothing/here", "released": false})
    );
    assert_eq!(
        a.ok("release", json!({"path": "src/lib.rs"})).await,
        json!({"path": "src/lib.rs", "released": true})
    );
    assert_eq!(a.ok("list_claims", json!({})).await, json!({"claims": []}));
    b.ok("claim", json!({"path": "src/lib.rs"})).await;
}

#[tokio::test]
async fn an_expired_claim_is_not_listed_and_is_free_to_take() {
    let bus = TempBus::empty();
    let a = bus.named("a").await;
    let b = bus.named("b").await;
    a.ok("claim", json!({"path": "tmp.rs", "ttl": 0.05})).await;
    // The claim's own deadline, not a guess: 50 ms after it was taken it has expired.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(b.ok("list_claims", json!({})).await, json!({"claims": []}));
    b.ok("claim", json!({"path": "tmp.rs"})).await;
    let why = a.err("release", json!({"path": "tmp.rs"})).await;
    assert!(why.contains("claimed by 'b'"), "the new owner's now: {why}");
}
