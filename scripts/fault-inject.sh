#!/usr/bin/env bash
# Fault injection: `tomoe up` is killed with SIGKILL at a random moment while a
# client writes, then started again on the same data directory, N times (default
# 200). After every restart the store must open (never refused as damaged) and the
# last write the broker acknowledged must be there: the stored value is the last
# acknowledged one or, if the kill came between the write and its answer, the
# next one. A workload runs under the runtime throughout: after every restart it
# must be adopted, running, and exactly once (never started twice). Not part of CI
# (it takes a few minutes); see docs/broker.md.
#
#   scripts/fault-inject.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-200}
bin=${TOMOE_BIN:-target/debug/tomoe}
[ -x "$bin" ] || cargo build --bins --quiet
work=$(mktemp -d)
marker="3600.$$"
trap 'kill -9 $(jobs -p) 2>/dev/null || true; pkill -f "sleep $marker" || true; rm -rf "$work"' EXIT
data="$work/data"
path=Vehicle.VehicleIdentification.VIN
acked=-1

start() {
    "$bin" up --idle --address 127.0.0.1:0 --runtime-address 127.0.0.1:0 --http-address 127.0.0.1:0 \
        --data-dir "$data" >"$work/up.log" 2>"$work/up.err" &
    up=$!
    for _ in $(seq 200); do
        broker=$(grep -o 'broker   http://[0-9.:]*' "$work/up.log" | awk '{print $2}' || true)
        [ -n "$broker" ] && return 0
        if ! kill -0 "$up" 2>/dev/null; then
            echo "round $round: tomoe up did not start:" >&2
            cat "$work/up.err" >&2
            exit 1
        fi
        sleep 0.05
    done
    echo "round $round: tomoe up did not announce its broker" >&2
    exit 1
}

cat >"$work/app.yaml" <<EOF
apiVersion: tomoe.dev/v1
workloads:
  - name: app
    command: sleep
    args: ["$marker"]
EOF

# How many processes the workload has (it must be one, the adopted one).
copies() { pgrep -fc "sleep $marker" || true; }

for round in $(seq "$rounds"); do
    start
    runtime=$(grep -o 'runtime  http://[0-9.:]*' "$work/up.log" | awk '{print $2}')
    if [ "$round" = 1 ]; then
        "$bin" apply --runtime "$runtime" "$work/app.yaml" >/dev/null
    fi
    for _ in $(seq 100); do
        state=$("$bin" ps --runtime "$runtime" --json | python3 -c 'import json,sys; w=json.load(sys.stdin); print(w[0]["state"] if w else "none")')
        [ "$state" = running ] && break
        sleep 0.05
    done
    if [ "$state" != running ] || [ "$(copies)" != 1 ]; then
        echo "round $round: the workload is $state with $(copies) processes" >&2
        exit 1
    fi
    stored=$("$bin" get --broker "$broker" --json "$path" | python3 -c 'import json,sys; v=json.load(sys.stdin)["value"]; print(v if v is not None else -1)')
    if [ "$acked" -ge 0 ] && [ "$stored" != "$acked" ] && [ "$stored" != "$((acked + 1))" ]; then
        echo "round $round: lost a write: stored $stored, last acknowledged $acked" >&2
        exit 1
    fi
    next=$((stored + 1))
    (
        while "$bin" set --broker "$broker" "$path" "$next" >/dev/null 2>&1; do
            echo "$next" >"$work/acked.tmp" && mv "$work/acked.tmp" "$work/acked"
            next=$((next + 1))
        done
    ) &
    writer=$!
    sleep "0.$(printf '%03d' $((RANDOM % 800 + 100)))"
    kill -9 "$up"
    wait "$up" 2>/dev/null || true
    wait "$writer" 2>/dev/null || true
    acked=$(cat "$work/acked" 2>/dev/null || echo -1)
    printf 'round %d: killed after write %s\n' "$round" "$acked"
done
echo "fault-inject: $rounds kills of tomoe up while writing; no acknowledged write lost, the store opened every time, the workload adopted and never doubled"
