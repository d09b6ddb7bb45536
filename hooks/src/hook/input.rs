//! The JSON Claude Code writes to a hook's stdin, read leniently: a hook never fails on it.

use std::io::{IsTerminal, Read};
use std::time::Duration;

use serde::Deserialize;

/// How long a hook waits for Claude Code to finish writing its input.
const STDIN_TIMEOUT: Duration = Duration::from_secs(2);

/// The fields of the hook input that `bus` uses (Claude Code sends more; they are ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct HookInput {
    /// The Claude Code session, the same id as `CLAUDE_CODE_SESSION_ID`.
    pub session_id: Option<String>,
    pub hook_event_name: Option<String>,
    /// On `Stop`: Claude is already continuing because of a stop hook.
    pub stop_hook_active: bool,
    /// On `UserPromptSubmit`: the prompt (a channel push Claude Code took arrives as one).
    pub prompt: Option<String>,
}

impl HookInput {
    /// Read stdin (unless it is a terminal) and parse it; anything unreadable gives an empty
    /// input and a warning.
    pub fn from_stdin() -> HookInput {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            return HookInput::default();
        }
        let (tx, rx) = std::sync::mpsc::channel();
        // A thread, so that a writer that never closes stdin cannot hold the hook up.
        std::thread::spawn(move || {
            let mut text = String::new();
            let read = stdin.lock().read_to_string(&mut text);
            let _ = tx.send(read.map(|_| text));
        });
        match rx.recv_timeout(STDIN_TIMEOUT) {
            Ok(Ok(text)) => Self::parse(&text),
            Ok(Err(e)) => {
                eprintln!(
                    "bus hook: cannot read the hook input on stdin ({e}); going on without it"
                );
                HookInput::default()
            }
            Err(_) => {
                eprintln!(
                    "bus hook: stdin stayed open for {}s; going on without the hook input",
                    STDIN_TIMEOUT.as_secs()
                );
                HookInput::default()
            }
        }
    }

    pub fn parse(text: &str) -> HookInput {
        if text.trim().is_empty() {
            return HookInput::default();
        }
        serde_json::from_str(text).unwrap_or_else(|e| {
            eprintln!("bus hook: the hook input on stdin is not the JSON Claude Code sends ({e}); going on without it");
            HookInput::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_claude_code_sends() {
        let input = HookInput::parse(
            r#"{"session_id":"abc","transcript_path":"/t.jsonl","cwd":"/w","hook_event_name":"Stop",
               "stop_hook_active":true,"last_assistant_message":"done","background_tasks":[]}"#,
        );
        assert_eq!(input.session_id.as_deref(), Some("abc"));
        assert_eq!(input.hook_event_name.as_deref(), Some("Stop"));
        assert!(input.stop_hook_active);
    }

    #[test]
    fn tolerates_nothing_and_garbage() {
        assert!(HookInput::parse("").session_id.is_none());
        assert!(HookInput::parse("not json").session_id.is_none());
        assert!(!HookInput::parse("{}").stop_hook_active);
    }
}
