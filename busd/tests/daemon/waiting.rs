//! Waiting for mail: a waiting inbox wakes on the commit, a cancelled one stops at once and
//! takes nothing, and a wait never holds up other calls on the same connection.

use proto::client::ClientError;
use proto::{ErrorKind, Request};
use tokio_util::sync::CancellationToken;

use crate::common::*;

fn waiting_inbox(wait: f64) -> Request {
    Request::Inbox {
        consume: true,
        limit: 100,
        wait,
        waiter: None,
    }
}

#[tokio::test]
async fn a_waiting_inbox_is_answered_by_the_commit_of_its_mail() {
    let bus = TempBus::start().await;
    let a = bus.registered("a").await;
    let b = bus.registered("b").await;
    let waiting = tokio::spawn({
        let a = a.clone();
        async move { consume(&a, 100, 3600.0).await }
    });
    let id = send(&b, "a", "wake up").await;
    let page = waiting.await.unwrap();
    assert_eq!(page.messages.len(), 1);
    assert_eq!((page.messages[0].id, page.pending_count), (id, 0));
}

#[tokio::test]
async fn a_wait_does_not_hold_up_other_calls_on_its_connection() {
    let bus = TempBus::start().await;
    let a = bus.registered("a").await;
    let b = bus.registered("b").await;
    let waiting = tokio::spawn({
        let a = a.clone();
        async move { consume(&a, 100, 3600.0).await }
    });
    // `a` sends on the connection its wait is parked on; `b` answers.
    let question = send(&a, "b", "ping").await;
    assert_eq!(consume(&b, 100, 60.0).await.messages[0].id, question);
    let answer = send(&b, "a", "pong").await;
    assert_eq!(waiting.await.unwrap().messages[0].id, answer);
}

#[tokio::test]
async fn a_cancelled_wait_stops_at_once_and_takes_nothing() {
    let bus = TempBus::start().await;
    let a = bus.registered("a").await;
    let b = bus.registered("b").await;
    let cancel = CancellationToken::new();
    let waiting = tokio::spawn({
        let (a, cancel) = (a.clone(), cancel.clone());
        async move { a.call_cancellable(waiting_inbox(3600.0), &cancel).await }
    });
    cancel.cancel();
    match waiting.await.unwrap() {
        Err(ClientError::Refused(e)) => assert_eq!(e.kind, ErrorKind::Cancelled),
        // Cancelled before busd began waiting: it looked once and found nothing.
        Ok(proto::Response::Inbox(page)) => assert!(page.messages.is_empty()),
        other => panic!("a cancelled wait ends with a cancellation: {other:?}"),
    }
    assert_eq!(status(&b).await.waiting, 0, "busd stopped waiting");
    let id = send(&b, "a", "after the cancel").await;
    let page = consume(&a, 100, 0.0).await;
    assert_eq!(page.messages.len(), 1, "the cancelled call took nothing");
    assert_eq!(page.messages[0].id, id);
}

#[tokio::test]
async fn a_wait_that_runs_out_answers_an_empty_page() {
    let bus = TempBus::start().await;
    let a = bus.registered("a").await;
    let page = consume(&a, 100, 0.2).await;
    assert!(page.messages.is_empty());
    assert_eq!(page.pending_count, 0);
}

#[tokio::test]
async fn late_joiners_receive_earlier_broadcasts_and_direct_mail() {
    let bus = TempBus::start().await;
    let a = bus.registered("a").await;
    let broadcast = send(&a, "all", "to everyone, now and later").await;
    let direct = send(&a, "later", "before you existed").await;
    let later = bus.registered("later").await;
    let page = consume(&later, 100, 0.0).await;
    let ids: Vec<i64> = page.messages.iter().map(|m| m.id).collect();
    assert_eq!(ids, [broadcast, direct]);
    assert!(
        consume(&a, 100, 0.0).await.messages.is_empty(),
        "never to the sender"
    );
}

#[tokio::test]
async fn consuming_moves_the_cursor_past_exactly_what_was_returned() {
    let bus = TempBus::start().await;
    let a = bus.registered("a").await;
    let b = bus.registered("b").await;
    let sent: Vec<i64> = send_mixed(&b, 7).await;
    let first = consume(&a, 3, 0.0).await;
    assert_eq!(first.pending_count, 4);
    let between = send(&b, "a", "committed between two reads").await;
    let second = consume(&a, 100, 0.0).await;
    let mut got: Vec<i64> = first.messages.iter().map(|m| m.id).collect();
    got.extend(second.messages.iter().map(|m| m.id));
    let mut want = sent;
    want.push(between);
    assert_eq!(got, want, "nothing skipped, nothing twice, oldest first");
    assert_eq!(second.pending_count, 0);
}

