#!/usr/bin/env bash
# Install claude-bus: build busd, bus-shim and bus once (release), put them on PATH, start the
# daemon, and — when Claude Code's `claude` command is on PATH — register the MCP server.
# Safe to run again (it upgrades in place; a running older busd retires by itself).
set -euo pipefail
cd "$(dirname "$0")"

bin="${BUS_INSTALL_DIR:-${CARGO_HOME:-$HOME/.cargo}/bin}"

echo "==> building busd, bus-shim and bus (release)"
cargo build --release --locked --bins
mkdir -p "$bin"
for exe in busd bus-shim bus; do
    install -m 0755 "target/release/$exe" "$bin/$exe"
done
echo "==> installed busd, bus-shim and bus into $bin"
case ":$PATH:" in
    *":$bin:"*) ;;
    *) echo "    note: $bin is not on your PATH; add it (e.g. in ~/.profile): export PATH=\"$bin:\$PATH\"" ;;
esac

# A busd of the same protocol keeps serving across an upgrade; restart it when it is another
# build, so the new code runs (sessions reconnect by themselves).
installed=$("$bin/busd" --version | awk '{print $2}')
# (`bus status` exits 1 when no busd runs.)
running=$("$bin/bus" status --json 2>/dev/null | sed -n 's/.*"version":"\([^"]*\)".*/\1/p' || true)
if [ -n "$running" ] && [ "$running" != "$installed" ]; then
    echo "==> restarting busd $running as $installed"
    "$bin/bus" restart
fi
# `bus status` never starts busd; any other command does.
"$bin/bus" agents >/dev/null
echo "==> the bus is running"
"$bin/bus" status

if command -v claude >/dev/null 2>&1; then
    # The plugin brings the MCP server `bus`, the wake-on-mail hooks and /bus; when it cannot be
    # installed (an older Claude Code), register just the MCP server.
    if claude plugin marketplace add "$(pwd)" </dev/null >/dev/null 2>&1 \
        && claude plugin install claude-bus@claude-bus </dev/null >/dev/null 2>&1; then
        echo "==> installed the Claude Code plugin claude-bus: MCP server 'bus' (bus-shim), hooks, /bus"
        echo "    if you once added the server yourself (claude mcp add ... bus), remove that one so"
        echo "    each session runs a single shim: claude mcp remove --scope user bus"
    elif claude mcp get bus </dev/null >/dev/null 2>&1; then
        echo "==> Claude Code already has an MCP server named 'bus'; leaving it as it is"
    else
        claude mcp add --scope user bus -- "$bin/bus-shim" </dev/null
        echo "==> registered the MCP server 'bus' ($bin/bus-shim) with Claude Code (user scope)"
        echo "    for the wake-on-mail hooks and /bus, install the plugin: see README"
    fi
else
    echo "==> 'claude' is not on PATH: to use the bus from Claude Code later, run"
    echo "      claude plugin marketplace add $(pwd) && claude plugin install claude-bus@claude-bus"
    echo "    (or just the MCP server: claude mcp add --scope user bus -- $bin/bus-shim)"
fi

cat <<MSG

Start two sessions that can talk, each in its own terminal:
    BUS_NAME=alpha claude
    BUS_NAME=beta  claude
then ask one of them: "send beta a message on the bus". Watch the traffic with: bus tail
See the bus work without Claude Code: bus demo
MSG
