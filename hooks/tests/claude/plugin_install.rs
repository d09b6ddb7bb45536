//! The plugin installed and updated by the real Claude Code CLI (the pinned one, [`install`];
//! skipped, saying so, when it cannot be installed), on a temp HOME and offline: the cache
//! holds only the plugin's folder, a commit that changes it reaches the cache on update, and a
//! session in the clone sees one server `bus`, the plugin's.

use std::path::{Path, PathBuf};

use crate::common::{plugin_root, repo_root};
use crate::install::claude;

struct Claude {
    bin: PathBuf,
    home: tempfile::TempDir,
}

impl Claude {
    fn new(bin: PathBuf) -> Claude {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(
            home.path().join(".claude.json"),
            r#"{"hasCompletedOnboarding": true}"#,
        )
        .unwrap();
        Claude { bin, home }
    }

    /// `claude ARGS` in `dir`, offline, with nothing of this machine's (no bus binaries on
    /// PATH either, so a health check of the server starts no busd).
    fn run(&self, dir: &Path, args: &[&str]) -> (bool, String) {
        let out = std::process::Command::new(&self.bin)
            .args(args)
            .current_dir(dir)
            .env_clear()
            .env("HOME", self.home.path())
            .env("PATH", "/usr/bin:/bin")
            .env("DISABLE_TELEMETRY", "1")
            .env("DISABLE_AUTOUPDATER", "1")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .env("IS_SANDBOX", "1")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run claude");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    fn ok(&self, dir: &Path, args: &[&str]) -> String {
        let (ok, text) = self.run(dir, args);
        assert!(ok, "claude {args:?}: {text}");
        text
    }

    /// The installed plugin's entry of `claude plugin list --json`.
    fn installed(&self, dir: &Path) -> serde_json::Value {
        let list: serde_json::Value =
            serde_json::from_str(&self.ok(dir, &["plugin", "list", "--json"])).unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == "claude-bus@claude-bus")
            .cloned()
            .expect("claude-bus@claude-bus is installed")
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn size_of(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                size_of(&e.path())
            } else {
                e.metadata().unwrap().len()
            }
        })
        .sum()
}

#[test]
fn claude_code_installs_only_the_plugin_folder_and_updates_it_after_a_commit() {
    let Some(bin) = claude() else {
        return;
    };
    let cc = Claude::new(bin);

    // A clone: the marketplace file, the plugin folder, and a big build folder beside them.
    let clone = tempfile::tempdir().unwrap();
    let clone = clone.path();
    copy_dir(
        &repo_root().join(".claude-plugin"),
        &clone.join(".claude-plugin"),
    );
    copy_dir(&plugin_root(), &clone.join("plugin"));
    std::fs::create_dir(clone.join("target")).unwrap();
    std::fs::write(clone.join("target/build"), vec![0u8; 8 << 20]).unwrap();
    git(clone, &["init", "-q"]);
    git(clone, &["add", "-A"]);
    git(clone, &["commit", "-qm", "first"]);

    cc.ok(
        clone,
        &["plugin", "marketplace", "add", clone.to_str().unwrap()],
    );
    cc.ok(clone, &["plugin", "install", "claude-bus@claude-bus"]);
    let first = cc.installed(clone);
    let head = git(clone, &["rev-parse", "HEAD"]);
    assert_eq!(first["version"], head[..12], "versioned by the commit");
    let cached = PathBuf::from(first["installPath"].as_str().unwrap());
    let size = size_of(&cached);
    assert!(
        size < 100_000,
        "the cache holds the plugin only: {size} bytes"
    );
    assert!(cached.join("scripts/launch").is_file());
    assert!(!cached.join("target").exists());

    // One server `bus` in a session started in the clone: the plugin's.
    let listed = cc.ok(clone, &["mcp", "list"]);
    let servers: Vec<&str> = listed.lines().filter(|l| l.contains("bus")).collect();
    assert_eq!(servers.len(), 1, "{listed}");
    assert!(servers[0].starts_with("plugin:claude-bus:bus:"), "{listed}");
    assert!(
        servers[0].contains("/plugin/scripts/launch bus-shim"),
        "{listed}"
    );
    let (found, text) = cc.run(clone, &["mcp", "get", "bus"]);
    assert!(!found, "no project server `bus`: {text}");

    // A commit that changes the plugin reaches Claude Code's copy on update.
    let command = clone.join("plugin/commands/bus.md");
    let mut text = std::fs::read_to_string(&command).unwrap();
    text.push_str("\nChanged.\n");
    std::fs::write(&command, &text).unwrap();
    git(clone, &["commit", "-qam", "second"]);
    let said = cc.ok(clone, &["plugin", "update", "claude-bus@claude-bus"]);
    let second = cc.installed(clone);
    let head = git(clone, &["rev-parse", "HEAD"]);
    assert_eq!(second["version"], head[..12], "{said}");
    let cached = PathBuf::from(second["installPath"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(cached.join("commands/bus.md")).unwrap(),
        text,
        "{said}"
    );
}
