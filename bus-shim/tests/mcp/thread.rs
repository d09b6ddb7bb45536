//! `inbox(thread=ID)`: the whole reply chain around a message, root first, branches included,
//! only what the reader may see, nothing consumed. The other writers are made by `peer`
//! (`peer.rs`), the seam for running this across two busd on a shared bus later.

use serde_json::{Value, json};

use crate::common::*;
use crate::peer::peer;

async fn reply(s: &Session, to: &str, content: &str, reply_to: &Value) -> Value {
    s.ok(
        "send",
        json!({"to": to, "content": content, "reply_to": reply_to}),
    )
    .await["id"]
        .clone()
}

#[tokio::test]
async fn a_thread_has_its_root_and_every_branch_and_leaves_out_what_the_reader_cannot_see() {
    let bus = TempBus::empty();
    let a = bus.named("a").await;
    let b = peer(&bus, "b").await;
    let c = peer(&bus, "c").await;
    let root = a
        .ok("send", json!({"to": "b", "content": "login change?"}))
        .await["id"]
        .clone();
    let r1 = reply(&b, "a", "yes", &root).await;
    let r2 = reply(&c, "all", "I saw it too", &root).await;
    let r11 = reply(&a, "b", "thanks", &r1).await;
    let hidden = reply(&b, "c", "between us", &r2).await;
    let under_hidden = reply(&c, "a", "fyi", &hidden).await;
    let _elsewhere = b
        .ok("send", json!({"to": "a", "content": "other topic"}))
        .await;
    let pending = a.ok("inbox", json!({"peek": true})).await["pending_count"].clone();

    for from in [&root, &r11, &r2, &under_hidden] {
        let page = a.ok("inbox", json!({"thread": from})).await;
        let messages = page["messages"].as_array().unwrap();
        let got: Vec<_> = messages.iter().map(|m| m["id"].clone()).collect();
        assert_eq!(
            got,
            [&root, &r1, &r2, &r11, &under_hidden].map(Clone::clone),
            "thread from {from}"
        );
        let parents: Vec<_> = messages.iter().map(|m| m["reply_to"].clone()).collect();
        assert_eq!(
            parents,
            [&Value::Null, &root, &root, &r1, &hidden].map(Clone::clone)
        );
        assert_eq!(page["pending_count"], pending);
    }
    let seen_by_c = c.ok("inbox", json!({"thread": r1})).await;
    let got: Vec<_> = seen_by_c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(got, [r2, hidden, under_hidden]);
    // Nothing was consumed: the inbox still hands everything over.
    let page = a.ok("inbox", json!({})).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 4, "{page}");
    let why = a.err("inbox", json!({"thread": 9999})).await;
    assert!(why.contains("no message with id 9999"), "{why}");
}
