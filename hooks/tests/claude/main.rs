//! End-to-end tests with the real Claude Code CLI (pinned in `package.json`, installed by
//! [`install`]) running the plugin against a scripted fake Messages API ([`fake_api`]), on a
//! temp bus, in its three modes ([`session`]). They skip, saying so, when `npm` is missing.

mod channel;
mod clear;
#[allow(unused_imports)]
#[path = "../cli/common.rs"]
mod common;
mod context;
mod fake_api;
mod install;
mod modes;
mod plugin_install;
mod post_tool;
#[allow(dead_code)]
#[path = "../cli/process.rs"]
mod process;
mod session;
mod tools;

#[test]
fn the_pinned_version_is_the_one_package_json_installs() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/claude/package.json"),
    )
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        json["dependencies"]["@anthropic-ai/claude-code"],
        install::CLAUDE_CODE_VERSION
    );
}
