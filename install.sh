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

echo "==> starting the bus"
"$bin/bus" status

if command -v claude >/dev/null 2>&1; then
    if claude mcp get bus >/dev/null 2>&1; then
        echo "==> Claude Code already has an MCP server named 'bus'; leaving it as it is"
    else
        claude mcp add --scope user bus -- "$bin/bus-shim"
        echo "==> registered the MCP server 'bus' ($bin/bus-shim) with Claude Code (user scope)"
    fi
    echo "    for the wake-on-mail hooks and the /bus command, add the plugin:"
    echo "      claude plugin marketplace add $(pwd)"
    echo "      claude plugin install claude-bus@claude-bus"
else
    echo "==> 'claude' is not on PATH: to use the bus from Claude Code later, run"
    echo "      claude mcp add --scope user bus -- $bin/bus-shim"
fi

cat <<MSG

Start two sessions that can talk, each in its own terminal:
    BUS_NAME=alpha claude
    BUS_NAME=beta  claude
then ask one of them: "send beta a message on the bus". Watch the traffic with: bus tail
See the bus work without Claude Code: bus demo
MSG
