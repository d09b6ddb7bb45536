//! The shim's own command line: `--help` and `--version` for a person who runs it by hand.
//! Claude Code launches it with no arguments and speaks MCP on its stdin and stdout.

use clap::Parser;

/// The claude-bus MCP server of one Claude Code session: it speaks MCP on stdin and stdout and
/// forwards each tool call to busd, starting busd when none runs.
///
/// Claude Code launches it (see .mcp.json); run by hand it waits for an MCP client on stdin.
/// Environment: BUS_NAME (a name to register at start), BUS_DB, BUS_SOCKET, BUS_LOG (log
/// filter for stderr).
#[derive(Debug, Parser)]
#[command(name = "bus-shim", version)]
pub struct Args {}
