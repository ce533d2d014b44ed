#!/usr/bin/env bash
# Seeds EVENTS usage events (default 10,000,000) over DAYS days for KEYS keys into a fresh
# Keyport (SQLite in a temp folder, or BENCH_DATABASE_URL), reports how long seeding took
# and the database's size per million events, then times the developer's usage report
# (the server function each chart and table comes from), the admin's platform usage and
# the server-rendered pages.
#
#   cargo leptos build --release --split && bash bench/usage.sh
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/keyport_usage bash bench/usage.sh
#   EVENTS=1000000 REQUESTS=100 bash bench/usage.sh
set -euo pipefail
EVENTS=${EVENTS:-10000000} KEYS=${KEYS:-1000} DAYS=${DAYS:-30}
if [[ -n "${BENCH_DATABASE_URL:-}" ]]; then
  # A fresh database each run.
  admin_url=${BENCH_DATABASE_URL%/*}/postgres
  name=${BENCH_DATABASE_URL##*/}
  psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
fi
# shellcheck source=bench/keyport.sh
source "$(dirname "$0")/keyport.sh" 3300
printf '%s\n' "$password" | "$bin" user create --email admin@bench.test --role admin --password-stdin >/dev/null
start=$(date +%s.%N)
"$bin" dev seed-usage --events "$EVENTS" --keys "$KEYS" --days "$DAYS" --owner developer@bench.test 2>/dev/null
seconds=$(echo "$(date +%s.%N) - $start" | bc)
if [[ -n "${BENCH_DATABASE_URL:-}" ]]; then
  psql -q "$BENCH_DATABASE_URL" -c "VACUUM ANALYZE" >/dev/null
  bytes=$(psql -tA "$BENCH_DATABASE_URL" -c "SELECT pg_database_size(current_database())")
else
  sqlite3 "$dir/bench.db" "PRAGMA wal_checkpoint(TRUNCATE); ANALYZE;" >/dev/null 2>&1 || true
  bytes=$(stat -c %s "$dir/bench.db")
fi
printf 'seeding: %.0f s; database %.0f MB, %.1f MB per million events\n' "$seconds" \
  "$(echo "$bytes / 1048576" | bc -l)" "$(echo "$bytes / 1048576 / ($EVENTS / 1000000)" | bc -l)"
node "$root/bench/usage.mjs"
