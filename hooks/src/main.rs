//! `bus`: the claude-bus command line, for people, scripts and Claude Code hooks.
//!
//! Commands for people start busd when none runs; `bus hook ...` never does, and never fails
//! the host: see [`hook`].

mod args;
mod bus;
mod commands;
mod demo;
mod hook;
mod identity;
mod output;
mod remote;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};

fn main() -> ExitCode {
    let is_hook = is_hook(std::env::args_os().skip(1));
    init_logs(is_hook);
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind::{DisplayHelp, DisplayVersion};
            if is_hook && !matches!(e.kind(), DisplayHelp | DisplayVersion) {
                let why = e.to_string();
                let why = why.lines().next().unwrap_or_default();
                eprintln!("bus hook: {why}; going on without the bus");
                return ExitCode::SUCCESS;
            }
            e.exit()
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bus: cannot start the async runtime: {e}");
            return if is_hook {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
    };
    runtime.block_on(async {
        let result = match cli.command {
            Command::Hook(cmd) => {
                let code = hook::run(cmd, cli.as_name).await;
                remote::close_all().await;
                return code;
            }
            Command::Demo { rounds } => demo::run(rounds, cli.json).await,
            _ => commands::run(cli).await,
        };
        remote::close_all().await;
        match result {
            Ok(()) => ExitCode::SUCCESS,
            // The reader of stdout went away (`bus tail | head -1`): end quietly, with the
            // status a shell gives a process killed by SIGPIPE.
            Err(e) if output::is_broken_pipe(&e) => ExitCode::from(141),
            Err(e) if e.is::<demo::Interrupted>() => {
                eprintln!("bus demo: {e}");
                ExitCode::from(130)
            }
            Err(e) if e.is::<commands::Answered>() => {
                ExitCode::from(e.downcast_ref::<commands::Answered>().map_or(1, |a| a.0))
            }
            Err(e) => {
                eprintln!("bus: {e:#}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Whether the subcommand is `hook`: the first argument that is neither a global flag nor the
/// value of `--as`. Arguments are taken as the OS gave them: one that is not UTF-8 is an error
/// clap reports, never a panic here.
fn is_hook(mut args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--as") => {
                args.next();
            }
            Some(flag) if flag.starts_with('-') => {}
            Some(word) => return word == "hook",
            None => return false,
        }
    }
    false
}

/// Logs go to stderr, filtered by `BUS_LOG`. Hooks log nothing: their stderr is what Claude
/// Code shows the model.
fn init_logs(is_hook: bool) {
    if is_hook {
        return;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("BUS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}
