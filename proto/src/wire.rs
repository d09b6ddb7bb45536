//! Requests, replies and the result types they carry.
//!
//! The result structs serialize (as JSON) to exactly the tool results of docs/SPEC.md, so the shim
//! and `bus --json` hand them out unchanged. Times are RFC 3339 UTC strings.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::WireError;

/// One request from a client, tagged with an id the client chose.
///
/// Ids are unique per client (`Hello::client_id`), across reconnects: a client that lost its
/// connection resends the same envelope, and busd answers an id it already applied with the
/// first answer instead of applying it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub id: u64,
    pub body: Request,
}

/// The answer to the envelope with the same id. Replies may arrive in any order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub id: u64,
    pub body: Result<Response, WireError>,
}

/// How `set_state` writes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StateMode {
    /// Replace the stored value.
    #[default]
    Overwrite,
    /// Add the value after a newline (an absent or empty key just takes it).
    Append,
}

/// Everything a client can ask of busd. Closed: a new request is a protocol version bump.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Bind `name` to this connection as a live session (the `register` tool). `None` for `role`
    /// or `owns` keeps the stored value.
    Register {
        name: String,
        role: Option<String>,
        owns: Option<Vec<String>>,
    },
    /// Act as `name` on this connection without holding it (the `bus` command and hooks):
    /// identity-bound requests use the name, presence is left to the session that holds it.
    ActAs { name: String },
    /// The name bound to this connection (the `whoami` tool).
    Whoami,
    /// The name of a Claude Code session: the one a shim of the process `host` holds (which
    /// survives `/clear` and `/resume`), else the one a session with one of `session_ids`
    /// holds or last held. With `wait` (seconds) it waits for such a name to be registered
    /// while the process's shim has not said it has none ([`Request::Attach`]).
    Resolve {
        session_ids: Vec<String>,
        host: Option<crate::Host>,
        wait: f64,
    },
    /// This connection serves the Claude Code process `host` (sent by the shim first, and
    /// again after each reconnect). `naming`: a `Register` follows at once, so a waiting
    /// `Resolve` of the process waits for it; without it the process's session has no name
    /// until the model registers one.
    Attach { host: crate::Host, naming: bool },
    /// Sessions and what they own (the `agents` tool).
    Agents { active_within: f64, all: bool },
    /// Send a message from the bound name (the `send` tool).
    Send {
        to: String,
        content: String,
        reply_to: Option<i64>,
    },
    /// Read the bound name's inbox (the `inbox` tool). `wait` in seconds; `waiter` names a
    /// slot: a newer waiting call with the same slot ends this one with `ErrorKind::Replaced`.
    Inbox {
        consume: bool,
        limit: u32,
        wait: f64,
        waiter: Option<String>,
    },
    /// Who has read a message (the `message_status` tool).
    MessageStatus { message_id: i64 },
    /// Write a shared key (the `set_state` tool).
    SetState {
        key: String,
        value: String,
        expected_version: Option<i64>,
        mode: StateMode,
    },
    /// Read one key, or every key when `key` is `None` (the `get_state` tool).
    GetState { key: Option<String> },
    /// Every key without values (the `list_state` tool).
    ListState,
    /// Claim a path for the bound name (the `claim` tool). `ttl` in seconds.
    Claim { path: String, ttl: f64 },
    /// Release the bound name's claim on a path (the `release` tool).
    Release { path: String },
    /// Live claims (the `list_claims` tool).
    ListClaims,
    /// Every message with an id above `after` (`None`: above the newest now), waiting up to
    /// `wait` seconds for the first one (`bus tail`).
    Tail {
        after: Option<i64>,
        wait: f64,
        limit: u32,
    },
    /// The daemon's pid, version, paths and counts (`bus status`).
    Status,
    /// Stop the request with this id on this connection (a cancelled tool call). A request that
    /// already took effect still answers with its result.
    Cancel { id: u64 },
    /// Shut the daemon down gracefully (`bus stop`).
    Shutdown,
    /// Wait until busd begins to shut down, then answer `Response::Closing` saying how, before
    /// any waiting read on this connection is cut short. A client sends it once per connection;
    /// it holds no slot of the connection's calls in flight.
    WatchClosing,
    /// Shut the daemon down gracefully for a new one to take over (`bus restart`, an upgrade):
    /// waiting reads that found nothing are refused with `ErrorKind::Restarting` instead of
    /// answered, so that their clients ask the next busd.
    Restart,
    /// `key` once its version is above `after_version`, waiting up to `wait` seconds for a
    /// commit that takes it there (`get_state(after_version, wait)`). Answered with `State`:
    /// the key, or an empty list when the time is up.
    WaitState {
        key: String,
        after_version: i64,
        wait: f64,
    },
    /// Send as `Send` does, then wait up to `wait` seconds for the first message replying to
    /// it and take that reply out of the inbox (`send(wait_reply)`). Answered with `Asked`.
    Ask {
        to: String,
        content: String,
        reply_to: Option<i64>,
        wait: f64,
    },
    /// The reply chain holding message `id`, as far as the bound name may see it, consuming
    /// nothing (`inbox(thread)`). Answered with `Inbox`.
    Thread { id: i64 },
    /// Create the HTTP token of `name` (refused while it has one); the answer holds the
    /// secret, which busd does not keep.
    TokenCreate { name: String, role: Option<String> },
    /// Every token's name, role and times, never a secret.
    TokenList,
    /// Revoke the token of `name`: HTTP requests bearing it are refused from now on.
    TokenRevoke { name: String },
    /// The name a bearer token binds (an HTTP front asks for each request), or
    /// `ErrorKind::Unauthorized`, which says nothing of which names exist.
    Authenticate { token: String },
    /// Protocol 3: answer `Parked(true)` once a reader of `name` is parked in a wait for mail
    /// (an `Inbox` or `Ask` that found nothing yet: mail committed from then on wakes it), at
    /// once if one is; `Parked(false)` when `wait` seconds pass first, or busd stops. For
    /// tests and tools that must act only once a reader waits, instead of asking again.
    AwaitParked { name: String, wait: f64 },
    /// Protocol 3: mark one message of the bound name read, as handed over outside busd (a channel push
    /// Claude Code took: `bus hook prompt` saw it). Unknown, foreign or read already: no-op.
    MarkRead { message_id: i64 },
    /// Wait up to `wait` seconds until anything a viewer shows has changed (a message, a state
    /// write, a claim taken or released, an agent registered, a session come or gone, one
    /// starting or ending a wait), then answer `Changed` with the bus's change count. `after`
    /// is the count the client last saw: a count other than it answers at once (0 always
    /// does). Counts start at busd's start time in milliseconds, so a restarted busd never
    /// repeats one. Read-only; protocol 3 (`bus top`, the browser view).
    Watch { after: u64, wait: f64 },
}

