#!/usr/bin/env bash
# Runs every Keygate test: formatting, clippy (ssr and wasm builds), the release build,
# unit and integration tests on SQLite and PostgreSQL, and the Playwright suite in
# Chromium against the real release server, and schemathesis against the REST API's
# OpenAPI document. Fails on the first failure.
#
# PostgreSQL: tests create a fresh database per test on KEYGATE_TEST_POSTGRES_URL
# (default postgres://postgres@127.0.0.1:5432/postgres). Without a reachable server the
# PostgreSQL tests are skipped with a message; with CI=true they fail instead.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
install_browser
cd "$ROOT"
started=$(date +%s)

step "cargo fmt --check"
cargo fmt --all -- --check

step "PostgreSQL and Redis"
# Tests that need a service carry it in their names (server/tests/common/mod.rs, NEEDS).
# Without the service (outside CI) they are left out with --skip and reported as skipped,
# with their count; run anyway, they fail. With CI=true a missing service fails the run.
skip_args=()
skip_reasons=()
reachable() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
needs() { # the name patterns of the tests needing service $1, one per line
  sed -n '/^pub const NEEDS/,/^];/p' server/tests/common/mod.rs |
    sed -nE "s/^ *\(\"([a-z_:]+)\", \"$1\"\),\$/\1/p"
}
leave_out() { # service, reason
  local pattern
  if [ "${CI:-}" = "true" ]; then die "$2 and CI=true: the tests needing $1 may not be skipped"; fi
  echo "WARNING: $2; the tests needing $1 will be SKIPPED"
  for pattern in $(needs "$1"); do skip_args+=(--skip "$pattern"); done
  skip_reasons+=("$1: $2")
}
pg_url="${KEYGATE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
pg_hostport="$(echo "$pg_url" | sed -E 's#^[a-z]+://([^@/]*@)?([^/?]+).*#\2#')"
pg_host="${pg_hostport%%:*}"; pg_port="${pg_hostport##*:}"; [ "$pg_port" = "$pg_hostport" ] && pg_port=5432
if reachable "$pg_host" "$pg_port"; then
  echo "PostgreSQL reachable at $pg_host:$pg_port: the integration suite runs on SQLite and PostgreSQL"
else
  leave_out PostgreSQL "PostgreSQL is not reachable at $pg_host:$pg_port (set KEYGATE_TEST_POSTGRES_URL)"
fi
if ! reachable 127.0.0.1 6379; then
  leave_out Redis "Redis is not reachable at 127.0.0.1:6379"
elif ! command -v redis-server >/dev/null; then
  leave_out Redis "the redis-server binary is not installed"
else
  echo "Redis reachable at 127.0.0.1:6379: the shared-limit tests run"
fi
[ -n "$(needs PostgreSQL)" ] && [ -n "$(needs Redis)" ] || die "no NEEDS table in server/tests/common/mod.rs"

step "clippy, server build (ssr)"
cargo clippy -p app -p server -p migration -p bench --all-targets --features app/ssr -- -D warnings

step "clippy, browser build (wasm32, hydrate)"
cargo clippy -p app -p frontend --target wasm32-unknown-unknown --features app/hydrate -- -D warnings

step "release build (cargo leptos: the bundle, precompressed, and the server at once)"
build_release

# The browser bundle's budget (issue 28: at most 150 KB gzip, counted here as 150,000
# bytes): pages are rendered on the server and a handful of islands run their markup with
# DOM calls, no views in the browser (140,105 bytes gzip -9 on 2026-12-07; 163,396 on
# 2026-12-02; 539,449 when issue 12 was filed). Past the budget, something heavy came in:
# find it with twiggy (docs/performance.md).
wasm_budget=150000
wasm="$(ls target/site/pkg/keygate.*.wasm)"
wasm_gzip="$(gzip -9 -c "$wasm" | wc -c)"
if [ "$wasm_gzip" -gt "$wasm_budget" ]; then
  die "the release wasm is $wasm_gzip bytes gzip -9, over its $wasm_budget-byte budget"
