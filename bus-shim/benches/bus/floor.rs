//! Scenario 11 — the floor: what the process hops of a call cost on this machine with no work
//! in them. A call through the shim crosses an MCP client → (pipe) → shim → (Unix socket) →
//! busd and back; a wake crosses the sender's shim → busd → (fsync) → the reader's shim, as
//! many hops. Here the bench is the client, a relay process stands for the shim and an echo
//! process for busd, each a loop of blocking reads and writes (no runtime, no parsing): hot,
//! with one `fdatasync` in the echo (a durable send), and after 3–7 ms of quiet (as the wake
//! scenario's reader waits). The latency targets sit on top of these figures.
//!
//! The two processes are this benchmark's own binary, started with `--floor-relay` or
//! `--floor-echo` ([`child`]).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::Ctx;
use crate::report::{self, Figure, Report};
use crate::stats::Samples;

const SECTION: &str = "11 floor";
const RELAY: &str = "--floor-relay";
const ECHO: &str = "--floor-echo";
/// A request line asking the echo for an `fdatasync` before it answers.
const DURABLE: &[u8] = b"sync\n";
const PLAIN: &[u8] = b"ping\n";

struct Floor {
    hot: Samples,
    durable: Samples,
    quiet: Samples,
    quiet_durable: Samples,
}

/// Run as one of the floor's processes when started as one; `None` otherwise.
pub fn child() -> Option<ExitCode> {
    let args: Vec<String> = std::env::args().collect();
    let role = args.get(1)?;
    let socket = args.get(2)?;
    let run = match role.as_str() {
        RELAY => relay(Path::new(socket)),
        ECHO => echo(Path::new(socket)),
        _ => return None,
    };
    Some(match run {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench {role}: {e:#}");
            ExitCode::FAILURE
        }
    })
}

/// stdin lines to the echo over the socket, its answers to stdout.
fn relay(socket: &Path) -> anyhow::Result<()> {
    let mut stream = UnixStream::connect(socket).context("connecting to the echo")?;
    let mut answers = BufReader::new(stream.try_clone()?);
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    let (mut line, mut answer) = (Vec::new(), Vec::new());
    loop {
        line.clear();
        if stdin.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        stream.write_all(&line)?;
        answer.clear();
        answers.read_until(b'\n', &mut answer)?;
        stdout.write_all(&answer)?;
        stdout.flush()?;
    }
}

/// Answer each line of one connection with itself, after an `fdatasync` when it asks for one.
fn echo(socket: &Path) -> anyhow::Result<()> {
    let listener = UnixListener::bind(socket).context("binding the socket")?;
    let folder = socket.parent().context("the socket's folder")?;
    let mut log = std::fs::File::create(folder.join("floor.log"))?;
    println!("ready");
    std::io::stdout().flush()?;
    let (stream, _) = listener.accept()?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    let block = [0u8; 256];
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        if line == DURABLE {
            log.write_all(&block)?;
            log.sync_data()?;
        }
        writer.write_all(&line)?;
    }
}

pub async fn run(ctx: &Ctx, report: &mut Report) {
    let quick = ctx.opts.quick;
    let measured = tokio::task::spawn_blocking(move || measure(quick))
        .await
        .context("the floor's thread")
        .and_then(|r| r);
    let Some(floor) = report::ours(report, "floor", measured) else {
        return;
    };
    let rows = [
        (
            "hops alone p50 (client → relay → echo and back)",
            &floor.hot,
        ),
        ("hops + one fdatasync p50", &floor.durable),
        ("hops after 3–7 ms quiet p50", &floor.quiet),
        ("hops + fdatasync after quiet p50", &floor.quiet_durable),
    ];
    for (name, samples) in rows {
        report.add(Figure::ms(SECTION, name).ours(samples.p50()));
    }
    report.note(format!(
        "floor: {} hot, {} durable, {} quiet and {} quiet durable round trips through two \
         processes doing no work (this binary as relay and echo); the wake targets stand on \
         the quiet durable figure, the call targets on the hot ones",
        floor.hot.len(),
        floor.durable.len(),
        floor.quiet.len(),
        floor.quiet_durable.len()
    ));
}

fn measure(quick: bool) -> anyhow::Result<Floor> {
    let dir = tempfile::Builder::new().prefix("bus-floor-").tempdir()?;
    let socket = dir.path().join("echo.sock");
    let me = std::env::current_exe().context("finding the benchmark's binary")?;
    let mut echo = Process::start(&me, ECHO, &socket)?;
    let mut ready = String::new();
    BufReader::new(echo.0.stdout.take().context("the echo's stdout")?).read_line(&mut ready)?;
    if ready.trim() != "ready" {
        bail!("the echo process did not start: {ready:?}");
    }
    let mut relay = Process::start(&me, RELAY, &socket)?;
    let mut to_relay = relay.0.stdin.take().context("the relay's stdin")?;
    let mut from_relay = relay.0.stdout.take().context("the relay's stdout")?;
    let mut round_trip = |line: &[u8]| -> anyhow::Result<Duration> {
        let t0 = Instant::now();
        to_relay.write_all(line)?;
        let mut answer = vec![0u8; line.len()];
        from_relay.read_exact(&mut answer)?;
        let took = t0.elapsed();
        if answer != line {
            bail!("the relay answered {answer:?}");
        }
        Ok(took)
    };
    let pick = |q: usize, full: usize| if quick { q } else { full };
    let mut floor = Floor {
        hot: Samples::new(),
        durable: Samples::new(),
        quiet: Samples::new(),
        quiet_durable: Samples::new(),
    };
    for _ in 0..50 {
        round_trip(PLAIN)?;
    }
    for _ in 0..pick(500, 5000) {
        floor.hot.push(round_trip(PLAIN)?);
    }
    for _ in 0..pick(100, 1000) {
        floor.durable.push(round_trip(DURABLE)?);
    }
    for i in 0..pick(30, 300) {
        std::thread::sleep(Duration::from_micros(3000 + (i as u64 * 773) % 4000));
        let (line, samples) = match i % 2 {
            0 => (PLAIN, &mut floor.quiet),
            _ => (DURABLE, &mut floor.quiet_durable),
        };
        samples.push(round_trip(line)?);
    }
    Ok(floor)
}

/// A child process of the floor, killed when dropped.
struct Process(Child);

impl Process {
    fn start(me: &Path, role: &str, socket: &Path) -> anyhow::Result<Process> {
        let child = Command::new(me)
            .arg(role)
            .arg(socket)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {} {role}", me.display()))?;
        Ok(Process(child))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
