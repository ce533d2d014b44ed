#!/usr/bin/env bash
# Seeds N published APIs (each with tags and a plan) into a fresh Keyport and measures how
# long the catalog takes to render: the server-rendered page and the server function the
# browser calls on client-side navigation. Prints p50/p95/max in milliseconds.
#
#   cargo leptos build --release --split && bash bench/catalog.sh
#   N=1000 REQUESTS=300 BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/keyport_bench bash bench/catalog.sh
set -euo pipefail
# shellcheck source=bench/keyport.sh
source "$(dirname "$0")/keyport.sh" 3200
node "$root/bench/catalog.mjs"
