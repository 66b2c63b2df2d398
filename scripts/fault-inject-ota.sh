#!/usr/bin/env bash
# Fault injection during OTA installs: `tomoe up` with its update agent is killed
# with SIGKILL at a random moment (0.05 to 1.5 s) after a new app version is
# published, so the kills land in every phase: checking, downloading into the
# inactive slot, switching, the health window, committing, reporting. Then it is
# started again on the same data directory and must recover by itself, with no
# one repairing anything: the agent starts (slots and trusted metadata load), the
# app runs exactly once, and within 30 s the newest version is COMMITTED and runs.
# N rounds (default 200). Not part of CI (about 20 minutes); see docs/ota.md.
#
#   scripts/fault-inject-ota.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-200}
bin=${TOMOE_BIN:-target/debug/tomoe}
[ -x "$bin" ] || cargo build --bins --quiet
command -v curl >/dev/null || { echo "fault-inject-ota: the app needs curl (apt-get install curl)" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null || true; pkill -9 -f "$work/" || true; rm -rf "$work"' EXIT
vin=TOMOE0000000000E2
image="$work/image"
director="$work/director"
data="$work/data"

"$bin" ota repo init "$image" >/dev/null
"$bin" ota repo init --director "$director/$vin" >/dev/null
"$bin" ota serve --address 127.0.0.1:0 --image "$image" --director "$director" \
    >"$work/serve.log" 2>"$work/serve.err" &
for _ in $(seq 200); do
    server=$(grep -o 'http://[0-9.:]*' "$work/serve.log" | head -1 || true)
    [ -n "$server" ] && break
    sleep 0.05
done
[ -n "$server" ] || { echo "fault-inject-ota: tomoe ota serve did not start" >&2; exit 1; }

# Each version is a small shell script (so that downloads take no time and kills
# land in every phase) that says which version runs and heartbeats with curl.
publish() {
    local version=$1 file="$work/app-v$1"
    cat >"$file" <<EOF
#!/bin/sh
# version $version
echo $version >"$work/running"
while :; do
    curl -sf -X POST -H "Authorization: Bearer \$TOMOE_TOKEN" "\$TOMOE_RUNTIME/v1/workloads/app/heartbeat" >/dev/null
    sleep 0.2
done
EOF
    chmod 755 "$file"
    "$bin" ota repo add "$image" "$file" --name app --hardware-id tomoe-app \
        --release-counter "$version" >/dev/null
    "$bin" ota repo add "$director/$vin" "$file" --name app --ecu app:app \
        --hardware-id tomoe-app --release-counter "$version" >/dev/null
}

start() {
    "$bin" up --idle --address 127.0.0.1:0 --runtime-address 127.0.0.1:0 --http-address 127.0.0.1:0 --data-dir "$data" \
        --ota-director "$server/director" --ota-image "$server/image" --vin "$vin" \
        --ota-root-director "$director/$vin/root.json" --ota-root-image "$image/root.json" \
        --ota-interval-ms 200 --ota-health-window-ms 1000 \
        >"$work/up.log" 2>"$work/up.err" &
    up=$!
    broker=
    for _ in $(seq 400); do
        broker=$(grep -o 'broker   http://[0-9.:]*' "$work/up.log" | awk '{print $2}' || true)
        [ -n "$broker" ] && break
        if ! kill -0 "$up" 2>/dev/null; then
            echo "round $round: tomoe up did not start:" >&2
            cat "$work/up.err" >&2
            exit 1
        fi
        sleep 0.05
    done
    [ -n "$broker" ] || { echo "round $round: tomoe up did not announce its broker" >&2; exit 1; }
    runtime=$(grep -o 'runtime  http://[0-9.:]*' "$work/up.log" | awk '{print $2}')
}

value() {
    "$bin" get --broker "$broker" --json "$1" 2>/dev/null |
        python3 -c 'import json,sys; t=sys.stdin.read(); v=json.loads(t).get("value") if t.strip() else None; print("" if v is None else v)' || true
}

app_processes() { pgrep -fc "^/bin/sh $work/" || true; }

# Waits until version $1 is committed (the agent then says COMMITTED, or IDLE when
# it was committed before the kill), its image runs, and runs once.
recovered() {
    local want=$1 status installed app state pid
    for _ in $(seq 150); do
        status=$(value Vehicle.Tomoe.Ota.Status)
        installed=$(value Vehicle.Tomoe.Ota.InstalledVersion)
        app=$("$bin" ps --runtime "$runtime" --json 2>/dev/null |
            python3 -c 'import json,sys; w=[x for x in json.load(sys.stdin) if x["name"]=="app"]; print(w[0]["state"]+"/"+str(w[0].get("health"))+" "+str(w[0].get("pid")) if w else "none 0")' || echo "none 0")
        state=${app% *}
        pid=${app#* }
        if { [ "$status" = COMMITTED ] || [ "$status" = IDLE ]; } && [ "$installed" = "$want" ] &&
            [ "$state" = running/healthy ]; then
            if [ "$(cat "$work/running" 2>/dev/null)" != "$want" ]; then
                echo "round $round: version $want is committed but version $(cat "$work/running") runs" >&2
                exit 1
            fi
            if [ "$(app_processes)" != 1 ]; then
                echo "round $round: version $want runs in $(app_processes) processes" >&2
                exit 1
            fi
            return 0
        fi
        sleep 0.2
    done
    echo "round $round: not recovered: status '$status', installed '$installed', app $state (want version $want)" >&2
    "$bin" get --broker "$broker" Vehicle.Tomoe.Ota.Status >&2 || true
    kept=$(mktemp -d /tmp/fault-inject-ota.XXXXXX)
    cp -r "$work/up.log" "$work/up.err" "$data" "$kept/" 2>/dev/null || true
    echo "logs and data directory kept in $kept" >&2
    tail -20 "$work/up.err" >&2
    exit 1
}

cat >"$work/app.yaml" <<EOF
apiVersion: tomoe.dev/v1
workloads:
  - name: app
    command: $work/app-v1
    health: {heartbeat: {deadlineMs: 1500}, startupGraceMs: 500}
EOF

declare -A phases
round=0
publish 1
start
"$bin" apply --runtime "$runtime" "$work/app.yaml" >/dev/null
for _ in $(seq 100); do [ -f "$data/ota/primary.pub" ] && break; sleep 0.05; done
cp "$data/ota/primary.pub" "$director/$vin/primary.pub"
version=1
for round in $(seq "$rounds"); do
    version=$((version + 1))
    publish "$version"
    sleep "$(python3 -c 'import random; print(round(random.uniform(0.05, 1.5), 3))')"
    phase=$(value Vehicle.Tomoe.Ota.Status)
    reason=$([ "$phase" = FAILED ] && value Vehicle.Tomoe.Ota.Reason || true)
    kill -9 "$up"
    wait "$up" 2>/dev/null || true
    phases[${phase:-none}]=$(( ${phases[${phase:-none}]:-0} + 1 ))
    start
    recovered "$version"
    printf 'round %d: killed in %s%s; version %d committed after restart\n' "$round" "${phase:-none}" \
        "${reason:+ ($reason)}" "$version"
done
kill -9 "$up" 2>/dev/null || true
summary=$(for phase in "${!phases[@]}"; do printf '%s %d, ' "$phase" "${phases[$phase]}"; done)
echo "fault-inject-ota: $rounds kills of tomoe up during installs (status when killed: ${summary%, }); every restart recovered and committed the newest version, the app ran once"
