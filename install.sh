#!/usr/bin/env bash
# Install claude-bus: build busd, bus-shim and bus once (release), put them on PATH, start the
# daemon, and — when Claude Code's `claude` command is on PATH — install or update the plugin
# (plugin/), or, where that fails, register just the MCP server.
# Safe to run again: it upgrades the binaries, busd and the plugin in place.
set -euo pipefail
cd "$(dirname "$0")"

bin="${BUS_INSTALL_DIR:-${CARGO_HOME:-$HOME/.cargo}/bin}"

echo "==> building busd, bus-shim and bus (release)"
cargo build --release --locked --bins
# target/, unless CARGO_TARGET_DIR or cargo's config says otherwise.
target=$(cargo metadata --format-version 1 --no-deps --offline \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
mkdir -p "$bin"
for exe in busd bus-shim bus; do
    install -m 0755 "${target:-target}/release/$exe" "$bin/$exe"
done
echo "==> installed busd, bus-shim and bus into $bin"
case ":$PATH:" in
    *":$bin:"*) ;;
    *) echo "    note: $bin is not on your PATH; add it (e.g. in ~/.profile): export PATH=\"$bin:\$PATH\"" ;;
esac
for exe in busd bus-shim bus; do
    found=$(command -v "$exe" || true)
    if [ -n "$found" ] && ! [ "$found" -ef "$bin/$exe" ]; then
        echo "    note: '$exe' on your PATH is $found, not the one just installed; remove it"
    fi
done
# The plugin's launcher looks here when Claude Code runs without $bin on its PATH (started
# from a desktop, a service or an editor).
link="$HOME/.claude-bus/bin"
mkdir -p -m 0700 "$HOME/.claude-bus"
if [ -L "$link" ] || ! [ -e "$link" ]; then
    ln -sfn "$bin" "$link"
elif ! [ "$link" -ef "$bin" ]; then
    echo "    note: $link is not a link to $bin; the Claude Code plugin may run the binaries there"
fi

# A running busd keeps its old code until it restarts: restart it so the new build serves.
# `bus restart` tells its clients it restarts, so sessions and waiting hooks carry on with the
# new busd instead of taking it as the bus stopping. (`bus status` exits 1 when none runs.)
if running=$("$bin/bus" status --json 2>/dev/null); then
    old=$(printf '%s' "$running" | sed -n 's/.*"pid":\([0-9]*\).*/\1/p')
    echo "==> restarting busd (pid $old) so the new build serves"
    "$bin/bus" restart
fi
# `bus status` never starts busd; any other command does.
"$bin/bus" agents >/dev/null
echo "==> the bus is running"
"$bin/bus" status

plugin=claude-bus@claude-bus
if command -v claude >/dev/null 2>&1; then
    # The plugin brings the MCP server `bus`, the wake-on-mail hooks and /bus; when it cannot be
    # installed (an older Claude Code), register just the MCP server. It has no fixed version:
    # Claude Code takes the git commit as its version, so `update` after any commit copies the
    # new files (install is a no-op when it is installed already).
    if claude plugin marketplace add "$(pwd)" </dev/null >/dev/null 2>&1 \
        && claude plugin install "$plugin" </dev/null >/dev/null 2>&1; then
        echo "==> the Claude Code plugin claude-bus is installed: MCP server 'bus' (bus-shim), hooks, /bus"
        claude plugin update "$plugin" </dev/null 2>&1 | sed 's/^/    /'
        if [ -n "$(git status --porcelain -- plugin .claude-plugin 2>/dev/null)" ]; then
            echo "    note: plugin/ has uncommitted changes; Claude Code copies the plugin by commit"
        fi
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
    echo "      claude plugin marketplace add $(pwd) && claude plugin install $plugin"
    echo "    (or just the MCP server: claude mcp add --scope user bus -- $bin/bus-shim)"
fi

cat <<MSG

Start two sessions that can talk, each in its own terminal:
    BUS_NAME=alpha claude
    BUS_NAME=beta  claude
then ask one of them: "send beta a message on the bus". Watch the traffic with: bus tail
See the bus work without Claude Code: bus demo
MSG