fi

step "unit and integration tests (release, SQLite and PostgreSQL)"
# LEPTOS_OUTPUT_NAME and RUSTFLAGS as cargo-leptos sets them (always-erase-components),
# so the release artifacts are reused rather than rebuilt.
export LEPTOS_OUTPUT_NAME=keygate RUSTFLAGS="--cfg erase_components"
skipped=0
if [ "${#skip_args[@]}" -gt 0 ]; then
  all_tests="$(cargo test --release -q -- --list 2>/dev/null | grep -E ': test$' || true)"
  kept_tests="$(cargo test --release -q -- --list "${skip_args[@]}" 2>/dev/null | grep -E ': test$' || true)"
  skipped=$(( $(grep -c . <<<"$all_tests") - $(grep -c . <<<"$kept_tests") ))
fi
cargo test --release --no-fail-fast -- "${skip_args[@]}"
unset LEPTOS_OUTPUT_NAME RUSTFLAGS
if [ "$skipped" -gt 0 ]; then
  printf 'SKIPPED %d test cases (not passed, not run):\n' "$skipped"
  printf '  %s\n' "${skip_reasons[@]}"
fi

step "end-to-end tests (Playwright, Chromium, release server)"
port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
data_dir="$(mktemp -d)"
log_file="$data_dir/keygate.log"
# The suite signs up dozens of people from one address: lift the sign-up limit. Its
# webhook receiver listens on loopback, which the sender refuses unless allowed; the
# permissions test saves an upstream on billing.internal (as playwright.config.ts does).
KEYGATE_ADDR="127.0.0.1:$port" KEYGATE_DATA_DIR="$data_dir" KEYGATE_SIGNUP_LIMIT=1000 \
  KEYGATE_WEBHOOK_ALLOWED_HOSTS=127.0.0.1 KEYGATE_UPSTREAM_HOSTS=billing.internal \
  target/release/keygate >"$log_file" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$log_file"; die "the release server exited during start-up"; }
  sleep 0.1
done
# The data dir and binary let a test import keys with the CLI, as an operator would.
(cd end2end && KEYGATE_E2E_URL="http://127.0.0.1:$port" KEYGATE_E2E_DATA_DIR="$data_dir" \
  KEYGATE_E2E_BIN="$ROOT/target/release/keygate" npx playwright test) || {
  echo "--- server log ---"; tail -n 50 "$log_file"; die "end-to-end tests failed"
}
rss_kb="$(awk '/^VmRSS/ { print $2 }' "/proc/$server_pid/status")"
kill -TERM "$server_pid"
if ! wait "$server_pid"; then
  tail -n 20 "$log_file"; die "the server did not shut down cleanly on SIGTERM"
fi
trap - EXIT
grep -q "shut down cleanly" "$log_file" || die "no clean-shutdown line in the server log"

step "API fuzzing (schemathesis, from /api/openapi.json)"
bash "$ROOT/.ci/schemathesis.sh" "$ROOT/target/release/keygate" "$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"

step "figures"
wasm="$(ls target/site/pkg/keygate.*.wasm)"
printf 'release wasm: %s bytes raw, %s bytes gzip -9, %s bytes brotli as served\n' \
  "$(stat -c %s "$wasm")" "$(gzip -9 -c "$wasm" | wc -c)" "$(stat -c %s "$wasm.br")"
printf 'server RSS after the end-to-end run: %s KiB\n' "$rss_kb"
printf 'test command took %s s\n' "$(( $(date +%s) - started ))"
rm -rf "$data_dir"
if [ "$skipped" -gt 0 ]; then
  echo "All Keygate tests that ran passed; $skipped test cases were SKIPPED (see above)."
else
  echo "All Keygate tests passed."
fi
