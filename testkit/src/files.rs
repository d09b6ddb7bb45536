//! Waiting for a file to say something: a log line, a mark a process writes when it is ready.
//!
//! The file's folder is watched with inotify (so a file not yet created, or replaced by a
//! rename, is seen too) and the file is read again only when something in that folder changed;
//! nothing sleeps and nothing re-reads on a timer.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Block until `found` accepts the text of the file at `path` (empty while it does not
/// exist), or `timeout` passes; the error is the text at that moment.
pub fn wait_for(
    path: &Path,
    timeout: Duration,
    found: impl Fn(&str) -> bool,
) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    let watch = FolderWatch::new(path.parent().unwrap_or(Path::new(".")));
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if found(&text) {
            return Ok(text);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(text);
        }
        match &watch {
            Ok(w) => w.wait(left),
            Err(e) => return Err(format!("cannot watch {}: {e}\n{text}", path.display())),
        }
    }
}

/// [`wait_for`] off the async runtime; panics with the file's text when it times out.
pub async fn event(
    path: &Path,
    timeout: Duration,
    what: &str,
    found: impl Fn(&str) -> bool + Send + 'static,
) -> String {
    let path: PathBuf = path.to_owned();
    let what = what.to_owned();
    tokio::task::spawn_blocking(move || {
        wait_for(&path, timeout, found).unwrap_or_else(|text| {
            panic!(
                "{} never showed {what} within {timeout:?}:\n{text}",
                path.display()
            )
        })
    })
    .await
    .expect("the file waiter panicked")
}

/// An inotify watch on the entries of one folder.
struct FolderWatch {
    fd: i32,
}

impl FolderWatch {
    fn new(dir: &Path) -> std::io::Result<FolderWatch> {
        let name = CString::new(dir.as_os_str().as_bytes())?;
        // SAFETY: inotify_init1 takes flags only; on failure nothing is left open.
        let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let watch = FolderWatch { fd };
        let mask = libc::IN_CREATE | libc::IN_MODIFY | libc::IN_MOVED_TO | libc::IN_CLOSE_WRITE;
        // SAFETY: a descriptor we own and a NUL-terminated path.
        if unsafe { libc::inotify_add_watch(fd, name.as_ptr(), mask) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(watch)
    }

    /// Wait for the next change in the folder (or `timeout`), then drain the queued events.
    fn wait(&self, timeout: Duration) {
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        let mut buf = [0u8; 4096];
        // SAFETY: poll on one valid pollfd, and reads into a buffer of the given length.
        unsafe {
            libc::poll(&mut pfd, 1, ms);
            while libc::read(self.fd, buf.as_mut_ptr().cast(), buf.len()) > 0 {}
        }
    }
}

impl Drop for FolderWatch {
    fn drop(&mut self) {
        // SAFETY: closes the descriptor opened in `new`, once.
        unsafe {
            libc::close(self.fd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_a_file_created_after_the_wait_began_and_reports_the_last_text_on_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mark");
        let writer = {
            let path = path.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                std::fs::write(path.with_extension("tmp"), "ready\n").unwrap();
                std::fs::rename(path.with_extension("tmp"), &path).unwrap();
            })
        };
        let text = wait_for(&path, Duration::from_secs(30), |t| t.contains("ready")).unwrap();
        assert_eq!(text, "ready\n");
        writer.join().unwrap();
        let err = wait_for(&path, Duration::from_millis(20), |t| t.contains("never")).unwrap_err();
        assert_eq!(err, "ready\n");
    }
}
