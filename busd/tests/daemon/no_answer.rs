//! A busd that takes calls but does not answer them (a stopped process): every call has a
//! deadline, and its error names busd's pid and what to do.

use std::time::Duration;

use proto::client::{Client, ClientError, ClientOptions};
use proto::{ClientKind, Request, Response};

use crate::common::*;

#[tokio::test]
async fn a_stopped_busd_is_named_instead_of_waited_on() {
    let bus = TempBus::start().await;
    let client = impatient(&bus, Duration::from_secs(1));
    client.connect().await.expect("connects");
    register(&client, "patient").await.expect("registers");

    // A waiting call is given its wait plus the margin: a wait longer than the margin is fine.
    let waited = client
        .call(Request::Inbox {
            consume: true,
            limit: 10,
            wait: 1.5,
            waiter: None,
        })
        .await;
    assert!(matches!(waited, Ok(Response::Inbox(_))), "{waited:?}");

    let pid = bus.pid();
    stop(pid);
    let answer = tokio::time::timeout(Duration::from_secs(20), client.call(Request::Whoami)).await;
    // A client connecting now is told as much, after the handshake's own time limit.
    let newcomer = Client::new(bus.options(ClientKind::Other));
    let connecting = tokio::time::timeout(Duration::from_secs(20), newcomer.connect()).await;
    signal(pid, libc::SIGCONT);
    match connecting {
        Ok(Err(ClientError::NoAnswer(why))) => {
            assert!(why.contains(&format!("kill -CONT {pid}")), "{why}");
        }
        other => panic!("connecting to a stopped busd gave {other:?}"),
    }
    match answer {
        Ok(Err(ClientError::NoAnswer(why))) => {
            assert!(why.contains(&format!("busd (pid {pid})")), "{why}");
            assert!(why.contains(&format!("kill -CONT {pid}")), "{why}");
        }
        other => panic!("a stopped busd gave {other:?}"),
    }
    // Running again, it answers the same client.
    assert!(call(&client, Request::Whoami).await.is_ok());
}

#[tokio::test]
async fn every_waiting_call_is_given_its_wait_before_the_deadline() {
    let bus = TempBus::start().await;
    let client = impatient(&bus, Duration::from_millis(300));
    register(&client, "patient").await.expect("registers");
    // Each waits 1 s for something that never comes, over three times the margin: the answer
    // is the empty one, not "busd has not answered".
    let state = client
        .call(Request::WaitState {
            key: "never.written".into(),
            after_version: 0,
            wait: 1.0,
        })
        .await;
    assert!(
        matches!(&state, Ok(Response::State(list)) if list.state.is_empty()),
        "{state:?}"
    );
    let asked = client
        .call(Request::Ask {
            to: "nobody-answers".into(),
            content: "anyone?".into(),
            reply_to: None,
            wait: 1.0,
        })
        .await;
    assert!(
        matches!(&asked, Ok(Response::Asked(a)) if a.reply.is_none()),
        "{asked:?}"
    );
}

#[tokio::test]
async fn a_call_with_a_nearer_deadline_than_a_long_wait_before_it_keeps_its_own() {
    let bus = TempBus::start().await;
    let client = impatient(&bus, Duration::from_secs(1));
    register(&client, "patient").await.expect("registers");
    // On the same connection: a wait of 30 s first, then a call that may take only 1 s.
    let waiting = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .call(Request::Inbox {
                    consume: true,
                    limit: 10,
                    wait: 30.0,
                    waiter: None,
                })
                .await
        }
    });
    wait_until_waiting(&client, "patient").await;
    // Past the deadlines of the quick calls before, so that only the long ones are left.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pid = bus.pid();
    stop(pid);
    let started = std::time::Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(20), client.call(Request::Whoami)).await;
    let took = started.elapsed();
    signal(pid, libc::SIGCONT);
    assert!(
        matches!(&answer, Ok(Err(ClientError::NoAnswer(_)))),
        "{answer:?}"
    );
    assert!(took < Duration::from_secs(10), "told after {took:?}");
    // The long wait is still busd's to answer once it runs again.
    let other = Client::new(bus.options(ClientKind::Other));
    register(&other, "other").await.expect("registers");
    send(&other, "patient", "here").await;
    let waited = waiting.await.expect("the waiting call");
    assert!(
        matches!(&waited, Ok(Response::Inbox(page)) if page.messages.len() == 1),
        "{waited:?}"
    );
}

/// A client that gives busd `within` to answer each call (plus the call's own wait).
fn impatient(bus: &TempBus, within: Duration) -> Client {
    Client::new(ClientOptions {
        answer_within: within,
        ..bus.options(ClientKind::Other)
    })
}

/// Stop busd (SIGSTOP) and return once it has stopped: it is this test's child, so waitpid
/// reports the stop.
fn stop(pid: u32) {
    signal(pid, libc::SIGSTOP);
    let mut wstatus = 0;
    // SAFETY: waitpid on our own child, with a local status word; WUNTRACED does not reap it.
    let stopped = unsafe { libc::waitpid(pid as i32, &mut wstatus, libc::WUNTRACED) };
    assert!(
        stopped == pid as i32 && libc::WIFSTOPPED(wstatus),
        "busd stopped"
    );
}