async fn send_mixed(from: &proto::client::Client, n: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..n {
        let to = if i % 3 == 0 { "all" } else { "a" };
        ids.push(send(from, to, &format!("m{i}")).await);
    }
    ids
}

#[tokio::test]
async fn await_parked_answers_once_a_reader_waits_and_not_before() {
    let bus = TempBus::start().await;
    let a = bus.registered("a").await;
    let b = bus.registered("b").await;
    let parked = |wait| Request::AwaitParked {
        name: "a".into(),
        wait,
    };
    assert_eq!(
        call(&b, parked(0.0)).await,
        Ok(proto::Response::Parked(false)),
        "nobody waits yet"
    );
    let watching = tokio::spawn({
        let b = b.clone();
        async move { call(&b, parked(60.0)).await }
    });
    let waiting = tokio::spawn({
        let a = a.clone();
        async move { consume(&a, 100, 60.0).await }
    });
    assert_eq!(watching.await.unwrap(), Ok(proto::Response::Parked(true)));
    assert_eq!(
        call(&b, parked(0.0)).await,
        Ok(proto::Response::Parked(true)),
        "at once while it waits"
    );
    let id = send(&b, "a", "wake up").await;
    assert_eq!(waiting.await.unwrap().messages[0].id, id);
}

/// A wait that busd cuts short because it stops for good says so (`Stopped`) to a protocol 3
/// client; a protocol 2 client is still served, and gets the empty page alone, as before.
#[tokio::test]
async fn a_wait_cut_short_by_a_stop_says_so_and_a_protocol_2_client_sees_the_old_answer() {
    let mut bus = TempBus::start().await;
    let witness = bus.registered("witness").await;
    let mut readers = Vec::new();
    for (protocol, name) in [
        (proto::PROTOCOL_OLDEST, "old"),
        (proto::PROTOCOL_VERSION, "new"),
    ] {
        let (mut raw, welcome) = Raw::greet(&bus, &hello(protocol, name)).await;
        assert!(
            matches!(welcome, proto::Welcome::Accepted { protocol: p, .. } if p == protocol),
            "{welcome:?}"
        );
        let register = Request::Register {
            name: name.into(),
            role: None,
            owns: None,
        };
        assert!(raw.call(1, register).await.body.is_ok());
        raw.send(&proto::Envelope {
            id: 2,
            body: waiting_inbox(60.0),
        })
        .await;
        let parked = Request::AwaitParked {
            name: name.into(),
            wait: 30.0,
        };
        assert_eq!(
            call(&witness, parked).await,
            Ok(proto::Response::Parked(true))
        );
        readers.push(raw);
    }
    assert!(bus.stop().success());
    let empty = proto::Response::Inbox(proto::InboxPage {
        messages: vec![],
        pending_count: 0,
    });
    let old: proto::Reply = readers[0].recv().await.expect("answered");
    assert_eq!((old.id, old.body), (2, Ok(empty.clone())));
    let new: proto::Reply = readers[1].recv().await.expect("answered");
    assert_eq!(
        (new.id, new.body),
        (2, Ok(proto::Response::Stopped(Box::new(empty))))
    );
}

#[tokio::test]
async fn a_client_reads_the_stop_from_the_answer() {
    let mut bus = TempBus::start().await;
    let a = bus.registered("a").await;
    let b = bus.registered("b").await;
    let waiting = tokio::spawn({
        let a = a.clone();
        async move { a.call_waiting(waiting_inbox(60.0)).await }
    });
    let parked = Request::AwaitParked {
        name: "a".into(),
        wait: 30.0,
    };
    assert_eq!(call(&b, parked).await, Ok(proto::Response::Parked(true)));
    assert!(bus.stop().success());
    let waited = waiting.await.unwrap().expect("answered");
    assert!(waited.stopping, "{waited:?}");
    assert!(matches!(waited.response, proto::Response::Inbox(page) if page.messages.is_empty()));
}
