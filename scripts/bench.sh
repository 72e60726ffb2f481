#!/usr/bin/env bash
# Measures the release build: throughput of a static answer, a rendered page
# and the session check; login throughput (bounded by argon2 on purpose); and
# memory (RSS) at rest and under load. Not a test: numbers to compare over time.
#
#   scripts/bench.sh            (builds first if target/release/gatehouse is missing)
#   DURATION=30 CONNECTIONS=64 scripts/bench.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/tools.sh"
cd "$GATEHOUSE_ROOT"

DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-32}"
PORT="${PORT:-3200}"

if ! command -v wrk >/dev/null 2>&1; then
  say "installing wrk (Debian's package)"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get install -y -qq wrk >/dev/null
fi
if [ ! -x target/release/gatehouse ]; then
  install_tools
  cargo leptos build --release --precompress
fi

data="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$data"' EXIT
export DATABASE_URL="sqlite://$data/bench.db?mode=rwc" LEPTOS_SITE_ADDR="127.0.0.1:$PORT" \
  LEPTOS_SITE_ROOT=target/site RUST_LOG=warn GATEHOUSE_LOGIN_ATTEMPTS=1000000 GATEHOUSE_LOCKOUT_THRESHOLD=1000000
target/release/gatehouse & server=$!
base="http://127.0.0.1:$PORT"
for _ in $(seq 50); do curl -fs "$base/health" >/dev/null && break; sleep 0.1; done

rss() { awk '/VmRSS/ { print $2 " KiB" }' "/proc/$server/status"; }
say "RSS at rest: $(rss)"

curl -fs -H 'Content-Type: application/json' \
  -d '{"username":"bench","password":"bench passphrase for wrk"}' "$base/api/v1/auth/setup" >/dev/null
cookie="$(curl -fs -D - -o /dev/null -H 'Content-Type: application/json' \
  -d '{"username":"bench","password":"bench passphrase for wrk"}' "$base/api/v1/auth/login" \
  | awk -F'[ ;]' 'tolower($1) == "set-cookie:" { print $2 }')"

run() {
  local name="$1"; shift
  printf '\n\033[1m%s\033[0m\n' "$name"
  wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@" | grep -E 'Requests/sec|Latency|50%|99%|Non-2xx'
}

run "GET /health" "$base/health"
run "GET /login (server-rendered page, signed out)" -H 'Accept: text/html' "$base/login"
run "GET /dashboard (server-rendered page, signed in)" -H 'Accept: text/html' -H "Cookie: $cookie" "$base/dashboard"
run "GET /api/v1/auth/session (signed in)" -H "Cookie: $cookie" "$base/api/v1/auth/session"

cat > "$data/login.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"username":"bench","password":"bench passphrase for wrk"}'
wrk.headers["Content-Type"] = "application/json"
LUA
run "POST /api/v1/auth/login (argon2id, m=19 MiB: bounded to one hash per core)" -s "$data/login.lua" "$base/api/v1/auth/login"
say "RSS after the login flood: $(rss)"
