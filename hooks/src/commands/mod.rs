//! The commands for people and scripts: each talks to busd, starting it if needed.

mod ask;
pub(crate) mod daemon;
mod mail;
mod roster;
mod state;
mod thread;

use crate::args::{Cli, Command};
use crate::identity;

/// Unwrap the expected reply variant, or report a protocol bug.
macro_rules! reply {
    ($response:expr, $variant:ident) => {
        match $response {
            proto::Response::$variant(value) => value,
            other => anyhow::bail!(
                "busd answered with an unexpected reply ({other:?}): is busd the same version as bus?"
            ),
        }
    };
}
pub(crate) use reply;

/// Run one command for a person or a script.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let json = cli.json;
    let me = cli.as_name.as_deref();
    match cli.command {
        Command::Send {
            to,
            content,
            reply_to,
            wait_reply: Some(wait),
        } => {
            ask::send(
                &identity::client(true)?,
                me,
                json,
                to,
                content,
                reply_to,
                wait,
            )
            .await
        }
        Command::Send {
            to,
            content,
            reply_to,
            wait_reply: None,
        } => mail::send(&identity::client(true)?, me, json, to, content, reply_to).await,
        Command::Thread { id } => thread::print(&identity::client(true)?, me, json, id).await,
        Command::Inbox { peek, wait, limit } => {
            mail::inbox(&identity::client(true)?, me, json, peek, wait, limit).await
        }
        Command::Tail { after } => mail::tail(&identity::client(true)?, json, after).await,
        Command::Agents { all, active_within } => {
            roster::agents(&identity::client(true)?, json, all, active_within).await
        }
        Command::Claims => roster::claims(&identity::client(true)?, json).await,
        Command::State(cmd) => state::run(&identity::client(true)?, me, json, cmd).await,
        Command::Status => daemon::status(&identity::client(true)?, json).await,
        Command::Stop => daemon::stop(&identity::client(false)?, json).await,
        Command::Hook(_) | Command::Demo { .. } => unreachable!("dispatched by main"),
    }
}
