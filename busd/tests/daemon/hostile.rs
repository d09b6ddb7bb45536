//! Hostile input: random requests and random frames (property-based), oversize and truncated
//! frames. Each is refused (and logged) while everyone else keeps being served. The properties
//! are shared with the soak, which runs them with many more cases. Hand-picked bad input is in
//! [`crate::badinput`]; peers of other users and bus folders that are not ours in
//! [`crate::trust`].

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use proto::client::ClientError;
use proto::frame::{self, MAX_REQUEST_FRAME};
use proto::{Envelope, ErrorKind, Hello, Reply, Request, Response, Welcome};
use tokio::io::AsyncWriteExt;

use crate::arbitrary;
use crate::client_faults::Witness;
use crate::common::*;
use crate::probe::tagged;

/// Cases per property in the default test run; the soak runs many more.
const QUICK_CASES: u32 = 24;

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Run `cases` cases of a property that talks to busd, off the async runtime.
/// (proptest's strategies are not `Send`: `strategy` builds one on the runner's thread.)
async fn check<S, M, F>(cases: u32, strategy: M, test: F) -> Result<u64, String>
where
    S: Strategy + 'static,
    S::Value: std::fmt::Debug,
    M: FnOnce() -> S + Send + 'static,
    F: Fn(tokio::runtime::Handle, S::Value) -> Result<(), TestCaseError> + Send + 'static,
{
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        runner(cases)
            .run(&strategy(), |value| test(handle.clone(), value))
            .map(|()| u64::from(cases))
            .map_err(|e| e.to_string())
    })
    .await
    .unwrap()
}

/// Random sequences of well-formed requests, each on a fresh connection: every one is
/// answered, none with an internal error, and no connection is dropped.
pub async fn random_requests(bus: Arc<TempBus>, cases: u32) -> Result<u64, String> {
    let strategy = || prop::collection::vec(arbitrary::request(), 1..8);
    check(cases, strategy, move |handle, requests| {
        handle.block_on(async {
            let client = bus.connected().await;
            for request in requests {
                let shown: String = format!("{request:?}").chars().take(300).collect();
                let shown = &shown;
                let answer = tokio::time::timeout(Duration::from_secs(30), client.call(request))
                    .await
                    .map_err(|_| TestCaseError::fail(format!("no answer to {shown}")))?;
                match answer {
                    Err(ClientError::Refused(e)) if e.kind == ErrorKind::Internal => {
                        return Err(TestCaseError::fail(format!(
                            "internal error for {shown}: {e}"
                        )));
                    }
                    Err(ClientError::Unavailable(why)) => {
                        return Err(TestCaseError::fail(format!(
                            "connection lost on {shown}: {why}"
                        )));
                    }
                    _ => {}
                }
            }
            Ok(())
        })
    })
    .await
}

/// Random bytes as the handshake, or as a request after it: busd answers what decodes, closes
/// the connection on what does not, and never stops serving.
pub async fn random_frames(bus: Arc<TempBus>, cases: u32) -> Result<u64, String> {
    let strategy = || (any::<bool>(), prop::collection::vec(any::<u8>(), 0..300));
    check(cases, strategy, move |handle, (handshaken, payload)| {
        if handshaken {
            let decoded = frame::decode::<Envelope>(&payload);
            prop_assume!(!matches!(decoded, Ok(e) if arbitrary::stops_the_daemon(&e.body)));
        } else {
            let decoded = frame::decode::<Hello>(&payload);
            prop_assume!(
                !matches!(decoded, Ok(h) if h.retire_older && h.protocol > proto::PROTOCOL_VERSION)
            );
        }
        handle.block_on(async {
            if handshaken {
                let (mut peer, _) = tagged(&bus).await;
                // A known request after the junk: answered, unless the junk closed the
                // connection (then writing may fail: that is fine).
                let probe = frame::encode(&Envelope {
                    id: u64::MAX,
                    body: Request::Whoami,
                })
                .unwrap();
                let _ = peer.stream.write_all(&framed(&payload)).await;
                let _ = peer.stream.write_all(&framed(&probe)).await;
                while let Some(reply) = peer.recv_frame().await {
                    if frame::decode::<Reply>(&reply).is_ok_and(|r| r.id == u64::MAX) {
                        break;
                    }
                }
            } else {
                let mut peer = Raw::connect(&bus).await;
                let _ = peer.stream.write_all(&framed(&payload)).await;
                if let Some(welcome) = peer.recv_frame().await {
                    prop_assert!(
                        frame::decode::<Welcome>(&welcome).is_ok(),
                        "busd answered a handshake with something that is not a welcome"
                    );
                }
            }
            Ok(())
        })
    })
    .await
}

