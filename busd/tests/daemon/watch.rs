//! `Request::Watch` (`bus top`, the browser view): answered by each kind of change a viewer
//! shows — mail, state, claims, registrations, sessions coming and going, waits — and by
//! nothing else; and served to clients of the older protocol beside it.

use std::time::Duration;

use proto::{Changes, Request, Response};

use crate::common::*;

async fn seq_now(client: &proto::client::Client) -> u64 {
    match call(
        client,
        Request::Watch {
            after: 0,
            wait: 0.0,
        },
    )
    .await
    {
        Ok(Response::Changed(Changes { seq })) => seq,
        other => panic!("watch answers with the count: {other:?}"),
    }
}

/// The count once no change has come for 100 ms: one change may bump it more than once (a
/// name bound, then its row committed, whose wake-up may follow the answer).
async fn settled(viewer: &proto::client::Client) -> u64 {
    let mut seq = seq_now(viewer).await;
    for _ in 0..50 {
        match call(
            viewer,
            Request::Watch {
                after: seq,
                wait: 0.1,
            },
        )
        .await
        {
            Ok(Response::Changed(Changes { seq: next })) if next == seq => return seq,
            Ok(Response::Changed(Changes { seq: next })) => seq = next,
            other => panic!("{other:?}"),
        }
    }
    panic!("the count keeps changing with nothing happening")
}

/// Start a watch after `seq`, run `change` once it waits, and return the count the watch
/// answered with and what `change` returned.
async fn woken_by<F: std::future::Future>(
    viewer: &proto::client::Client,
    seq: u64,
    what: &str,
    change: F,
) -> (u64, F::Output) {
    let watch = tokio::spawn({
        let viewer = viewer.clone();
        async move {
            call(
                &viewer,
                Request::Watch {
                    after: seq,
                    wait: 30.0,
                },
            )
            .await
        }
    });
    // The watch parks first: nothing has changed yet.
    tokio::time::sleep(Duration::from_millis(50)).await;
    if watch.is_finished() {
        panic!(
            "{what}: nothing changed yet, so the watch waits: {:?}",
            watch.await
        );
    }
    let output = change.await;
    let answer = tokio::time::timeout(Duration::from_secs(10), watch)
        .await
        .unwrap_or_else(|_| panic!("{what} wakes the watch"))
        .unwrap();
    let Ok(Response::Changed(Changes { seq: new })) = answer else {
        panic!("{answer:?}")
    };
    assert_ne!(new, seq);
    (settled(viewer).await, output)
}

#[tokio::test]
async fn a_watch_wakes_on_each_change_a_viewer_shows() {
    let bus = TempBus::start().await;
    let viewer = bus.connected().await;
    let a = bus.registered("a").await;
    let mut seq = settled(&viewer).await;
    assert_eq!(seq_now(&viewer).await, seq, "no change, same count");

    (seq, _) = woken_by(&viewer, seq, "a message", send(&a, "z", "mail")).await;
    let write = Request::SetState {
        key: "k".into(),
        value: "v".into(),
        expected_version: None,
        mode: proto::StateMode::Overwrite,
    };
    (seq, _) = woken_by(&viewer, seq, "a state write", call(&a, write)).await;
    let claim = Request::Claim {
        path: "src/x.rs".into(),
        ttl: 60.0,
    };
    (seq, _) = woken_by(&viewer, seq, "a claim", call(&a, claim)).await;
    let release = Request::Release {
        path: "src/x.rs".into(),
    };
    (seq, _) = woken_by(&viewer, seq, "a release", call(&a, release)).await;
    let b = bus.connected().await;
    (seq, _) = woken_by(&viewer, seq, "a registration", register(&b, "b")).await;
    // b starts waiting for mail: the viewer shows it as waiting.
    let waiting;
    (seq, waiting) = woken_by(&viewer, seq, "a wait for mail", async {
        let b = b.clone();
        // In an Option: the block yields the task's handle, not a future to await.
        Some(tokio::spawn(async move { consume(&b, 10, 30.0).await }))
    })
    .await;
    woken_by(&viewer, seq, "the mail ending it", send(&a, "b", "wake b")).await;
    assert_eq!(waiting.unwrap().await.unwrap().messages.len(), 1);
    // b's wait ended (a change too) before its answer was sent.
    seq = settled(&viewer).await;
    // A session goes away.
    let mut c = Raw::accepted(&bus, "c").await;
    let bind = Request::Register {
        name: "c".into(),
        role: None,
        owns: None,
    };
    (seq, _) = woken_by(&viewer, seq, "a session binding", c.call(1, bind)).await;
    woken_by(&viewer, seq, "the session gone", async move { drop(c) }).await;
}

