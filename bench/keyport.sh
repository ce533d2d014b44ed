# Sourced by the bench scripts: starts the release Keyport on a fresh database (SQLite in a
# temp folder, or BENCH_DATABASE_URL) with a publisher and a developer, on port $1.
# Sets: root, bin, dir, password, BASE; stops the server and removes the folder on exit.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${KEYPORT_BIN:-$root/target/release/keyport}
unset KEYPORT_BIN # Keyport reads every KEYPORT_* variable as configuration
dir=$(mktemp -d)
password='bench password, not secret'
export KEYPORT_LISTEN=127.0.0.1:$1
export KEYPORT_DATA_DIR=$dir
export KEYPORT_DATABASE_URL=${BENCH_DATABASE_URL:-sqlite://$dir/bench.db}
export LEPTOS_SITE_ROOT=$root/target/site LEPTOS_OUTPUT_NAME=keyport KEYPORT_LOG=warn
"$bin" migrate
for role in publisher developer; do
  printf '%s\n' "$password" | "$bin" user create --email "$role@bench.test" --role "$role" --password-stdin >/dev/null
done
"$bin" serve >"$dir/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
  curl -fsS "http://$KEYPORT_LISTEN/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
export BASE="http://$KEYPORT_LISTEN" PASSWORD="$password"
