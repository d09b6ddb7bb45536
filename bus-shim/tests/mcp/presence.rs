//! The tool table's rules for `register`, `whoami` and `agents`.

use serde_json::{Value, json};

use crate::common::*;

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|a| a["name"].as_str().expect("a name").to_owned())
        .collect()
}

fn agent<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("{name} is listed: {list}"))
}

#[tokio::test]
async fn register_binds_and_reports_peers_and_pending_mail() {
    let bus = TempBus::empty();
    let a = bus.session().await;
    assert_eq!(a.ok("whoami", json!({})).await, json!({ "name": null }));
    let r = a
        .ok(
            "register",
            json!({"name": "api", "role": "backend", "owns": ["src/api/**"]}),
        )
        .await;
    assert_eq!(
        r,
        json!({"name": "api", "role": "backend", "owns": ["src/api/**"], "peers": [], "pending_count": 0})
    );
    assert_eq!(a.ok("whoami", json!({})).await, json!({ "name": "api" }));

    let b = bus.named("web").await;
    b.ok("send", json!({"to": "late", "content": "waiting for you"}))
        .await;
    let c = bus.session().await;
    let r = c.ok("register", json!({"name": "late"})).await;
    assert_eq!(
        r["peers"],
        json!(["api", "web"]),
        "the other online sessions"
    );
    assert_eq!(r["pending_count"], 1);
    assert_eq!(
        (r["role"].clone(), r["owns"].clone()),
        (json!(""), json!([]))
    );
}

#[tokio::test]
async fn registering_the_same_name_again_replaces_what_is_passed_and_keeps_the_rest() {
    let bus = TempBus::empty();
    let a = bus.session().await;
    a.ok(
        "register",
        json!({"name": "api", "role": "backend", "owns": ["src/**"]}),
    )
    .await;
    let r = a.ok("register", json!({"name": "api"})).await;
    assert_eq!(
        (r["role"].clone(), r["owns"].clone()),
        (json!("backend"), json!(["src/**"]))
    );
    let r = a
        .ok("register", json!({"name": "api", "role": "gateway"}))
        .await;
    assert_eq!(
        (r["role"].clone(), r["owns"].clone()),
        (json!("gateway"), json!(["src/**"]))
    );
    let r = a.ok("register", json!({"name": "api", "owns": []})).await;
    assert_eq!(
        (r["role"].clone(), r["owns"].clone()),
        (json!("gateway"), json!([]))
    );
}

#[tokio::test]
async fn re_registering_rebinds_and_frees_the_old_name() {
    let bus = TempBus::empty();
    let a = bus.named("first").await;
    a.ok("register", json!({"name": "second"})).await;
    assert_eq!(a.ok("whoami", json!({})).await["name"], "second");
    let b = bus.session().await;
    b.ok("register", json!({"name": "first"})).await;
    let why = b.err("register", json!({"name": "second"})).await;
    assert!(why.contains("held by a connected session"), "{why}");
}

#[tokio::test]
async fn a_name_whose_session_is_gone_is_free() {
    let bus = TempBus::empty();
    let a = bus.named("api").await;
    let b = bus.session().await;
    b.err("register", json!({"name": "api"})).await;
    a.close().await;
    b.ok("register", json!({"name": "api"})).await;
}

#[tokio::test]
async fn agents_are_online_away_or_offline() {
    let bus = TempBus::empty();
    let a = bus.named("old-name").await;
    a.ok("register", json!({"name": "now"})).await;
    let gone = bus.named("gone").await;
    gone.close().await;

    let list = a.ok("agents", json!({})).await;
    let now = agent(&list, "now");
    assert_eq!(
        (
            now["status"].clone(),
            now["connected"].clone(),
            now["waiting"].clone()
        ),
        (json!("online"), json!(true), json!(false))
    );
    assert!(now["last_seen"].as_str().unwrap().ends_with('Z'), "{now}");
    assert!(now["seconds_ago"].as_f64().unwrap() >= 0.0);
    for away in ["old-name", "gone"] {
        let a = agent(&list, away);
        assert_eq!(
            (a["status"].clone(), a["connected"].clone()),
            (json!("away"), json!(false))
        );
    }
    assert_eq!(names(&list["agents"])[0], "now", "connected sessions first");

    let recent = a.ok("agents", json!({"active_within": 0})).await;
    assert_eq!(names(&recent["agents"]), ["now"], "only the connected");
    let every = a
        .ok("agents", json!({"active_within": 0, "all": true}))
        .await;
    assert_eq!(agent(&every, "gone")["status"], "offline");
    assert_eq!(
        names(&every["agents"]).len(),
        3,
        "every name ever registered"
    );
}

#[tokio::test]
async fn agents_overlap_through_owned_globs_and_live_claims() {
    let bus = TempBus::empty();
    let api = bus.session().await;
    api.ok("register", json!({"name": "api", "owns": ["src/api/**"]}))
        .await;
    let same = bus.session().await;
    same.ok("register", json!({"name": "same", "owns": ["src/api/**"]}))
        .await;
    let file = bus.session().await;
    file.ok(
        "register",
        json!({"name": "file", "owns": ["src/api/v1/handlers.rs"]}),
    )
    .await;
    let claimer = bus.session().await;
    claimer
        .ok("register", json!({"name": "claimer", "owns": ["docs/**"]}))
        .await;
    claimer.ok("claim", json!({"path": "src/api/mod.rs"})).await;
    let shallow = bus.session().await;
    shallow
        .ok("register", json!({"name": "shallow", "owns": ["src/*"]}))
        .await;

    let list = api.ok("agents", json!({})).await;
    let overlaps = |name: &str| agent(&list, name)["overlaps"].clone();
    assert_eq!(overlaps("api"), json!(["claimer", "file", "same"]));
    assert_eq!(overlaps("same"), json!(["api", "claimer", "file"]));
    assert_eq!(overlaps("file"), json!(["api", "same"]));
    assert_eq!(
        overlaps("claimer"),
        json!(["api", "same"]),
        "through its claim"
    );
    assert_eq!(
        overlaps("shallow"),
        json!([]),
        "`*` stays within one folder"
    );
}
