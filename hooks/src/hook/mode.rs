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

const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "ksh", "fish", "busybox"];

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
        let args = proc_args(pid)?;
        if Some(pid) == claude_pid {
            return Some(args);
        }
        if first_non_shell.is_none() && !is_shell(&args) {
            first_non_shell = Some(args);
            if claude_pid.is_none() {
                break;
            }
        }
        pid = proc_parent(pid)?;
    }
    first_non_shell
}

fn is_shell(args: &[String]) -> bool {
    let exe = args.first().map(String::as_str).unwrap_or_default();
    let name = exe.rsplit('/').next().unwrap_or(exe);
    SHELLS.contains(&name.trim_start_matches('-'))
}

/// A process's arguments: from `/proc` (Linux), else from `ps` (macOS, the BSDs), where
/// they come joined by spaces: good enough to find flags, which never contain one.
fn proc_args(pid: u32) -> Option<Vec<String>> {
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(raw) => Some(
            raw.split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect(),
        ),
        Err(_) => {
            let args = ps(pid, "args=")?;
            Some(args.split_whitespace().map(str::to_owned).collect())
        }
    }
}

fn proc_parent(pid: u32) -> Option<u32> {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
            let after = &stat[stat.rfind(')')? + 1..];
            after.split_whitespace().nth(1)?.parse().ok()
        }
        Err(_) => ps(pid, "ppid=")?.trim().parse().ok(),
    }
}

/// `ps -o FIELD -p PID`, or `None` when it fails or prints nothing.
fn ps(pid: u32, field: &str) -> Option<String> {
    let out = std::process::Command::new("ps")
        .args(["-o", field, "-p", &pid.to_string()])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
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
        assert!(is_shell(&["/bin/sh".into(), "-c".into()]));
        assert!(is_shell(&["-bash".into()]));
        assert!(!is_shell(&["/usr/bin/claude".into()]));
    }

    #[test]
    fn reads_this_process_tree_from_proc_and_from_ps() {
        let me = std::process::id();
        let parent = std::os::unix::process::parent_id();
        let args = proc_args(me).expect("this process's arguments");
        assert!(args[0].contains("bus"), "{args:?}");
        assert_eq!(proc_parent(me), Some(parent));
        // The fallback where there is no /proc gives the same answers.
        let by_ps = ps(me, "args=").expect("ps runs");
        assert!(by_ps.starts_with(&args[0]), "{by_ps} vs {args:?}");
        assert_eq!(ps(me, "ppid=").and_then(|p| p.parse().ok()), Some(parent));
    }
}
