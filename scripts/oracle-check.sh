#!/usr/bin/env bash
# Full-log DBC decoder check: decodes real CAN logs with the cantools oracle
# (../shared/data/oracle_decode.py) and with `tomoe can decode`, and compares every
# frame with scripts/oracle_compare.py (signal values must be exactly equal doubles).
#
# Usage: scripts/oracle-check.sh [PAIR...]    (default: all pairs below)
# Env:   TOMOE_BIN              tomoe binary (default target/debug/tomoe; build it first)
#        TOMOE_REQUIRE_SHARED=1 fail instead of skipping when ../shared/data is absent
# Outputs go to target/oracle/: <pair>.jsonl and <pair>.errors.jsonl (oracle),
# <pair>.tomoe.jsonl (tomoe). Exit status is non-zero if any pair fails.
set -euo pipefail

# A relative TOMOE_BIN is meant relative to where the script was started.
if [[ -n "${TOMOE_BIN:-}" && "${TOMOE_BIN}" != /* ]]; then
    TOMOE_BIN="$PWD/$TOMOE_BIN"
fi

cd "$(dirname "$0")/.."

shared=../shared/data
if [[ ! -d "$shared" ]]; then
    if [[ "${TOMOE_REQUIRE_SHARED:-0}" == 1 ]]; then
        echo "oracle-check: $shared is absent and TOMOE_REQUIRE_SHARED=1: failing" >&2
        exit 1
    fi
    echo "oracle-check: SKIPPED: $shared (the real CAN logs and DBCs) is absent"
    exit 0
fi

TOMOE_BIN="${TOMOE_BIN:-target/debug/tomoe}"
if [[ ! -x "$TOMOE_BIN" ]]; then
    echo "oracle-check: $TOMOE_BIN not found: run 'cargo build -p tomoe' or set TOMOE_BIN" >&2
    exit 1
fi

# name | DBC | log | channel
kona19=$shared/logs/kona-ev/230112-7-2019-pcan-ccan-power-off-on-ready-off.log
kona21=$shared/logs/kona-ev/221217-1-2021-pcan-bcan-no-key.log
rav4=$shared/logs/comma2k19-rav4/rav4_2017_2018-08-02--08-34-47_seg40.log
pairs=(
    "kona2019_pcan|$shared/dbc/kona-ev-dbc/pcan.dbc|$kona19|can0"
    "kona2021_pcan|$shared/dbc/kona-ev-dbc/pcan.dbc|$kona21|can0"
    "rav4_pt_can0|$shared/dbc/opendbc/toyota_new_mc_pt_generated.dbc|$rav4|can0"
    "rav4_adas_can1|$shared/dbc/opendbc/toyota_adas.dbc|$rav4|can1"
)

selected=()
for want in "$@"; do
    found=0
    for p in "${pairs[@]}"; do
        if [[ "${p%%|*}" == "$want" ]]; then selected+=("$p"); found=1; fi
    done
    if [[ $found == 0 ]]; then
        echo "oracle-check: unknown pair '$want' (known: kona2019_pcan kona2021_pcan rav4_pt_can0 rav4_adas_can1)" >&2
        exit 2
    fi
done
if [[ $# == 0 ]]; then selected=("${pairs[@]}"); fi

venv=target/oracle-venv
requirements=scripts/oracle-requirements.txt
stamp="$venv/.requirements-installed"
if ! "$venv/bin/python" -c '' 2>/dev/null; then
    echo "oracle-check: creating $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
fi
if [[ ! -f "$stamp" || "$requirements" -nt "$stamp" ]]; then
    echo "oracle-check: installing $requirements" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    touch "$stamp"
fi
py="$venv/bin/python"
export PYTHONDONTWRITEBYTECODE=1

out=target/oracle
mkdir -p "$out"
failed=()
for p in "${selected[@]}"; do
    IFS='|' read -r name dbc log channel <<<"$p"
    echo "== $name: $dbc on $log ($channel)"
    if ! "$py" "$shared/oracle_decode.py" "$dbc" "$log" "$out/$name.jsonl" --channel "$channel" \
            > "$out/$name.oracle-summary.json"; then
        echo "$name: FAIL: the oracle failed" >&2
        failed+=("$name")
        continue
    fi
    echo "oracle: $(cat "$out/$name.oracle-summary.json")"
    if ! "$TOMOE_BIN" can decode --dbc "$dbc" --log "$log" --channel "$channel" > "$out/$name.tomoe.jsonl"; then
        echo "$name: FAIL: tomoe can decode exited non-zero" >&2
        failed+=("$name")
        continue
    fi
    if ! "$py" scripts/oracle_compare.py "$out/$name.jsonl" "$out/$name.tomoe.jsonl" --name "$name"; then
        failed+=("$name")
    fi
done

echo
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "oracle-check: FAILED: ${failed[*]} (outputs in $out/)"
    exit 1
fi
echo "oracle-check: all ${#selected[@]} pairs match the oracle"
