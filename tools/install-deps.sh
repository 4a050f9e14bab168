#!/bin/sh
# install-deps.sh - install the Debian 12 packages syncdax builds and tests
# with (see README, "Dependencies"); quiet, and a no-op when all are there.
set -e
PKGS="build-essential pkg-config e2fsprogs libcmocka-dev libfuse3-dev fuse3 clang libclang-rt-14-dev attr"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "installing:$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
