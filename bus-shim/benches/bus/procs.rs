//! What the kernel knows about a process (Linux /proc): resident memory, CPU time; and waiting
//! for a process that is not our child to exit (pidfd, no polling).

use std::time::Duration;

use tokio::io::unix::AsyncFd;

/// Resident memory of `pid` in bytes (VmRSS).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Memory of `pid` no other process shares, in bytes (`Private_Clean` + `Private_Dirty` of
/// smaps_rollup): what one more such process costs, its program text shared with the others.
pub fn private_bytes(pid: u32) -> Option<u64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let kb = |field: &str| -> Option<u64> {
        let line = rollup.lines().find(|l| l.starts_with(field))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    Some((kb("Private_Clean:")? + kb("Private_Dirty:")?) * 1024)
}

/// CPU time (user + system) `pid` has used so far.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(Duration::from_secs_f64((utime + stime) as f64 / ticks))
}

/// Total CPU time of several processes.
pub fn cpu_total(pids: &[u32]) -> Duration {
    pids.iter().filter_map(|&pid| cpu_time(pid)).sum()
}

/// Raise the open-file limit to its hard maximum (1,000 clients need 1,000 sockets here and in
/// busd, which inherits the limit).
pub fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// The open-file limit now in force.
pub fn fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a plain system call on a local struct.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    limit.rlim_cur
}

/// Wait until process `pid` has exited (it need not be our child), at most `timeout`.
/// Returns false on timeout.
pub async fn wait_exit(pid: u32, timeout: Duration) -> bool {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) } as i32;
    if fd < 0 {
        // Already gone (ESRCH).
        return true;
    }
    // SAFETY: `fd` was just returned to us and is owned by nobody else.
    let owned = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // SAFETY: the OwnedFd keeps the descriptor open for as long as the AsyncFd owns it.
    let registered =
        unsafe { AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE) };
    let Ok(async_fd) = registered else {
        return false;
    };
    // A pidfd becomes readable when the process exits.
    tokio::time::timeout(timeout, async_fd.readable())
        .await
        .is_ok()
}

/// Send `sig` to `pid`.
pub fn signal(pid: u32, sig: i32) {
    // SAFETY: signalling a process this benchmark started.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// Whether `path` is on a tmpfs, where fsync costs nothing and figures would flatter.
pub fn on_tmpfs(path: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statfs writes into a zeroed local struct.
    unsafe {
        let mut s: libc::statfs = std::mem::zeroed();
        libc::statfs(c.as_ptr(), &mut s) == 0 && s.f_type as i64 == libc::TMPFS_MAGIC
    }
}
