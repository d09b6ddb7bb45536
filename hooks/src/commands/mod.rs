//! The commands for people and scripts: each talks to busd, starting it if needed, or to the
//! HTTP front at `BUS_URL`.

mod ask;
pub(crate) mod daemon;
mod mail;
mod register;
mod remote;
mod roster;
mod state;
mod thread;
mod token;
mod top;

use crate::args::{Cli, Command};
use crate::bus::Bus;
use crate::identity;

/// A command that has printed its answer and ends with a non-zero status that is part of it
/// (`bus status`: no busd runs; `bus state get KEY`: no such key). `main` prints nothing more.
#[derive(Debug)]
pub struct Answered(pub u8);

impl std::fmt::Display for Answered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for Answered {}

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
        Command::Top => top::run(identity::local_only("bus top", true)?).await,
        Command::Agents { all, active_within } => {
            roster::agents(&identity::client(true)?, json, all, active_within).await
        }
        Command::Claims => roster::claims(&identity::client(true)?, json).await,
        Command::Claim { path, ttl } => {
            roster::claim(&identity::client(true)?, me, json, path, ttl).await
        }
        Command::Release { path } => {
            roster::release(&identity::client(true)?, me, json, path).await
        }
        Command::Register {
            name,
            role,
            owns,
            no_owns,
        } => {
            let owns = (no_owns || !owns.is_empty()).then_some(owns);
            register::register(&identity::client(true)?, json, name, role, owns).await
        }
        Command::Whoami => register::whoami(&identity::client(true)?, me, json).await,
        Command::MessageStatus { message_id } => {
            mail::message_status(&identity::client(true)?, json, message_id).await
        }
        Command::State(cmd) => state::run(&identity::client(true)?, me, json, cmd).await,
        // Status answers "is busd running?", so it never starts one.
        Command::Status => match identity::client(false)? {
            Bus::Local(client) => daemon::status(&client, json).await,
            Bus::Remote(remote) => remote::status(&remote, json).await,
        },
        Command::Stop => daemon::stop(&identity::local_only("bus stop", false)?, json).await,
        Command::Restart => {
            identity::local_only("bus restart", false)?;
            daemon::restart(json).await
        }
        Command::Migrate { to } => daemon::migrate(&to).await,
        Command::Token(cmd) => {
            token::run(&identity::local_only("bus token", true)?, json, cmd).await
        }
        Command::Hook(_) | Command::Demo { .. } => unreachable!("dispatched by main"),
    }
}
