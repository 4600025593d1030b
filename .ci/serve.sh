#!/usr/bin/env bash
# Builds Keygate (release) and runs it on http://127.0.0.1:3000 with an embedded SQLite
# database in ./data. Any KEYGATE_* variable set in the environment is honoured.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
cd "$ROOT"
step "building Keygate (release)"
build_release
step "starting Keygate on http://${KEYGATE_ADDR:-127.0.0.1:3000} (Ctrl-C to stop)"
exec target/release/keygate
