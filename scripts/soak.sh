#!/usr/bin/env bash
# Soak: `tomoe up --idle` is fed the Kona profile's real log at 10x speed in a loop
# (`tomoe can replay --loop --broker`, a KUKSA provider) for SECONDS (default 3600),
# with SUBSCRIBERS `tomoe subscribe` clients (default 100) and an app that is
# applied and deleted again every 10 s. Every 10 s it samples the resident memory
# and open file descriptors of `tomoe up`; at the end it prints the first and last
# samples and the least-squares slope of each per hour. Flat is the goal. Not part
# of CI.
#
#   scripts/soak.sh [SECONDS] [SUBSCRIBERS]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-3600}
subscribers=${2:-100}
bin=${TOMOE_BIN:-target/debug/tomoe}
[ -x "$bin" ] || cargo build --bins --quiet
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

"$bin" up --idle --vehicle hyundai-kona-ev-2019 --address 127.0.0.1:0 \
    --runtime-address 127.0.0.1:0 --http-address 127.0.0.1:0 --data-dir "$work/data" >"$work/up.log" 2>"$work/up.err" &
up=$!
for _ in $(seq 200); do
    broker=$(grep -o 'broker   http://[0-9.:]*' "$work/up.log" | awk '{print $2}' || true)
    [ -n "$broker" ] && break
    sleep 0.05
done
if [ -z "${broker:-}" ]; then
    echo "soak: tomoe up did not start" >&2
    cat "$work/up.err" >&2
    exit 1
fi
runtime=$(grep -o 'runtime  http://[0-9.:]*' "$work/up.log" | awk '{print $2}')
"$bin" can replay --profile hyundai-kona-ev-2019 --speed 10 --loop --broker "$broker" \
    >/dev/null 2>"$work/replay.err" &
replay=$!

for _ in $(seq "$subscribers"); do
    "$bin" subscribe --broker "$broker" Vehicle.Speed \
        Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed >/dev/null 2>&1 &
done
cat >"$work/app.yaml" <<EOF
apiVersion: tomoe.dev/v1
workloads:
  - name: churn
    command: sleep
    args: ["30"]
EOF

sample() {
    local rss fds
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$up/status")
    fds=$(ls "/proc/$up/fd" | wc -l)
    echo "$1 $rss $fds" >>"$work/samples"
}

# Warm-up: every subscriber connected, the replay running.
sleep 15
start=$(date +%s)
while :; do
    now=$(date +%s)
    elapsed=$((now - start))
    [ "$elapsed" -ge "$seconds" ] && break
    kill -0 "$up" || { echo "soak: tomoe up died" >&2; cat "$work/up.err" >&2; exit 1; }
    kill -0 "$replay" || { echo "soak: the replay stopped" >&2; cat "$work/replay.err" >&2; exit 1; }
    sample "$elapsed"
    "$bin" apply --runtime "$runtime" "$work/app.yaml" >/dev/null
    sleep 5
    "$bin" delete --runtime "$runtime" churn >/dev/null
    sleep 5
done
sample "$seconds"

python3 - "$work/samples" <<'EOF'
import sys
rows = [tuple(map(float, line.split())) for line in open(sys.argv[1])]
def slope(column):
    xs = [r[0] for r in rows]; ys = [r[column] for r in rows]
    n = len(rows); mx = sum(xs) / n; my = sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return 0.0 if var == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var * 3600
first, last = rows[0], rows[-1]
print(f"soak: {len(rows)} samples over {last[0]:.0f} s")
print(f"  resident memory: {first[1]/1024:.1f} MiB -> {last[1]/1024:.1f} MiB, slope {slope(1)/1024:+.2f} MiB/h")
print(f"  file descriptors: {first[2]:.0f} -> {last[2]:.0f}, slope {slope(2):+.1f}/h")
EOF
