#!/bin/sh
# install-missing.sh — installs those of the named Debian packages that are not installed yet
# (apt-get, with sudo when not root). Used by setup.sh and package-test.sh.
# usage: tools/install-missing.sh PKG...
set -eu
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-missing: installing$missing"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
