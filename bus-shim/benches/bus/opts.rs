//! The benchmark's command line: quick or full, a server to compare with, where to write.

use std::path::PathBuf;

use anyhow::{Context, bail};

const USAGE: &str = "usage: cargo bench -p bus-shim --bench bus -- [--quick] [--compare CMD] \
[--compare-label TEXT] [--out DIR] [--no-build] [--only SCENARIO,...]
  --quick          one short round (CI): prints figures; fails only on errors or lost or
                   duplicated mail
  --compare CMD    also run the shared-tool scenarios against another MCP stdio server command
                   (run through `sh -c`, with BUS_DB set to a fresh database for each bus), e.g.
                   --compare \"$(bus-shim/benches/python-claude-bus.sh)\"
  --compare-label  how to name that server in the table (default: Python claude-bus 0.2)
  --out DIR        write results.md, wake-latency.svg and throughput.svg into DIR (a relative
                   DIR is taken from the workspace folder: cargo runs benchmarks in the package)
  --no-build       measure the binaries already in target/release (to compare builds)
  --only LIST      run only these scenarios: calls, wake, throughput, daemon, history, many,
                   startup, idle, http, shared (two busd on a throwaway PostgreSQL beside
                   SQLite; skipped without initdb unless BUS_PG_REQUIRE=1), floor (the
                   process hops alone)";

/// Every scenario, in the order they run.
pub const SCENARIOS: [&str; 11] = [
    "calls",
    "wake",
    "throughput",
    "daemon",
    "history",
    "many",
    "startup",
    "idle",
    "http",
    "shared",
    "floor",
];

/// The workspace folder (cargo runs a benchmark in its package's folder).
pub fn workspace() -> PathBuf {
    let package = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    package.parent().map_or(package.clone(), PathBuf::from)
}

#[derive(Debug, Clone)]
pub struct Options {
    pub quick: bool,
    pub compare: Option<String>,
    pub compare_label: String,
    pub out: Option<PathBuf>,
    pub build: bool,
    pub only: Vec<String>,
}

impl Options {
    pub fn parse() -> anyhow::Result<Options> {
        let mut opts = Options {
            quick: false,
            compare: None,
            compare_label: "Python claude-bus 0.2".into(),
            out: None,
            build: true,
            only: Vec::new(),
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .with_context(|| format!("{name} needs a value\n{USAGE}"))
            };
            match arg.as_str() {
                "--quick" => opts.quick = true,
                "--compare" => opts.compare = Some(value("--compare")?),
                "--compare-label" => opts.compare_label = value("--compare-label")?,
                "--out" => opts.out = Some(workspace().join(value("--out")?)),
                "--no-build" => opts.build = false,
                "--only" => {
                    for name in value("--only")?.split(',') {
                        if !SCENARIOS.contains(&name) {
                            bail!("unknown scenario '{name}'\n{USAGE}");
                        }
                        opts.only.push(name.to_owned());
                    }
                }
                // cargo bench passes --bench to every bench target.
                "--bench" => {}
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => bail!("unknown argument '{other}'\n{USAGE}"),
            }
        }
        if opts.compare.as_deref().is_some_and(|c| c.trim().is_empty()) {
            bail!(
                "--compare got an empty command: run bus-shim/benches/python-claude-bus.sh first"
            );
        }
        Ok(opts)
    }

    pub fn runs(&self, scenario: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == scenario)
    }

    /// `quick` in quick mode, `full` otherwise.
    pub fn pick<T>(&self, quick: T, full: T) -> T {
        if self.quick { quick } else { full }
    }
}
