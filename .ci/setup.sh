#!/usr/bin/env bash
# Sourced by serve.sh and test.sh: installs what building Keygate needs on a fresh Debian
# machine with rustup and Node, skipping anything already present at the right version.
# Every download comes from a package registry (crates.io, npm, Debian).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CARGO_LEPTOS_VERSION=0.3.10
# The CLI must match the wasm-bindgen crate in Cargo.lock exactly.
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, ""); print $3; exit }' "$ROOT/Cargo.lock")"

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

for tool in cargo rustup node npm; do
  command -v "$tool" >/dev/null || die "$tool is required (Rust via rustup, Node 20 with npm)"
done

export PATH="$ROOT/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"

# The one-time tool installs are build tools, not Keygate: a cheaper release profile (opt-level
# 1, no LTO, parallel codegen) builds them faster (cargo-leptos on 2 cores: 10.4 min, 16 min
# at opt-level 3), and they run as fast as we need (a build's work is cargo's and wasm-opt's).
cheap_install() {
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
    CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=true \
    cargo install "$@"
}

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! cargo leptos --version 2>/dev/null | grep -qx "cargo-leptos $CARGO_LEPTOS_VERSION"; then
  step "installing cargo-leptos $CARGO_LEPTOS_VERSION (once; takes about 10 minutes)"
  cheap_install --locked "cargo-leptos@$CARGO_LEPTOS_VERSION"
fi

if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $WASM_BINDGEN_VERSION"; then
  step "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (once; takes a few minutes)"
  # Not --locked: its lockfile names a crate version the registry does not have.
  cheap_install --force "wasm-bindgen-cli@$WASM_BINDGEN_VERSION"
fi

# npm packages: Playwright, and binaryen's wasm-opt, which cargo-leptos uses for release
# builds (Debian's binaryen is too old and produces a wasm that never hydrates).
stamp="$ROOT/end2end/node_modules/.keygate-lock-sha"
lock_sha="$(sha256sum "$ROOT/end2end/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$lock_sha" ]; then
  step "installing npm packages in end2end/"
  (cd "$ROOT/end2end" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
  echo "$lock_sha" > "$stamp"
fi

# Chromium for the end-to-end tests: Debian's package (Playwright's own download is not
# reachable). Only test.sh calls this.
install_browser() {
  if [ -x /usr/bin/chromium ]; then return; fi
  if [ "$(id -u)" = 0 ]; then
    step "installing Debian's chromium"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    die "Chromium is needed for the end-to-end tests: run 'sudo apt-get install chromium' (or run this script as root)"
  fi
}
