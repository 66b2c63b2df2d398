#!/usr/bin/env bash
# Runs schemathesis (from PyPI) against the OpenAPI document a real `tomoe up`
# serves at /sovd/v1/docs: generated requests, valid and invalid, for every
# operation; it fails on any 5xx and on any response that the document does not
# describe (status, content type, headers, schema).
#
# Usage: scripts/sovd-schemathesis.sh [SECONDS]   (time budget, default 120)
# Env:   TOMOE_BIN  use this tomoe binary instead of building one with cargo
set -euo pipefail

budget="${1:-120}"
if [[ -n "${TOMOE_BIN:-}" && "${TOMOE_BIN}" != /* ]]; then
    TOMOE_BIN="$PWD/$TOMOE_BIN"
fi
cd "$(dirname "$0")/.."

venv=target/schemathesis-venv
requirements=tests/sovd/requirements.txt
stamp="$venv/.requirements-installed"
if ! "$venv/bin/python" -c '' 2>/dev/null; then
    echo "schemathesis: creating $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
fi
if [[ ! -f "$stamp" || "$requirements" -nt "$stamp" ]]; then
    echo "schemathesis: installing $requirements" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    touch "$stamp"
fi

if [[ -z "${TOMOE_BIN:-}" ]]; then
    cargo build -p tomoe
    TOMOE_BIN="$PWD/${CARGO_TARGET_DIR:-target}/debug/tomoe"
fi

work="$(mktemp -d)"
up_pid=""
cleanup() {
    if [[ -n "$up_pid" ]]; then
        kill "$up_pid" 2>/dev/null || true
        wait "$up_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# A key of this run: tomoe up trusts it, and schemathesis sends a token it signed
# with every diagnostic scope and full broker access, so that requests get past
# authorization and reach the resources.
token="$("$venv/bin/python" - "$work/jwt.pub" <<'PY'
import sys, time, jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
key = Ed25519PrivateKey.generate()
with open(sys.argv[1], "wb") as public:
    public.write(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
now = int(time.time())
claims = {"sub": "schemathesis", "aud": ["kuksa.val"], "iat": now, "exp": now + 3600,
          "scope": "diag diag:write read actuate provide"}
print(jwt.encode(claims, key, algorithm="EdDSA"))
PY
)"

# The simulated Kona, so that data reads return live values and rules run.
"$TOMOE_BIN" up --speed 10 --address 127.0.0.1:0 --runtime-address 127.0.0.1:0 \
    --http-address 127.0.0.1:0 --jwt-public-key "$work/jwt.pub" \
    --data-dir "$work/data" >"$work/up.log" 2>"$work/up.err" &
up_pid=$!
for _ in $(seq 1 300); do
    grep -q "Tomoe is up" "$work/up.log" 2>/dev/null && break
    if ! kill -0 "$up_pid" 2>/dev/null; then
        echo "tomoe up stopped:" >&2
        cat "$work/up.err" >&2
        exit 1
    fi
    sleep 0.1
done
sovd="$(grep -o 'http://127.0.0.1:[0-9]*/sovd/v1' "$work/up.log" | head -n 1)"
if [[ -z "$sovd" ]]; then
    echo "tomoe up announced no diagnostic API:" >&2
    cat "$work/up.log" >&2
    exit 1
fi
echo "schemathesis: testing $sovd/docs for ${budget} s" >&2

# Schemathesis keeps a cache of the failures it found in the working directory;
# each run starts from none, in its own temporary directory.
schemathesis="$PWD/$venv/bin/schemathesis"
cd "$work"
"$schemathesis" run "$sovd/docs" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --phases examples,coverage,fuzzing \
    --max-time "$budget" \
    --workers 2 \
    --request-timeout 10 \
    --suppress-health-check all \
    --header "Authorization: Bearer $token" \
    --no-color
