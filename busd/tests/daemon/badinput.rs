//! Bad input: bytes that are not frames, frames over the limit or that do not decode, and
//! requests out of their limits. Each one gets a clear error, or a closed connection for the
//! socket-level ones, and busd keeps serving every other client with nothing lost.

use proto::frame::MAX_REQUEST_FRAME;
use proto::{Envelope, ErrorKind, Request, Response, StateMode, limits};

use tokio::io::AsyncWriteExt;

use crate::common::*;

/// What a misbehaving client sends, before or after its handshake.
fn attacks() -> Vec<(&'static str, Vec<u8>)> {
    let oversize = u32::try_from(MAX_REQUEST_FRAME + 1).unwrap().to_be_bytes();
    vec![
        (
            "garbage bytes",
            b"GET / HTTP/1.1\r\nHost: busd\r\n\r\n".to_vec(),
        ),
        ("an oversize frame", [&oversize[..], b"xxxx"].concat()),
        ("the largest length", u32::MAX.to_be_bytes().to_vec()),
        (
            "a frame that does not decode",
            framed(b"\xff\xff\xff\xff\xff\xff\xff"),
        ),
        ("an empty frame", framed(b"")),
        (
            "a truncated frame",
            [&100u32.to_be_bytes()[..], b"short"].concat(),
        ),
    ]
}

fn framed(payload: &[u8]) -> Vec<u8> {
    let mut bytes = u32::try_from(payload.len()).unwrap().to_be_bytes().to_vec();
    bytes.extend_from_slice(payload);
    bytes
}

#[tokio::test]
async fn socket_level_garbage_closes_only_that_connection_and_loses_nothing() {
    let bus = TempBus::start().await;
    let a = bus.registered("a").await;
    let b = bus.registered("b").await;
    // A silent connection that never finishes its handshake holds nothing up.
    let _silent = Raw::connect(&bus).await;
    // `a` waits for mail the whole time.
    let waiting = {
        let a = a.clone();
        tokio::spawn(async move { consume(&a, 100, 60.0).await })
    };

    let mut sent = Vec::new();
    for (what, bytes) in attacks() {
        let mut before = Raw::connect(&bus).await;
        before.write(&bytes).await;
        if what == "a truncated frame" {
            before.stream.shutdown().await.unwrap();
        }
        assert!(before.is_closed().await, "{what} before the handshake");

        let mut after = Raw::accepted(&bus, what).await;
        let reply = after.call(1, Request::Whoami).await;
        assert!(reply.body.is_ok());
        after.write(&bytes).await;
        if what == "a truncated frame" {
            after.stream.shutdown().await.unwrap();
        }
        assert!(after.is_closed().await, "{what} after the handshake");

        sent.push(send(&b, "a", what).await);
    }

    let mut got: Vec<i64> = waiting
        .await
        .unwrap()
        .messages
        .iter()
        .map(|m| m.id)
        .collect();
    assert!(!got.is_empty(), "the waiting call was answered");
    got.extend(consume(&a, 100, 0.0).await.messages.iter().map(|m| m.id));
    assert_eq!(got, sent, "every message reached its reader once, in order");
    let s = status(&b).await;
    assert_eq!((s.sessions, s.messages), (2, sent.len() as u64));
    // Each refusal is in busd's log, so a person can see who was turned away and why.
    let log = bus.log();
    for refusal in [
        "refused a handshake frame",
        "refused a frame",
        "refused a request",
    ] {
        assert!(
            log.contains(refusal),
            "busd's log lacks {refusal:?}:\n{log}"
        );
    }
}

#[tokio::test]
async fn a_handshake_that_does_not_decode_is_closed() {
    let bus = TempBus::start().await;
    for junk in [&b"\x05hello"[..], b"", b"\x01\x00\x00\x01x"] {
        let mut raw = Raw::connect(&bus).await;
        raw.frame(junk).await;
        assert!(raw.is_closed().await, "{junk:?}");
    }
    // A request in place of the handshake is not a handshake either.
    let mut raw = Raw::connect(&bus).await;
    raw.send(&Envelope {
        id: 1,
        body: Request::Status,
    })
    .await;
    assert!(raw.is_closed().await);
    bus.registered("still-serving").await;
}

#[tokio::test]
async fn a_client_that_never_says_hello_is_dropped() {
    let bus = TempBus::start().await;
    let mut raw = Raw::connect(&bus).await;
    assert!(raw.is_closed().await, "closed after the handshake timeout");
}

