#!/usr/bin/env bash
# Runs the dashboard's browser test (tests/browser): Playwright for Python drives
# Debian's headless chromium against a real `tomoe up`. Installs chromium (as root,
# with apt) and the Python packages (into target/browser-venv) where missing.
#
# Usage: scripts/browser-test.sh [extra pytest arguments]
# Env:   TOMOE_BIN      use this tomoe binary (its directory also holds range-estimator)
#        CHROMIUM_BIN   use this chromium instead of the one on PATH
set -euo pipefail

if [[ -n "${TOMOE_BIN:-}" && "${TOMOE_BIN}" != /* ]]; then
    TOMOE_BIN="$PWD/$TOMOE_BIN"
fi

cd "$(dirname "$0")/.."

if [[ -z "${CHROMIUM_BIN:-}" ]] && ! command -v chromium >/dev/null 2>&1; then
    if [[ "$(id -u)" != 0 ]]; then
        echo "browser-test: chromium is not installed; as root: apt-get install chromium" >&2
        exit 1
    fi
    echo "browser-test: installing chromium" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

venv=target/browser-venv
requirements=tests/browser/requirements.txt
stamp="$venv/.requirements-installed"
if ! "$venv/bin/python" -c '' 2>/dev/null; then
    echo "browser-test: creating $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
fi
if [[ ! -f "$stamp" || "$requirements" -nt "$stamp" ]]; then
    echo "browser-test: installing $requirements" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    touch "$stamp"
fi

if [[ -z "${TOMOE_BIN:-}" ]]; then
    cargo build -p tomoe -p tomoe-range-estimator
    TOMOE_BIN="$PWD/${CARGO_TARGET_DIR:-target}/debug/tomoe"
fi
export TOMOE_BIN
# Playwright never downloads a browser here: the test passes chromium's path.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export PYTHONDONTWRITEBYTECODE=1
exec "$venv/bin/python" -m pytest -v -p no:cacheprovider tests/browser "$@"
