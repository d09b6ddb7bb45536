//! Which mode the Claude Code running this hook is in, read from its command line.
//!
//! Claude Code gives a hook the same environment and input in `claude -p` and in SDK mode
//! (`CLAUDE_CODE_ENTRYPOINT=sdk-cli` for both, 2.1.332), but runs an `asyncRewake` Stop hook in
//! the foreground only in the first: without streaming input a headless run waits for its
//! hooks before it exits. The difference is in Claude Code's own arguments: `-p`/`--print`
//! without `--input-format stream-json` is a headless run. They come from `/proc` on Linux and
//! from `ps` elsewhere. Claude Code is `CLAUDE_PID` when it
//! is one of this hook's ancestors, else the nearest ancestor that is not a shell (hooks run
//! under `sh -c`).

/// How the host session runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The terminal UI: stays open, so a Stop hook may wait for mail and wake it.
    Interactive,
    /// `-p --input-format stream-json` (the Agent SDK): stays open between turns.
    Sdk,
    /// `-p` alone: one turn, then exit; a Stop hook must not hold it open.
    Headless,
    /// Claude Code's command line could not be read (no `/proc` and no `ps`).
    Unknown,
}

/// How many parents up to look for Claude Code.
const MAX_DEPTH: usize = 8;

/// The mode of the Claude Code that runs this process.
pub fn host() -> Mode {
    match host_args() {
        Some(args) => from_args(&args),
        None => Mode::Unknown,
    }
}

/// The mode a Claude Code command line asks for.
pub fn from_args(args: &[String]) -> Mode {
    let mut print = false;
    let mut streaming_input = false;
    let mut iter = args.iter().skip(1);
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            // Everything after `--` is a prompt, not an option.
            "--" => break,
            "-p" | "--print" => print = true,
            "--input-format" => streaming_input = iter.next().is_some_and(|v| v == "stream-json"),
            a if a.starts_with("--input-format=") => {
                streaming_input = a == "--input-format=stream-json";
            }
            _ => {}
        }
    }
    match (print, streaming_input) {
        (_, true) => Mode::Sdk,
        (true, false) => Mode::Headless,
        (false, false) => Mode::Interactive,
    }
}

/// Claude Code's arguments: `CLAUDE_PID` if it is an ancestor, else the first ancestor that
/// is not a shell.
fn host_args() -> Option<Vec<String>> {
    let claude_pid = std::env::var("CLAUDE_PID")
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok());
    let mut pid = std::os::unix::process::parent_id();
    let mut first_non_shell = None;
    for _ in 0..MAX_DEPTH {
        if pid <= 1 {
            break;
        }
        let args = proto::host::args(pid)?;
        if Some(pid) == claude_pid {
            return Some(args);
        }
        if first_non_shell.is_none() && !proto::host::is_shell_command(&args) {
            first_non_shell = Some(args);
            if claude_pid.is_none() {
                break;
            }
        }
        pid = proto::host::parent(pid)?;
    }
    first_non_shell
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(line: &str) -> Mode {
        let args: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        from_args(&args)
    }

    #[test]
    fn reads_the_three_modes_from_claude_codes_arguments() {
        // The command lines Claude Code 2.1.332 ran under, seen from its hooks.
        assert_eq!(
            mode("claude -p hi --permission-mode bypassPermissions --plugin-dir /p"),
            Mode::Headless
        );
        assert_eq!(
            mode("claude -p --input-format stream-json --output-format stream-json --verbose"),
            Mode::Sdk
        );
        assert_eq!(
            mode("claude --permission-mode bypassPermissions --plugin-dir /p"),
            Mode::Interactive
        );
        assert_eq!(mode("claude --print --input-format=stream-json"), Mode::Sdk);
        assert_eq!(mode("claude --print --input-format text"), Mode::Headless);
        assert_eq!(mode("claude -- -p"), Mode::Interactive);
    }

    #[test]
    fn a_shell_is_not_the_host() {
        assert!(proto::host::is_shell_command(&[
            "/bin/sh".into(),
            "-c".into()
        ]));
        assert!(proto::host::is_shell_command(&["-bash".into()]));
        assert!(!proto::host::is_shell_command(&["/usr/bin/claude".into()]));
    }
}
