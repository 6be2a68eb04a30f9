#!/bin/sh
# Installs the Debian packages pvlab needs to build, test and run (Debian 12). Idempotent:
# installs only what is missing. Needs root (or sudo) when something is missing.
set -eu

PKGS="gcc make libc6-dev libinih-dev libsqlite3-dev zlib1g-dev libcmocka-dev libjansson-dev libcurl4-openssl-dev
qemu-system-x86 busybox-static cpio perl git sqlite3 debian-archive-keyring ca-certificates bc
bison flex libelf-dev libssl-dev python3 xz-utils dpkg-dev debootstrap ccache linux-source-6.1
clang-format parallel openssh-server openssh-client rsync libmicrohttpd-dev wrk chromium
libvirt-dev libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
    exit 0
fi
echo "install-deps: installing:$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=sudo
    else
        echo "install-deps: not root and no sudo; run as root: apt-get install$missing" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
# a fresh machine may have no package lists yet
$SUDO apt-get update -q || echo "install-deps: apt-get update failed; trying with old lists" >&2
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
