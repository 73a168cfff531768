#!/bin/sh
# Installs, with apt-get only, every Debian package needed to build and test azcmk.
# usage: build-aux/install-deps.sh [--no-az]   (run as root, or through sudo)
set -eu
pkgs="build-essential autoconf automake autopoint gettext pkg-config
      libncurses-dev libcurl4-openssl-dev libjson-c-dev libssl-dev
      libmicrohttpd-dev libcmocka-dev
      mandoc tmux valgrind cppcheck curl python3 locales
      openssh-server openssh-client python3-jsonschema
      clang libclang-rt-dev clang-format
      debhelper dpkg-dev lintian"
[ "${1:-}" = "--no-az" ] || pkgs="$pkgs azure-cli"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $pkgs
# Node.js and npm for the JavaScript SDK conformance suite (tests/conformance-js), only where they are missing.
command -v node >/dev/null 2>&1 || $SUDO apt-get install -y -q --no-install-recommends nodejs
command -v npm >/dev/null 2>&1 || $SUDO apt-get install -y -q --no-install-recommends npm
# The French screen tests need a French UTF-8 locale.
if ! locale -a 2>/dev/null | grep -qi '^fr_FR\.utf-\?8$'; then
	$SUDO sed -i 's/^# *\(fr_FR.UTF-8 UTF-8\)/\1/' /etc/locale.gen 2>/dev/null || true
	grep -q '^fr_FR.UTF-8 UTF-8' /etc/locale.gen 2>/dev/null || echo 'fr_FR.UTF-8 UTF-8' | $SUDO tee -a /etc/locale.gen >/dev/null
	$SUDO locale-gen >/dev/null
fi
