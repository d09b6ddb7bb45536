//! The end of the Claude Code process a hook serves, as an event: a pidfd, readable once the
//! process has exited (Linux). Elsewhere it never fires, and the Stop hook falls back on its
//! check of the parent before it takes mail.

/// A watch on the host process, opened at once: a process that ends after [`HostExit::watch`]
/// is seen to end, however late the wait begins.
pub struct HostExit {
    #[cfg(target_os = "linux")]
    fd: Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
}

impl HostExit {
    /// Watch `host` (no watch for `None`, or where processes cannot be watched). Must be
    /// called on the runtime.
    pub fn watch(host: Option<proto::Host>) -> HostExit {
        #[cfg(target_os = "linux")]
        {
            let interest = tokio::io::Interest::READABLE;
            let fd = host.and_then(pidfd).and_then(|fd| {
                // SAFETY: the AsyncFd owns the descriptor, which stays open and the same
                // until it is dropped.
                unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, interest) }.ok()
            });
            HostExit { fd }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = host;
            HostExit {}
        }
    }

    /// Resolves once the watched process has exited; never without a watch.
    pub async fn exited(&self) {
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.fd {
            let _ = fd.readable().await;
            return;
        }
        std::future::pending::<()>().await
    }
}

/// A pidfd for the host process, checked to be that process (same start time) once open, so
/// a pid reused in between cannot stand in for it.
#[cfg(target_os = "linux")]
fn pidfd(host: proto::Host) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, host.pid as libc::pid_t, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) };
    (proto::Host::of(host.pid).as_ref() == Some(&host)).then_some(fd)
}
