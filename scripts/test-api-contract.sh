#!/usr/bin/env bash
# Holds the JSON API to its OpenAPI document: starts the release build on a
# throwaway SQLite database (mail into files, so the mail routes exist), sets
# up an admin, signs in both ways the document describes (a bearer token and
# the session cookie), then
#   - checks that the TypeScript client's types match the served document, and
#   - runs schemathesis with every check: no server error, no undocumented
#     status, header or body, no schema-valid request refused, no
#     schema-violating request accepted.
#
#   scripts/test-api-contract.sh     (after cargo leptos build --release)
#
# SCHEMATHESIS_EXAMPLES (default 40) bounds the cases per operation; the seed
# is fixed, so a run repeats the last one (SCHEMATHESIS_SEED picks another).
# SCHEMATHESIS_ARGS adds options, e.g. "--report ndjson --report-dir /tmp/st"
# to keep every request and answer.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/tools.sh"
cd "$GATEHOUSE_ROOT"

# Prints the ERROR records of a JSON log (GATEHOUSE_LOG_FORMAT=json, one
# object per line); fails when a line is not such a record, so a log in
# another format can never pass for one without errors.
log_errors() {
  python3 - "$1" <<'PY'
import json, sys
bad = 0
for n, line in enumerate(open(sys.argv[1], encoding="utf-8", errors="replace"), 1):
    if not line.strip():
        continue
    try:
        record = json.loads(line)
        level = record["level"]
    except (ValueError, KeyError, TypeError):
        print(f"line {n} is not a JSON log record: {line[:200]!r}", file=sys.stderr)
        bad += 1
        continue
    if level == "ERROR":
        print(line.rstrip())
sys.exit(1 if bad else 0)
PY
}

root="$(mktemp -d /tmp/gatehouse-contract.XXXXXX)"
server=""
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$root"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# localhost, not 127.0.0.1: passkeys need a host name.
base="http://localhost:$port"
mkdir -p "$root/mail"

# The limits that would otherwise turn thousands of generated logins and
# signups from one address into 429s are raised: they have tests of their own.
env \
  LEPTOS_SITE_ADDR="127.0.0.1:$port" \
  LEPTOS_SITE_ROOT=target/site \
  DATABASE_URL="sqlite://$root/contract.db?mode=rwc" \
  GATEHOUSE_PUBLIC_URL="$base" \
  GATEHOUSE_SMTP_URL="file://$root/mail" \
  GATEHOUSE_SIGNUP=open \
  GATEHOUSE_LOGIN_ATTEMPTS=1000000 \
  GATEHOUSE_LOCKOUT_THRESHOLD=1000000 \
  GATEHOUSE_SIGNUP_LIMIT=1000000 \
  GATEHOUSE_LOG_FORMAT=json \
  RUST_LOG=warn \
  target/release/gatehouse serve > "$root/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do
  curl -fs -o /dev/null "$base/health" && break
  sleep 0.1
done
curl -fs -o /dev/null "$base/health" || { cat "$root/server.log" >&2; echo "the server did not start" >&2; exit 1; }

# The check below must be able to fire: a planted error record is found, and
# a log line that is not JSON is not taken for a clean log.
printf '%s\n' '{"timestamp":"t","level":"INFO","fields":{"message":"fine"}}' \
  '{"timestamp":"t","level":"ERROR","fields":{"message":"planted"}}' > "$root/planted.log"
log_errors "$root/planted.log" | grep -q planted || { echo "the error check missed a planted error" >&2; exit 1; }
printf '%s\n' '2026-01-01T00:00:00Z ERROR planted' > "$root/plain.log"
if log_errors "$root/plain.log" >/dev/null 2>&1; then echo "the error check read a non-JSON log as clean" >&2; exit 1; fi

say "API contract: setting up an admin and signing in (session cookie and bearer token)"
password="a contract test passphrase"
curl -fs -o /dev/null -c "$root/cookies" -H 'Content-Type: application/json' \
  -d "{\"username\":\"contractadmin\",\"password\":\"$password\"}" "$base/api/v1/auth/setup"
session="$(awk '$6 == "gatehouse_session" { print $7 }' "$root/cookies")"
bearer="$(curl -fs -H 'Content-Type: application/json' \
  -d "{\"username\":\"contractadmin\",\"password\":\"$password\"}" "$base/api/v1/auth/token" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')"
[ -n "$session" ] && [ -n "$bearer" ] || { echo "could not sign in" >&2; exit 1; }

curl -fs "$base/api/v1/openapi.json" > "$root/openapi.json"
say "API contract: the TypeScript client's types against the served document"
node clients/typescript/scripts/check-types.mjs "$root/openapi.json"

say "API contract: schemathesis run --checks all"
export GATEHOUSE_CONTRACT_BEARER="$bearer" GATEHOUSE_CONTRACT_SESSION="$session"
status=0
# One worker: with two, hypothesis sometimes parses source in two threads at
# once, which Python 3.11's ast module cannot take ("AST constructor recursion
# depth mismatch").
schemathesis --config-file scripts/schemathesis.toml --no-color run "$base/api/v1/openapi.json" \
  --checks all \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-40}" \
  --seed "${SCHEMATHESIS_SEED:-20261202}" \
  --generation-database none \
  --workers 1 \
  ${SCHEMATHESIS_ARGS:-} \
  || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log (warnings and errors) ---" >&2
  tail -n 50 "$root/server.log" >&2
  exit "$status"
fi
if ! log_errors "$root/server.log" > "$root/errors.log"; then
  echo "the server's log could not be read as JSON lines:" >&2
  head -n 5 "$root/server.log" >&2
  exit 1
fi
if [ -s "$root/errors.log" ]; then
  echo "the server logged errors during the run:" >&2
  head -n 20 "$root/errors.log" >&2
  exit 1
fi
say "API contract holds"
