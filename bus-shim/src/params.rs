//! Tool arguments as MCP clients send them: names and defaults of the Python claude-bus 0.2.
//!
//! Every field carries a description: it is what a model reads to call the tool right.

use proto::StateMode;
use schemars::JsonSchema;
use serde::Deserialize;

fn yes() -> bool {
    true
}
fn active_window() -> f64 {
    180.0
}
fn hundred() -> u32 {
    100
}
fn half_hour() -> f64 {
    1800.0
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct RegisterArgs {
    /// This session's name: 1-64 of [A-Za-z0-9._-], not "all".
    pub name: String,
    /// What this session works on. Omit to keep the stored role.
    #[serde(default)]
    pub role: Option<String>,
    /// Path globs this session edits, e.g. ["src/api/**"]. Omit to keep the stored list.
    #[serde(default)]
    pub owns: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AgentsArgs {
    /// Also list sessions seen within this many seconds.
    #[serde(default = "active_window")]
    pub active_within: f64,
    /// List every name ever registered.
    #[serde(default)]
    pub all: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SendArgs {
    /// Recipient name, or "all" to broadcast.
    pub to: String,
    /// Message text, up to 64 KiB.
    pub content: String,
    /// Id of the message this answers.
    #[serde(default)]
    pub reply_to: Option<i64>,
    /// Seconds to wait for the first reply to this message (max 3600).
    #[serde(default)]
    pub wait_reply: f64,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct InboxArgs {
    /// Mark the returned messages read.
    #[serde(default = "yes")]
    pub consume: bool,
    /// Only look: mark nothing read.
    #[serde(default)]
    pub peek: bool,
    /// Seconds to wait for mail when none is there (max 3600).
    #[serde(default)]
    pub wait: f64,
    /// Most messages to return (1-1000).
    #[serde(default = "hundred")]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: u32,
    /// Message id whose thread (root and every reply) to return.
    #[serde(default)]
    pub thread: Option<i64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct MessageStatusArgs {
    /// Id returned by send.
    pub message_id: i64,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SetStateArgs {
    /// Key, 1-256 characters.
    pub key: String,
    /// Value, up to 1 MiB.
    pub value: String,
    /// Write only if the key is at this version (0: must not exist).
    #[serde(default)]
    pub expected_version: Option<i64>,
    /// "overwrite", or "append" to add a line.
    #[serde(default)]
    #[schemars(schema_with = "mode_schema")]
    pub mode: StateMode,
}

/// `mode` as a plain string with its two values, which every client shows and converts (the
/// derived schema is a `$ref` to a `oneOf`, with no `type` a client could read).
fn mode_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "string", "enum": ["overwrite", "append"], "default": "overwrite"})
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetStateArgs {
    /// Key to read; empty reads every key.
    #[serde(default)]
    pub key: String,
    /// Only return the key at a version above this (0 if omitted).
    #[serde(default)]
    pub after_version: Option<i64>,
    /// Seconds to wait for that (max 3600).
    #[serde(default)]
    pub wait: f64,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ClaimArgs {
    /// File or folder path to announce.
    pub path: String,
    /// Seconds until the claim expires.
    #[serde(default = "half_hour")]
    pub ttl: f64,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReleaseArgs {
    /// Path claimed earlier.
    pub path: String,
}
