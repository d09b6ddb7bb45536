//! The pinned Claude Code CLI: installed from the npm registry with `npm ci` (this folder's
//! `package.json` and `package-lock.json`) into the cargo target folder, once, and reused.
//!
//! Without `npm` (or, for the interactive tests, `tmux`) the tests skip, saying so in one
//! line; with `BUS_E2E_REQUIRE=1` (CI) a missing tool or a failed install fails them instead.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The Claude Code release the tests run (kept equal to `package.json`, which a test checks).
pub const CLAUDE_CODE_VERSION: &str = "2.1.332";

/// The CLI to run, or `None` (after one line on stderr saying why) when the tests must skip.
pub fn claude() -> Option<PathBuf> {
    static CLAUDE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = CLAUDE.get_or_init(install);
    match found {
        Ok(path) => Some(path.clone()),
        Err(why) => {
            if required() {
                panic!("BUS_E2E_REQUIRE=1 but the Claude Code tests cannot run: {why}");
            }
            static SAID: OnceLock<()> = OnceLock::new();
            SAID.get_or_init(|| {
                // Straight to the descriptor: libtest captures eprintln! of passing tests.
                let _ = writeln!(
                    std::io::stderr(),
                    "skipping the Claude Code end-to-end tests: {why}"
                );
            });
            None
        }
    }
}

/// Whether tmux runs here (the interactive tests need it); when not, one line says so, or
/// with `BUS_E2E_REQUIRE=1` the test fails.
pub fn tmux() -> bool {
    static TMUX: OnceLock<bool> = OnceLock::new();
    *TMUX.get_or_init(|| {
        let ok = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            if required() {
                panic!("BUS_E2E_REQUIRE=1 but tmux is not on PATH for the interactive tests");
            }
            let _ = writeln!(
                std::io::stderr(),
                "skipping the interactive Claude Code tests: tmux is not on PATH"
            );
        }
        ok
    })
}

fn required() -> bool {
    std::env::var_os("BUS_E2E_REQUIRE").is_some_and(|v| v == "1")
}

fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/claude")
}

/// `<target>/claude-code/<version>`: beside the binaries cargo built, kept between runs.
fn install_dir() -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_bus"));
    let target = exe
        .parent()
        .and_then(Path::parent)
        .expect("the bus binary is in <target>/<profile>/");
    target.join("claude-code").join(CLAUDE_CODE_VERSION)
}

fn install() -> Result<PathBuf, String> {
    let dir = install_dir();
    let bin = dir.join("node_modules/.bin/claude");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // Serialise installs between test processes sharing the target folder.
    let lock = std::fs::File::create(dir.join(".install.lock"))
        .map_err(|e| format!("cannot create the install lock in {}: {e}", dir.display()))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", dir.display()))?;
    if version_of(&bin).as_deref() == Some(CLAUDE_CODE_VERSION) {
        return Ok(bin);
    }
    if Command::new("npm").arg("--version").output().is_err() {
        return Err("npm is not on PATH (install Node.js and npm to run them)".into());
    }
    for file in ["package.json", "package-lock.json"] {
        std::fs::copy(here().join(file), dir.join(file))
            .map_err(|e| format!("cannot copy {file} into {}: {e}", dir.display()))?;
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .output()
        .map_err(|e| format!("cannot run npm: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "npm ci of @anthropic-ai/claude-code@{CLAUDE_CODE_VERSION} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    match version_of(&bin) {
        Some(v) if v == CLAUDE_CODE_VERSION => Ok(bin),
        other => Err(format!(
            "{} reports version {other:?}, not {CLAUDE_CODE_VERSION}",
            bin.display()
        )),
    }
}

/// What `claude --version` says (`2.1.332 (Claude Code)`), its first word.
fn version_of(bin: &Path) -> Option<String> {
    let out = Command::new(bin).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().next().map(str::to_owned)
}
