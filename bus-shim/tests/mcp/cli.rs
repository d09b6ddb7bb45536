//! bus-shim run by hand: `--help`, `--version`, a stray argument, and no MCP client on stdin.

use std::process::Stdio;

use crate::common::shim_exe;

async fn run(args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(shim_exe())
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .env("BUS_DB", "/nonexistent/never-used/bus.db")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run bus-shim");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn help_and_version_print_and_exit_0() {
    let (code, stdout, stderr) = run(&["--help"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("MCP server"), "{stdout}");
    assert!(stdout.contains("BUS_NAME"), "{stdout}");

    let (code, stdout, stderr) = run(&["--version"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        stdout.trim(),
        format!("bus-shim {}", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn a_stray_argument_is_a_usage_error() {
    let (code, stdout, stderr) = run(&["--bogus"]).await;
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stdout.is_empty(),
        "stdout carries MCP frames only: {stdout}"
    );
    assert!(stderr.contains("--bogus"), "{stderr}");
}

#[tokio::test]
async fn no_client_on_stdin_is_one_line_that_says_what_bus_shim_is() {
    let (code, stdout, stderr) = run(&[]).await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "one line, no backtrace: {stderr}"
    );
    assert!(stderr.contains("Claude Code launches"), "{stderr}");
}
