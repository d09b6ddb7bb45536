//! Typed calls: each [`Request`] paired with the one shape of its answer.
//!
//! A client builds a [`Call`] with the function named after the request (`call::send(…)`),
//! and runs it on whatever carries requests ([`super::Client::run`], `bus`'s HTTP front):
//! the answer comes back as the request's own result type (`Sent`), never as a [`Response`]
//! to match. Which variant answers which request is written here and nowhere else; busd
//! answering with another is a version mismatch, [`ClientError::Unexpected`].
//!
//! `Cancel` and `WatchClosing` have no call: the client sends them itself.

use crate::{
    AgentList, Asked, Authenticated, ClaimList, Claimed, Host, Identity, InboxPage, MessageStatus,
    Registered, Released, Request, Response, Sent, StateKeyList, StateList, StateMode,
    StateWritten, Status, TailPage, TokenCreated, TokenList, TokenRevoked,
};

use super::ClientError;

/// A request and how to read its answer.
#[derive(Debug)]
pub struct Call<T> {
    request: Request,
    answer: Answer<T>,
}

/// How to read the answer to one request: the variant it answers with, taken out.
#[derive(Debug)]
pub struct Answer<T> {
    request: &'static str,
    take: fn(Response) -> Result<T, Box<Response>>,
}

impl<T> Call<T> {
    fn new(request: Request, take: fn(Response) -> Result<T, Box<Response>>) -> Call<T> {
        let answer = Answer {
            request: request.name(),
            take,
        };
        Call { request, answer }
    }

    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The request to send, and how to read what comes back.
    pub fn split(self) -> (Request, Answer<T>) {
        (self.request, self.answer)
    }
}

impl<T> Answer<T> {
    /// The result carried by `response`, or the mismatch named.
    pub fn read(&self, response: Response) -> Result<T, ClientError> {
        (self.take)(response).map_err(|other| {
            ClientError::Unexpected(format!(
                "busd answered {} with an unexpected reply ({other:?}): is busd the same version as this client?",
                self.request
            ))
        })
    }
}

/// The closure that takes `Response::$variant` out of a response.
macro_rules! take {
    ($variant:ident) => {
        |response| match response {
            Response::$variant(value) => Ok(value),
            other => Err(Box::new(other)),
        }
    };
}

/// `register`: bind `name` to this connection (`None` keeps the stored role or owns).
pub fn register(name: String, role: Option<String>, owns: Option<Vec<String>>) -> Call<Registered> {
    Call::new(Request::Register { name, role, owns }, take!(Registered))
}

/// Act as `name` without holding it (the `bus` command and hooks).
pub fn act_as(name: String) -> Call<Identity> {
    Call::new(Request::ActAs { name }, take!(Identity))
}

/// `whoami`: the name bound to this connection.
pub fn whoami() -> Call<Identity> {
    Call::new(Request::Whoami, take!(Identity))
}

/// The name of a Claude Code session, by its process or its session ids.
pub fn resolve(session_ids: Vec<String>, host: Option<Host>, wait: f64) -> Call<Identity> {
    Call::new(
        Request::Resolve {
            session_ids,
            host,
            wait,
        },
        take!(Identity),
    )
}

/// This connection serves the Claude Code process `host`.
pub fn attach(host: Host, naming: bool) -> Call<Identity> {
    Call::new(Request::Attach { host, naming }, take!(Identity))
}

/// `agents`: sessions and what they own.
pub fn agents(active_within: f64, all: bool) -> Call<AgentList> {
    Call::new(Request::Agents { active_within, all }, take!(Agents))
}

/// `send`: a message from the bound name.
pub fn send(to: String, content: String, reply_to: Option<i64>) -> Call<Sent> {
    Call::new(
        Request::Send {
            to,
            content,
            reply_to,
        },
        take!(Sent),
    )
}

/// `send(wait_reply)`: send, then wait up to `wait` seconds for the first reply.
pub fn ask(to: String, content: String, reply_to: Option<i64>, wait: f64) -> Call<Asked> {
    Call::new(
        Request::Ask {
            to,
            content,
            reply_to,
            wait,
        },
        take!(Asked),
    )
}

/// `inbox`: read (or `consume`) up to `limit` messages, waiting up to `wait` seconds for the
/// first; a newer waiting call with the same `waiter` slot replaces this one.
pub fn inbox(consume: bool, limit: u32, wait: f64, waiter: Option<String>) -> Call<InboxPage> {
    Call::new(
        Request::Inbox {
            consume,
            limit,
            wait,
            waiter,
        },
        take!(Inbox),
    )
}