impl Request {
    /// The request's name, for logs (never its contents).
    pub fn name(&self) -> &'static str {
        match self {
            Request::Register { .. } => "register",
            Request::ActAs { .. } => "act_as",
            Request::Whoami => "whoami",
            Request::Resolve { .. } => "resolve",
            Request::Attach { .. } => "attach",
            Request::Agents { .. } => "agents",
            Request::Send { .. } => "send",
            Request::Inbox { .. } => "inbox",
            Request::MessageStatus { .. } => "message_status",
            Request::MarkRead { .. } => "mark_read",
            Request::SetState { .. } => "set_state",
            Request::GetState { .. } => "get_state",
            Request::ListState => "list_state",
            Request::Claim { .. } => "claim",
            Request::Release { .. } => "release",
            Request::ListClaims => "list_claims",
            Request::Tail { .. } => "tail",
            Request::Status => "status",
            Request::Cancel { .. } => "cancel",
            Request::Shutdown => "shutdown",
            Request::WatchClosing => "watch_closing",
            Request::Restart => "restart",
            Request::WaitState { .. } => "get_state",
            Request::Ask { .. } => "send",
            Request::Thread { .. } => "thread",
            Request::TokenCreate { .. } => "token_create",
            Request::TokenList => "token_list",
            Request::TokenRevoke { .. } => "token_revoke",
            Request::Authenticate { .. } => "authenticate",
            Request::AwaitParked { .. } => "await_parked",
            Request::Watch { .. } => "watch",
        }
    }

    /// The refusal of a content or value over its size limit, if this request carries one.
    pub fn oversize(&self) -> Option<WireError> {
        match self {
            Request::Send { content, .. } | Request::Ask { content, .. } => {
                crate::limits::content(content).err()
            }
            Request::SetState { value, .. } => crate::limits::value(value.len()).err(),
            _ => None,
        }
    }

    /// Whether applying this request twice could differ from applying it once; such requests
    /// are recorded so that a retried id gets the first answer.
    /// How long the call may wait for something to happen (seconds; 0 for a call that answers
    /// at once): what busd counts among a connection's waiting calls, and what a client adds
    /// to its deadline for the answer.
    pub fn wait(&self) -> f64 {
        match self {
            Request::Inbox { wait, .. }
            | Request::Tail { wait, .. }
            | Request::WaitState { wait, .. }
            | Request::Ask { wait, .. }
            | Request::AwaitParked { wait, .. } => *wait,
            Request::Watch { wait, .. } => *wait,
            _ => 0.0,
        }
    }

    pub fn is_effectful(&self) -> bool {
        match self {
            Request::Send { .. }
            | Request::Ask { .. }
            | Request::SetState { .. }
            | Request::Claim { .. }
            | Request::Release { .. } => true,
            Request::Inbox { consume, .. } => *consume,
            _ => false,
        }
    }
}

