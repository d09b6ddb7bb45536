//! What the figures were measured on: CPU, cores, kernel, how an idle CPU sleeps, date, load,
//! and what one synced write costs on the disk that holds the benchmark's buses (durable sends
//! wait for one).

use std::io::Write as _;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use crate::procs;
use crate::stats::Samples;

pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub kernel: String,
    /// The cpuidle driver, and its poll window when it is `haltpoll` (a virtual machine's):
    /// every hop between processes pays for a vCPU that halts at once when idle.
    pub idle: Option<String>,
    pub date: String,
    pub load: String,
    pub tmp: String,
    pub tmpfs: bool,
    /// Median time of one 4 KiB write + fdatasync there, in ms.
    pub sync_ms: Option<f64>,
}

impl Machine {
    pub fn probe() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|m| m.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let tmp = std::env::temp_dir();
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_default(),
            idle: idle(),
            date: proto::time::rfc3339(proto::time::now()),
            load: load(),
            tmpfs: procs::on_tmpfs(&tmp),
            sync_ms: sync_cost(&tmp),
            tmp: tmp.display().to_string(),
        }
    }

    pub fn describe(&self, quick: bool) -> String {
        let mode = if quick { "quick" } else { "full" };
        let tmpfs = if self.tmpfs {
            " (a tmpfs: fsync is free there, so write figures flatter; \
             set TMPDIR to a folder on disk)"
        } else {
            ""
        };
        let sync = self
            .sync_ms
            .map_or("unknown".to_owned(), |ms| format!("{ms:.3} ms"));
        let idle = self
            .idle
            .as_ref()
            .map_or(String::new(), |idle| format!("; idle {idle}"));
        format!(
            "claude-bus {} benchmark, {mode} mode, {}\n\
             machine: {}, {} cores, Linux {}{idle}; load average {}\n\
             buses in {}{tmpfs}; one 4 KiB write + fdatasync there: {sync} (median of 50); \
             open-file limit {}",
            proto::VERSION,
            self.date,
            self.cpu,
            self.cores,
            self.kernel,
            self.load,
            self.tmp,
            procs::fd_limit(),
        )
    }
}

/// The 1, 5 and 15 minute load averages.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The cpuidle driver, with `guest_halt_poll_ns` when it is haltpoll.
fn idle() -> Option<String> {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_owned())
    };
    let driver = read("/sys/devices/system/cpu/cpuidle/current_driver")?;
    match read("/sys/module/haltpoll/parameters/guest_halt_poll_ns") {
        Some(ns) if driver == "haltpoll" => Some(format!("{driver}, guest_halt_poll_ns {ns}")),
        _ => Some(driver),
    }
}

/// Median of 50 synced 4 KiB writes to a file in `dir`, in ms.
fn sync_cost(dir: &Path) -> Option<f64> {
    let mut file = tempfile::tempfile_in(dir).ok()?;
    file.write_all(&[0u8; 16 * 4096]).ok()?;
    file.sync_all().ok()?;
    let block = [7u8; 4096];
    let mut samples = Samples::new();
    for i in 0..50u64 {
        let t0 = Instant::now();
        file.write_at(&block, (i % 16) * 4096).ok()?;
        file.sync_data().ok()?;
        samples.push(t0.elapsed());
    }
    samples.p50()
}
