//! Clients that fail or misbehave: a shim killed mid-call, a client that never handshakes,
//! one that stops reading its replies, one that half-closes. None of them stalls busd for
//! anyone else, and once each is gone busd's connections, sessions, waits and descriptors are
//! back where they were. The scenarios are shared with the soak, which repeats them.

use std::sync::Arc;

use proto::client::Client;
use proto::{Envelope, ErrorKind, Reply, Request, Response};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

use crate::mcp::{Shim, shim_exe};
use crate::probe::*;

/// Two well-behaved sessions that check, while others misbehave, that busd still serves.
pub struct Witness {
    pub a: Client,
    pub b: Client,
}

impl Witness {
    pub async fn new(bus: &TempBus) -> Witness {
        Witness {
            a: bus.registered("witness-a").await,
            b: bus.registered("witness-b").await,
        }
    }

    /// One message from a to b, consumed: busd serves the others right now.
    pub async fn round_trip(&self) -> Result<(), String> {
        let id = send(&self.a, "witness-b", "still there?").await;
        let page = consume(&self.b, 1000, 30.0).await;
        match page.messages.last() {
            Some(m) if m.id == id => Ok(()),
            _ => Err(format!("the witness message {id} did not arrive: {page:?}")),
        }
    }

    pub async fn footprint(&self) -> Footprint {
        footprint(&self.a).await
    }
}

/// Wait until busd logged that the client which announced `pid` is disconnected.
async fn gone(bus: &TempBus, pid: u32) {
    log_event(
        &bus.paths.log,
        &format!("the disconnect of pid {pid}"),
        move |log| conn_of_pid(log, pid).is_some_and(|c| disconnected(log, c)),
    )
    .await;
}

/// `n` real bus-shim sessions, each killed with `kill -9` while its `inbox(wait)` call waits in
/// busd. Returns how many were killed.
pub async fn killed_shims(bus: &TempBus, witness: &Witness, n: usize) -> Result<u64, String> {
    for i in 0..n {
        let name = format!("victim-{i}");
        let log = bus.dir.path().join(format!("shim-{name}.log"));
        let shim = Arc::new(Shim::start(&bus.paths, &[], &log).await);
        shim.call("register", json!({ "name": name })).await?;
        let waiting = tokio::spawn({
            let shim = shim.clone();
            async move { shim.call("inbox", json!({ "wait": 60 })).await }
        });
        wait_until_waiting(&witness.a, &name).await;
        let pid = shim.pid();
        shim.kill9();
        if let Ok(answer) = waiting.await.unwrap() {
            return Err(format!("a killed shim answered its call: {answer}"));
        }
        gone(bus, pid).await;
        let agents = call(
            &witness.a,
            Request::Agents {
                active_within: 3600.0,
                all: true,
            },
        )
        .await;
        let Ok(Response::Agents(list)) = agents else {
            return Err(format!("agents failed: {agents:?}"));
        };
        if list.agents.iter().any(|a| a.name == name && a.connected) {
            return Err(format!(
                "{name} is still shown connected after its shim died"
            ));
        }
    }
    Ok(n as u64)
}

/// `n` clients that connect and never send their handshake: busd closes them (after its
/// handshake timeout) and serves the witness meanwhile.
pub async fn silent_peers(bus: &TempBus, witness: &Witness, n: usize) -> Result<u64, String> {
    let mut peers = Vec::new();
    for _ in 0..n {
        peers.push(Raw::connect(bus).await);
    }
    witness.round_trip().await?;
    for mut peer in peers {
        if !peer.is_closed().await {
            return Err("busd kept a client that never sent its handshake".into());
        }
    }
    if !bus.log().contains("no handshake within") {
        return Err("busd did not log the missing handshakes".into());
    }
    Ok(n as u64)
}

/// A client that sends `requests` reads of a 64 KiB value and does not read the answers. The
/// witness is served meanwhile. Then it either reads everything back after half-closing
/// (`read_back`), or just closes.
pub async fn hog(
    bus: &TempBus,
    witness: &Witness,
    requests: u64,
    read_back: bool,
) -> Result<u64, String> {
    let set = Request::SetState {
        key: "hog/big".into(),
        value: "x".repeat(64 * 1024),
        expected_version: None,
        mode: proto::StateMode::Overwrite,
    };
    call(&witness.a, set).await.map_err(|e| e.to_string())?;
    let (peer, pid) = tagged(bus).await;
    // busd stops reading once enough answers are unread, so the requests are written by a task
    // of their own, which waits until the answers are read (or the connection is closed).
    let (mut answers, mut requests_out) = peer.stream.into_split();
    let writing = tokio::spawn(async move {
        for id in 1..=requests {
            let get = Request::GetState {
                key: Some("hog/big".into()),
            };
            let payload = proto::frame::encode(&Envelope { id, body: get }).unwrap();
            let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
            frame.extend_from_slice(&payload);
            if requests_out.write_all(&frame).await.is_err() {
                return false;
            }
        }
        requests_out.shutdown().await.is_ok()
    });
    witness.round_trip().await?;
    if read_back {
        let mut answered = 0;
        while let Some(reply) = read_reply(&mut answers).await {
            answered += u64::from(reply.body.is_ok());
        }
        if !writing.await.unwrap() || answered != requests {
            return Err(format!("the hog got {answered} of {requests} answers"));
        }
    } else {
        writing.abort();
        let _ = writing.await;
        drop(answers);
    }
    gone(bus, pid).await;
    Ok(requests)
}

