//! The command line: every subcommand and flag of `bus`, as clap parses them.

use clap::{Args, Parser, Subcommand};

/// The claude-bus command line: talk to the bus from a terminal, a script or a Claude Code hook.
#[derive(Debug, Parser)]
#[command(name = "bus", version, propagate_version = true)]
pub struct Cli {
    /// Print JSON (the field names of the matching MCP tool results) instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// Act as this name. Default: BUS_NAME, then the name this Claude Code session
    /// (CLAUDE_CODE_SESSION_ID) registered through its bus-shim.
    #[arg(long = "as", global = true, value_name = "NAME")]
    pub as_name: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send a message to a name, or to `all`.
    Send {
        /// The recipient: a name, or `all` for everyone else.
        to: String,
        /// The message; `-` reads it from stdin.
        content: String,
        /// The id of the message this answers.
        #[arg(long, value_name = "ID")]
        reply_to: Option<i64>,
        /// Then wait up to this many seconds for the first reply and print it (it is then read).
        #[arg(long, value_name = "SECONDS")]
        wait_reply: Option<f64>,
    },
    /// Read your inbox; what it shows is marked read unless --peek.
    Inbox {
        /// Show without marking anything read.
        #[arg(long)]
        peek: bool,
        /// Wait up to this many seconds for a message when none is waiting (at most 3600).
        #[arg(
            long,
            allow_negative_numbers = true,
            value_name = "SECONDS",
            default_value_t = 0.0
        )]
        wait: f64,
        /// At most this many messages (1-1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Record a name's role and owned globs, as the register tool does (NAME is held for the
    /// duration of this command only; a name held by a connected session is refused).
    Register {
        /// The name: 1-64 of [A-Za-z0-9._-], not `all`.
        name: String,
        /// What this name works on; omit to keep the stored role.
        #[arg(long)]
        role: Option<String>,
        /// A path glob this name edits (repeat for several); replaces the stored list.
        #[arg(long = "owns", value_name = "GLOB")]
        owns: Vec<String>,
        /// Clear the stored list of owned globs.
        #[arg(long, conflicts_with = "owns")]
        no_owns: bool,
    },
    /// The name this command acts as (--as, BUS_NAME, or this Claude Code session's name).
    Whoami,
    /// Who has read a message, and who has not yet.
    MessageStatus {
        /// The id `bus send` printed.
        message_id: i64,
    },
    /// Announce that you are editing a path (advisory: it never locks a file).
    Claim {
        /// The file or folder path (a glob is fine).
        path: String,
        /// Seconds until the claim expires.
        #[arg(long, value_name = "SECONDS", default_value_t = 1800.0)]
        ttl: f64,
    },
    /// Release your claim on a path.
    Release {
        /// The path claimed earlier.
        path: String,
    },
    /// Who is on the bus: online sessions and those seen recently.
    Agents {
        /// Every name ever registered.
        #[arg(long)]
        all: bool,
        /// Also list sessions seen within this many seconds.
        #[arg(
            long,
            allow_negative_numbers = true,
            value_name = "SECONDS",
            default_value_t = 180.0
        )]
        active_within: f64,
    },
    /// A message's whole reply chain, root and every reply, as a tree; marks nothing read.
    Thread {
        /// Any message of the thread.
        id: i64,
    },
    /// Shared, versioned state.
    #[command(subcommand)]
    State(StateCommand),
    /// Live claims: who announced editing which paths.
    Claims,
    /// Follow every message on the bus live, like `tail -f`.
    Tail {
        /// Start after this message id (0: from the first message); default: from now.
        #[arg(long, value_name = "ID")]
        after: Option<i64>,
    },
    /// A live full-screen view of the bus: agents, messages, claims, state (q quits).
    Top,
    /// The daemon: pid, version, uptime, paths and counts.
    Status,
    /// Stop the daemon gracefully.
    Stop,
    /// Restart the daemon (after an upgrade): sessions and waiting hooks carry on with the new one.
    Restart,
    /// Copy this machine's bus (BUS_DB, a SQLite file) into an empty PostgreSQL database, to
    /// share it across machines: then set BUS_DB to the URL on every machine.
    Migrate {
        /// The database to copy into: postgres://USER@HOST:PORT/DBNAME
        #[arg(long, value_name = "URL")]
        to: String,
    },
    /// Claude Code hook entry points (see plugin/hooks/hooks.json).
    #[command(subcommand)]
    Hook(HookCommand),
    /// See the bus work without Claude Code: two real bus-shim sessions on a throwaway bus.
    Demo {
        /// How many messages go back and forth.
        #[arg(long, default_value_t = 4)]
        rounds: u32,
    },
    /// Tokens of the HTTP front (`bus-shim --http`): one per session, binding its name.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make the token of NAME and print its secret, this once (busd keeps only its digest).
    Create {
        /// The name an HTTP session with this token acts as.
        name: String,
        /// The role that session registers with.
        #[arg(long)]
        role: Option<String>,
    },
    /// Every token: name, role, created, last used (never a secret).
    List,
    /// Revoke the token of NAME: HTTP requests bearing it get 401 from now on.
    Revoke {
        /// The name whose token to revoke.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Read one key, or every key.
    Get {
        /// The key; omit for every key.
        key: Option<String>,
        /// Only once its version is above N (0: once it exists).
        #[arg(long, value_name = "N", requires = "key")]
        after_version: Option<i64>,
        /// Wait up to this many seconds for that (at most 3600).
        #[arg(long, value_name = "SECONDS", requires = "key")]
        wait: Option<f64>,
    },
    /// Write a key.
    Set(SetArgs),
    /// Every key without its value.
    List,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    pub key: String,
    /// The value; `-` reads it from stdin.
    pub value: String,
    /// Write only if the key is at this version (0: only if it does not exist).
    #[arg(long, value_name = "N")]
    pub expected_version: Option<i64>,
    /// Add the value after a newline instead of replacing it.
    #[arg(long)]
    pub append: bool,
}

#[derive(Debug, Subcommand)]
pub enum HookCommand {
    /// Stop hook (run it with "asyncRewake": true): wait for mail, then exit 2 with it on stderr.
    Stop {
        /// The synchronous form: pending mail as {"decision":"block",...} on stdout, no waiting.
        #[arg(long)]
        no_wait: bool,
        /// Give up waiting after this many seconds and exit 0.
        #[arg(long, value_name = "SECONDS", default_value_t = 86400.0)]
        timeout: f64,
        /// Write one byte to this descriptor once the wait is issued (tests, `bus demo`).
        #[arg(long, value_name = "FD", hide = true)]
        ready_fd: Option<i32>,
    },
    /// UserPromptSubmit hook: who this session is, who is online, unread mail, overlapping claims.
    Prompt,
    /// SessionStart hook: the same context as `prompt`, at the start of a session.
    SessionStart,
    /// PostToolUse hook: announce mail that arrived since the last announcement, unread.
    PostTool,
}
