#!/usr/bin/env bash
# The fleet backend under `tomoe fleet simulate`: a throwaway PostgreSQL cluster
# with its default, durable settings (every commit flushed), `tomoe fleet serve`
# (release build) on it, and `tomoe fleet simulate --vehicles N` against it for a
# fixed time, all on this machine and on loopback. Every simulated vehicle runs
# Uptane full verification of its director and image metadata at each check,
# reports signed manifests (over HTTP, or over Zenoh with --manifests-over-zenoh
# as a 4th argument) and sends telemetry over Zenoh as
# examples/telemetry-policy.toml selects. Prints what the simulator sustained
# (update checks and manifest reports per second with p50/p99, telemetry samples
# sent) and what the backend stored (telemetry rows per second).
#
# Usage: scripts/bench-fleet.sh [VEHICLES] [SECONDS] [CHECK_INTERVAL] [--manifests-over-zenoh]
#        (default 2000 vehicles for 60 s, each checking every 2 s)
# Needs Debian's postgresql package; as root, the cluster runs as the postgres
# user. Not part of the test suite.
set -euo pipefail
vehicles="${1:-2000}"
duration="${2:-60}"
interval="${3:-2}"
manifests=()
[[ "${4:-}" == "--manifests-over-zenoh" ]] && manifests=(--manifests-over-zenoh)
cd "$(dirname "$0")/.."
cargo build --release -p tomoe
bin="$PWD/target/release/tomoe"
policy="$PWD/examples/telemetry-policy.toml"

pgbin="${TOMOE_PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
[[ -x "$pgbin/initdb" ]] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
as_pg=()
if [[ "$(id -u)" == 0 ]]; then as_pg=(runuser -u postgres --); fi

work="$(mktemp -d /tmp/tomoe-bench-fleet.XXXXXX)"
chmod 755 "$work"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ -d "$work/pg/data" ]]; then
        (cd "$work/pg" && "${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/pg/data" stop -m fast -w >/dev/null 2>&1) || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# The database: PostgreSQL's defaults (fsync, synchronous_commit, full_page_writes on).
mkdir "$work/pg"
[[ ${#as_pg[@]} -gt 0 ]] && chown postgres: "$work/pg"
pgport="$(free_port)"
(cd "$work/pg" && "${as_pg[@]}" "$pgbin/initdb" --auth=trust --username=postgres --encoding=UTF8 -D "$work/pg/data" >/dev/null)
(cd "$work/pg" && "${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/server.log" -w start \
    -o "-p $pgport -k $work/pg -c listen_addresses=127.0.0.1 -c max_connections=200 -c timezone=UTC" >/dev/null)
"$pgbin/psql" -h 127.0.0.1 -p "$pgport" -U postgres -q -c "CREATE DATABASE fleet"
database="postgres://postgres@127.0.0.1:$pgport/fleet"
echo "PostgreSQL $("$pgbin/psql" -h 127.0.0.1 -p "$pgport" -U postgres -At -c 'SHOW server_version'):" \
    "fsync $("$pgbin/psql" -h 127.0.0.1 -p "$pgport" -U postgres -At -c 'SHOW fsync')," \
    "synchronous_commit $("$pgbin/psql" -h 127.0.0.1 -p "$pgport" -U postgres -At -c 'SHOW synchronous_commit')"

# The repositories (the director's root key offline) and an operator's token key.
"$bin" ota repo init "$work/image" >/dev/null
printf 'estimator 1\n' >"$work/range-estimator-1.0"
"$bin" ota repo add "$work/image" "$work/range-estimator-1.0" --hardware-id tomoe-app --release-counter 1 >/dev/null
"$bin" ota repo init --director "$work/director" >/dev/null
mv "$work/director/keys/root.pem" "$work/root.pem"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/operator.key" 2>/dev/null
openssl pkey -in "$work/operator.key" -pubout -out "$work/operator.pub"
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
now="$(date +%s)"
header="$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)"
claims="$(printf '{"sub":"bench","iss":"bench","aud":["kuksa.val"],"iat":%s,"exp":%s,"scope":"fleet:write"}' \
    "$now" "$((now + 86400))" | b64url)"
signature="$(printf '%s.%s' "$header" "$claims" | openssl dgst -sha256 -sign "$work/operator.key" -binary | b64url)"
token="$header.$claims.$signature"

# The backend.
zenoh="tcp/127.0.0.1:$(free_port)"
"$bin" fleet serve --address 127.0.0.1:0 --database "$database" --jwt-public-key "$work/operator.pub" \
    --director "$work/director" --image-repository "$work/image" --zenoh-listen "$zenoh" \
    >"$work/serve.out" 2>"$work/serve.log" &
pids+=($!)
server=""
for _ in $(seq 1 300); do
    server="$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/serve.log" "$work/serve.out" 2>/dev/null | head -n 1 | cut -d: -f2-)" || true
    [[ -n "$server" ]] && break
    sleep 0.1
done
[[ -n "$server" ]] || { echo "tomoe fleet serve did not start:" >&2; cat "$work/serve.log" >&2; exit 1; }

echo "tomoe fleet simulate --vehicles $vehicles --check-interval $interval --duration $duration ${manifests[*]}" \
    "on $(nproc) CPUs (load average before: $(cut -d' ' -f1-3 /proc/loadavg))"
started="$(date +%s)"
"$bin" fleet simulate --server "$server" --token "$token" --vehicles "$vehicles" \
    --check-interval "$interval" --duration "$duration" --installed range-estimator-1.0 \
    --director-root "$work/director/1.root.json" --image-root "$work/image/1.root.json" \
    --telemetry-policy "$policy" --zenoh-connect "$zenoh" "${manifests[@]}" --json >"$work/simulation.json"
echo "registration and run took $(($(date +%s) - started)) s; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
rows="$("$pgbin/psql" -h 127.0.0.1 -p "$pgport" -U postgres -d fleet -At -c 'SELECT count(*) FROM telemetry')"
python3 - "$work/simulation.json" "$rows" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))["sustained"]
rows = int(sys.argv[2])
print(f"sustained over {s['seconds']:.1f} s by {s['vehicles']} vehicles (registration excluded):")
for name in ("update_checks", "manifest_reports"):
    r = s[name]
    print(f"  {name.replace('_', ' '):<17} {r['count']:>9} {r['per_second']:>9.1f}/s   p50 {r['p50_ms']:.1f} ms   p99 {r['p99_ms']:.1f} ms")
print(f"  telemetry sent    {s['telemetry_sent']:>9} {s['telemetry_per_second']:>9.1f}/s   (over Zenoh)")
print(f"  telemetry stored  {rows:>9} {rows / s['seconds']:>9.1f}/s   (rows in PostgreSQL)")
print(f"  errors            {s['errors']:>9}")
EOF
