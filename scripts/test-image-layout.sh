#!/usr/bin/env bash
# Runs the Dockerfile's runtime stage outside Docker (no engine exists on the
# build machines): the release binary and site copied into an /app-like
# folder, the stage's ENV (with /app and /data moved under a temporary
# folder and the port free), a data folder only a non-root user may write,
# the same command (serve) and HEALTHCHECK (gatehouse healthcheck). Shows the
# image's layout works: the site is served, the database lands in /data.
#
#   scripts/test-image-layout.sh     (after cargo leptos build --release)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/tools.sh"
cd "$GATEHOUSE_ROOT"

root="$(mktemp -d /tmp/gatehouse-image.XXXXXX)"
server=""
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$root"
}
trap cleanup EXIT

mkdir -p "$root/app" "$root/data"
cp target/release/gatehouse "$root/app/gatehouse"
cp -r target/site "$root/app/site"
chmod -R a+rX "$root"

# The runtime stage's ENV, moved under $root, on a free port.
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
env_line="$(awk '/^FROM .* AS runtime/ { runtime = 1 } runtime && /^ENV / { sub(/^ENV /, ""); print }' Dockerfile)"
[ -n "$env_line" ] || { echo "no ENV in the Dockerfile's runtime stage" >&2; exit 1; }
vars=()
for pair in $env_line; do
  pair="${pair//\/app/$root/app}"
  pair="${pair//\/data/$root/data}"
  pair="${pair//:8080/:$port}"
  vars+=("$pair")
done
workdir="$(awk '/^FROM .* AS runtime/ { runtime = 1 } runtime && /^WORKDIR / { print $2 }' Dockerfile)"
workdir="${workdir//\/app/$root/app}"

# The stage runs as a non-root user (USER 10001): here, nobody.
as_user=()
if [ "$(id -u)" -eq 0 ]; then
  chown nobody "$root/data"
  as_user=(runuser -u nobody --)
fi
cd "$workdir"
run() { "${as_user[@]}" env -i PATH=/usr/bin:/bin "${vars[@]}" RUST_LOG=warn "$@"; }

say "image layout: serving from $workdir as ${as_user[*]:-$(id -un)} with ${vars[*]}"
# Started directly (not through run, which would fork a subshell) so that
# $! is runuser itself, which passes a TERM on to the server.
"${as_user[@]}" env -i PATH=/usr/bin:/bin "${vars[@]}" RUST_LOG=warn "$root/app/gatehouse" serve > "$root/server.log" 2>&1 &
server=$!
healthy=""
for _ in $(seq 100); do
  if run "$root/app/gatehouse" healthcheck >/dev/null 2>&1; then healthy=1; break; fi
  sleep 0.1
done
[ -n "$healthy" ] || { cat "$root/server.log" >&2; echo "the HEALTHCHECK never passed" >&2; exit 1; }

base="http://127.0.0.1:$port"
check() { # expected-status path [curl args...]
  local want="$1" path="$2"; shift 2
  local got
  got="$(curl -s -o /dev/null -w '%{http_code}' "$@" "$base$path")"
  [ "$got" = "$want" ] || { echo "GET $path answered $got, not $want" >&2; cat "$root/server.log" >&2; exit 1; }
}
check 200 /setup -H 'Accept: text/html'
check 200 /pkg/gatehouse.wasm
check 200 /enhance.js
encoding="$(curl -s -o /dev/null -D - -H 'Accept-Encoding: br' "$base/pkg/gatehouse.wasm" | tr -d '\r' | awk -F': ' 'tolower($1) == "content-encoding" { print $2 }')"
[ "$encoding" = "br" ] || { echo "the wasm is not served precompressed (Content-Encoding: $encoding)" >&2; exit 1; }
status="$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
  -d '{"username":"imageadmin","password":"an image layout passphrase"}' "$base/api/v1/auth/setup")"
[ "$status" = "201" ] || { echo "setup answered $status" >&2; exit 1; }
[ -s "$root/data/gatehouse.db" ] || { echo "no database in the data folder" >&2; exit 1; }
if [ "$(id -u)" -eq 0 ]; then
  owner="$(stat -c %U "$root/data/gatehouse.db")"
  [ "$owner" = "nobody" ] || { echo "the database belongs to $owner, not the non-root user" >&2; exit 1; }
fi
say "image layout works: healthcheck, site, precompressed wasm, setup, database in the data folder"
