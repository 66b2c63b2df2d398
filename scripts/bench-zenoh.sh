#!/usr/bin/env bash
# Cross-ECU signal latency: tomoe-loadgen's provider publishes on one broker and its
# subscriber reads on another, the two brokers (`tomoe serve`, release build) joined
# by Zenoh, first on loopback, then across two network namespaces joined by a veth
# pair; the same load through one local broker is the baseline. Prints loadgen's
# report of each (throughput, p50/p99 latency) and, for each cross-ECU run, the
# ratio of its subscriber's p99 to the local broker's.
#
# Usage: scripts/bench-zenoh.sh [SECONDS] [RATE] [SIGNALS]
#        (default 20 s at 10000 signal updates/s over 10 signals)
# The namespace run needs root and is skipped without it. Not part of the test suite.
set -euo pipefail
duration="${1:-20}"
rate="${2:-10000}"
signals="${3:-10}"
cd "$(dirname "$0")/.."
cargo build --release -p tomoe -p tomoe-loadgen
bin="$PWD/target/release/tomoe"
loadgen="$PWD/target/release/tomoe-loadgen"

work="$(mktemp -d)"
pids=()
namespaces=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# The zonal ECU exports every signal, the central one imports them from it.
printf 'export = ["Vehicle.**"]\n' >"$work/zonal.toml"
printf '[[import]]\nfrom = "zonal"\npaths = ["Vehicle.**"]\n' >"$work/central.toml"

# serve NAME ADDRESS [PREFIX...] -- [ZENOH ARGS...]: starts `tomoe serve` and waits.
serve() {
    local name="$1" address="$2"
    shift 2
    local prefix=()
    while [[ "$1" != "--" ]]; do prefix+=("$1"); shift; done
    shift
    "${prefix[@]}" "$bin" serve --insecure --address "$address" --data-dir "$work/$name" \
        "$@" >"$work/$name.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do
        grep -q "listening on" "$work/$name.log" 2>/dev/null && return
        sleep 0.1
    done
    echo "tomoe serve ($name) did not start:" >&2
    cat "$work/$name.log" >&2
    exit 1
}

zenoh_args() { # NAME: the bridge options of that ECU
    echo "--zenoh-config $work/$1.toml --ecu-name $1 --vehicle-id bench"
}

measure() { # LABEL [PREFIX...] -- LOADGEN ARGS...
    local label="$1"
    shift
    local prefix=()
    while [[ "$1" != "--" ]]; do prefix+=("$1"); shift; done
    shift
    echo
    echo "== $label"
    "${prefix[@]}" "$loadgen" --signals "$signals" --subscribers 1 --slow-subscribers 0 \
        --rate "$rate" --duration "$duration" "$@" | tee "$work/report.txt"
    # The subscriber's p99 (ms), the 7th column of its row ("#1 fast ...").
    p99="$(awk '$1 == "#1" && $2 == "fast" { print $7 }' "$work/report.txt")"
}

ratio() { # the last run's p99 against the local broker's
    awk -v cross="$p99" -v local="$local_p99" 'BEGIN {
        if (cross + 0 > 0 && local + 0 > 0)
            printf "p99 %s ms / one broker'"'"'s %s ms = %.1f\n", cross, local, cross / local
        else
            print "p99 ratio: no latency figures to compare"
    }'
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "load: $rate signal updates/s over $signals signals (batches of $signals), ${duration} s per run"

# Fixed ports below the ephemeral range (32768 and up on Linux), so that the outgoing
# connections of whatever else runs cannot be holding them.

# 1. One local broker.
serve local 127.0.0.1:29601 --
measure "one broker (provider and subscriber on the same broker)" -- \
    --broker http://127.0.0.1:29601
local_p99="$p99"

# 2. Two brokers on loopback, joined by Zenoh.
# shellcheck disable=SC2046
serve zonal 127.0.0.1:29611 -- $(zenoh_args zonal) --zenoh-listen tcp/127.0.0.1:29617
# shellcheck disable=SC2046
serve central 127.0.0.1:29612 -- $(zenoh_args central) --zenoh-connect tcp/127.0.0.1:29617
sleep 2
measure "two brokers joined by Zenoh on loopback" -- \
    --broker http://127.0.0.1:29611 --subscribe-broker http://127.0.0.1:29612
ratio

# 3. Two brokers in two network namespaces joined by a veth pair.
if [[ "$(id -u)" != 0 ]] || ! command -v ip >/dev/null; then
    echo
    echo "== two namespaces: skipped (needs root and iproute2)"
    exit 0
fi
z="tomoe-bench-$$-z" c="tomoe-bench-$$-c"
namespaces=("$z" "$c")
ip netns add "$z"
ip netns add "$c"
ip link add "bz$$" type veth peer name "bc$$"
ip link set "bz$$" netns "$z"
ip link set "bc$$" netns "$c"
ip -n "$z" addr add 10.214.0.1/24 dev "bz$$"
ip -n "$c" addr add 10.214.0.2/24 dev "bc$$"
for ns in "$z" "$c"; do ip -n "$ns" link set lo up; done
ip -n "$z" link set "bz$$" up
ip -n "$c" link set "bc$$" up
# The zonal broker listens on the veth address: the provider, in the central
# namespace with the subscriber, reaches it across the link too. That address is not
# loopback, so the bridge needs --insecure-zenoh (the namespaces are ours alone).
# shellcheck disable=SC2046
serve ns-zonal 10.214.0.1:29621 ip netns exec "$z" -- $(zenoh_args zonal) \
    --zenoh-listen tcp/10.214.0.1:7447 --insecure-zenoh
# shellcheck disable=SC2046
serve ns-central 127.0.0.1:29622 ip netns exec "$c" -- $(zenoh_args central) \
    --zenoh-connect tcp/10.214.0.1:7447
sleep 2
measure "two brokers in two namespaces joined by a veth pair (provider's gRPC crosses the link too)" \
    ip netns exec "$c" -- --broker http://10.214.0.1:29621 --subscribe-broker http://127.0.0.1:29622
ratio
