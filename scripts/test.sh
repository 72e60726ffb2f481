#!/usr/bin/env bash
# Runs every test: formatting and lints (rustfmt, clippy on both features with
# warnings as errors, hadolint on the Dockerfile),
# the TypeScript client's tests, the Rust unit and integration tests (the
# integration tests twice: on SQLite, then on a throwaway PostgreSQL server, or
# the one GATEHOUSE_TEST_POSTGRES names), then against the release build: the
# Docker image's runtime layout, the API's contract (schemathesis against the
# OpenAPI document), forward authentication through Caddy and Traefik, and the
# Playwright tests in Chromium (with nginx in front of an app). Installs what a
# fresh machine lacks first.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/tools.sh"
install_tools --browser
cd "$GATEHOUSE_ROOT"

started=$SECONDS
step_started=$SECONDS
timings=()
step() {
  if [ "${#timings[@]}" -gt 0 ] || [ -n "${current_step:-}" ]; then
    timings+=("$(printf '%5ss  %s' "$((SECONDS - step_started))" "$current_step")")
  fi
  current_step="$1"
  step_started=$SECONDS
  say "$1"
}

# A run from scratch gains nothing from incremental caches, which are large.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (ssr and hydrate, every target; a warning fails)"
cargo clippy --features ssr --all-targets -- -D warnings
cargo clippy --features hydrate --all-targets -- -D warnings

step "hadolint Dockerfile"
hadolint Dockerfile

step "TypeScript client tests (node --test)"
(cd clients/typescript && npm test --silent)

# Each pass names its engine (a PostgreSQL server in the environment never
# turns the SQLite pass into a second PostgreSQL one) and skips the tests
# written for the other engine, which would fail there (tests/api/common).
step "Rust tests (unit and integration, on SQLite)"
GATEHOUSE_TEST_ENGINE=sqlite cargo test --features ssr -- --skip postgres_only_

step "integration tests again, on PostgreSQL"
if [ -z "${GATEHOUSE_TEST_POSTGRES:-}" ]; then
  start_test_postgres
fi
GATEHOUSE_TEST_ENGINE=postgres cargo test --features ssr --test api --test log_hygiene -- --skip sqlite_only_

step "release build (cargo leptos build --release --precompress)"
cargo leptos build --release --precompress

step "the Docker image's runtime layout, outside Docker"
scripts/test-image-layout.sh

step "the API against its OpenAPI document (schemathesis)"
scripts/test-api-contract.sh

step "forward authentication through Caddy and Traefik"
scripts/test-forward-proxies.py

step "browser tests (Playwright, Chromium; nginx in front of an app for forward authentication)"
(cd end2end && npx playwright test)

step "done"
printf '%s\n' "${timings[@]}"
say "all tests passed in $((SECONDS - started)) s"
