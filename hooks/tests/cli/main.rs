//! Integration tests of `bus`: the real binary against a real busd, with real bus-shim sessions
//! where a test needs one, and the hooks driven the way Claude Code drives them.

mod commands;
mod common;
mod coordination;
mod demo;
mod hook_context;
mod hook_stop;
mod plugin;
mod process;
mod shim;
