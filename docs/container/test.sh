#!/bin/sh
# The container test: builds a base image from the OS packages (base.sh, when missing), the
# release binaries on the host and the image from the Dockerfile (--target prebuilt, no registry
# needed), starts it with its port published on loopback and a fresh volume, creates tokens
# inside it, and drives the bus over HTTP with curl: initialize, send from alice, inbox at bob.
# Then it restarts the container and checks the message and the tokens outlived it in the volume.
#
#   docs/container/test.sh           # needs podman, runc, mmdebstrap, curl and a Rust toolchain
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${CONTAINERS_CONF:=$here/containers.conf}"
export CONTAINERS_CONF
podman() { command podman --runtime runc --cgroup-manager=cgroupfs "$@"; }
BASE_IMAGE=${BASE_IMAGE:-localhost/claude-bus-base:bookworm}
IMAGE=localhost/claude-bus:test
name=claude-bus-test-$$
volume=claude-bus-test-$$

fail() { echo "test.sh: FAIL: $*" >&2; exit 1; }
cleanup() {
	podman rm -f "$name" >/dev/null 2>&1 || true
	podman volume rm -f "$volume" >/dev/null 2>&1 || true
}
trap cleanup EXIT

cd "$root"
"$here/binaries.sh"
if ! podman image exists "$BASE_IMAGE"; then
	ENGINE=podman BASE_IMAGE=$BASE_IMAGE "$here/base.sh"
fi
start=$(date +%s)
podman build --target prebuilt --build-arg BASE="$BASE_IMAGE" -t "$IMAGE" .
echo "test.sh: image built in $(($(date +%s) - start)) s, $(podman image inspect --format '{{.Size}}' "$IMAGE") bytes"

# Wait (at most 30 s) until the front accepts connections on the published port. This is a
# bounded connect retry, not an event: podman 4.3 here hands a container's output over only when
# the container ends (`podman logs -f` and an attached `podman run` alike), so the front's
# "serving MCP at" line cannot be waited for.
started() {
	port=$(podman port "$name" 8765/tcp | sed 's/.*://')
	url=http://127.0.0.1:$port/mcp
	curl -sS -o /dev/null --max-time 30 --retry 30 --retry-delay 1 --retry-max-time 30 \
		--retry-connrefused --retry-all-errors "$url" ||
		fail "the front did not start: $(podman logs "$name" 2>&1)"
}
podman volume create "$volume" >/dev/null
podman run -d --name "$name" -p 127.0.0.1::8765 -v "$volume:/data" "$IMAGE" >/dev/null
started

alice=$(podman exec "$name" bus token create alice)
bob=$(podman exec "$name" bus token create bob)
[ "$(podman exec "$name" stat -c %u /data/bus.db)" = 10001 ] || fail "the bus does not run as bus"

# One MCP request over HTTP; prints the JSON-RPC message (the `data:` of an event stream).
headers=$(mktemp)
trap 'cleanup; rm -f "$headers"' EXIT
rpc() { # token session body
	curl -sS --max-time 20 -D "$headers" -H "Authorization: Bearer $1" \
		-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
		${2:+-H "Mcp-Session-Id: $2"} --data "$3" "$url" | sed -n 's/^data: //p' | grep . | tail -1
}
session() { # token → session id, initialized
	rpc "$1" "" '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test.sh","version":"0"}}}' |
		grep -q '"serverInfo"' || fail "initialize did not answer"
	sid=$(tr -d '\r' <"$headers" | sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: //p')
	[ -n "$sid" ] || fail "no Mcp-Session-Id"
	curl -sS --max-time 20 -o /dev/null -H "Authorization: Bearer $1" -H "Mcp-Session-Id: $sid" \
		-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
		--data '{"jsonrpc":"2.0","method":"notifications/initialized"}' "$url"
	echo "$sid"
}
call() { # token session tool arguments-json
	rpc "$1" "$2" "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"$3\",\"arguments\":$4}}"
}

code=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer cbt_wrong' \
	-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
	--data '{"jsonrpc":"2.0","id":1,"method":"initialize"}' "$url")
[ "$code" = 401 ] || fail "a wrong token got $code, not 401"

a=$(session "$alice")
b=$(session "$bob")
sent=$(call "$alice" "$a" send '{"to":"bob","content":"hello from the container"}')
echo "$sent" | grep -q '"isError":false' || fail "send: $sent"
echo "$sent" | grep -q '\\"to\\":\\"bob\\"' || fail "send: $sent"
got=$(call "$bob" "$b" inbox '{}')
echo "$got" | grep -q 'hello from the container' || fail "inbox: $got"
echo "$got" | grep -q '\\"from\\":\\"alice\\"' || fail "inbox: not from alice: $got"

# The bus lives in the volume: after a restart the tokens still work and the message is there.
id=$(echo "$sent" | sed -n 's/.*\\"id\\":\([0-9]*\).*/\1/p')
[ -n "$id" ] || fail "send: no id: $sent"
podman restart "$name" >/dev/null
started
b=$(session "$bob")
again=$(call "$bob" "$b" inbox "{\"thread\":$id}")
echo "$again" | grep -q 'hello from the container' || fail "after a restart: $again"
podman exec "$name" ls /data/bus.db >/dev/null || fail "no /data/bus.db in the volume"

echo "test.sh: ok (send and inbox over HTTP with tokens, in $IMAGE)"
