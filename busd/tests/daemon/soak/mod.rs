//! The soak suite: crash chaos, client faults, hostile input and load against real busd
//! processes, ending in a summary table; it fails on any loss, duplicate or unexpected error.
//!
//! Run by name (it is `#[ignore]`d in the default test run):
//!
//! ```text
//! cargo build --release --workspace
//! SOAK_SECONDS=60 cargo test --release -p busd --test daemon -- --ignored --nocapture soak
//! ```
//!
//! Knobs (environment): `SOAK_SECONDS` (length of the timed scenarios, default 3: the short
//! round CI runs), `SOAK_KILLS` (least number of `kill -9` in crash chaos, default 5),
//! `SOAK_SESSIONS` (8) and `SOAK_SHIMS` (how many of them are real bus-shim processes, 2),
//! `SOAK_CLIENTS` (load clients, 200), `SOAK_ROUNDS` (rounds of client faults, 1),
//! `SOAK_CASES` (cases per property, 64), `SOAK_SEED` (random seed; printed), `SOAK_ONLY`
//! (a comma-separated subset of `chaos,shared,faults,hostile,load`; `shared` is crash chaos on
//! a bus two busd share over PostgreSQL, skipped without `initdb` unless `BUS_PG_REQUIRE=1`).

mod chaos;
mod ledger;
mod load;
mod monkey;
mod session;

use std::sync::Arc;
use std::time::Duration;

use ledger::Row;

use crate::client_faults::{Witness, half_closers, hog, killed_shims, silent_peers};
use crate::common::*;
use crate::hostile::{decoder_properties, random_frames, random_lengths, random_requests};
use crate::mcp::shim_exe;
use crate::probe::rss_kib;

/// How long and how hard the soak runs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub duration: Duration,
    pub kills: u32,
    /// Pauses between kills are drawn from this range.
    pub kill_pace: (Duration, Duration),
    pub sessions: usize,
    pub shims: usize,
    pub clients: usize,
    pub rounds: u32,
    pub cases: u32,
    pub seed: u64,
    /// The scenarios to run (all by default).
    pub only: Vec<String>,
}

impl Settings {
    fn runs(&self, scenario: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == scenario)
    }
}

impl Settings {
    fn from_env() -> Settings {
        fn knob<T: std::str::FromStr>(name: &str, default: T) -> T {
            match std::env::var(name) {
                Ok(v) => v
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}={v} is not a valid number")),
                Err(_) => default,
            }
        }
        let duration = Duration::from_secs_f64(knob("SOAK_SECONDS", 3.0));
        let kills = knob("SOAK_KILLS", 5u32).max(1);
        // About one kill every `mean`: the minimum within the run, but never rarer than 2 s.
        let mean = (duration / (kills + 1)).min(Duration::from_secs(2));
        let seed = knob("SOAK_SEED", proto::time::now().to_bits());
        Settings {
            duration,
            kills,
            kill_pace: (mean / 2, mean * 3 / 2),
            sessions: knob("SOAK_SESSIONS", 8usize).max(2),
            shims: knob("SOAK_SHIMS", 2usize),
            clients: knob("SOAK_CLIENTS", 200usize).max(2),
            rounds: knob("SOAK_ROUNDS", 1u32).max(1),
            cases: knob("SOAK_CASES", 64u32).max(1),
            seed,
            only: std::env::var("SOAK_ONLY")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// A small deterministic generator (splitmix64): the soak needs no more.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Rounds of every client fault on one busd; after each, busd must be back where it was.
async fn client_faults(settings: &Settings) -> Row {
    let mut row = Row::new("client faults");
    let bus = Arc::new(TempBus::start().await);
    let witness = Witness::new(&bus).await;
    let before = witness.footprint().await;
    let mut memory = Vec::new();
    for round in 1..=settings.rounds {
        let shims = if shim_exe().is_some() { 2 } else { 0 };
        let results = [
            killed_shims(&bus, &witness, shims).await,
            silent_peers(&bus, &witness, 20).await,
            hog(&bus, &witness, 300, true).await,
            hog(&bus, &witness, 300, false).await,
            half_closers(&bus, &witness, 5).await,
        ];
        for r in results {
            match r {
                Ok(n) => row.operations += n,
                Err(e) => row.error(format!("round {round}: {e}")),
            }
        }
        let after = witness.footprint().await;
        if after != before {
            row.error(format!(
                "round {round}: busd went from {before:?} to {after:?}"
            ));
        }
        memory.push(rss_kib(bus.pid()) / 1024);
    }
    row.note(format!(
        "busd memory (VmRSS, MiB) after each round of client faults: {memory:?}"
    ));
    if let (Some(first), Some(last)) = (memory.first(), memory.last())
        && *last > first + first / 4 + 8
    {
        row.error(format!("busd memory grew over the rounds: {memory:?} MiB"));
    }
    row
}

/// Every hostile-input property with the soak's number of cases, against one busd.
async fn hostile(settings: &Settings) -> Row {
    let mut row = Row::new("hostile input");
    let bus = Arc::new(TempBus::start().await);
    let witness = Witness::new(&bus).await;
    let pid = status(&witness.a).await.pid;
    let cases = settings.cases;
    let results = [
        ("random requests", random_requests(bus.clone(), cases).await),
        ("random frames", random_frames(bus.clone(), cases * 4).await),
        (
            "random lengths",
            random_lengths(bus.clone(), cases * 4).await,
        ),
        ("the decoder", decoder_properties(cases * 4)),
    ];
    for (what, r) in results {
        match r {
            Ok(n) => row.operations += n,
            Err(e) => row.error(format!("{what}: {e}")),
        }
    }
    if let Err(e) = witness.round_trip().await {
        row.error(e);
    }
    if status(&witness.a).await.pid != pid {
        row.error("busd was replaced during hostile input".into());
    }
    row
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | operations | lost | duplicated | errors | p99 |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let p99 = r.p99().map_or("-".to_owned(), |d| {
            format!("{:.1} ms", d.as_secs_f64() * 1000.0)
        });
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.scenario, r.operations, r.lost, r.duplicated, r.errors, p99
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "the soak suite, run by name: see the README's Reliability section"]
async fn soak() {
    let settings = Settings::from_env();
    println!("soak settings: {settings:?}");
    let mut rows = Vec::new();
    if settings.runs("chaos") {
        rows.extend(chaos::run(&settings).await);
    }
    if settings.runs("shared") {
        rows.extend(chaos::shared(&settings).await);
    }
    if settings.runs("faults") {
        rows.push(client_faults(&settings).await);
    }
    if settings.runs("hostile") {
        rows.push(hostile(&settings).await);
    }
    if settings.runs("load") {
        let (load, memory) = load::run(&settings).await;
        rows.push(load);
        println!("{memory}");
    }
    assert!(
        !rows.is_empty(),
        "SOAK_ONLY names no scenario: use chaos, shared, faults, hostile or load"
    );

    println!("\n{}", table(&rows));
    for r in &rows {
        for n in &r.notes {
            println!("{}: {n}", r.scenario);
        }
    }
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| r.failed())
        .map(|r| r.scenario.as_str())
        .collect();
    assert!(
        failed.is_empty(),
        "losses, duplicates or unexpected errors in: {failed:?} (seed {})",
        settings.seed
    );
}
