//! A connection changing its name while other calls of its own are under way: a waiting read
//! follows the connection to its new name, and concurrent `register` calls leave exactly the
//! name `whoami` shows held.

use proto::{Envelope, Reply, Request, Response};

use crate::common::*;

fn register_request(name: &str) -> Request {
    Request::Register {
        name: name.into(),
        role: None,
        owns: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_inbox_leaves_the_old_name_mail_to_its_next_holder() {
    let bus = TempBus::start().await;
    let sender = bus.registered("sender").await;
    let a = bus.registered("alpha").await;
    let parked = tokio::spawn({
        let a = a.clone();
        async move { consume(&a, 1000, 30.0).await }
    });
    wait_until_waiting(&sender, "alpha").await;
    register(&a, "gamma").await.expect("a becomes gamma");
    let c = bus.registered("alpha").await;

    let for_alpha = send(&sender, "alpha", "for whoever is alpha now").await;
    let page = consume(&c, 1000, 10.0).await;
    assert_eq!(
        page.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
        [for_alpha],
        "the new alpha gets alpha's mail"
    );
    let for_gamma = send(&sender, "gamma", "for a").await;
    let page = parked.await.expect("the wait ends");
    assert_eq!(
        page.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
        [for_gamma],
        "the waiting call reads the connection's new name"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_registers_at_once_on_one_connection_hold_only_the_name_it_ends_with() {
    let bus = TempBus::start().await;
    let other = bus.connected().await;
    let mut open = Vec::new();
    for i in 0..10 {
        let mut raw = Raw::accepted(&bus, &format!("twice-{i}")).await;
        let names = [format!("first-{i}"), format!("second-{i}")];
        for (id, name) in (1..).zip(&names) {
            raw.send(&Envelope {
                id,
                body: register_request(name),
            })
            .await;
        }
        for _ in &names {
            let reply: Reply = raw.recv().await.expect("busd replies");
            assert!(
                matches!(reply.body, Ok(Response::Registered(_))),
                "{reply:?}"
            );
        }
        let Ok(Response::Identity(me)) = raw.call(3, Request::Whoami).await.body else {
            panic!("whoami failed")
        };
        let me = me.name.expect("a name is bound");
        let given_up = names.iter().find(|n| **n != me).expect("one of the two");
        let answer = register(&other, given_up).await;
        assert!(answer.is_ok(), "the name {me} gave up is free: {answer:?}");
        open.push(raw);
    }
    assert_eq!(
        status(&other).await.sessions,
        11,
        "one session per connection"
    );
}
