#!/usr/bin/env bash
# Load-tests the diagnostic API of a real `tomoe up` (release build, simulated Kona)
# with wrk: `GET data` of a live signal, and for scale the version information (no
# authorization, no broker) and an ECU's fault list. Prints requests/s and the
# latency distribution (p50, p90, p99) of each.
#
# Usage: scripts/bench-sovd.sh [SECONDS] [CONNECTIONS]   (default 20 s, 16 connections)
# Needs wrk (apt-get install wrk); not part of the test suite.
set -euo pipefail
duration="${1:-20}"
connections="${2:-16}"
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }
cargo build --release -p tomoe
bin="$PWD/target/release/tomoe"

work="$(mktemp -d)"
up_pid=""
cleanup() {
    [[ -n "$up_pid" ]] && kill "$up_pid" 2>/dev/null && wait "$up_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
"$bin" up --address 127.0.0.1:0 --runtime-address 127.0.0.1:0 --http-address 127.0.0.1:0 \
    --data-dir "$work/data" >"$work/up.log" 2>/dev/null &
up_pid=$!
for _ in $(seq 1 300); do
    grep -q "Tomoe is up" "$work/up.log" 2>/dev/null && break
    sleep 0.1
done
sovd="$(grep -o 'http://127.0.0.1:[0-9]*/sovd/v1' "$work/up.log" | head -n 1)"
origin="${sovd%/sovd/v1}"
sleep 2

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "wrk: 2 threads, $connections connections, ${duration} s each; tomoe up (release) on the same machine"
for target in \
    "$origin/sovd/version-info" \
    "$sovd/components/bms/data/Vehicle.Powertrain.TractionBattery.StateOfCharge.Current" \
    "$sovd/components/bms/faults"; do
    echo
    echo "GET ${target#"$origin"}"
    wrk -t2 -c"$connections" -d"${duration}s" --latency "$target" \
        | grep -E "Requests/sec|^ +(50|90|99)%|Non-2xx|Socket errors"
done
