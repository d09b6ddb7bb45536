//! Exactly once under concurrency: eight shims send a mix of direct messages and broadcasts
//! while every one of them drains its inbox at the same time; every message reaches every
//! intended recipient exactly once, oldest first, and never its sender.

use std::collections::BTreeSet;

use futures::future::join_all;
use serde_json::{Value, json};

use crate::common::*;
use testkit::traffic::Plan;

const SESSIONS: usize = 8;
const PER_SENDER: usize = 64;
/// Inbox page sizes the drainers cycle through, so reads split the stream unevenly.
const LIMITS: [u32; 4] = [1, 3, 7, 100];

const PLAN: Plan = Plan {
    sessions: SESSIONS,
    per_sender: PER_SENDER,
};

/// Send this session's messages while draining its inbox; returns what it received.
async fn run(session: &Session, me: usize) -> Vec<Value> {
    let want = PLAN.expected(me).len();
    let sending = async {
        for seq in 0..PER_SENDER {
            session
                .ok(
                    "send",
                    json!({"to": PLAN.recipient(me, seq), "content": PLAN.content(me, seq)}),
                )
                .await;
        }
    };
    let draining = async {
        let mut got: Vec<Value> = Vec::new();
        let mut ids = BTreeSet::new();
        for call in 0.. {
            if got.len() >= want {
                break;
            }
            let page = session
                .ok(
                    "inbox",
                    json!({"wait": 30, "limit": LIMITS[call % LIMITS.len()]}),
                )
                .await;
            let messages = page["messages"].as_array().unwrap();
            assert!(
                !messages.is_empty(),
                "{} waited 30 s with {} of {want} messages: some were lost",
                PLAN.name(me),
                got.len()
            );
            for m in messages {
                let id = m["id"].as_i64().unwrap();
                assert!(ids.insert(id), "{} got message {id} twice", PLAN.name(me));
            }
            got.extend(messages.iter().cloned());
        }
        got
    };
    let ((), got) = tokio::join!(sending, draining);
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_shims_sending_and_draining_at_once_deliver_exactly_once() {
    let bus = TempBus::empty();
    let mut sessions = Vec::new();
    for i in 0..SESSIONS {
        sessions.push(bus.named(&PLAN.name(i)).await);
    }
    let received = join_all(sessions.iter().enumerate().map(|(i, s)| run(s, i))).await;

    let mut a_broadcast = None;
    for (me, got) in received.iter().enumerate() {
        let contents: BTreeSet<String> = got
            .iter()
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            contents.len(),
            got.len(),
            "{} got a message twice",
            PLAN.name(me)
        );
        assert_eq!(
            contents,
            PLAN.expected(me),
            "{} got exactly its messages",
            PLAN.name(me)
        );
        for m in got {
            assert_ne!(m["from"], PLAN.name(me), "never its own message");
            assert!(m["to"] == PLAN.name(me) || m["to"] == "all", "{m}");
            if m["to"] == "all" {
                a_broadcast = Some(m["id"].clone());
            }
        }
        let ids: Vec<i64> = got.iter().map(|m| m["id"].as_i64().unwrap()).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "{} read oldest first",
            PLAN.name(me)
        );
    }
    for s in &sessions {
        let rest = s.ok("inbox", json!({})).await;
        assert_eq!(
            rest,
            json!({"messages": [], "pending_count": 0}),
            "nothing left over"
        );
    }
    let status = sessions[0]
        .ok(
            "message_status",
            json!({"message_id": a_broadcast.unwrap()}),
        )
        .await;
    assert_eq!(status["unread"], json!([]));
    assert_eq!(status["readers"].as_array().unwrap().len(), SESSIONS - 1);
}
