#!/usr/bin/env bash
# Sourced by serve.sh and test.sh: installs what building Keygate needs on a fresh Debian
# machine with rustup and Node, skipping anything already present at the right version.
# Every download comes from a package registry (crates.io, npm, Debian).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CARGO_LEPTOS_VERSION=0.3.10
# The CLI must match the wasm-bindgen crate in Cargo.lock exactly.
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, ""); print $3; exit }' "$ROOT/Cargo.lock")"

step() { printf '\n==> %s (at %d s)\n' "$*" "$SECONDS"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

for tool in cargo rustup node npm; do
  command -v "$tool" >/dev/null || die "$tool is required (Rust via rustup, Node 20 with npm)"
done

export PATH="$ROOT/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"

# The one-time tool installs are build tools, not Keygate, and cost most of a first run, so
# they are built as cheaply as they can be (measured on a fresh 2-core machine, 2026-12-02:
# both in 6.2 min side by side, against 15.5 min one after the other at opt-level 1):
# - no LTO, parallel codegen, no debug info, stripped;
# - cargo-leptos unoptimised (opt-level 0): its own work in a build is a few file copies,
#   the JS glue's minification and the precompression; the compressors and the file hash,
#   where its time goes, are still built at opt-level 3;
# - wasm-bindgen-cli at opt-level 1 (it rewrites the whole wasm, which needs optimised code);
# - OpenSSL from the system when its headers are there (cargo-leptos asks for a vendored
#   OpenSSL, a long C build; openssl-sys honours OPENSSL_NO_VENDOR);
# - both installs at once: each has long single-crate stretches that leave a core idle.
cheap=(CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
  CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=true)
hot_packages() {
  local p
  for p in brotli brotli-decompressor alloc-no-stdlib alloc-stdlib libflate libflate_lz77 \
    dary_heap core2 rle-decode-fast crc32fast adler32 adler2 miniz_oxide flate2 seahash md-5; do
    printf -- '--config profile.release.package.%s.opt-level=3 ' "$p"
  done
}

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

bindgen_pid=""
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $WASM_BINDGEN_VERSION"; then
  step "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION in the background (once; a few minutes)"
  bindgen_log="$(mktemp)"
  # Not --locked: its lockfile names a crate version the registry does not have.
  # A simple command, so that $! is cargo itself and the trap below can stop it.
  env "${cheap[@]}" CARGO_PROFILE_RELEASE_OPT_LEVEL=1 cargo install --force --quiet \
    "wasm-bindgen-cli@$WASM_BINDGEN_VERSION" >"$bindgen_log" 2>&1 &
  bindgen_pid=$!
  # If anything below fails (or is interrupted), the background install goes too.
  trap 'kill "$bindgen_pid" 2>/dev/null || true; rm -f "$bindgen_log"' EXIT
fi

if ! cargo leptos --version 2>/dev/null | grep -qx "cargo-leptos $CARGO_LEPTOS_VERSION"; then
  step "installing cargo-leptos $CARGO_LEPTOS_VERSION (once; about 6 minutes)"
  no_vendor=0
  if command -v pkg-config >/dev/null && pkg-config --exists openssl; then no_vendor=1; fi
  # shellcheck disable=SC2046 # hot_packages prints separate --config arguments
  env "${cheap[@]}" OPENSSL_NO_VENDOR="$no_vendor" CARGO_PROFILE_RELEASE_OPT_LEVEL=0 \
    cargo install $(hot_packages) --locked "cargo-leptos@$CARGO_LEPTOS_VERSION"
fi

if [ -n "$bindgen_pid" ]; then
  if ! wait "$bindgen_pid"; then
    cat "$bindgen_log" >&2
    die "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION failed (its output is above)"
  fi
  trap - EXIT
  rm -f "$bindgen_log"
  step "wasm-bindgen-cli $WASM_BINDGEN_VERSION installed"
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

# The release build. cargo-leptos builds the bundle and then the server, one after the other,
# when it hashes file names or precompresses; the server does not need the bundle to build
# (it reads hash.txt when it starts), so both are built at once here: the bundle's
# single-threaded stretches (its LTO, wasm-bindgen, wasm-opt, brotli) leave a core to the
# server's build.
build_release() {
  cargo leptos build --release --precompress --frontend-only &
  local front=$!
  local server_ok=0
  cargo leptos build --release --server-only || server_ok=$?
  if ! wait "$front"; then die "the browser bundle's release build failed (see above)"; fi
  if [ "$server_ok" != 0 ]; then die "the server's release build failed (see above)"; fi
  # The bundle's hashes go with the site too: a binary copied with its site/ alone (an
  # image, a package) finds them there (server/src/lib.rs, `hash_file`).
  [ -f target/release/hash.txt ] || die "the release build wrote no target/release/hash.txt"
  cp target/release/hash.txt target/site/hash.txt
}
