//! Requests, replies and the result types they carry.
//!
//! The result structs serialize (as JSON) to exactly the tool results of SPEC.md, so the shim
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
    /// The name the Claude Code session `session_id` registered through its shim, if any.
    Resolve { session_id: String },
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
}

impl Request {
    /// The request's name, for logs (never its contents).
    pub fn name(&self) -> &'static str {
        match self {
            Request::Register { .. } => "register",
            Request::ActAs { .. } => "act_as",
            Request::Whoami => "whoami",
            Request::Resolve { .. } => "resolve",
            Request::Agents { .. } => "agents",
            Request::Send { .. } => "send",
            Request::Inbox { .. } => "inbox",
            Request::MessageStatus { .. } => "message_status",
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
            Request::TokenCreate { .. } => "token_create",
            Request::TokenList => "token_list",
            Request::TokenRevoke { .. } => "token_revoke",
            Request::Authenticate { .. } => "authenticate",
        }
    }

    /// The refusal of a content or value over its size limit, if this request carries one.
    pub fn oversize(&self) -> Option<WireError> {
        match self {
            Request::Send { content, .. } => crate::limits::content(content).err(),
            Request::SetState { value, .. } => crate::limits::value(value.len()).err(),
            _ => None,
        }
    }

    /// Whether applying this request twice could differ from applying it once; such requests
    /// are recorded so that a retried id gets the first answer.
    pub fn is_effectful(&self) -> bool {
        match self {
            Request::Send { .. }
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
    /// Answer to `Whoami`, `ActAs` and `Resolve`.
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
    /// Answer to `TokenCreate`.
    TokenCreated(crate::TokenCreated),
    /// Answer to `TokenList`.
    Tokens(crate::TokenList),
    /// Answer to `TokenRevoke`.
    TokenRevoked(crate::TokenRevoked),
    /// Answer to `Authenticate`.
    Authenticated(crate::Authenticated),
}

/// How busd is going away, told to every connection that asked (`Request::WatchClosing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Closing {
    /// For good (`bus stop`, SIGTERM): waiting reads end with what they have, and no busd
    /// comes back unless a client starts one.
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