/// What busd answers. Each variant is the result of the request of the same name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// Answer to `Register`.
    Registered(Registered),
    /// Answer to `Whoami`, `ActAs`, `Resolve` and `Attach`.
    Identity(Identity),
    /// Answer to `Agents`.
    Agents(AgentList),
    /// Answer to `Send`.
    Sent(Sent),
    /// Answer to `Inbox`.
    Inbox(InboxPage),
    /// Answer to `MessageStatus`.
    MessageStatus(MessageStatus),
    /// Answer to `SetState`.
    StateWritten(StateWritten),
    /// Answer to `GetState`.
    State(StateList),
    /// Answer to `ListState`.
    StateKeys(StateKeyList),
    /// Answer to `Claim`.
    Claimed(Claimed),
    /// Answer to `Release`.
    Released(Released),
    /// Answer to `ListClaims`.
    Claims(ClaimList),
    /// Answer to `Tail`.
    Tail(TailPage),
    /// Answer to `Status`.
    Status(Status),
    /// Answer to `Cancel`, `Shutdown` and `Restart`.
    Done,
    /// Answer to `WatchClosing`: busd is shutting down, and whether a new busd follows.
    Closing(Closing),
    /// Answer to `Ask`.
    Asked(Asked),
    /// Answer to `TokenCreate`.
    TokenCreated(crate::TokenCreated),
    /// Answer to `TokenList`.
    Tokens(crate::TokenList),
    /// Answer to `TokenRevoke`.
    TokenRevoked(crate::TokenRevoked),
    /// Answer to `Authenticate`.
    Authenticated(crate::Authenticated),
    /// Protocol 3: the answer of a waiting call (`Inbox`, `Tail`, `WaitState`, `Ask`) that
    /// busd cut short because it is stopping for good, having found nothing to answer with:
    /// the call's own answer (an empty page, no reply), and the explicit word that no busd
    /// answers another wait until one is started. A protocol 2 client gets the answer alone.
    Stopped(Box<Response>),
    /// Answer to `AwaitParked`: whether a reader of the name is parked.
    Parked(bool),
    /// Answer to `Watch`.
    Changed(Changes),
}

/// Result of `Watch`: the bus's change count now (equal to `after` when the wait ran out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Changes {
    pub seq: u64,
}

/// How busd is going away, told to every connection that asked (`Request::WatchClosing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Closing {
    /// For good (`bus stop`, SIGTERM): waiting reads end with what they have (protocol 3:
    /// said with `Response::Stopped` when that is nothing), and no busd comes back unless a
    /// client starts one.
    Stopping,
    /// For a new busd to take over (`bus restart`, or retiring for a newer client): waiting
    /// reads that found nothing are refused with `ErrorKind::Restarting`; ask the next busd.
    Restarting,
}

/// Result of `register`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Registered {
    pub name: String,
    pub role: String,
    pub owns: Vec<String>,
    /// Names of the other sessions online now.
    pub peers: Vec<String>,
    pub pending_count: u64,
}

/// Result of `whoami`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Identity {
    pub name: Option<String>,
}

/// Presence of an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    Online,
    Away,
    Offline,
}

