#!/usr/bin/env bash
# Runs every test: formatting, the Rust unit and integration tests (the
# integration tests twice: on SQLite, then on a throwaway PostgreSQL server, or
# the one GATEHOUSE_TEST_POSTGRES names), then the Playwright tests in Chromium
# against the release build. Installs what a fresh machine lacks first.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/tools.sh"
install_tools --browser
cd "$GATEHOUSE_ROOT"

started=$SECONDS
# A run from scratch gains nothing from incremental caches, which are large.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
say "cargo fmt --check"
cargo fmt --all -- --check

say "Rust tests (unit and integration, on SQLite)"
cargo test --features ssr

say "integration tests again, on PostgreSQL"
if [ -z "${GATEHOUSE_TEST_POSTGRES:-}" ]; then
  start_test_postgres
fi
cargo test --features ssr --test api --test log_hygiene
unset GATEHOUSE_TEST_POSTGRES

say "release build (cargo leptos build --release --precompress)"
cargo leptos build --release --precompress

say "browser tests (Playwright, Chromium)"
(cd end2end && npx playwright test)

say "all tests passed in $((SECONDS - started)) s"
