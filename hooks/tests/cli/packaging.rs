//! The root package `claude-bus`, which `cargo install --path .` installs: it builds the same
//! three binaries as the members, from the same files, with every dependency they use.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::common::repo_root;

/// `cargo metadata` of the workspace (manifests only: nothing is built or fetched).
fn metadata() -> Value {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(repo_root())
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

fn package<'a>(meta: &'a Value, name: &str) -> &'a Value {
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no package {name}"))
}

/// The package's bin targets: name → source file.
fn bins(package: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = package["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"].as_array().unwrap().iter().any(|k| k == "bin"))
        .map(|t| {
            let name = t["name"].as_str().unwrap().to_owned();
            (name, t["src_path"].as_str().unwrap().to_owned())
        })
        .collect();
    out.sort();
    out
}

/// The names of a package's normal (not dev, not build) dependencies, as the code names them.
fn normal_dependencies(package: &Value) -> BTreeSet<String> {
    package["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"].is_null())
        .map(|d| {
            d["rename"]
                .as_str()
                .unwrap_or_else(|| d["name"].as_str().unwrap())
                .to_owned()
        })
        .collect()
}

#[test]
fn the_root_package_installs_the_members_three_binaries() {
    let meta = metadata();
    let root = package(&meta, "claude-bus");
    assert_eq!(
        root["manifest_path"].as_str().unwrap(),
        repo_root().join("Cargo.toml").to_str().unwrap(),
        "`cargo install --path .` finds it at the root"
    );

    let mut members = Vec::new();
    for member in ["busd", "bus-shim", "bus-cli"] {
        members.extend(bins(package(&meta, member)));
    }
    members.sort();
    assert_eq!(bins(root), members, "the same binaries from the same files");

    // bus-shim's and bus's binaries are their whole crates; busd's is its main.rs over the
    // busd library.
    let root_deps = normal_dependencies(root);
    assert!(root_deps.contains("busd"));
    for member in ["bus-shim", "bus-cli"] {
        let missing: Vec<String> = normal_dependencies(package(&meta, member))
            .difference(&root_deps)
            .cloned()
            .collect();
        assert!(
            missing.is_empty(),
            "add {missing:?} to the root Cargo.toml's [dependencies] too: the binary of \
             {member} is built there from the same files"
        );
    }

    // Plain `cargo build` and `cargo test` build the members only.
    let defaults: BTreeSet<&str> = meta["workspace_default_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    assert!(!defaults.contains(root["id"].as_str().unwrap()));
}
