//! The processes of one bus, found through `/proc` by the `BUS_DB` in their environment (a
//! temp path no other process has), and signals to them.

use proto::paths::BusPaths;

/// The `BUS_DB=…` entry of the environment of every process of this bus.
fn marker(paths: &BusPaths) -> String {
    format!("BUS_DB={}", paths.db.display())
}

/// The pids of the processes whose environment holds this bus's `BUS_DB` and for which
/// `keep(pid)` is true.
pub fn of_bus(paths: &BusPaths, keep: impl Fn(u32) -> bool) -> Vec<u32> {
    let wanted = marker(paths);
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            env.split(|b| *b == 0).any(|kv| kv == wanted.as_bytes())
        })
        .filter(|pid| keep(*pid))
        .collect()
}

/// Every busd process serving this bus (ours, or one a client started detached).
pub fn busd_pids(paths: &BusPaths) -> Vec<u32> {
    of_bus(paths, |pid| {
        std::fs::read_link(format!("/proc/{pid}/exe"))
            .unwrap_or_default()
            .file_name()
            .is_some_and(|n| n == "busd")
    })
}

/// The command line of `pid`, its arguments separated by NUL bytes.
pub fn cmdline(pid: u32) -> Vec<u8> {
    std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()
}

pub fn signal(pid: u32, sig: i32) {
    // SAFETY: kill has no memory preconditions; the pid is a process of this test's bus.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

/// SIGTERM, then SIGCONT so that a stopped process (a test's SIGSTOP) takes it too.
pub fn stop(pid: u32) {
    signal(pid, libc::SIGTERM);
    signal(pid, libc::SIGCONT);
}
