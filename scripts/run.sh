#!/usr/bin/env bash
# Builds the release site and serves Gatehouse on the embedded SQLite default
# (gatehouse.db in the project root) at http://127.0.0.1:3000.
# Configuration comes from the environment or a .env file (see README).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/tools.sh"
install_tools
cd "$GATEHOUSE_ROOT"

say "building (cargo leptos build --release --precompress)"
cargo leptos build --release --precompress

say "serving on http://${LEPTOS_SITE_ADDR:-127.0.0.1:3000}"
export LEPTOS_SITE_ROOT="${LEPTOS_SITE_ROOT:-target/site}"
exec target/release/gatehouse "$@"
