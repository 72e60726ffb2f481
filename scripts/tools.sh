#!/usr/bin/env bash
# Installs what building (and, with --browser, testing) Gatehouse needs, and
# skips whatever is already there at the right version. Sourced by run.sh and
# test.sh; safe to run on its own.
#
#   scripts/tools.sh             wasm target, cargo-leptos, wasm-bindgen, npm packages (wasm-opt)
#   scripts/tools.sh --browser   ... and Chromium (Debian's `chromium` package) for the browser tests
set -euo pipefail

GATEHOUSE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CARGO_LEPTOS_VERSION="0.3.10"
# wasm-bindgen's CLI must match the library in Cargo.lock exactly.
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$GATEHOUSE_ROOT/Cargo.lock")"

export PATH="$GATEHOUSE_ROOT/end2end/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

install_tools() {
  local want_browser="${1:-}"

  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi

  if [ "$(cargo leptos --version 2>/dev/null)" != "cargo-leptos $CARGO_LEPTOS_VERSION" ]; then
    # A debug build: it only orchestrates the build, and compiles in half the time.
    say "installing cargo-leptos $CARGO_LEPTOS_VERSION (several minutes, once)"
    cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --debug
  fi

  if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
    say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
  fi

  # wasm-opt (npm's binaryen: Debian's is too old to produce a wasm that hydrates)
  # and Playwright live in end2end/node_modules.
  if [ ! -x "$GATEHOUSE_ROOT/end2end/node_modules/.bin/wasm-opt" ] \
    || [ "$GATEHOUSE_ROOT/end2end/package-lock.json" -nt "$GATEHOUSE_ROOT/end2end/node_modules/.package-lock.json" ]; then
    say "installing npm packages in end2end/"
    (cd "$GATEHOUSE_ROOT/end2end" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
  fi

  if [ "$want_browser" = "--browser" ] && [ -z "${CHROMIUM_PATH:-}" ] && ! command -v chromium >/dev/null 2>&1; then
    say "installing Chromium (Debian's chromium package)"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
  fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  install_tools "${1:-}"
fi