#[tokio::test]
async fn a_watch_ends_empty_handed_when_its_time_is_up() {
    let bus = TempBus::start().await;
    let viewer = bus.connected().await;
    let seq = seq_now(&viewer).await;
    let answer = call(
        &viewer,
        Request::Watch {
            after: seq,
            wait: 0.2,
        },
    )
    .await;
    assert_eq!(answer, Ok(Response::Changed(Changes { seq })));
    let why = refused(
        call(
            &viewer,
            Request::Watch {
                after: seq,
                wait: 3601.0,
            },
        )
        .await,
        proto::ErrorKind::InvalidArgument,
    );
    assert!(why.contains("wait"), "{why}");
}

#[tokio::test]
async fn a_client_of_the_older_protocol_is_still_served() {
    let bus = TempBus::start().await;
    let older = proto::PROTOCOL_OLDEST;
    assert!(older < proto::PROTOCOL_VERSION);
    let (mut raw, welcome) = Raw::greet(&bus, &hello(older, "older")).await;
    assert!(
        // The connection speaks the client's protocol: busd serves it as that version.
        matches!(welcome, proto::Welcome::Accepted { protocol, .. } if protocol == older),
        "{welcome:?}"
    );
    let reply = raw.call(1, Request::Whoami).await;
    assert!(matches!(reply.body, Ok(Response::Identity(_))), "{reply:?}");

    // `agents` in the shape it had before protocol 4 added the host: an older client decodes
    // it field for field.
    let register = Request::Register {
        name: "old".into(),
        role: Some("legacy".into()),
        owns: None,
    };
    let reply = raw.call(2, register).await;
    assert!(
        matches!(reply.body, Ok(Response::Registered(_))),
        "{reply:?}"
    );
    let agents = Request::Agents {
        active_within: 60.0,
        all: false,
    };
    raw.send(&proto::Envelope {
        id: 3,
        body: agents,
    })
    .await;
    let frame = raw.recv_frame().await.expect("busd answers");
    let reply: OldReply = proto::frame::decode(&frame).expect("the old shape");
    assert!(
        proto::frame::decode::<proto::Reply>(&frame).is_err(),
        "written in the new shape"
    );
    let Ok(OldResponse::Agents(list)) = reply.body else {
        panic!("{reply:?}");
    };
    assert_eq!(list.agents.len(), 1, "{list:?}");
    assert_eq!(list.agents[0].name, "old");
    assert_eq!(list.agents[0].role, "legacy");
    assert!(list.agents[0].connected);
}

/// A reply as clients of protocols 2 and 3 decode it, up to `agents`.
#[derive(Debug, serde::Deserialize)]
struct OldReply {
    #[allow(dead_code)]
    id: u64,
    body: Result<OldResponse, proto::WireError>,
}

#[derive(Debug, serde::Deserialize)]
enum OldResponse {
    #[allow(dead_code)]
    Registered(proto::Registered),
    #[allow(dead_code)]
    Identity(proto::Identity),
    Agents(OldList),
}

#[derive(Debug, serde::Deserialize)]
struct OldList {
    agents: Vec<OldAgent>,
}

/// `Agent` before protocol 4.
#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct OldAgent {
    name: String,
    role: String,
    owns: Vec<String>,
    status: proto::AgentStatus,
    connected: bool,
    waiting: bool,
    last_seen: String,
    seconds_ago: f64,
    overlaps: Vec<String>,
}
