//! `bus hook stop`: wake an idle session when mail arrives for it.
//!
//! Run as a Stop hook with `"asyncRewake": true`, Claude Code starts it in the background each
//! time the session stops. It parks in busd (an `inbox` wait: no polling) until mail for the
//! session's name commits, takes the mail, writes it to stderr and exits 2, which wakes the
//! session with the mail in front of it. Only one such waiter lives per name: a newer one
//! replaces an older one, which exits 0. busd stopping for good ends the wait (exit 0), as busd
//! says in its answer; a restart (an upgrade) or a crash does not: the hook connects to the new
//! busd, starting it if need be, and waits on. `--no-wait` is the synchronous form.

use std::time::{Duration, Instant};

use proto::client::{ClientError, Waited, call};
use proto::{ErrorKind, InboxPage, limits};

use super::text;
use super::{HookInput, Outcome, Session};
use crate::bus::Bus;
use crate::identity;

/// The most messages one wake-up delivers; the rest stay unread and are counted.
const MAIL_LIMIT: u32 = 20;

/// The synchronous form: pending mail becomes `{"decision":"block","reason":...}`.
pub async fn pending(session: &Session, input: &HookInput) -> anyhow::Result<Outcome> {
    // Claude is already continuing because of a stop hook: let it stop; the mail stays unread
    // for the next stop, prompt or inbox call.
    if input.stop_hook_active {
        return Ok(Outcome::Silent);
    }
    let channel = Channel::of(session);
    if channel.is_some() && !unread(&session.client).await? {
        return Ok(Outcome::Silent);
    }
    // The session's channel pushed what is pending: give Claude Code the time to take it.
    if channel.is_some() {
        tokio::time::sleep(proto::channel::GRACE).await;
    }
    let page = take(&session.client, MAIL_LIMIT).await?;
    if page.messages.is_empty() {
        return Ok(Outcome::Silent);
    }
    if let Some(channel) = &channel {
        channel.dropped(&page);
    }
    let reason = text::mail(&session.name, &page);
    Ok(Outcome::Stdout(
        serde_json::json!({ "decision": "block", "reason": reason }),
    ))
}

/// The waiting form: wait up to `timeout` seconds for mail, then deliver it with exit 2.
pub async fn wait(
    session: &Session,
    timeout: f64,
    ready_fd: Option<i32>,
) -> anyhow::Result<Outcome> {
    limits::seconds("timeout", timeout, None)?;
    let deadline = Instant::now() + Duration::from_secs_f64(timeout);
    let slot = format!("stop-hook:{}", session.name);
    // Claude Code is this process's parent (or a shell between them). Should it die, the
    // hook is orphaned: it stops waiting when Claude Code's process ends, and in any case it
    // does not take mail that no session would see.
    let parent = std::os::unix::process::parent_id();
    let host = super::host_exit::HostExit::watch(proto::Host::of_hook());
    let claude_gone = host.exited();
    tokio::pin!(claude_gone);
    if let Some(fd) = ready_fd {
        signal_ready(fd);
    }
    let mut client = session.client.clone();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Outcome::Silent);
        }
        let wait = left.min(Duration::from_secs_f64(limits::WAIT_MAX_SECONDS));
        let peek = call::inbox(false, 1, wait.as_secs_f64(), Some(slot.clone()));
        let answer = tokio::select! {
            answer = client.run_waiting(peek) => answer,
            () = &mut claude_gone => return Ok(Outcome::Silent),
        };
        let (page, stopping) = match answer {
            Ok(Waited {
                response: page,
                stopping,
            }) => (page, stopping),
            // Replaced by a newer waiter, or busd stopped for good before it read the wait.
            Err(e)
                if matches!(
                    e.kind(),
                    Some(ErrorKind::Replaced | ErrorKind::ShuttingDown)
                ) =>
            {
                return Ok(Outcome::Silent);
            }
            Err(e) if busd_is_coming_back(&e) => {
                // busd restarted, or vanished without saying it stops (a crash). Start it
                // again, as the session's shim would on its next call, and wait on.
                client = identity::client(true)?;
                if identity::act_as(&client, &session.name).await.is_err() {
                    return Ok(Outcome::Silent);
                }
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if page.messages.is_empty() {
            // busd answered `Stopped`: it is stopping for good, and so does the wait.
            // Otherwise the wait ran out.
            if stopping {
                return Ok(Outcome::Silent);
            }
            continue;
        }
        if std::os::unix::process::parent_id() != parent {
            return Ok(Outcome::Silent);
        }
        // The session's channel pushes this mail: give Claude Code the time to take it (its
        // prompt hook then marks it read), and hand over only what it did not take.
        let channel = Channel::of(session);
        if channel.is_some() {
            tokio::select! {
                () = tokio::time::sleep(proto::channel::GRACE) => {}
                () = &mut claude_gone => return Ok(Outcome::Silent),
            }
        }
        let page = take(&client, MAIL_LIMIT).await?;
        // Someone else (the session's own inbox call, or the channel) took it first: keep
        // waiting.
        if !page.messages.is_empty() {
            if let Some(channel) = &channel {
                channel.dropped(&page);
            }
            return Ok(Outcome::Wake(text::mail(&session.name, &page)));
        }
    }
}

/// This session's channel (`BUS_CHANNEL=1`), while Claude Code has not been seen dropping a
/// push: its shim pushes every message after `since` into the session.
struct Channel {
    dir: std::path::PathBuf,
    name: String,
    mark: proto::channel::Mark,
}

impl Channel {
    fn of(session: &Session) -> Option<Channel> {
        let host = proto::Host::of_hook()?;
        let dir = proto::paths::BusPaths::from_env().ok()?.dir().to_path_buf();
        let mark = proto::channel::listening(&dir, &session.name, &host)?;
        Some(Channel {
            dir,
            name: session.name.clone(),
            mark,
        })
    }

    /// `page` is what the grace left unread: when it holds a pushed message, Claude Code
    /// dropped that push, and the channel is marked deaf (the shim stops pushing).
    fn dropped(&self, page: &InboxPage) {
        if page.messages.iter().any(|m| m.id > self.mark.since)
            && let Err(e) = proto::channel::deafen(&self.dir, &self.name, &self.mark.host)
        {
            eprintln!(
                "bus hook: cannot mark the channel of '{}' deaf: {e}",
                self.name
            );
        }
    }
}

/// Whether any message is unread now.
async fn unread(client: &Bus) -> anyhow::Result<bool> {
    let page = client.run(call::inbox(false, 1, 0.0, None)).await?;
    Ok(!page.messages.is_empty())
}

/// busd said it is restarting, or vanished without saying it stops (a crash).
fn busd_is_coming_back(e: &ClientError) -> bool {
    matches!(e, ClientError::Unavailable(_)) || e.kind() == Some(ErrorKind::Restarting)
}

/// Consume up to `limit` messages now.
async fn take(client: &Bus, limit: u32) -> anyhow::Result<InboxPage> {
    Ok(client.run(call::inbox(true, limit, 0.0, None)).await?)
}

/// Write one byte to `fd` and close it: the wait is about to be issued.
fn signal_ready(fd: i32) {
    if fd < 3 {
        return;
    }
    // SAFETY: the descriptor was handed to this process for this one write; a closed or
    // invalid one makes both calls fail harmlessly.
    unsafe {
        libc::write(fd, b"r".as_ptr().cast(), 1);
        libc::close(fd);
    }
}