#[tokio::test]
async fn invalid_names_are_refused_with_the_rule() {
    let bus = TempBus::start().await;
    let c = bus.connected().await;
    let long = "x".repeat(limits::NAME_MAX + 1);
    for bad in ["", "a b", "é", "a/b", "semi;colon", &long] {
        let why = refused(register(&c, bad).await, ErrorKind::InvalidArgument);
        assert!(why.starts_with("invalid name"), "{why}");
        assert!(why.contains("1-64 characters"), "{why}");
    }
    let why = refused(register(&c, "all").await, ErrorKind::InvalidArgument);
    assert!(why.contains("reserved"), "{why}");
    register(&c, &"x".repeat(limits::NAME_MAX))
        .await
        .expect("64 characters is a name");

    let to_bad = call(
        &c,
        Request::Send {
            to: "no such/name".into(),
            content: "hi".into(),
            reply_to: None,
        },
    )
    .await;
    assert!(refused(to_bad, ErrorKind::InvalidArgument).starts_with("invalid name"));
}

#[tokio::test]
async fn sizes_and_numbers_out_of_their_limits_are_refused() {
    let bus = TempBus::start().await;
    let a = bus.registered("a").await;
    let send_content = |content: String| Request::Send {
        to: "b".into(),
        content,
        reply_to: None,
    };
    let why = refused(
        call(&a, send_content("x".repeat(limits::CONTENT_MAX_BYTES + 1))).await,
        ErrorKind::TooLarge,
    );
    assert!(
        why.contains("65537 bytes") && why.contains("65536"),
        "{why}"
    );
    // The limit is in bytes of UTF-8, not characters.
    let wide = "é".repeat(limits::CONTENT_MAX_BYTES / 2 + 1);
    refused(call(&a, send_content(wide)).await, ErrorKind::TooLarge);
    refused(
        call(&a, send_content(String::new())).await,
        ErrorKind::InvalidArgument,
    );
    call(&a, send_content("x".repeat(limits::CONTENT_MAX_BYTES)))
        .await
        .expect("64 KiB exactly is fine");

    let set = |key: String, value: String| Request::SetState {
        key,
        value,
        expected_version: None,
        mode: StateMode::Overwrite,
    };
    refused(
        call(&a, set(String::new(), "v".into())).await,
        ErrorKind::InvalidArgument,
    );
    refused(
        call(&a, set("k".repeat(257), "v".into())).await,
        ErrorKind::InvalidArgument,
    );
    let why = refused(
        call(&a, set("k".into(), "v".repeat(limits::VALUE_MAX_BYTES + 1))).await,
        ErrorKind::TooLarge,
    );
    assert!(why.contains("over the limit"), "{why}");
    let claim = |path: String, ttl: f64| Request::Claim { path, ttl };
    refused(
        call(&a, claim(String::new(), 60.0)).await,
        ErrorKind::InvalidArgument,
    );
    refused(
        call(&a, claim("p".repeat(4097), 60.0)).await,
        ErrorKind::InvalidArgument,
    );
    for ttl in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        refused(
            call(&a, claim("src".into(), ttl)).await,
            ErrorKind::InvalidArgument,
        );
    }
    let inbox = |limit: u32, wait: f64| Request::Inbox {
        consume: true,
        limit,
        wait,
        waiter: None,
    };
    for (limit, wait) in [
        (0, 0.0),
        (1001, 0.0),
        (10, -1.0),
        (10, 3600.5),
        (10, f64::NAN),
    ] {
        let why = refused(
            call(&a, inbox(limit, wait)).await,
            ErrorKind::InvalidArgument,
        );
        assert!(why.contains("limit") || why.contains("wait"), "{why}");
    }
    let agents = Request::Agents {
        active_within: -5.0,
        all: false,
    };
    refused(call(&a, agents).await, ErrorKind::InvalidArgument);
    let stale = Request::SetState {
        key: "k".into(),
        value: "v".into(),
        expected_version: Some(-1),
        mode: StateMode::Overwrite,
    };
    refused(call(&a, stale).await, ErrorKind::InvalidArgument);
    let s = status(&a).await;
    assert_eq!(
        (s.messages, s.state_keys, s.live_claims),
        (1, 0, 0),
        "nothing refused was applied"
    );
}

#[tokio::test]
async fn unknown_ids_are_refused() {
    let bus = TempBus::start().await;
    let a = bus.registered("a").await;
    let why = refused(
        call(&a, Request::MessageStatus { message_id: 42 }).await,
        ErrorKind::NotFound,
    );
    assert!(why.contains("42"), "{why}");
    let why = refused(
        call(
            &a,
            Request::Send {
                to: "b".into(),
                content: "re".into(),
                reply_to: Some(42),
            },
        )
        .await,
        ErrorKind::NotFound,
    );
    assert!(why.contains("reply_to 42"), "{why}");
    assert_eq!(status(&a).await.messages, 0);
    let id = send(&a, "b", "first").await;
    let reply = call(
        &a,
        Request::Send {
            to: "b".into(),
            content: "re".into(),
            reply_to: Some(id),
        },
    )
    .await;
    assert!(matches!(reply, Ok(Response::Sent(_))));
}
