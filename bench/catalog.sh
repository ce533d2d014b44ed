#!/usr/bin/env bash
# Seeds N published APIs (each with tags and a plan) into a fresh Keyport and measures how
# long the catalog takes to render: the server-rendered page and the server function the
# browser calls on client-side navigation. Prints p50/p95/max in milliseconds.
#
#   cargo leptos build --release && bash bench/catalog.sh
#   N=1000 REQUESTS=300 BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/keyport_bench bash bench/catalog.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${KEYPORT_BIN:-$root/target/release/keyport}
dir=$(mktemp -d)
password='bench password, not secret'
export KEYPORT_LISTEN=127.0.0.1:3200
export KEYPORT_DATA_DIR=$dir
export KEYPORT_DATABASE_URL=${BENCH_DATABASE_URL:-sqlite://$dir/bench.db}
export LEPTOS_SITE_ROOT=$root/target/site LEPTOS_OUTPUT_NAME=keyport KEYPORT_LOG=warn
"$bin" migrate
printf '%s\n' "$password" | "$bin" user create --email publisher@bench.test --role publisher --password-stdin >/dev/null
printf '%s\n' "$password" | "$bin" user create --email developer@bench.test --role developer --password-stdin >/dev/null
"$bin" serve >"$dir/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
  curl -fsS "http://$KEYPORT_LISTEN/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
BASE="http://$KEYPORT_LISTEN" PASSWORD="$password" node "$root/bench/catalog.mjs"
