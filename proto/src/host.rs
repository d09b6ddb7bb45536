//! The Claude Code process a client serves: what links a session's hooks to its shim.
//!
//! Claude Code gives a session a new id on `/clear` and `/resume`, but its process stays: the
//! shim is its child (Claude Code starts MCP servers directly, with `CLAUDECODE=1` but no
//! `CLAUDE_PID`), and every hook runs below it with `CLAUDE_PID` set (2.1.332). A process is
//! named by its pid *and* its start time, so a pid the system reuses later cannot match.

use serde::{Deserialize, Serialize};

/// A process, named so that it cannot be confused with a later one that reuses its pid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Host {
    pub pid: u32,
    /// When it started, as the system tells it: clock ticks after boot (`/proc/PID/stat`
    /// field 22) on Linux, `ps -o lstart` elsewhere. Only compared for equality.
    pub started: String,
}

impl Host {
    /// The process `pid`, if it runs.
    pub fn of(pid: u32) -> Option<Host> {
        Some(Host {
            pid,
            started: started(pid)?,
        })
    }

    /// The Claude Code this hook or `bus` command runs under: `CLAUDE_PID`, if it is one of
    /// this process's ancestors (a stale variable inherited from elsewhere names no one).
    pub fn of_hook() -> Option<Host> {
        let claude = std::env::var("CLAUDE_PID")
            .ok()?
            .trim()
            .parse::<u32>()
            .ok()?;
        let mut pid = std::os::unix::process::parent_id();
        for _ in 0..MAX_DEPTH {
            if pid == claude {
                return Host::of(pid);
            }
            if pid <= 1 {
                return None;
            }
            pid = parent(pid)?;
        }
        None
    }

    /// The Claude Code that started this MCP server: with `CLAUDECODE=1` in the environment,
    /// the nearest ancestor that is not a shell (a launcher script may stand between).
    pub fn of_server() -> Option<Host> {
        if std::env::var("CLAUDECODE").ok().as_deref() != Some("1") {
            return None;
        }
        let mut pid = std::os::unix::process::parent_id();
        for _ in 0..MAX_DEPTH {
            if pid <= 1 {
                return None;
            }
            if !is_shell(pid) {
                return Host::of(pid);
            }
            pid = parent(pid)?;
        }
        None
    }
}

/// How many parents up to look.
const MAX_DEPTH: usize = 8;

const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "ksh", "fish", "busybox"];

fn is_shell(pid: u32) -> bool {
    args(pid).is_some_and(|args| is_shell_command(&args))
}

/// Whether a command line runs a shell (by the name of its program).
pub fn is_shell_command(args: &[String]) -> bool {
    let exe = args.first().map(String::as_str).unwrap_or_default();
    let name = exe.rsplit('/').next().unwrap_or(exe);
    SHELLS.contains(&name.trim_start_matches('-'))
}

/// A process's arguments: from `/proc` (Linux), else from `ps` (macOS, the BSDs), where
/// they come joined by spaces: good enough to find flags, which never contain one.
pub fn args(pid: u32) -> Option<Vec<String>> {
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

/// The fields of `/proc/PID/stat` after `(comm)` (which may hold spaces and parentheses).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_owned).collect())
}

/// A process's parent.
pub fn parent(pid: u32) -> Option<u32> {
    match stat_fields(pid) {
        // Field 4 (ppid) is the second after comm.
        Some(fields) => fields.get(1)?.parse().ok(),
        None => ps(pid, "ppid=")?.trim().parse().ok(),
    }
}

fn started(pid: u32) -> Option<String> {
    match stat_fields(pid) {
        // Field 22 (starttime) is the twentieth after comm.
        Some(fields) => fields.get(19).cloned(),
        None => ps(pid, "lstart="),
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

/// How Claude Code names the bus tool `tool` in this session: `mcp__plugin_claude-bus_bus__TOOL`
/// for the plugin's server (Claude Code sets `CLAUDE_PLUGIN_ROOT` for a plugin's servers and
/// hooks), else `mcp__bus__TOOL`, the server `install.sh` adds with `claude mcp add bus`.
pub fn tool_name(tool: &str) -> String {
    let plugin = std::env::var_os("CLAUDE_PLUGIN_ROOT").is_some_and(|r| !r.is_empty());
    if plugin {
        format!("mcp__plugin_claude-bus_bus__{tool}")
    } else {
        format!("mcp__bus__{tool}")
    }
}

/// How a model in a session whose MCP tools are deferred loads these tools: the ToolSearch
/// call Claude Code's own listing asks for (`select:NAME,NAME`).
pub fn tool_search(tools: &[&str]) -> String {
    let names: Vec<String> = tools.iter().map(|t| tool_name(t)).collect();
    format!("ToolSearch query \"select:{}\"", names.join(","))
}

/// The name this machine goes by on the bus (`agents` shows it beside the sessions connected
/// to its busd): `BUS_HOST` when set, else its host name (`gethostname`), or "this machine"
/// when it has none.
pub fn machine_name() -> String {
    if let Some(name) = std::env::var("BUS_HOST")
        .ok()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
    {
        return name;
    }
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it on
    // success (we keep the last byte 0 either way).
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) } == 0;
    let end = buf.iter().position(|b| *b == 0).unwrap_or(0);
    if ok && end > 0 {
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "this machine".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_tree_from_proc_and_from_ps() {
        let me = std::process::id();
        let parent_pid = std::os::unix::process::parent_id();
        let found = args(me).expect("this process's arguments");
        let exe = std::env::current_exe().expect("this test binary");
        let exe = exe.file_name().unwrap().to_string_lossy().into_owned();
        assert!(found[0].ends_with(&exe), "{found:?} runs {exe}");
        assert_eq!(parent(me), Some(parent_pid));
        // The fallback where there is no /proc gives the same answers.
        let by_ps = ps(me, "args=").expect("ps runs");
        assert!(by_ps.starts_with(&found[0]), "{by_ps} vs {found:?}");
        assert_eq!(
            ps(me, "ppid=").and_then(|p| p.parse().ok()),
            Some(parent_pid)
        );
    }

    #[test]
    fn a_process_is_its_pid_and_start_time() {
        let me = Host::of(std::process::id()).expect("this process");
        assert_eq!(Host::of(me.pid), Some(me.clone()));
        let parent = Host::of(std::os::unix::process::parent_id()).expect("the parent");
        assert_ne!(parent.started, "", "{parent:?}");
        assert_eq!(super::parent(me.pid), Some(parent.pid));
        // Where there is no /proc the start time comes from ps: it names a process too.
        assert!(ps(me.pid, "lstart=").is_some());
    }
}
