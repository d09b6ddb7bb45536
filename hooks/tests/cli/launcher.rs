//! The plugin's launcher (`plugin/scripts/launch`) where Claude Code finds no binaries on
//! PATH: it looks in the folder install.sh recorded and in cargo's, and without any it tells
//! the person how to install them while every hook stays harmless.

use std::path::{Path, PathBuf};

use crate::common::{Cmd, Out, bus_exe, plugin_root};

/// The launcher run as Claude Code runs it, with only the system folders on PATH and `home`
/// as HOME (no CARGO_HOME, so cargo's folder is `home/.cargo/bin`). Without binaries it
/// does not read the hook's input (Claude Code, like a shell pipe, lets a hook leave it), so
/// stdin is empty here.
async fn launch(home: &Path, args: &[&str]) -> Out {
    let mut cmd = tokio::process::Command::new(plugin_root().join("scripts/launch"));
    cmd.args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home);
    Cmd::new(cmd).run().await
}

/// The folder cargo built the workspace's binaries in.
fn workspace_bin() -> PathBuf {
    bus_exe().parent().unwrap().to_path_buf()
}

#[tokio::test]
async fn without_binaries_session_start_says_how_to_install_and_the_rest_stays_harmless() {
    let home = tempfile::tempdir().unwrap();

    let start = launch(home.path(), &["bus", "hook", "session-start"]).await;
    assert_eq!(start.code, 0, "{start:?}");
    let out = start.json();
    let shown = out["systemMessage"]
        .as_str()
        .expect("a message for the person");
    assert!(shown.contains("'bus' is not installed"), "{shown}");
    assert!(shown.contains("cargo install"), "{shown}");
    assert!(shown.contains("./install.sh"), "{shown}");
    assert_eq!(out["hookSpecificOutput"]["hookEventName"], "SessionStart");
    let context = out["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .unwrap();
    assert!(context.contains("bus tools are unavailable"), "{context}");

    for hook in ["stop", "prompt", "post-tool"] {
        let out = launch(home.path(), &["bus", "hook", hook]).await;
        assert_eq!(out.code, 0, "{hook}: {out:?}");
        assert!(out.silent(), "{hook}: {out:?}");
    }

    let shim = launch(home.path(), &["bus-shim"]).await;
    assert_eq!(shim.code, 127, "{shim:?}");
    assert!(shim.stdout.is_empty(), "stdout is for MCP frames only");
    assert!(
        shim.stderr.contains("'bus-shim' is not installed")
            && shim.stderr.contains("cargo install"),
        "{shim:?}"
    );
}

#[tokio::test]
async fn finds_the_binaries_where_install_sh_recorded_them_or_in_cargos_folder() {
    for link in [".claude-bus/bin", ".cargo/bin"] {
        let home = tempfile::tempdir().unwrap();
        let at = home.path().join(link);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(workspace_bin(), &at).unwrap();

        let out = launch(home.path(), &["bus", "--version"]).await;
        assert_eq!(out.code, 0, "{link}: {out:?}");
        assert_eq!(
            out.stdout.trim(),
            format!("bus {}", env!("CARGO_PKG_VERSION")),
            "{link}"
        );
    }
}

#[tokio::test]
async fn a_binary_on_path_comes_first_and_arguments_pass_through_unchanged() {
    let home = tempfile::tempdir().unwrap();
    // A `bus` in the recorded folder that must not run.
    let recorded = home.path().join(".claude-bus/bin");
    std::fs::create_dir_all(&recorded).unwrap();
    std::fs::write(recorded.join("bus"), "#!/bin/sh\necho wrong bus\n").unwrap();
    std::fs::set_permissions(
        recorded.join("bus"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    // A folder with a space in its name, first on PATH.
    let spaced = home.path().join("my tools");
    std::os::unix::fs::symlink(workspace_bin(), &spaced).unwrap();

    let mut cmd = tokio::process::Command::new(plugin_root().join("scripts/launch"));
    cmd.args(["bus", "--version"])
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", spaced.display()))
        .env("HOME", home.path());
    let out = Cmd::new(cmd).run().await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout.trim(),
        format!("bus {}", env!("CARGO_PKG_VERSION"))
    );

    // Arguments with spaces and quotes reach the binary as they were.
    let echo = home.path().join("echo-bin");
    std::fs::create_dir_all(&echo).unwrap();
    std::fs::write(
        echo.join("bus"),
        "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]' \"$a\"; done\n",
    )
    .unwrap();
    std::fs::set_permissions(
        echo.join("bus"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut cmd = tokio::process::Command::new(plugin_root().join("scripts/launch"));
    cmd.args(["bus", "a b", "it's", "", "*"])
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", echo.display()))
        .env("HOME", home.path());
    let out = Cmd::new(cmd).run().await;
    assert_eq!(out.stdout, "[a b][it's][][*]", "{out:?}");
}
