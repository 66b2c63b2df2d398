#!/usr/bin/env bash
# Checks that repositories written by tomoe-ota verify with the reference TUF
# implementation (python-tuf): a rotated root chain, timestamp, snapshot, targets with
# lengths and hashes, for an image repository and a director repository.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/tuf-venv
if ! "$venv/bin/python" -c 'import tuf' 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "tuf==7.0.1"
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cargo run --quiet --locked -p tomoe-ota --example make_repository -- "$out"
"$venv/bin/python" scripts/ota_tuf_check.py "$out/image" "$out"/director/*
