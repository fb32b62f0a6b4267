#!/usr/bin/env bash
# Installs Debian's chromium, pinned, when /usr/bin/chromium is missing: the
# dashboard's browser test (crates/cardledger-server/tests/browser.rs) needs
# it. Called by .ci/run and, on a fresh machine, by that test itself, so the
# README's test command does its own set-up. Needs root (or sudo) and apt.
set -euo pipefail
CHROMIUM_VERSION="156.0.8078.114-1~deb12u1"
[ -x /usr/bin/chromium ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
if ! $SUDO apt-get install -y -q "chromium=${CHROMIUM_VERSION}"; then
  echo "chromium ${CHROMIUM_VERSION} is no longer in the archive; installing the current one" >&2
  $SUDO apt-get install -y -q chromium
fi
