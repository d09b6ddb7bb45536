//! Running `bus` (or a hook command line) as a child process: stdin in, exit code and output
//! out, and a readiness pipe on descriptor 3 for `--ready-fd 3`.

use std::process::Stdio;

use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::common::PATIENCE;

/// A command about to run.
pub struct Cmd {
    cmd: tokio::process::Command,
    stdin: Option<String>,
}

/// What a finished command did.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// stdout as one JSON document.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    pub fn silent(&self) -> bool {
        self.stdout.is_empty() && self.stderr.is_empty()
    }
}

impl Cmd {
    pub fn new(cmd: tokio::process::Command) -> Cmd {
        Cmd { cmd, stdin: None }
    }

    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Cmd {
        self.cmd.env(key, value);
        self
    }

    pub fn stdin(mut self, text: impl Into<String>) -> Cmd {
        self.stdin = Some(text.into());
        self
    }

    /// Run to completion.
    pub async fn run(self) -> Out {
        self.spawn(None).await.finish().await
    }

    /// Start it and return at once.
    pub async fn start(self) -> Running {
        self.spawn(None).await
    }

    /// Start it with a pipe as descriptor 3 (for `--ready-fd 3`) and return once it has
    /// written its readiness byte.
    pub async fn start_ready(self) -> Running {
        let (ready, ready_tx) = std::io::pipe().expect("pipe");
        let running = self.spawn(Some(ready_tx)).await;
        let read = tokio::task::spawn_blocking(move || {
            let mut ready = ready;
            let mut byte = [0u8; 1];
            std::io::Read::read(&mut ready, &mut byte).map(|n| n == 1)
        });
        let ok = tokio::time::timeout(PATIENCE, read).await;
        assert!(
            matches!(ok, Ok(Ok(Ok(true)))),
            "the command did not signal readiness"
        );
        running
    }

    async fn spawn(mut self, ready: Option<std::io::PipeWriter>) -> Running {
        self.cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(tx) = &ready {
            let fd = std::os::fd::AsRawFd::as_raw_fd(tx);
            // SAFETY: only dup2, which is async-signal-safe, between fork and exec.
            unsafe {
                self.cmd.pre_exec(move || {
                    if libc::dup2(fd, 3) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = self.cmd.spawn().expect("spawn");
        drop(ready);
        let mut stdin = child.stdin.take().expect("stdin");
        if let Some(text) = self.stdin {
            stdin.write_all(text.as_bytes()).await.expect("write stdin");
        }
        drop(stdin);
        Running { child }
    }
}

/// A command still running.
pub struct Running {
    pub child: tokio::process::Child,
}

impl Running {
    /// Wait for it to exit (within [`PATIENCE`]).
    pub async fn finish(self) -> Out {
        let out = tokio::time::timeout(PATIENCE, self.child.wait_with_output())
            .await
            .expect("the command finished within the safety timeout")
            .expect("wait for the command");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}