/// One entry of `agents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Agent {
    pub name: String,
    pub role: String,
    pub owns: Vec<String>,
    pub status: AgentStatus,
    pub connected: bool,
    /// Whether the session is blocked in `inbox(wait)` right now.
    pub waiting: bool,
    pub last_seen: String,
    pub seconds_ago: f64,
    /// Listed agents whose owns globs or claimed paths intersect this one's.
    pub overlaps: Vec<String>,
    /// The machine the session holding the name is on (its busd's host name); none while
    /// no session holds it. Protocol 4 on ([`crate::older`]).
    #[serde(default)]
    pub host: Option<String>,
}

/// Result of `agents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AgentList {
    pub agents: Vec<Agent>,
}

/// Result of `send`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Sent {
    pub id: i64,
    pub to: String,
}

/// Result of `Ask`: the message sent, and the first reply to it (`None`: none came in time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Asked {
    pub id: i64,
    pub to: String,
    pub reply: Option<Message>,
}

/// Result of the `send` tool and `bus send --json` (JSON only, never on the socket): `{id,
/// to}`, plus `reply` (a message or null) when the call waited for one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SendResult {
    pub id: i64,
    pub to: String,
    /// With wait_reply: the first reply (taken from the inbox), or null.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub reply: Option<Option<Message>>,
}

/// A field that is present (possibly null) is `Some`; an absent one takes the default `None`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<Message>>, D::Error> {
    Option::<Message>::deserialize(d).map(Some)
}

impl From<Sent> for SendResult {
    fn from(s: Sent) -> SendResult {
        SendResult {
            id: s.id,
            to: s.to,
            reply: None,
        }
    }
}

impl From<Asked> for SendResult {
    fn from(a: Asked) -> SendResult {
        SendResult {
            id: a.id,
            to: a.to,
            reply: Some(a.reply),
        }
    }
}

/// A message as readers see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Message {
    pub id: i64,
    pub from: String,
    pub to: String,
    pub content: String,
    pub reply_to: Option<i64>,
    pub ts: String,
}

/// Result of `inbox`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InboxPage {
    pub messages: Vec<Message>,
    /// Unread messages left after this call.
    pub pending_count: u64,
}

/// One read receipt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Receipt {
    pub recipient: String,
    pub read_ts: String,
}

/// Result of `message_status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MessageStatus {
    pub message_id: i64,
    pub sender: String,
    pub recipient: String,
    pub readers: Vec<Receipt>,
    /// Names the message is for that have not read it.
    pub unread: Vec<String>,
}

/// Result of `set_state`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StateWritten {
    pub key: String,
    pub version: i64,
}

/// One key with its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StateEntry {
    pub key: String,
    pub value: String,
    pub updated_by: String,
    pub updated_at: String,
    pub version: i64,
}

/// Result of `get_state`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StateList {
    pub state: Vec<StateEntry>,
}

/// One key without its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StateKey {
    pub key: String,
    pub updated_by: String,
    pub updated_at: String,
    pub version: i64,
}

/// Result of `list_state`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StateKeyList {
    pub keys: Vec<StateKey>,
}

/// Result of `claim`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Claimed {
    pub path: String,
    pub owner: String,
    pub expires_at: String,
}

/// Result of `release`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Released {
    pub path: String,
    pub released: bool,
}

/// One live claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClaimEntry {
    pub path: String,
    pub owner: String,
    pub expires_at: String,
    /// Seconds until the claim expires.
    pub ttl_remaining: f64,
}

/// Result of `list_claims`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClaimList {
    pub claims: Vec<ClaimEntry>,
}

/// Result of `Tail`: messages in id order and the id to continue after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TailPage {
    pub messages: Vec<Message>,
    pub last_id: i64,
}

/// Result of `Status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Status {
    pub pid: u32,
    pub version: String,
    pub protocol: u32,
    pub started_at: String,
    pub uptime_seconds: f64,
    pub db_path: String,
    pub socket_path: String,
    pub log_path: Option<String>,
    /// Open client connections.
    pub connections: u64,
    /// Sessions holding a name right now.
    pub sessions: u64,
    /// Calls blocked waiting for mail right now.
    pub waiting: u64,
    pub agents: u64,
    pub messages: u64,
    pub state_keys: u64,
    pub live_claims: u64,
}
