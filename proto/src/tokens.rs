//! Per-agent tokens of the HTTP front: the results of `bus token` and of `Authenticate`.
//!
//! A token binds an HTTP session to one name. busd keeps only a token's SHA-256 digest, so the
//! secret is shown once, by `TokenCreate`, and never again.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The prefix of every token, so that one pasted in the wrong place is recognisable.
pub const TOKEN_PREFIX: &str = "cbt_";

/// Result of `TokenCreate`: the secret, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenCreated {
    pub name: String,
    pub token: String,
}

/// One token as `bus token list` shows it: never its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenInfo {
    pub name: String,
    /// The role a session with this token registers with (empty: none given).
    pub role: String,
    pub created: String,
    /// When an HTTP front last accepted it (to the minute), or null if never.
    pub last_used: Option<String>,
}

/// Result of `TokenList`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenInfo>,
}

/// Result of `TokenRevoke`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenRevoked {
    pub name: String,
    /// False when `name` had no token.
    pub revoked: bool,
}

/// Result of `Authenticate`: the name (and role) the token binds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Authenticated {
    pub name: String,
    pub role: Option<String>,
}
