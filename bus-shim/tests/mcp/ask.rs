//! `send(…, wait_reply)`: the first reply to the new message comes back in the result and is
//! taken from the inbox exactly once; other mail stays; a lost answer is resent with the same
//! reply. (The deterministic "reply committed before the ask looks" case is in busd's tests,
//! `coordination.rs`, where a resend can be held back until the reply is in.)
//!
//! The answering sessions are made by `peer` (`peer.rs`): the seam for running these across
//! two busd on a shared bus once that backend exists.

use proto::{Request, Response};
use serde_json::{Value, json};

use crate::common::*;
use crate::peer::peer;
use crate::relay::{Passed, Relay};

fn ids(page: &Value) -> Vec<Value> {
    page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["id"].clone())
        .collect()
}

#[tokio::test]
async fn an_ask_gets_the_reply_once_and_other_mail_stays_in_the_inbox() {
    let bus = TempBus::empty();
    let a = bus.named("a").await;
    let b = peer(&bus, "b").await;
    let c = peer(&bus, "c").await;
    let earlier = c.ok("send", json!({"to": "a", "content": "before"})).await;
    let ask = a
        .start(
            "send",
            json!({"to": "b", "content": "which schema version?", "wait_reply": 3600}),
        )
        .await;
    let question = b.ok("inbox", json!({"wait": 60})).await;
    let question = &question["messages"][0];
    assert_eq!(question["content"], "which schema version?");
    // The asker is parked once its first progress note comes.
    let note = a.next_progress().await;
    assert_eq!(note.message.as_deref(), Some("waiting for a reply"));
    let meanwhile = c
        .ok("send", json!({"to": "a", "content": "meanwhile"}))
        .await;
    let not_a_reply = b
        .ok("send", json!({"to": "a", "content": "unrelated"}))
        .await;
    let reply = b
        .ok(
            "send",
            json!({"to": "a", "content": "version 8", "reply_to": question["id"]}),
        )
        .await;
    let second = c
        .ok(
            "send",
            json!({"to": "a", "content": "me too", "reply_to": question["id"]}),
        )
        .await;
    let answered = Session::finish(ask).await;
    assert_eq!(answered["id"], question["id"]);
    assert_eq!(answered["to"], "b");
    assert_eq!(answered["reply"]["id"], reply["id"]);
    assert_eq!(answered["reply"]["from"], "b");
    assert_eq!(answered["reply"]["content"], "version 8");
    assert_eq!(answered["reply"]["reply_to"], question["id"]);
    // Everything else is unread, in order; the reply is not handed out again.
    let peeked = a.ok("inbox", json!({"peek": true})).await;
    assert_eq!(peeked["pending_count"], 4);
    let page = a.ok("inbox", json!({})).await;
    assert_eq!(
        ids(&page),
        [&earlier, &meanwhile, &not_a_reply, &second].map(|m| m["id"].clone())
    );
    assert_eq!(
        a.ok("inbox", json!({})).await,
        json!({"messages": [], "pending_count": 0})
    );
    let status = b
        .ok("message_status", json!({"message_id": reply["id"]}))
        .await;
    assert_eq!(status["readers"][0]["recipient"], "a", "the reply is read");
}

#[tokio::test]
async fn an_ask_answered_by_a_waiting_session_round_trips_exactly_once() {
    let bus = TempBus::empty();
    let a = bus.named("a").await;
    let b = peer(&bus, "b").await;
    for round in 0..10 {
        // b is already waiting, so its answer may land before or after a starts waiting.
        let waiting = b.start("inbox", json!({"wait": 60})).await;
        let ask = a
            .start(
                "send",
                json!({"to": "b", "content": format!("q{round}"), "wait_reply": 60}),
            )
            .await;
        let question = Session::finish(waiting).await;
        let question = &question["messages"][0];
        let reply = b
            .ok(
                "send",
                json!({"to": "a", "content": format!("a{round}"), "reply_to": question["id"]}),
            )
            .await;
        let answered = Session::finish(ask).await;
        assert_eq!(answered["reply"]["id"], reply["id"], "round {round}");
        assert_eq!(
            a.ok("inbox", json!({})).await,
            json!({"messages": [], "pending_count": 0}),
            "round {round}: nothing twice"
        );
    }
}

#[tokio::test]
async fn a_waiting_inbox_of_the_asker_gets_the_other_mail_and_not_the_reply() {
    let bus = TempBus::empty();
    let a = bus.named("a").await;
    let b = peer(&bus, "b").await;
    let ask = a
        .start("send", json!({"to": "b", "content": "q", "wait_reply": 60}))
        .await;
    let question = b.ok("inbox", json!({"wait": 60})).await;
    let question = &question["messages"][0];
    // The same session also waits in its inbox (as a Stop hook still running would).
    let inbox = a.start("inbox", json!({"wait": 60})).await;
    let reply = b
        .ok(
            "send",
            json!({"to": "a", "content": "answer", "reply_to": question["id"]}),
        )
        .await;
    let other = b.ok("send", json!({"to": "a", "content": "other"})).await;
    let answered = Session::finish(ask).await;
    assert_eq!(answered["reply"]["id"], reply["id"]);
    let page = Session::finish(inbox).await;
    assert_eq!(ids(&page), [other["id"].clone()], "{page}");
    assert_eq!(a.ok("inbox", json!({})).await["messages"], json!([]));
}

