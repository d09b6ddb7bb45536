//! The Claude Code hook entry points: `bus hook stop|prompt|session-start|post-tool`.
//!
//! A hook never breaks the host (STYLE habit 9): it gives up quickly when no daemon answers,
//! starts one only to give a named session its context (see [`starts_busd`]), and on any
//! failure warns on stderr and exits 0. It is silent when the session has no name on the bus
//! or no daemon runs. Exit 2 means exactly one thing: the Stop hook delivers mail, on stderr,
//! to wake the session.

mod context;
mod host_exit;
mod input;
mod mode;
mod post_tool;
mod stop;
mod text;

use std::process::ExitCode;
use std::time::Duration;

use proto::client::ClientError;

use crate::args::HookCommand;
use crate::bus::Bus;
use crate::identity;
pub use input::HookInput;

/// How long a hook may take to reach busd and learn its name.
const CONNECT_WITHIN: Duration = Duration::from_secs(5);

/// How long SessionStart waits for its session's shim to register its name: the shim
/// connects a few hundred milliseconds after SessionStart; a shim that has connected without
/// a name to register ends the wait at once.
const NAME_WITHIN: Duration = Duration::from_secs(3);

/// The same for UserPromptSubmit, shorter: it runs on every prompt, and by the first one the
/// shim has connected unless the session has none (then every prompt would pay the wait).
const PROMPT_NAME_WITHIN: Duration = Duration::from_secs(1);

/// How a hook ends.
#[derive(Debug)]
pub enum Outcome {
    /// Exit 0 and print nothing.
    Silent,
    /// Exit 0 with this JSON on stdout.
    Stdout(serde_json::Value),
    /// Exit 2 with this text on stderr: the mail that wakes the session.
    Wake(String),
}

/// A session the hook acts for: its name, bound on a connection.
pub struct Session {
    pub client: Bus,
    pub name: String,
}

/// Run a hook and turn its outcome into output and an exit code.
pub async fn run(cmd: HookCommand, as_name: Option<String>) -> ExitCode {
    let input = HookInput::from_stdin();
    let outcome = async {
        let wait = match cmd {
            HookCommand::SessionStart => NAME_WITHIN,
            HookCommand::Prompt => PROMPT_NAME_WITHIN,
            _ => Duration::ZERO,
        };
        let connect = session(
            as_name.as_deref(),
            &input,
            starts_busd(&cmd, as_name.as_deref()),
            wait,
        );
        let Some(session) = tokio::time::timeout(CONNECT_WITHIN, connect)
            .await
            .map_err(|_| anyhow::anyhow!("busd did not answer within {CONNECT_WITHIN:?}"))??
        else {
            return Ok(Outcome::Silent);
        };
        match cmd {
            // A headless run (`claude -p`) waits for its Stop hook before it exits: it gets the
            // synchronous form, so it ends as soon as its turn is done.
            HookCommand::Stop { no_wait, .. }
                if no_wait || mode::host() == mode::Mode::Headless =>
            {
                bounded(stop::pending(&session, &input)).await
            }
            HookCommand::Stop {
                timeout, ready_fd, ..
            } => stop::wait(&session, timeout, ready_fd).await,
            HookCommand::Prompt => {
                bounded(async {
                    context::mark_taken(&session, input.prompt.as_deref()).await?;
                    context::context(&session, "UserPromptSubmit").await
                })
                .await
            }
            HookCommand::SessionStart => bounded(context::context(&session, "SessionStart")).await,
            HookCommand::PostTool => bounded(post_tool::post_tool(&session)).await,
        }
    };
    // Writes that fail (Claude Code closed the pipe) are ignored: println! would panic, and a
    // hook must not exit with anything but 0, or 2 for mail it delivered.
    use std::io::Write as _;
    match outcome.await {
        Ok(Outcome::Silent) => ExitCode::SUCCESS,
        Ok(Outcome::Stdout(json)) => {
            let _ = writeln!(std::io::stdout().lock(), "{json}");
            ExitCode::SUCCESS
        }
        Ok(Outcome::Wake(text)) => {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
            ExitCode::from(2)
        }
        Err(e) => {
            let _ = writeln!(
                std::io::stderr().lock(),
                "bus hook: {e:#}; going on without the bus"
            );
            ExitCode::SUCCESS
        }
    }
}

/// The session's name and a connection acting as it; `None` when there is no name or no
/// daemon (both are normal: the hook then stays silent).
async fn session(
    as_name: Option<&str>,
    input: &HookInput,
    start_busd: bool,
    wait: Duration,
) -> anyhow::Result<Option<Session>> {
    let client = identity::client(start_busd)?;
    let mut sessions: Vec<String> = identity::session_from_env().into_iter().collect();
    if let Some(id) = input.session_id.as_ref().filter(|id| !id.is_empty())
        && !sessions.contains(id)
    {
        sessions.push(id.clone());
    }
    let name = match identity::resolve(&client, as_name, &sessions, wait).await {
        Ok(Some(name)) => name,
        Ok(None) | Err(ClientError::Unavailable(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    match identity::act_as(&client, &name).await {
        Ok(()) => Ok(Some(Session { client, name })),
        Err(ClientError::Unavailable(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Whether this hook starts busd when none runs: only the context hooks (SessionStart,
/// UserPromptSubmit), and only for a session whose name is given (`--as`, `BUS_NAME`) or that
/// runs under Claude Code (`CLAUDE_PID`), whose shim starts busd a moment later anyway. Claude
/// Code runs SessionStart before the shim has connected: on a fresh bus the first request
/// would carry no bus context. Started early, busd lets the hook wait for the shim's name.
fn starts_busd(cmd: &HookCommand, as_name: Option<&str>) -> bool {
    let expected = identity::given(as_name).is_some() || proto::Host::of_hook().is_some();
    expected && matches!(cmd, HookCommand::Prompt | HookCommand::SessionStart)
}

/// A synchronous hook holds Claude Code up: it must answer quickly or not at all.
async fn bounded(work: impl Future<Output = anyhow::Result<Outcome>>) -> anyhow::Result<Outcome> {
    tokio::time::timeout(CONNECT_WITHIN, work)
        .await
        .map_err(|_| anyhow::anyhow!("busd did not answer within {CONNECT_WITHIN:?}"))?
}
