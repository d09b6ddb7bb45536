//! Integration tests of `bus`: the real binary against a real busd, with real bus-shim sessions
//! where a test needs one, and the hooks driven the way Claude Code drives them.

mod bus_paths;
mod commands;
mod common;
mod coordination;
mod demo;
mod edges;
mod hook_context;
mod hook_post_tool;
mod hook_stop;
mod launcher;
mod packaging;
mod plugin;
mod process;
mod remote;
mod shim;
mod tokens;
mod tools;
mod top;
