//! The tool table's rules for `send`, `inbox` and `message_status`.

use serde_json::{Value, json};

use crate::common::*;

fn ids(page: &Value) -> Vec<i64> {
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn identity_bound_tools_require_register() {
    let bus = TempBus::empty();
    let s = bus.session().await;
    for (tool, args) in [
        ("send", json!({"to": "b", "content": "hi"})),
        ("inbox", json!({})),
        ("claim", json!({"path": "src"})),
        ("release", json!({"path": "src"})),
    ] {
        let why = s.err(tool, args).await;
        assert_eq!(
            why, "register first: call register(name) to bind this session's identity",
            "{tool}"
        );
    }
}

#[tokio::test]
async fn send_addresses_a_name_or_everyone_but_never_yourself() {
    let bus = TempBus::empty();
    let a = bus.named("a").await;
    let b = bus.named("b").await;
    let direct = a.ok("send", json!({"to": "b", "content": "hi b"})).await;
    assert_eq!(direct["to"], "b");
    let everyone = a
        .ok("send", json!({"to": "all", "content": "hi all"}))
        .await;
    let ghost = a
        .ok("send", json!({"to": "ghost", "content": "for later"}))
        .await;
    assert_eq!(
        ghost["to"], "ghost",
        "a name that never registered is accepted"
    );
    let why = a.err("send", json!({"to": "a", "content": "me"})).await;
    assert!(why.contains("cannot send to yourself"), "{why}");

    let page = b.ok("inbox", json!({})).await;
    assert_eq!(
        ids(&page),
        [
            direct["id"].as_i64().unwrap(),
            everyone["id"].as_i64().unwrap()
        ]
    );
    let m = &page["messages"][0];
    assert_eq!(
        (m["from"].clone(), m["to"].clone(), m["content"].clone()),
        (json!("a"), json!("b"), json!("hi b"))
    );
    assert_eq!(m["reply_to"], Value::Null);
    assert!(
        m["ts"].as_str().unwrap().ends_with('Z'),
        "RFC 3339 UTC: {m}"
    );
    assert_eq!(page["messages"][1]["to"], "all");

    assert!(
        ids(&a.ok("inbox", json!({})).await).is_empty(),
        "never the sender's own"
    );
    let ghost_session = bus.named("ghost").await;
    let late = ghost_session.ok("inbox", json!({})).await;
    assert_eq!(
        ids(&late),
        [
            everyone["id"].as_i64().unwrap(),
            ghost["id"].as_i64().unwrap()
        ],
        "a later joiner gets the earlier broadcast and its mail"
    );
}

#[tokio::test]
async fn reply_to_must_name_an_existing_message() {
    let bus = TempBus::empty();
    let a = bus.named("a").await;
    let b = bus.named("b").await;
    let why = a
        .err("send", json!({"to": "b", "content": "re", "reply_to": 999}))
        .await;
    assert!(why.contains("reply_to 999"), "{why}");
    let first = a.ok("send", json!({"to": "b", "content": "q"})).await;
    let answer = b
        .ok(
            "send",
            json!({"to": "a", "content": "a", "reply_to": first["id"]}),
        )
        .await;
    let page = a.ok("inbox", json!({})).await;
    assert_eq!(page["messages"][0]["id"], answer["id"]);
    assert_eq!(page["messages"][0]["reply_to"], first["id"]);
}

#[tokio::test]
async fn inbox_consumes_oldest_first_up_to_the_limit_and_peek_changes_nothing() {
    let bus = TempBus::empty();
    let a = bus.named("a").await;
    let b = bus.named("b").await;
    let mut sent = Vec::new();
    for i in 0..5 {
        let to = if i == 2 { "all" } else { "a" };
        let r = b
            .ok("send", json!({"to": to, "content": format!("m{i}")}))
            .await;
        sent.push(r["id"].as_i64().unwrap());
    }
    let peek = a.ok("inbox", json!({"peek": true, "limit": 2})).await;
    assert_eq!(
        (ids(&peek), peek["pending_count"].clone()),
        (sent[..2].to_vec(), json!(5))
    );
    let look = a.ok("inbox", json!({"consume": false})).await;
    assert_eq!(ids(&look), sent, "consume=false changes nothing either");
    let first = a.ok("inbox", json!({"limit": 2})).await;
    assert_eq!(
        (ids(&first), first["pending_count"].clone()),
        (sent[..2].to_vec(), json!(3))
    );
    let rest = a.ok("inbox", json!({"limit": 100})).await;
    assert_eq!(
        (ids(&rest), rest["pending_count"].clone()),
        (sent[2..].to_vec(), json!(0))
    );
    let empty = a.ok("inbox", json!({})).await;
    assert!(ids(&empty).is_empty());
    assert_eq!(empty["pending_count"], 0);
}

#[tokio::test]
async fn message_status_lists_readers_and_who_has_not_read() {
    let bus = TempBus::empty();
    let a = bus.named("a").await;
    let b = bus.named("b").await;
    let c = bus.named("c").await;
    let direct = a.ok("send", json!({"to": "b", "content": "d"})).await;
    let all = a.ok("send", json!({"to": "all", "content": "x"})).await;

    let s = a
        .ok("message_status", json!({"message_id": direct["id"]}))
        .await;
    assert_eq!(
        s,
        json!({"message_id": direct["id"], "sender": "a", "recipient": "b", "readers": [], "unread": ["b"]})
    );
    b.ok("inbox", json!({"peek": true})).await;
    let s = a
        .ok("message_status", json!({"message_id": all["id"]}))
        .await;
    assert_eq!(
        s["unread"],
        json!(["b", "c"]),
        "peeking is not reading; never the sender"
    );

    b.ok("inbox", json!({})).await;
    let s = c
        .ok("message_status", json!({"message_id": all["id"]}))
        .await;
    assert_eq!(s["readers"][0]["recipient"], "b");
    assert!(s["readers"][0]["read_ts"].as_str().unwrap().ends_with('Z'));
    assert_eq!(s["unread"], json!(["c"]));
    let s = c
        .ok("message_status", json!({"message_id": direct["id"]}))
        .await;
    assert_eq!(s["unread"], json!([]));

    let d = bus.named("d").await;
    let s = d
        .ok("message_status", json!({"message_id": all["id"]}))
        .await;
    assert_eq!(s["unread"], json!(["c", "d"]), "every agent registered now");

    let why = d.err("message_status", json!({"message_id": 12345})).await;
    assert!(why.contains("no message with id 12345"), "{why}");
}
