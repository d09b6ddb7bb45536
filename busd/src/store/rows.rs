//! What storage hands back: plain rows (not wire types, no database types), request keys and
//! the records of applied requests.
//!
//! Times are Unix seconds (`f64`), as the Python claude-bus stored them.

/// Identifies one effectful request for at-most-once application: the client's random id
/// (from its handshake) and the request id it chose.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestKey {
    pub client: String,
    pub request: u64,
}

/// The command a request key was used for: a key belongs to one command, and a key reused for
/// another command is refused rather than answered with the other command's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyed {
    Send,
    Consume,
    SetState,
    Claim,
    Release,
}

impl Keyed {
    /// The request's name, as clients know it and as the `applied` table records it.
    pub fn name(self) -> &'static str {
        match self {
            Keyed::Send => "send",
            Keyed::Consume => "inbox",
            Keyed::SetState => "set_state",
            Keyed::Claim => "claim",
            Keyed::Release => "release",
        }
    }
}

/// The first outcome of a request key, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// A sent message, and the reply `send(wait_reply)` took for it.
    Message(MessageRow, Option<MessageRow>),
    Page(Page),
    Version(i64),
    /// A claim's expiry and owner (`None` in records written before the owner was kept).
    Claim {
        expires_at: f64,
        owner: Option<String>,
    },
    Released(bool),
}

#[derive(Debug, Clone, PartialEq)]
pub struct AgentRow {
    pub name: String,
    pub role: String,
    pub owns: Vec<String>,
    pub last_seen: f64,
    pub session_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MessageRow {
    pub id: i64,
    pub sender: String,
    pub recipient: String,
    pub content: String,
    pub reply_to: Option<i64>,
    pub ts: f64,
}

/// Messages handed to a reader and how many stay unread after them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    pub messages: Vec<MessageRow>,
    pub pending: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReceiptRow {
    pub recipient: String,
    pub read_ts: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MessageStatusRow {
    pub id: i64,
    pub sender: String,
    pub recipient: String,
    /// Receipts, oldest first.
    pub readers: Vec<ReceiptRow>,
    /// Names the message is for (for `all`: every registered agent but the sender) that have
    /// not read it, sorted.
    pub unread: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StateRow {
    pub key: String,
    /// Empty when values were not asked for.
    pub value: String,
    pub updated_by: String,
    pub updated_at: f64,
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClaimRow {
    pub path: String,
    pub owner: String,
    pub expires_at: f64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Counts {
    pub agents: u64,
    pub messages: u64,
    pub state_keys: u64,
    pub live_claims: u64,
}

/// An HTTP token: the SHA-256 digest of its secret (hex), never the secret.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRow {
    pub name: String,
    pub role: Option<String>,
    pub digest: String,
    pub created: f64,
    pub last_used: Option<f64>,
}

/// Messages after an id, and the id to follow on from (the newest id when there are none).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tail {
    pub messages: Vec<MessageRow>,
    pub last_id: i64,
}