/// Random length prefixes (oversize, or longer than what follows) after the handshake, then
/// the end of the stream: busd closes the connection every time.
pub async fn random_lengths(bus: Arc<TempBus>, cases: u32) -> Result<u64, String> {
    let strategy = || {
        let length = prop_oneof![
            Just(MAX_REQUEST_FRAME as u32 + 1),
            Just(u32::MAX),
            any::<u32>(),
            0u32..64
        ];
        (length, prop::collection::vec(any::<u8>(), 0..64))
    };
    check(cases, strategy, move |handle, (length, bytes)| {
        if let Some(first) = bytes.get(..length as usize) {
            let decoded = frame::decode::<Envelope>(first);
            prop_assume!(!matches!(decoded, Ok(e) if arbitrary::stops_the_daemon(&e.body)));
        }
        handle.block_on(async {
            let (mut peer, _) = tagged(&bus).await;
            let mut raw = length.to_be_bytes().to_vec();
            raw.extend_from_slice(&bytes);
            let _ = peer.stream.write_all(&raw).await;
            peer.half_close().await;
            peer.frames_until_closed().await;
        });
        Ok(())
    })
    .await
}

/// A 4-byte big-endian length, then `payload`.
fn framed(payload: &[u8]) -> Vec<u8> {
    let mut bytes = (payload.len() as u32).to_be_bytes().to_vec();
    bytes.extend_from_slice(payload);
    bytes
}

/// Run `properties` against one busd, then check it is the same daemon and still serves.
async fn survives(cases: u32, property: fn(Arc<TempBus>, u32) -> PropertyRun) {
    let bus = Arc::new(TempBus::start().await);
    let witness = Witness::new(&bus).await;
    let pid = status(&witness.a).await.pid;
    if let Err(e) = property(bus.clone(), cases).await {
        panic!("{e}\n{}", tail(&bus.log()));
    }
    witness.round_trip().await.unwrap();
    assert_eq!(status(&witness.a).await.pid, pid, "the same busd serves");
}

type PropertyRun = std::pin::Pin<Box<dyn Future<Output = Result<u64, String>> + Send>>;

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_requests_are_answered_and_never_break_busd() {
    survives(QUICK_CASES, |bus, n| Box::pin(random_requests(bus, n))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_frames_are_refused_or_answered_and_never_break_busd() {
    survives(QUICK_CASES * 4, |bus, n| Box::pin(random_frames(bus, n))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_lengths_and_truncated_frames_close_only_their_connection() {
    survives(QUICK_CASES * 4, |bus, n| Box::pin(random_lengths(bus, n))).await;
}

/// The decoder, alone: any bytes are an error or a value, never a panic; any request
/// survives a round trip.
pub fn decoder_properties(cases: u32) -> Result<u64, String> {
    let bytes = prop::collection::vec(any::<u8>(), 0..512);
    runner(cases)
        .run(&bytes, |b| {
            let _ = frame::decode::<Envelope>(&b);
            let _ = frame::decode::<Hello>(&b);
            let _ = frame::decode::<Reply>(&b);
            let _ = frame::decode::<Welcome>(&b);
            let _ = frame::decode::<Response>(&b);
            Ok(())
        })
        .map_err(|e| e.to_string())?;
    let envelopes = (any::<u64>(), arbitrary::request());
    runner(cases)
        .run(&envelopes, |(id, body)| {
            let envelope = Envelope { id, body };
            let bytes = frame::encode(&envelope).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let back: Envelope =
                frame::decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            // NaN durations are not equal to themselves: compare the encodings instead.
            prop_assert_eq!(frame::encode(&back).unwrap(), bytes);
            Ok(())
        })
        .map_err(|e| e.to_string())?;
    Ok(u64::from(cases) * 2)
}

#[test]
fn the_decoder_never_panics_and_requests_round_trip() {
    decoder_properties(256).unwrap();
}
