#!/usr/bin/env bash
# Installs the Python claude-bus 0.2 (the tool claude-bus replaces) into a venv under target/
# and prints its MCP stdio server command, for `cargo bench -p bus-shim --bench bus -- --compare`.
# Nothing of it is committed: the venv lives in the build folder.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${CARGO_TARGET_DIR:-$root/target}/bench/python-claude-bus"
if ! "$venv/bin/python" -c "import mcp.server.fastmcp" 2>/dev/null; then
    python3 -m venv "$venv" >&2
    # claude-bus 0.2 was written for the 1.x MCP SDK (FastMCP); mcp 2 renamed it.
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'claude-bus==0.2.0' 'mcp<2' >&2
fi
echo "$venv/bin/claude-bus"