/// `n` clients that send a few requests (one of them a waiting inbox) and half-close: each
/// gets every answer, the wait ends at once, and busd closes the connection.
pub async fn half_closers(bus: &TempBus, witness: &Witness, n: usize) -> Result<u64, String> {
    for i in 0..n {
        let (mut peer, pid) = tagged(bus).await;
        let name = format!("half-{i}");
        let register = Request::Register {
            name: name.clone(),
            role: None,
            owns: None,
        };
        // In order: the registration is answered before the requests that need it.
        if peer.call(1, register).await.body.is_err() {
            return Err(format!("{name} could not register"));
        }
        let send = Request::Send {
            to: "witness-b".into(),
            content: format!("from {name}"),
            reply_to: None,
        };
        let inbox = Request::Inbox {
            consume: true,
            limit: 10,
            wait: 600.0,
            waiter: None,
        };
        for (id, body) in [(2, send), (3, inbox), (4, Request::Whoami)] {
            peer.send(&Envelope { id, body }).await;
        }
        peer.half_close().await;
        let replies: Vec<Reply> = peer
            .frames_until_closed()
            .await
            .iter()
            .map(|f| proto::frame::decode(f).expect("a reply"))
            .collect();
        let mut ids: Vec<u64> = replies.iter().map(|r| r.id).collect();
        ids.sort();
        if ids != [2, 3, 4] {
            return Err(format!("{name} got answers {ids:?}, not 2, 3 and 4"));
        }
        for reply in &replies {
            match (&reply.id, &reply.body) {
                (3, Err(e)) if e.kind == ErrorKind::Cancelled => {}
                (_, Ok(_)) => {}
                (id, Err(e)) => return Err(format!("{name}'s request {id} failed: {e}")),
            }
        }
        gone(bus, pid).await;
        let page = consume(&witness.b, 1000, 0.0).await;
        if !page.messages.iter().any(|m| m.from == name) {
            return Err(format!(
                "the message {name} sent before half-closing is lost"
            ));
        }
    }
    Ok(n as u64)
}

/// Run one scenario on a fresh bus and check that busd is back where it was afterwards.
async fn leaves_no_trace<F, Fut>(scenario: F)
where
    F: FnOnce(Arc<TempBus>, Arc<Witness>) -> Fut,
    Fut: std::future::Future<Output = Result<u64, String>>,
{
    let bus = Arc::new(TempBus::start().await);
    let witness = Arc::new(Witness::new(&bus).await);
    let before = witness.footprint().await;
    if let Err(e) = scenario(bus.clone(), witness.clone()).await {
        panic!("{e}\n{}", bus.log());
    }
    witness.round_trip().await.unwrap();
    let after = witness.footprint().await;
    assert_eq!(before, after, "busd is back where it was\n{}", bus.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shim_killed_mid_call_leaves_no_trace() {
    if shim_exe().is_none() {
        eprintln!("skipped: bus-shim is not built beside busd (cargo test --workspace builds it)");
        return;
    }
    leaves_no_trace(|bus, w| async move { killed_shims(&bus, &w, 2).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_handshakes_is_closed_and_stalls_nobody() {
    leaves_no_trace(|bus, w| async move { silent_peers(&bus, &w, 8).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_only_slows_itself() {
    leaves_no_trace(|bus, w| async move {
        hog(&bus, &w, 300, true).await?;
        hog(&bus, &w, 300, false).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_closed_client_gets_its_answers_and_is_closed() {
    leaves_no_trace(|bus, w| async move { half_closers(&bus, &w, 3).await }).await;
}

/// The next reply on a read half; `None` once busd closed the connection.
async fn read_reply(from: &mut tokio::net::unix::OwnedReadHalf) -> Option<Reply> {
    let read = async {
        let mut len = [0u8; 4];
        from.read_exact(&mut len).await.ok()?;
        let mut payload = vec![0u8; u32::from_be_bytes(len) as usize];
        from.read_exact(&mut payload).await.ok()?;
        Some(proto::frame::decode(&payload).expect("a reply"))
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), read)
        .await
        .expect("busd answers or closes")
}