#[tokio::test]
async fn a_broadcast_ask_returns_the_first_reply_and_a_late_one_is_ordinary_mail() {
    let bus = TempBus::empty();
    let a = bus.named("a").await;
    let b = peer(&bus, "b").await;
    let c = peer(&bus, "c").await;
    let ask = a
        .start(
            "send",
            json!({"to": "all", "content": "who owns auth?", "wait_reply": 60}),
        )
        .await;
    let question = c.ok("inbox", json!({"wait": 60})).await;
    let question = &question["messages"][0];
    let first = c
        .ok(
            "send",
            json!({"to": "all", "content": "c does", "reply_to": question["id"]}),
        )
        .await;
    let answered = Session::finish(ask).await;
    assert_eq!(answered["to"], "all");
    assert_eq!(answered["reply"]["id"], first["id"]);
    let late = b
        .ok(
            "send",
            json!({"to": "a", "content": "so do I", "reply_to": question["id"]}),
        )
        .await;
    assert_eq!(ids(&a.ok("inbox", json!({})).await), [late["id"].clone()]);
    // An ask nobody answers in time returns reply null; the message stays sent.
    let unanswered = a
        .ok(
            "send",
            json!({"to": "b", "content": "anyone?", "wait_reply": 0.3}),
        )
        .await;
    assert_eq!(unanswered["reply"], Value::Null);
    assert!(unanswered.as_object().unwrap().contains_key("reply"));
    let plain = a.ok("send", json!({"to": "b", "content": "plain"})).await;
    assert!(!plain.as_object().unwrap().contains_key("reply"), "{plain}");
    let got = b.ok("inbox", json!({})).await;
    assert!(ids(&got).contains(&unanswered["id"]), "{got}");
    // A refused wait sends nothing.
    for wait in [-1.0, 3601.0] {
        let why = a
            .err(
                "send",
                json!({"to": "b", "content": "no", "wait_reply": wait}),
            )
            .await;
        assert!(why.starts_with("wait_reply "), "{why}");
    }
    assert_eq!(b.ok("inbox", json!({})).await["messages"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ask_whose_answer_was_lost_gets_the_same_reply_when_resent() {
    let bus = TempBus::empty();
    let b = peer(&bus, "b").await;
    let mut relay = Relay::start(
        bus.dir.path().join("busd.sock"),
        bus.dir.path().join("relay.sock"),
    );
    let socket = relay.socket.display().to_string();
    let a = bus.session_with(&[("BUS_SOCKET", &socket)]).await;
    a.ok("register", json!({"name": "a"})).await;

    relay.hold_replies();
    let ask = a
        .start(
            "send",
            json!({"to": "b", "content": "ping", "wait_reply": 60}),
        )
        .await;
    let question = b.ok("inbox", json!({"wait": 60})).await;
    let question = &question["messages"][0];
    let reply = b
        .ok(
            "send",
            json!({"to": "a", "content": "pong", "reply_to": question["id"]}),
        )
        .await;
    // busd took the reply for the ask and answered; the answer does not get through.
    loop {
        if let Passed::HeldBack(held) = relay.next().await {
            assert!(
                matches!(&held.body, Ok(Response::Asked(asked))
                    if asked.reply.as_ref().map(|m| m.id) == reply["id"].as_i64()),
                "{held:?}"
            );
            break;
        }
    }
    relay.cut();
    // The shim resends the ask with its id: the same message, the same reply.
    loop {
        if let Passed::Request(envelope) = relay.next().await
            && matches!(envelope.body, Request::Ask { .. })
        {
            break;
        }
    }
    let answered = Session::finish(ask).await;
    assert_eq!(answered["id"], question["id"]);
    assert_eq!(answered["reply"]["id"], reply["id"]);
    assert_eq!(
        a.ok("inbox", json!({})).await["messages"],
        json!([]),
        "not twice"
    );
    assert_eq!(
        b.ok("inbox", json!({})).await["messages"],
        json!([]),
        "sent once"
    );
}

#[tokio::test]
async fn a_cancelled_ask_has_sent_its_message_and_loses_no_reply() {
    let bus = TempBus::empty();
    let a = bus.named("a").await;
    let b = peer(&bus, "b").await;
    let ask = a
        .start(
            "send",
            json!({"to": "b", "content": "q", "wait_reply": 3600}),
        )
        .await;
    let question = b.ok("inbox", json!({"wait": 60})).await;
    let question = &question["messages"][0];
    ask.cancel(Some("the user pressed escape".into()))
        .await
        .expect("cancel sent");
    // The reply is either left unread or taken by the ask as it stopped and held by the shim:
    // handed over exactly once either way.
    let reply = b
        .ok(
            "send",
            json!({"to": "a", "content": "late", "reply_to": question["id"]}),
        )
        .await;
    let page = a.ok("inbox", json!({"wait": 60})).await;
    assert_eq!(ids(&page), [reply["id"].clone()], "{page}");
    assert_eq!(a.ok("inbox", json!({})).await["messages"], json!([]));
}
