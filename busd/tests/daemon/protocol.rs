//! The socket protocol: the versioned handshake, identity bound to the connection, and
//! request ids applied at most once.

use proto::{ErrorKind, Request, Response, Welcome};

use crate::common::*;

#[tokio::test]
async fn a_client_speaking_another_protocol_is_refused_with_a_clear_error() {
    let bus = TempBus::start().await;
    let ours = proto::PROTOCOL_VERSION;

    let (mut newer, welcome) = Raw::greet(&bus, &hello(ours + 1, "newer")).await;
    let Welcome::Refused { protocol, error } = welcome else {
        panic!("a newer client that did not ask busd to retire is refused: {welcome:?}");
    };
    assert_eq!(protocol, ours, "busd says which protocol it speaks");
    assert_eq!(error.kind, ErrorKind::Handshake);
    assert!(
        error.message.contains("bus stop") && error.message.contains(&ours.to_string()),
        "says what to do: {}",
        error.message
    );
    assert!(newer.is_closed().await, "then busd closes the connection");

    let oldest = proto::PROTOCOL_OLDEST;
    let (mut older, welcome) = Raw::greet(&bus, &hello(oldest - 1, "older")).await;
    let Welcome::Refused { error, .. } = welcome else {
        panic!("an older client is refused: {welcome:?}");
    };
    assert_eq!(error.kind, ErrorKind::Handshake);
    assert!(
        error.message.contains("update claude-bus"),
        "{}",
        error.message
    );
    assert!(older.is_closed().await);

    let a = bus.registered("a").await;
    assert!(matches!(
        call(&a, Request::Whoami).await,
        Ok(Response::Identity(_))
    ));
}

#[tokio::test]
async fn a_newer_client_retires_an_older_daemon_which_exits_cleanly() {
    let mut bus = TempBus::start_with(&["--announce-protocol", "0"]).await;
    let mut newer = hello(proto::PROTOCOL_VERSION, "newer");
    newer.retire_older = true;
    let (mut raw, welcome) = Raw::greet(&bus, &newer).await;
    assert!(
        matches!(welcome, Welcome::Retiring { protocol: 0, pid } if pid == bus.pid()),
        "{welcome:?}"
    );
    assert!(
        raw.is_closed().await,
        "the connection ends when busd is gone"
    );
    let mut child = bus.daemon.take().expect("busd");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "the retired busd exits 0: {status}");
    assert!(!bus.paths.socket.exists(), "and removes its socket");
}

#[tokio::test]
async fn a_held_name_is_refused_to_a_second_connection() {
    let bus = TempBus::start().await;
    let a = bus.connected().await;
    let registered = call(
        &a,
        Request::Register {
            name: "api".into(),
            role: Some("backend".into()),
            owns: None,
        },
    )
    .await;
    assert!(matches!(registered, Ok(Response::Registered(_))));

    let b = bus.connected().await;
    let why = refused(register(&b, "api").await, ErrorKind::NameTaken);
    assert!(
        why.contains("'api'") && why.contains("role 'backend'") && why.contains("since 20"),
        "names the holder's role and since when: {why}"
    );
    assert_eq!(
        call(&b, Request::Whoami).await,
        Ok(Response::Identity(proto::Identity { name: None })),
        "the refused connection stays unbound"
    );
    let why = refused(
        call(
            &b,
            Request::Send {
                to: "api".into(),
                content: "hi".into(),
                reply_to: None,
            },
        )
        .await,
        ErrorKind::NotRegistered,
    );
    assert!(why.starts_with("register first"), "{why}");
}

#[tokio::test]
async fn a_name_is_free_once_its_connection_is_gone() {
    let bus = TempBus::start().await;
    let mut holder = Raw::accepted(&bus, "holder").await;
    let reply = holder.call(1, register_request("api")).await;
    assert!(matches!(reply.body, Ok(Response::Registered(_))));

    let b = bus.connected().await;
    refused(register(&b, "api").await, ErrorKind::NameTaken);
    drop(holder);
    register(&b, "api")
        .await
        .expect("the name of a closed connection is free at once");
}

#[tokio::test]
async fn re_registering_frees_the_old_name_and_keeps_the_mail() {
    let bus = TempBus::start().await;
    let a = bus.registered("x").await;
    let c = bus.registered("c").await;
    send(&c, "y", "for y, before y existed").await;
    let Ok(r) = register(&a, "y").await else {
        panic!("rebinding to a free name works")
    };
    assert_eq!(
        r.pending_count, 1,
        "mail sent to a name before it registered waits for it"
    );
    let b = bus.connected().await;
    register(&b, "x").await.expect("the old name is free");
    let page = consume(&a, 10, 0.0).await;
    assert_eq!(page.messages[0].from, "c");
    assert_eq!(page.messages[0].to, "y");
}

#[tokio::test]
async fn the_sender_is_always_the_bound_name() {
    let bus = TempBus::start().await;
    let a = bus.registered("a").await;
    let b = bus.registered("b").await;
    send(&b, "a", "from b").await;
    send(&b, "all", "from b to all").await;
    let page = consume(&a, 10, 0.0).await;
    assert_eq!(page.messages.len(), 2);
    assert!(page.messages.iter().all(|m| m.from == "b"));
    assert!(
        consume(&b, 10, 0.0).await.messages.is_empty(),
        "a broadcast never reaches its sender"
    );
}

#[tokio::test]
async fn a_resent_request_id_is_applied_once_and_answered_as_the_first_time() {
    let bus = TempBus::start().await;
    let reader = bus.registered("reader").await;
    let mut first = Raw::accepted(&bus, "client-1").await;
    assert!(matches!(
        first.call(1, register_request("writer")).await.body,
        Ok(Response::Registered(_))
    ));
    let send = Request::Send {
        to: "reader".into(),
        content: "once".into(),
        reply_to: None,
    };
    let sent = first.call(7, send.clone()).await;
    drop(first);

    // The same client (same client id) resends request 7 on a new connection, as it does
    // after losing the reply in a crash.
    let mut again = Raw::accepted(&bus, "client-1").await;
    assert!(matches!(
        again
            .call(
                1,
                Request::ActAs {
                    name: "writer".into()
                }
            )
            .await
            .body,
        Ok(Response::Identity(_))
    ));
    let resent = again.call(7, send).await;
    assert_eq!(
        resent.body, sent.body,
        "the first answer, not a second message"
    );
    assert_eq!(status(&reader).await.messages, 1);

    // A consuming inbox whose reply was lost hands the same messages over again.
    let mut r1 = Raw::accepted(&bus, "client-2").await;
    r1.call(
        1,
        Request::ActAs {
            name: "reader".into(),
        },
    )
    .await;
    let inbox = Request::Inbox {
        consume: true,
        limit: 10,
        wait: 0.0,
        waiter: None,
    };
    let taken = r1.call(9, inbox.clone()).await;
    drop(r1);
    let mut r2 = Raw::accepted(&bus, "client-2").await;
    r2.call(
        1,
        Request::ActAs {
            name: "reader".into(),
        },
    )
    .await;
    let retaken = r2.call(9, inbox).await;
    assert_eq!(retaken.body, taken.body);
    let Ok(Response::Inbox(page)) = taken.body else {
        panic!("inbox failed")
    };
    assert_eq!(page.messages.len(), 1);
    assert!(
        consume(&reader, 10, 0.0).await.messages.is_empty(),
        "consumed once"
    );
}

fn register_request(name: &str) -> Request {
    Request::Register {
        name: name.into(),
        role: None,
        owns: None,
    }
}
