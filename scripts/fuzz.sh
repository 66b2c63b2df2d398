#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for SECONDS each (default 60), seeded from the
# repository's real files (DBCs, logs, overlays, manifests) and, where present,
# ../shared/data. cargo-fuzz runs on the stable toolchain with `-s none`
# (coverage-guided libFuzzer, no sanitizer). A finding stops the script with the
# input under fuzz/artifacts/<target>/; turn it into a regression test.
#
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
shared=../shared/data

seed() {
    local target=$1
    shift
    mkdir -p "fuzz/corpus/$target"
    for file in "$@"; do
        # Small seeds only: libFuzzer's input length follows the largest one.
        if [ -f "$file" ] && [ "$(stat -c %s "$file")" -le 65536 ]; then
            cp "$file" "fuzz/corpus/$target/$(basename "$file")"
        fi
    done
    return 0
}

# DBCs: the first 8 KiB of each (whole lines): every unreadable statement makes
# the tolerant parser read the input again, so short seeds keep executions fast.
mkdir -p fuzz/corpus/dbc
for file in profiles/*/*.dbc $shared/dbc/opendbc/toyota_adas.dbc; do
    [ -f "$file" ] && head -c 8192 "$file" | sed '$d' >"fuzz/corpus/dbc/$(basename "$file")"
done
mkdir -p fuzz/corpus/candump
for log in $(ls $shared/logs/*/*.log 2>/dev/null | head -4); do
    head -50 "$log" | split -l 1 - "fuzz/corpus/candump/$(basename "$log")."
done
printf '(1.000000) can0 123#DEADBEEF\n' >fuzz/corpus/candump/classic
printf '(1.000000) can0 123##1DEADBEEF\n' >fuzz/corpus/candump/fd
mkdir -p fuzz/corpus/math
i=0
for expression in 'x*0.1-40' '(x+1)/(x-1)' 'sqrt(x)^2' 'min(x, 100) % 7' '-x*-x'; do
    printf '%s' "$expression" >"fuzz/corpus/math/$i"
    i=$((i + 1))
done
seed vss_json profiles/*/*.json data/vss/*.json
printf '%s' '{"Vehicle": {"type": "branch", "description": "root", "children": {"Fuzz": {"type": "sensor", "datatype": "float", "unit": "km/h", "min": 0, "max": 250, "description": "a"}}}}' \
    >fuzz/corpus/vss_json/overlay.json
seed vspec data/vss/*.vspec profiles/*/*.vspec
seed manifest examples/*.yaml
seed parts_toml parts/*.toml profiles/*/profile.toml
seed profile profiles/*/profile.toml
# OTA metadata: the `signed` part of each file of a real repository, behind the
# selector byte that re-signs it as that role (see fuzz_targets/ota_metadata.rs).
bin=${TOMOE_BIN:-target/debug/tomoe}
mkdir -p fuzz/corpus/ota_metadata fuzz/corpus/grpc fuzz/corpus/runtime_api
if [ -x "$bin" ]; then
    repo=$(mktemp -d)
    "$bin" ota repo init "$repo/image" >/dev/null
    printf 'an app image' >"$repo/app"
    "$bin" ota repo add "$repo/image" "$repo/app" --name app --hardware-id tomoe-app \
        --release-counter 1 >/dev/null
    python3 - "$repo/image" fuzz/corpus/ota_metadata <<'PY'
import json, sys
repo, corpus = sys.argv[1:]
for index, role in enumerate(["root", "root", "timestamp", "snapshot", "targets"]):
    signed = json.load(open(f"{repo}/{role}.json"))["signed"]
    for resign in (0, 0x80):
        with open(f"{corpus}/{role}-{index}-{resign}", "wb") as out:
            out.write(bytes([index | resign]) + json.dumps(signed).encode())
PY
    rm -rf "$repo"
fi

cargo fuzz build -s none
printf '%-12s %12s %8s %8s %8s\n' target executions edges features rss_mb
for target in $(cargo fuzz list); do
    log=fuzz/artifacts/$target.log
    mkdir -p fuzz/artifacts
    cargo fuzz run -s none "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        >"$log" 2>&1 || true
    if [ -n "$(ls "fuzz/artifacts/$target" 2>/dev/null)" ] || grep -qE 'panicked|==ERROR|SUMMARY: libFuzzer' "$log"; then
        grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" >&2 || true
        echo "fuzz: $target found an input that fails: fuzz/artifacts/$target (log $log)" >&2
        exit 1
    fi
    # libFuzzer's last status line: "#N DONE cov: C ft: F corp: ... rss: RMb".
    awk -v target="$target" '
        /stat::number_of_executed_units/ { runs = $2 }
        /stat::peak_rss_mb/ { rss = $2 }
        / cov: / { for (i = 1; i < NF; i++) { if ($i == "cov:") cov = $(i + 1); if ($i == "ft:") ft = $(i + 1) } }
        END { printf "%-12s %12s %8s %8s %8s\n", target, runs, cov, ft, rss }' "$log"
done
echo "fuzz: every target ran $seconds s without a finding"
