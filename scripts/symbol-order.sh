#!/usr/bin/env bash
# Writes link/symbol-order.txt: every function the server runs while it
# starts and serves the requests of the bench (sign-in, the session, forward
# and bearer checks, the OpenID Connect grants, the pages), most used first.
# build.rs hands the file to the linker (lld's --symbol-ordering-file) for
# release builds, which lays those functions out side by side at the start
# of the code: the kernel maps code from the binary in 64 KiB windows around
# each page touched, so scattered functions make most of the 30 MB of code
# resident; packed, what runs fits in a few MiB (see the README's
# "Performance").
#
# Run it last, after the final source change, then build again (the second
# build only relinks, with the same names):
#   cargo leptos build --release && ./scripts/symbol-order.sh && cargo leptos build --release
# It is a layout hint: a function missing from it still links, just
# elsewhere. But any source change renames the `.llvm.<hash>` functions of
# its codegen unit (a third of the list), which then fall out of the layout
# and the file-backed RSS grows by MiBs (10.5 -> 13.7 MiB after a `cargo
# fmt`); scripts/bench.sh prints how many of the list's names the build has.
# Needs valgrind (Debian's `valgrind`) and the bench's baseline client
# (`cargo build --release --example bench_baseline`).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/release/gatehouse
baseline=target/release/examples/bench_baseline
[ -x "$baseline" ] || cargo build --release --example bench_baseline
command -v valgrind >/dev/null || { echo "symbol-order: needs valgrind (apt-get install valgrind)" >&2; exit 1; }

work="$(mktemp -d /tmp/gatehouse-order.XXXXXX)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
db="sqlite://$work/order.db?mode=rwc"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The server under callgrind, configured as the bench runs it.
env DATABASE_URL="$db" LEPTOS_SITE_ADDR="127.0.0.1:$port" LEPTOS_SITE_ROOT=target/site RUST_LOG=warn \
  GATEHOUSE_TRUSTED_PROXIES=127.0.0.1 GATEHOUSE_FORWARD_RULES='*.bench.test=any' \
  valgrind --tool=callgrind --demangle=no --compress-strings=no --compress-pos=no \
  --callgrind-out-file="$work/callgrind.out" "$bin" > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1200); do
  curl -fs -o /dev/null "$base/health" && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.25
done

password="tangerine orbit lantern for wrk"
printf '%s\n' "$password" | DATABASE_URL="$db" "$bin" create-admin --username bench > /dev/null
login='{"username":"bench","password":"'"$password"'"}'
cookie="$(curl -fs -D - -o /dev/null -H 'Content-Type: application/json' -d "$login" "$base/api/v1/auth/login" \
  | awk -F'[ ;]' 'tolower($1) == "set-cookie:" { print $2 }')"
bearer="$(curl -fs -H 'Content-Type: application/json' -d "$login" "$base/api/v1/auth/token" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')"
get() { curl -s -o /dev/null "$@"; }
for _ in 1 2 3; do
  get "$base/health"
  get "$base/ready"
  get -H "Cookie: $cookie" "$base/api/v1/auth/session"
  get -H "Authorization: Bearer $bearer" "$base/api/v1/users/me"
  for auth in "Cookie: $cookie" "Authorization: Bearer $bearer" "X-None: 1"; do
    get -H "$auth" -H "X-Forwarded-Proto: https" -H "X-Forwarded-Host: app.bench.test" \
      -H "X-Forwarded-Uri: /" "$base/api/v1/auth/forward"
  done
  get "$base/.well-known/openid-configuration"
  get "$base/.well-known/jwks.json"
  for page in / /login /signup /dashboard /account /admin; do
    get -H 'Accept: text/html' -H "Cookie: $cookie" "$base$page"
    get -H 'Accept: text/html' "$base$page"
  done
  # A wrong password, and a right one (the login flood's request).
  get -H 'Content-Type: application/json' -d '{"username":"bench","password":"not it at all"}' "$base/api/v1/auth/login"
  get -H 'Content-Type: application/json' -d "$login" "$base/api/v1/auth/login"
done
# The same under concurrent load (the paths of contention: queues, wakeups,
# work stealing), a few seconds each: the bench's phases.
if command -v wrk >/dev/null; then
  cat > "$work/login.lua" <<LUA
wrk.method = "POST"
wrk.body = '$login'
wrk.headers["Content-Type"] = "application/json"
LUA
  load() { wrk -t2 -c16 -d3s "$@" > /dev/null 2>&1 || true; }
  load "$base/health"
  load -H "Cookie: $cookie" "$base/api/v1/auth/session"
  load -H "Authorization: Bearer $bearer" "$base/api/v1/users/me"
  load -H "Cookie: $cookie" -H "X-Forwarded-Proto: https" -H "X-Forwarded-Host: app.bench.test" \
    -H "X-Forwarded-Uri: /" "$base/api/v1/auth/forward"
  load "$base/.well-known/jwks.json"
  load -H 'Accept: text/html' -H "Cookie: $cookie" "$base/dashboard"
  load -s "$work/login.lua" "$base/api/v1/auth/login"
fi
client="$(DATABASE_URL="$db" "$bin" client create --name order --redirect-uri http://127.0.0.1:9/callback \
  --first-party --scope openid --scope offline_access)"
id="$(printf '%s' "$client" | python3 -c 'import json, sys; print(json.load(sys.stdin)["client_id"])')"
secret="$(printf '%s' "$client" | python3 -c 'import json, sys; print(json.load(sys.stdin)["client_secret"])')"
"$baseline" oidc "$base" "$id" "$secret" "$cookie" 3 8 > /dev/null

# Idle for a while: what runs after a burst (idle connections closed, the
# hashing workers' memory given back, the heap trimmed).
sleep 8

# Ends the server (a clean shutdown runs its code too) and the profile.
kill -INT "$server"
wait "$server" || true
server=""

# The functions callgrind saw run, with their own instruction counts; the
# most used first (the hottest code shares pages and cache lines). Only the
# binary's own (not the C library's).
mkdir -p link
nm --defined-only "$bin" | awk '{ print $3 }' > "$work/defined.txt"
python3 - "$work/callgrind.out" "$work/defined.txt" > link/symbol-order.txt <<'EOF'
import collections, sys
defined = set(open(sys.argv[2]).read().split())
cost = collections.Counter()
current = None
skip_calls = 0
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    if line.startswith("fn="):
        current = line[3:].strip()
        cost[current] += 0
    elif line.startswith("calls="):
        skip_calls = 1  # the next line is the call's inclusive cost
    elif current and line[:1].isdigit():
        if skip_calls:
            skip_calls = 0
            continue
        parts = line.split()
        if len(parts) >= 2:
            cost[current] += int(parts[1])
for name, _ in sorted(cost.items(), key=lambda kv: (-kv[1], kv[0])):
    # Rust's and C's symbols; not valgrind's placeholders.
    if name in defined:
        print(name)
EOF
echo "link/symbol-order.txt: $(wc -l < link/symbol-order.txt) functions"
