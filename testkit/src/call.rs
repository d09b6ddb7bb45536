//! The typed call helper of tests: a [`Call`] run on a test's client, with busd's refusal as
//! the error and a client-side failure (no daemon) as a panic, since a test expects a daemon.

use proto::client::{Call, Client, ClientError, call};
use proto::{ErrorKind, InboxPage, Request, Response, Status, WireError};

/// Run a typed call; busd's refusal is the error.
pub async fn run<T>(client: &Client, call: Call<T>) -> Result<T, WireError> {
    refusal(client.run(call).await)
}

/// Send a raw request (tests of the protocol itself); busd's refusal is the error.
pub async fn raw(client: &Client, request: Request) -> Result<Response, WireError> {
    refusal(client.call(request).await)
}

fn refusal<T>(answer: Result<T, ClientError>) -> Result<T, WireError> {
    match answer {
        Ok(r) => Ok(r),
        Err(ClientError::Refused(e)) => Err(e),
        Err(e) => panic!("busd unavailable: {e}"),
    }
}

/// The refusal of a call that must fail, checked for its kind; returns its message.
pub fn refused<T: std::fmt::Debug>(answer: Result<T, WireError>, kind: ErrorKind) -> String {
    match answer {
        Err(e) if e.kind == kind => e.message,
        other => panic!("expected a {kind:?} refusal, got {other:?}"),
    }
}

/// Send `content` to `to`; the message's id.
pub async fn send(client: &Client, to: &str, content: &str) -> i64 {
    match run(client, call::send(to.into(), content.into(), None)).await {
        Ok(sent) => sent.id,
        Err(e) => panic!("send failed: {e}"),
    }
}

/// Consume up to `limit` messages, waiting up to `wait` seconds for the first.
pub async fn consume(client: &Client, limit: u32, wait: f64) -> InboxPage {
    match run(client, call::inbox(true, limit, wait, None)).await {
        Ok(page) => page,
        Err(e) => panic!("inbox failed: {e}"),
    }
}

/// busd's status.
pub async fn status(client: &Client) -> Status {
    match run(client, call::status()).await {
        Ok(s) => s,
        Err(e) => panic!("status failed: {e}"),
    }
}

/// Block until a reader of `name` is parked in a wait for mail: busd answers
/// `Request::AwaitParked` at that event (or at once if one is), so nothing is asked twice.
pub async fn wait_until_waiting(client: &Client, name: &str) {
    let parked = run(client, call::await_parked(name.into(), 30.0)).await;
    assert_eq!(parked, Ok(true), "{name} did not start waiting within 30 s");
}