/// `inbox(thread)`: the reply chain holding message `id`, consuming nothing.
pub fn thread(id: i64) -> Call<InboxPage> {
    Call::new(Request::Thread { id }, take!(Inbox))
}

/// `message_status`: who has read a message.
pub fn message_status(message_id: i64) -> Call<MessageStatus> {
    Call::new(Request::MessageStatus { message_id }, take!(MessageStatus))
}

/// `set_state`: write a shared key, with compare-and-set when `expected_version` is given.
pub fn set_state(
    key: String,
    value: String,
    expected_version: Option<i64>,
    mode: StateMode,
) -> Call<StateWritten> {
    Call::new(
        Request::SetState {
            key,
            value,
            expected_version,
            mode,
        },
        take!(StateWritten),
    )
}

/// `get_state`: one key, or every key when `key` is `None`.
pub fn get_state(key: Option<String>) -> Call<StateList> {
    Call::new(Request::GetState { key }, take!(State))
}

/// `get_state(after_version, wait)`: `key` once its version is above `after_version`.
pub fn wait_state(key: String, after_version: i64, wait: f64) -> Call<StateList> {
    Call::new(
        Request::WaitState {
            key,
            after_version,
            wait,
        },
        take!(State),
    )
}

/// `list_state`: every key without values.
pub fn list_state() -> Call<StateKeyList> {
    Call::new(Request::ListState, take!(StateKeys))
}

/// `claim`: claim a path for `ttl` seconds.
pub fn claim(path: String, ttl: f64) -> Call<Claimed> {
    Call::new(Request::Claim { path, ttl }, take!(Claimed))
}

/// `release`: release the bound name's claim on a path.
pub fn release(path: String) -> Call<Released> {
    Call::new(Request::Release { path }, take!(Released))
}

/// `list_claims`: live claims.
pub fn list_claims() -> Call<ClaimList> {
    Call::new(Request::ListClaims, take!(Claims))
}

/// `bus tail`: every message above `after`, waiting up to `wait` seconds for the first.
pub fn tail(after: Option<i64>, wait: f64, limit: u32) -> Call<TailPage> {
    Call::new(Request::Tail { after, wait, limit }, take!(Tail))
}

/// `bus status`: the daemon's pid, version, paths and counts.
pub fn status() -> Call<Status> {
    Call::new(Request::Status, take!(Status))
}

/// `bus stop`: shut busd down gracefully.
pub fn shutdown() -> Call<()> {
    Call::new(Request::Shutdown, done)
}

/// `bus restart`: shut busd down for a new one to take over.
pub fn restart() -> Call<()> {
    Call::new(Request::Restart, done)
}

/// Create the HTTP token of `name`.
pub fn token_create(name: String, role: Option<String>) -> Call<TokenCreated> {
    Call::new(Request::TokenCreate { name, role }, take!(TokenCreated))
}

/// Every token's name, role and times.
pub fn token_list() -> Call<TokenList> {
    Call::new(Request::TokenList, take!(Tokens))
}

/// Revoke the token of `name`.
pub fn token_revoke(name: String) -> Call<TokenRevoked> {
    Call::new(Request::TokenRevoke { name }, take!(TokenRevoked))
}

/// The name a bearer token binds.
pub fn authenticate(token: String) -> Call<Authenticated> {
    Call::new(Request::Authenticate { token }, take!(Authenticated))
}

/// Mark one message of the bound name read (a channel push Claude Code took). Protocol 3.
pub fn mark_read(message_id: i64) -> Call<()> {
    Call::new(Request::MarkRead { message_id }, done)
}

/// Wait up to `wait` seconds for a reader of `name` to be parked in a wait for mail: `true`
/// once one is (at once if one already is), `false` when the time passes first. Protocol 3.
pub fn await_parked(name: String, wait: f64) -> Call<bool> {
    Call::new(Request::AwaitParked { name, wait }, take!(Parked))
}

fn done(response: Response) -> Result<(), Box<Response>> {
    match response {
        Response::Done => Ok(()),
        other => Err(Box::new(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_of_the_request_is_taken_out() {
        let sent = Sent {
            id: 7,
            to: "bob".into(),
        };
        let (request, answer) = send("bob".into(), "hi".into(), None).split();
        assert_eq!(request.name(), "send");
        assert_eq!(answer.read(Response::Sent(sent.clone())), Ok(sent));
    }

    #[test]
    fn another_answer_is_a_mismatch_named_by_its_request() {
        let (_, answer) = status().split();
        let err = answer.read(Response::Done).unwrap_err();
        assert!(matches!(err, ClientError::Unexpected(_)), "{err:?}");
        assert!(
            err.to_string()
                .contains("busd answered status with an unexpected reply (Done)")
        );
    }
}
