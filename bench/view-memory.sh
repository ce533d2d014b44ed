#!/usr/bin/env bash
# Memory of the in-memory view: the resident size of `keyport serve` on an empty database
# and on one holding N keys (default 100,000; one application and owner, each key with two
# scopes and an allowlist entry), after start-up has loaded the view.
#
#   cargo leptos build --release --split && bash bench/view-memory.sh
#   N=1000000 bash bench/view-memory.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${KEYPORT_BIN:-$root/target/release/keyport}
unset KEYPORT_BIN # Keyport reads every KEYPORT_* variable as configuration
n=${N:-100000}
dir=$(mktemp -d)
pid=
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
export KEYPORT_LISTEN=127.0.0.1:3207 KEYPORT_DATA_DIR=$dir KEYPORT_LOG=warn
export KEYPORT_DATABASE_URL=sqlite://$dir/bench.db
export LEPTOS_SITE_ROOT=$root/target/site LEPTOS_OUTPUT_NAME=keyport
"$bin" migrate
rss_after_start() {
  "$bin" serve >"$dir/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do
    curl -fsS "http://$KEYPORT_LISTEN/readyz" >/dev/null 2>&1 && break
    sleep 0.2
  done
  sleep 2
  ps -o rss= -p "$pid" | tr -d ' '
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}
empty=$(rss_after_start)
python3 - "$dir/bench.db" "$n" <<'PY'
import hashlib, os, sqlite3, sys
db, n = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db)
c.execute("INSERT INTO users (id, email, display_name, role, status, created_at, updated_at) VALUES ('u', 'owner@bench.test', 'Owner', 'developer', 'active', 0, 0)")
c.execute("INSERT INTO applications (id, owner_kind, owner_id, name, description, created_at, updated_at) VALUES ('a', 'user', 'u', 'Load', '', 0, 0)")
rows = []
for i in range(n):
    digest = hashlib.sha256(os.urandom(32)).hexdigest()
    rows.append((f"key-{i:08d}-0000-0000-000000000000", digest))
c.executemany("INSERT INTO api_keys (id, application_id, name, environment, digest, display_prefix, last4, scopes, ip_allowlist, created_at) VALUES (?, 'a', 'k', 'live', ?, 'kp_live_', 'abcd', 'orders:read orders:write', '10.0.0.0/8', 0)", rows)
c.commit()
PY
full=$(rss_after_start)
echo "RSS after start: empty $((empty / 1024)) MB, with $n keys $((full / 1024)) MB: $(( (full - empty) * 1024 / n )) bytes per key"
