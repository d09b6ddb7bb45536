#!/bin/sh
# A Debian 12 (bookworm) base image made from the OS packages, for building the container
# without an image registry: mmdebstrap --variant=minbase, documentation and locales left out,
# imported as localhost/claude-bus-base:bookworm (override with BASE_IMAGE). The merged-usr hook
# sets up the merged /usr itself, sparing the usrmerge package and the perl it pulls in.
#
#   docs/container/base.sh                       # podman; ENGINE=docker for docker
#   APT_SOURCES=/etc/apt/sources.list.d/debian.sources docs/container/base.sh
#
# APT_SOURCES is an apt sources file to take the packages from (default: the host's
# /etc/apt/sources.list.d/debian.sources when it exists, else deb.debian.org). Needs root
# (or mmdebstrap's unshare mode) and the mmdebstrap package.
set -eu

ENGINE=${ENGINE:-podman}
BASE_IMAGE=${BASE_IMAGE:-localhost/claude-bus-base:bookworm}
if [ -z "${APT_SOURCES:-}" ] && [ -f /etc/apt/sources.list.d/debian.sources ]; then
	APT_SOURCES=/etc/apt/sources.list.d/debian.sources
fi
MIRROR=${APT_SOURCES:-http://deb.debian.org/debian}

command -v mmdebstrap >/dev/null || {
	echo "base.sh: mmdebstrap is not installed: apt-get install mmdebstrap" >&2
	exit 1
}

tarball=$(mktemp --suffix=.tar)
trap 'rm -f "$tarball"' EXIT

mmdebstrap --variant=minbase --quiet \
	--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	--customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
	bookworm "$tarball" "$MIRROR"

"$ENGINE" import \
	--change 'CMD ["/bin/bash"]' \
	--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	"$tarball" "$BASE_IMAGE" >/dev/null
echo "$BASE_IMAGE"
