//! What one connection, or many, may hold of busd: calls in flight, frames half sent, handshake
//! strings, connections; and what busd says on each connection when it goes away.

use std::sync::Arc;
use std::time::Duration;

use proto::frame::MAX_REQUEST_FRAME;
use proto::{Closing, Envelope, ErrorKind, Reply, Request, Response, Welcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

fn register(name: &str) -> Request {
    Request::Register {
        name: name.into(),
        role: None,
        owns: None,
    }
}

fn wait_for_mail(wait: f64) -> Request {
    Request::Inbox {
        consume: true,
        limit: 10,
        wait,
        waiter: None,
    }
}

/// Read replies until the one with `id`; every other one must be among `expected`, and is
/// returned too.
async fn until(raw: &mut Raw, id: u64) -> (Reply, Vec<Reply>) {
    let mut others = Vec::new();
    loop {
        let reply: Reply = raw.recv().await.expect("busd replies");
        if reply.id == id {
            return (reply, others);
        }
        others.push(reply);
    }
}

#[tokio::test]
async fn a_connection_full_of_waits_is_still_read_and_its_end_frees_the_mail() {
    let bus = TempBus::start().await;
    let mut raw = Raw::accepted(&bus, "waits-a-lot").await;
    assert!(raw.call(1, register("alpha")).await.body.is_ok());
    for id in 100..164 {
        raw.send(&Envelope {
            id,
            body: wait_for_mail(60.0),
        })
        .await;
    }
    // One wait too many is refused at once; a call that does not wait still runs.
    raw.send(&Envelope {
        id: 200,
        body: wait_for_mail(60.0),
    })
    .await;
    let (whoami, before) = raw.call_until(300, Request::Whoami).await;
    assert!(
        matches!(&whoami.body, Ok(Response::Identity(i)) if i.name.as_deref() == Some("alpha")),
        "{whoami:?}"
    );
    assert!(
        matches!(before.as_slice(), [Reply { id: 200, body: Err(e) }] if e.kind == ErrorKind::Busy),
        "{before:?}"
    );
    // A cancel reaches its call.
    let (done, others) = raw.call_until(301, Request::Cancel { id: 100 }).await;
    assert_eq!(done.body, Ok(Response::Done));
    let cancelled = match others.as_slice() {
        [] => until(&mut raw, 100).await.0,
        [one] => one.clone(),
        more => panic!("{more:?}"),
    };
    assert!(
        matches!(&cancelled.body, Err(e) if e.kind == ErrorKind::Cancelled),
        "{cancelled:?}"
    );

    // The client dies with 63 waits parked: none of them takes the name's next message.
    drop(raw);
    let alpha = bus.registered("alpha").await;
    let b = bus.registered("b").await;
    let id = send(&b, "alpha", "for the next holder of alpha").await;
    let page = consume(&alpha, 10, 10.0).await;
    let got: Vec<i64> = page.messages.iter().map(|m| m.id).collect();
    assert_eq!(
        got,
        vec![id],
        "the new holder gets the message\n{}",
        bus.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_frames_are_closed_in_time_and_do_not_grow_busd() {
    const SLOW: usize = 200;
    let bus = TempBus::start().await;
    let witness = bus.registered("witness").await;
    let other = bus.registered("other").await;
    // A frame of the largest size, all but its last byte.
    let len = u32::try_from(MAX_REQUEST_FRAME).unwrap();
    let mut almost = len.to_be_bytes().to_vec();
    almost.resize(4 + MAX_REQUEST_FRAME - 1, b'x');
    let almost: Arc<[u8]> = almost.into();

    let (closed_tx, mut closed) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for i in 0..SLOW {
        let raw = Raw::accepted(&bus, &format!("slow-{i}")).await;
        let (mut from, mut to) = raw.stream.into_split();
        let almost = almost.clone();
        tasks.push(tokio::spawn(async move {
            let _ = to.write_all(&almost).await;
            std::future::pending::<()>().await;
            drop(to);
        }));
        let closed_tx = closed_tx.clone();
        tasks.push(tokio::spawn(async move {
            let mut buf = [0u8; 64];
            while matches!(from.read(&mut buf).await, Ok(n) if n > 0) {}
            let _ = closed_tx.send(i);
        }));
    }
    // Others are served meanwhile.
    let id = send(&other, "witness", "still served").await;
    assert_eq!(consume(&witness, 10, 0.0).await.messages[0].id, id);

    // busd closes a stalled frame once its time is up.
    let first = tokio::time::timeout(Duration::from_secs(40), closed.recv()).await;
    assert!(
        matches!(first, Ok(Some(_))),
        "no half-sent frame was closed\n{}",
        bus.log()
    );
    let peak = peak_memory_kib(bus.pid());
    for task in &tasks {
        task.abort();
    }
    assert!(
        peak < 160 * 1024,
        "{SLOW} half-sent frames of 2 MiB grew busd to {} MiB",
        peak / 1024
    );
    assert!(bus.log().contains("did not arrive within"), "{}", bus.log());
    let id = send(&other, "witness", "served after").await;
    assert_eq!(consume(&witness, 10, 0.0).await.messages[0].id, id);
}

/// The most memory `pid` has held resident (VmHWM), in KiB.
fn peak_memory_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("busd runs");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

#[tokio::test]
async fn handshake_strings_over_their_limits_are_refused_clearly() {
    let bus = TempBus::start().await;
    let long_id = hello(proto::PROTOCOL_VERSION, &"c".repeat(1 << 20));
    let mut long_session = hello(proto::PROTOCOL_VERSION, "fine");
    long_session.session_id = Some("s".repeat(1 << 20));
    for (hello, what) in [(long_id, "client id"), (long_session, "session id")] {
        let (mut raw, welcome) = Raw::greet(&bus, &hello).await;
        match welcome {
            Welcome::Refused { error, .. } => {
                assert_eq!(error.kind, ErrorKind::Handshake);
                assert!(
                    error.message.contains(what) && error.message.contains("over the limit"),
                    "{}",
                    error.message
                );
            }
            other => panic!("a {what} of 1 MiB was {other:?}"),
        }
        assert!(raw.is_closed().await);
    }
    let fine = bus.registered("fine").await;
    assert_eq!(status(&fine).await.agents, 1, "nothing was stored");
}

#[tokio::test]
async fn connections_past_the_limit_are_refused_clearly() {
    let bus = TempBus::start().await;
    let mut open = Vec::new();
    for i in 0..500 {
        open.push(Raw::accepted(&bus, &format!("c{i}")).await);
    }
    let (_raw, welcome) = Raw::greet(&bus, &hello(proto::PROTOCOL_VERSION, "one-more")).await;
    match welcome {
        Welcome::Refused { error, .. } => {
            assert!(
                error.message.contains("limit of 500 connections"),
                "{error}"
            );
        }
        other => panic!("connection 501 was {other:?}"),
    }
    // The connections served are served as before.
    let reply = open[0].call(1, Request::Whoami).await;
    assert!(reply.body.is_ok(), "{reply:?}");
}

/// Park a wait on a raw connection that watches for busd's closing, the wait surely read.
async fn watching_wait(bus: &TempBus) -> Raw {
    let mut raw = Raw::accepted(bus, "watcher").await;
    assert!(raw.call(1, register("reader")).await.body.is_ok());
    raw.send(&Envelope {
        id: 2,
        body: Request::WatchClosing,
    })
    .await;
    raw.send(&Envelope {
        id: 3,
        body: wait_for_mail(60.0),
    })
    .await;
    // Requests are read in order: once this is answered, the wait has been read.
    assert!(raw.call(4, Request::Whoami).await.body.is_ok());
    raw
}

#[tokio::test]
async fn busd_says_it_stops_before_it_ends_a_wait() {
    let mut bus = TempBus::start().await;
    let mut raw = watching_wait(&bus).await;
    assert!(bus.stop().success());
    let closing: Reply = raw.recv().await.expect("busd says it is closing");
    assert_eq!(
        (closing.id, closing.body),
        (2, Ok(Response::Closing(Closing::Stopping)))
    );
    let wait: Reply = raw.recv().await.expect("the wait is answered");
    // Protocol 3: the empty page comes with the word that busd stopped (protocol 2 clients
    // get the page alone: `waiting::a_wait_cut_short_by_a_stop_says_so…`).
    assert!(
        matches!(&wait, Reply { id: 3, body: Ok(Response::Stopped(answer)) }
            if matches!(&**answer, Response::Inbox(page) if page.messages.is_empty())),
        "{wait:?}"
    );
}

#[tokio::test]
async fn busd_says_it_restarts_and_a_wait_cut_short_takes_nothing() {
    let mut bus = TempBus::start().await;
    let mut raw = watching_wait(&bus).await;
    let other = bus.connected().await;
    assert_eq!(call(&other, Request::Restart).await, Ok(Response::Done));
    assert!(bus.daemon.take().unwrap().wait().unwrap().success());
    let closing: Reply = raw.recv().await.expect("busd says it is closing");
    assert_eq!(
        (closing.id, closing.body),
        (2, Ok(Response::Closing(Closing::Restarting)))
    );
    let wait: Reply = raw.recv().await.expect("the wait is answered");
    assert!(
        matches!(&wait, Reply { id: 3, body: Err(e) } if e.kind == ErrorKind::Restarting),
        "{wait:?}"
    );
}
