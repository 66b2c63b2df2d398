#!/usr/bin/env bash
# Runs the KUKSA interoperability test: the unmodified Python kuksa-client from PyPI
# against a real `tomoe serve` process (see tests/interop/README.md).
#
# Usage: scripts/interop-test.sh [extra pytest arguments]
# Env:   TOMOE_BIN  use this tomoe binary instead of building one with cargo
set -euo pipefail

# A relative TOMOE_BIN is meant relative to where the script was started.
if [[ -n "${TOMOE_BIN:-}" && "${TOMOE_BIN}" != /* ]]; then
    TOMOE_BIN="$PWD/$TOMOE_BIN"
fi

cd "$(dirname "$0")/.."

venv=target/interop-venv
requirements=tests/interop/requirements.txt
stamp="$venv/.requirements-installed"

if ! "$venv/bin/python" -c '' 2>/dev/null; then
    echo "interop: creating $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
fi
if [[ ! -f "$stamp" || "$requirements" -nt "$stamp" ]]; then
    echo "interop: installing $requirements" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    touch "$stamp"
fi

if [[ -z "${TOMOE_BIN:-}" ]]; then
    cargo build -p tomoe
    TOMOE_BIN="$PWD/${CARGO_TARGET_DIR:-target}/debug/tomoe"
fi
export TOMOE_BIN

# No bytecode or pytest cache in the source tree.
export PYTHONDONTWRITEBYTECODE=1
exec "$venv/bin/python" -m pytest -v -p no:cacheprovider tests/interop "$@"
