#!/bin/sh
# The three release binaries for the image's `prebuilt` stage, built on this host and stripped
# into target/container/ (the build context keeps only those; see .dockerignore). Build on the
# image's Debian release (12) or an older glibc.
set -eu
cd "$(dirname "$0")/../.."
cargo build --release --locked -p busd -p bus-shim -p bus-cli
mkdir -p target/container
for bin in busd bus-shim bus; do
	strip -o "target/container/$bin" "target/release/$bin"
done
