#!/usr/bin/env bash
# Fuzzes the REST API from its own OpenAPI document with schemathesis: no 5xx, and no
# operation that answers a request without (or with broken) credentials as if it had
# them. Runs a fresh server on its own data directory; the key it uses is bootstrapped
# with the CLI. Usage: .ci/schemathesis.sh path/to/keygate [port]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${1:?path to the keygate binary}"
PORT="${2:-3300}"
VENV="$ROOT/.ci/.venv"
SCHEMATHESIS_VERSION=4.32.5

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  printf '\n==> installing schemathesis %s (PyPI) in .ci/.venv\n' "$SCHEMATHESIS_VERSION"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

DATA="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$DATA"
}
trap cleanup EXIT
export KEYGATE_DATA_DIR="$DATA" KEYGATE_ADDR="127.0.0.1:$PORT" KEYGATE_LOG=warn
# Fuzzing sends many bad keys on purpose; the failure limit is not what is tested here.
export KEYGATE_AUTH_FAILURE_LIMIT=1000000

KEYGATE_PASSWORD="schemathesis password" "$BIN" user create --email fuzz@example.com --name Fuzz >/dev/null
ORG="$("$BIN" org create --name Fuzzing --owner fuzz@example.com)"
KEY="$("$BIN" key create --org "$ORG" --name schemathesis --scopes gateway,keys:read,keys:write 2>/dev/null)"
# A second key for the stateful phase: its chains create, read, roll and revoke keys,
# possibly the very key they authenticate with, so they get one of their own.
STATEFUL_KEY="$("$BIN" key create --org "$ORG" --name schemathesis-stateful --scopes gateway,keys:read,keys:write 2>/dev/null)"

"$BIN" > "$DATA/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 200); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.05
done

# Every operation on its own, with the first key...
"$VENV/bin/schemathesis" run "http://127.0.0.1:$PORT/api/openapi.json" \
  --header "x-api-key: $KEY" \
  --checks not_a_server_error,ignored_auth \
  --phases examples,coverage,fuzzing \
  --max-examples 60 \
  --seed 7 \
  --workers 2 \
  --no-color \
  --output-sanitize true

# ...then chains of them (create, then read, roll and revoke what was created, linked
# through the Location header and the response bodies) with the second key. A revoked key
# stays readable (its row and status are kept), so use_after_free does not apply.
"$VENV/bin/schemathesis" run "http://127.0.0.1:$PORT/api/openapi.json" \
  --header "x-api-key: $STATEFUL_KEY" \
  --checks not_a_server_error,ignored_auth,ensure_resource_availability \
  --phases stateful \
  --max-examples 150 \
  --seed 7 \
  --no-color \
  --output-sanitize true

if grep -q "panicked" "$DATA/server.log"; then
  echo "the server panicked during fuzzing:" >&2
  grep -B2 -A5 panicked "$DATA/server.log" >&2
  exit 1
fi
