//! Resent requests: whatever happened to the connection, the name or the request's id since,
//! an effectful request is answered with its first outcome or refused, never lost, doubled,
//! or answered with another command's outcome.

use proto::client::{Client, ClientOptions};
use proto::paths::BusPaths;
use proto::{ClientKind, ErrorKind, InboxPage, Request, Response, StateMode};
use tokio_util::sync::CancellationToken;

use crate::common::*;

fn register_request(name: &str) -> Request {
    Request::Register {
        name: name.into(),
        role: None,
        owns: None,
    }
}

fn consume_request() -> Request {
    Request::Inbox {
        consume: true,
        limit: 1000,
        wait: 0.0,
        waiter: None,
    }
}

/// A raw connection with client id `client_id`, registered as `name`.
async fn registered(bus: &TempBus, client_id: &str, name: &str) -> Raw {
    let mut raw = Raw::accepted(bus, client_id).await;
    let reply = raw.call(1, register_request(name)).await;
    assert!(
        matches!(reply.body, Ok(Response::Registered(_))),
        "{reply:?}"
    );
    raw
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consume_cancelled_as_busd_goes_away_still_hands_its_messages_over() {
    let bus = TempBus::start().await;
    let mut relay = Relay::start(bus.paths.socket.clone(), bus.dir.path().join("relay.sock"));
    let sender = bus.registered("sender").await;
    let reader = Client::new(ClientOptions {
        paths: BusPaths::new(bus.paths.db.clone(), Some(relay.socket.clone())),
        ..bus.options(ClientKind::Other)
    });
    register(&reader, "reader").await.expect("register");
    for content in ["one", "two", "three"] {
        send(&sender, "reader", content).await;
    }

    relay.hold_replies();
    let cancel = CancellationToken::new();
    let call = tokio::spawn({
        let (reader, cancel) = (reader.clone(), cancel.clone());
        async move { reader.call_cancellable(consume_request(), &cancel).await }
    });
    // busd took the messages and answered; the answer does not get through.
    let taken = loop {
        if let Passed::HeldBack(reply) = relay.next().await {
            break reply.body;
        }
    };
    let Ok(Response::Inbox(page)) = &taken else {
        panic!("the consume failed: {taken:?}")
    };
    assert_eq!(page.messages.len(), 3);
    // The MCP client cancels; the cancel reaches busd; then the connection is gone.
    cancel.cancel();
    loop {
        if let Passed::Request(envelope) = relay.next().await
            && matches!(envelope.body, Request::Cancel { .. })
        {
            break;
        }
    }
    relay.cut();

    let answer = call.await.expect("the call ends");
    assert_eq!(
        answer.map_err(|e| e.to_string()),
        taken.map_err(|e| e.to_string()),
        "the call is resent and answered with the messages busd took"
    );
    assert_eq!(
        consume(&reader, 1000, 0.0).await,
        InboxPage {
            messages: Vec::new(),
            pending_count: 0
        },
        "nothing twice"
    );
}

#[tokio::test]
async fn a_send_resent_after_a_crash_is_answered_though_its_name_was_taken() {
    let mut bus = TempBus::start().await;
    let mut first = registered(&bus, "resender", "alpha").await;
    let send = Request::Send {
        to: "beta".into(),
        content: "once".into(),
        reply_to: None,
    };
    let sent = first.call(2, send.clone()).await;
    assert!(matches!(sent.body, Ok(Response::Sent(_))), "{sent:?}");
    // The reply is lost in a kill -9; another session takes the name on the new busd.
    drop(first);
    bus.kill();
    bus.spawn(&[]).await;
    let taker = bus.registered("alpha").await;

    // The original client comes back without its name and resends request 2.
    let mut again = Raw::accepted(&bus, "resender").await;
    let resent = again.call(2, send).await;
    assert_eq!(resent.body, sent.body, "answered as the first time");
    assert_eq!(status(&taker).await.messages, 1, "stored once");
}

#[tokio::test]
async fn a_consume_resent_after_a_crash_hands_over_its_messages_though_its_name_was_taken() {
    let mut bus = TempBus::start().await;
    let sender = bus.registered("sender").await;
    let mut first = registered(&bus, "resender", "beta").await;
    for content in ["one", "two"] {
        send(&sender, "beta", content).await;
    }
    let taken = first.call(2, consume_request()).await;
    let Ok(Response::Inbox(page)) = &taken.body else {
        panic!("the consume failed: {taken:?}")
    };
    assert_eq!(page.messages.len(), 2);
    drop((first, sender));
    bus.kill();
    bus.spawn(&[]).await;
    let taker = bus.registered("beta").await;

    let mut again = Raw::accepted(&bus, "resender").await;
    let resent = again.call(2, consume_request()).await;
    assert_eq!(
        resent.body, taken.body,
        "the same messages, handed over again"
    );
    assert!(
        consume(&taker, 1000, 0.0).await.messages.is_empty(),
        "they were the first holder's"
    );
}

#[tokio::test]
async fn a_request_id_reused_for_another_command_is_refused_clearly() {
    let bus = TempBus::start().await;
    let other = bus.registered("other").await;
    let mut raw = registered(&bus, "reuser", "alpha").await;
    // Message 1 is someone else's, and set_state's first version is 1 too.
    send(&other, "beta", "not yours").await;
    let set = raw
        .call(
            5,
            Request::SetState {
                key: "k".into(),
                value: "v".into(),
                expected_version: None,
                mode: StateMode::Overwrite,
            },
        )
        .await;
    assert!(matches!(set.body, Ok(Response::StateWritten(_))), "{set:?}");
    let send = Request::Send {
        to: "beta".into(),
        content: "mine".into(),
        reply_to: None,
    };
    let reused = raw.call(5, send.clone()).await;
    let why = refused(reused.body, ErrorKind::InvalidArgument);
    assert!(
        why.contains("request id 5") && why.contains("set_state") && why.contains("own id"),
        "{why}"
    );
    // The same holds when the reuse is refused by the handler first (here: no name).
    let mut unbound = Raw::accepted(&bus, "reuser").await;
    let why = refused(
        unbound.call(5, consume_request()).await.body,
        ErrorKind::InvalidArgument,
    );
    assert!(why.contains("set_state"), "{why}");
    assert_eq!(status(&other).await.messages, 1, "nothing was sent");
    assert!(matches!(
        raw.call(6, send).await.body,
        Ok(Response::Sent(_))
    ));
}

#[tokio::test]
async fn a_claim_resent_without_its_name_is_answered_with_its_owner() {
    let bus = TempBus::start().await;
    let mut first = registered(&bus, "claimer", "alpha").await;
    let claim = Request::Claim {
        path: "src/a.rs".into(),
        ttl: 600.0,
    };
    let claimed = first.call(2, claim.clone()).await;
    assert!(
        matches!(claimed.body, Ok(Response::Claimed(_))),
        "{claimed:?}"
    );
    let mut unbound = Raw::accepted(&bus, "claimer").await;
    let resent = unbound.call(2, claim).await;
    assert_eq!(
        resent.body, claimed.body,
        "path, owner and expiry as the first time"
    );
}

/// One commit per wake: the send to a parked reader also takes the message for it. busd is
/// killed after that commit, before the reader has its answer; the reader's resend after the
/// restart gets the message, once, and the sender's resend stores nothing twice.
#[tokio::test]
async fn a_wait_answered_by_the_sends_commit_is_handed_over_after_a_crash_before_its_reply() {
    let mut bus = TempBus::start().await;
    let sender = bus.registered("alice").await;
    let mut sender_raw = registered(&bus, "sender", "alice-raw").await;
    let mut reader = registered(&bus, "reader", "bob").await;
    let wait = Request::Inbox {
        consume: true,
        limit: 1000,
        wait: 30.0,
        waiter: None,
    };
    reader
        .send(&proto::Envelope {
            id: 2,
            body: wait.clone(),
        })
        .await;
    wait_until_waiting(&sender, "bob").await;
    let send = Request::Send {
        to: "bob".into(),
        content: "once".into(),
        reply_to: None,
    };
    let sent = sender_raw.call(2, send.clone()).await;
    let Ok(Response::Sent(sent)) = sent.body else {
        panic!("the send failed: {sent:?}")
    };
    // The commit that stored the message took it for bob: its receipt is there as the send
    // is answered. (That it was one commit is the database thread's unit test.)
    let read = sender
        .run(proto::client::call::message_status(sent.id))
        .await
        .expect("message status");
    let readers: Vec<_> = read.readers.iter().map(|r| r.recipient.as_str()).collect();
    assert_eq!(readers, ["bob"], "taken by the send's commit: {read:?}");

    // kill -9 before the reader reads its answer; then both resend their requests.
    drop((reader, sender_raw, sender));
    bus.kill();
    bus.spawn(&[]).await;
    let mut reader = Raw::accepted(&bus, "reader").await;
    let resent = reader.call(2, wait).await;
    let Ok(Response::Inbox(page)) = &resent.body else {
        panic!("the resent wait failed: {resent:?}")
    };
    let ids: Vec<_> = page.messages.iter().map(|m| m.id).collect();
    assert_eq!(ids, [sent.id], "the message the commit took for bob");
    let mut sender_raw = Raw::accepted(&bus, "sender").await;
    let again = sender_raw.call(2, send).await;
    assert!(
        matches!(&again.body, Ok(Response::Sent(s)) if s.id == sent.id),
        "the send's first outcome: {again:?}"
    );
    let bob = bus.registered("bob").await;
    assert!(
        consume(&bob, 1000, 0.0).await.messages.is_empty(),
        "nothing twice"
    );
    assert_eq!(status(&bob).await.messages, 1, "stored once");
}
