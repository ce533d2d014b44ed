#!/usr/bin/env bash
# Keyport's verify API side by side with HAProxy doing a key check and a per-key limit, in
# one run, as ../shared/docs/benchmark.md sets out: each system under test alone on CPU 1,
# the load generator, the upstream and a local PostgreSQL server on CPU 0; 100,000 random
# keys; wrk -t1 -c64, 3 s warm-up + 15 s, 3 interleaved repetitions, median.
#   G4           HAProxy: SHA-256 of X-Api-Key looked up in a map (401 when absent), per-key
#                stick-table rate limit (100/s), proxying to an nginx upstream
#   sqlite       Keyport POST /v1/keys/verify on SQLite: checksum, view, key limit 10/s,
#                plan limit 1,000/s per subscription (1,000 applications), usage recorded
#   postgres     the same on PostgreSQL
#   plain axum   a fixed answer after reading the body, same runtime (server/examples)
# Then, with oha (cargo install oha --version 1.16.0 --locked) if it is installed: p99 at a
# fixed 25% of G4's rate, with --latency-correction, Keyport against the plain handler.
# Afterwards each Keyport's usage rollups must hold only VALID answers; the script prints
# how many events the usage writer dropped (it drops rather than slow a request).
#
#   cargo leptos build --release --split
#   cargo build --release -p server --example plain_verify
#   bash bench/side-by-side.sh            # KEYS=1 REPS=1 DURATION=5 for a quick look
#   PERF=/tmp/perf bash bench/side-by-side.sh   # also call-stack samples of each system
#                                         # in its first run (perf report -i /tmp/perf/sqlite.data)
# Needs the Debian packages wrk, haproxy, nginx, postgresql-client and a PostgreSQL server
# (BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432; a database
# keyport_side_by_side is created and dropped).
set -euo pipefail
for tool in wrk haproxy nginx taskset psql python3 node curl; do
  command -v "$tool" >/dev/null || PATH=$PATH:/usr/sbin command -v "$tool" >/dev/null ||
    { echo "needs $tool: apt-get install wrk haproxy nginx postgresql-client" >&2; exit 1; }
done
PATH=$PATH:/usr/sbin
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/haproxy.sh
source "$root/bench/haproxy.sh"
bin=${KEYPORT_BIN:-$root/target/release/keyport}
plain=$root/target/release/examples/plain_verify
unset KEYPORT_BIN # Keyport reads every KEYPORT_* variable as configuration
[[ -x $bin && -x $plain ]] || { echo "build first (see the top of $0)" >&2; exit 1; }
n=${KEYS:-100000} reps=${REPS:-3} duration=${DURATION:-15}
pg_server=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}
pg_url=$pg_server/keyport_side_by_side
dir=$(mktemp -d)
pids=()
pinned_pg=()
cleanup() {
  for entry in "${pinned_pg[@]}"; do taskset -a -p "${entry#*:}" "${entry%%:*}" >/dev/null 2>&1 || true; done
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  psql -q "$pg_server/postgres" -c "DROP DATABASE IF EXISTS keyport_side_by_side" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
wait_for() { # url [curl options]: until it answers 2xx
  for _ in $(seq 300); do curl -fsS -o /dev/null "$@" 2>/dev/null && return 0; sleep 0.2; done
  echo "$1 did not answer" >&2
  exit 1
}

# --- Upstream U (CPU 0) and HAProxy G4 (CPU 1), configured as in benchmark.md ---
head -c 200 /dev/zero | tr '\0' 'x' >"$dir/body.txt"
cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $dir; proxy_temp_path $dir; fastcgi_temp_path $dir;
  uwsgi_temp_path $dir; scgi_temp_path $dir;
  server { listen 127.0.0.1:3231; location / { return 200 "$(cat "$dir/body.txt")"; } }
}
EOF
taskset -c 0 nginx -c "$dir/nginx.conf" -e "$dir/nginx-error.log" &
pids+=($!)

# --- Keyport: set up through the portal, seed the keys, start again pinned to CPU 1 ---
password='bench password, not secret'
setup_keyport() { # name port database-url
  local name=$1 port=$2 url=$3
  mkdir -p "$dir/$name"
  local kp=(env KEYPORT_LISTEN="127.0.0.1:$port" KEYPORT_DATA_DIR="$dir/$name" KEYPORT_DATABASE_URL="$url"
    LEPTOS_SITE_ROOT="$root/target/site" LEPTOS_OUTPUT_NAME=keyport KEYPORT_LOG=warn "$bin")
  "${kp[@]}" migrate >/dev/null
  for role in publisher developer; do
    printf '%s\n' "$password" |
      "${kp[@]}" user create --email "$role@bench.test" --role "$role" --password-stdin >/dev/null
  done
  "${kp[@]}" service-token create --name bench >"$dir/$name/token"
  "${kp[@]}" serve >"$dir/$name/setup.log" 2>&1 &
  local setup_pid=$!
  wait_for "http://127.0.0.1:$port/readyz"
  local ids
  ids=$(BASE=http://127.0.0.1:$port PASSWORD=$password node "$root/bench/side-by-side.mjs")
  kill "$setup_pid"
  wait "$setup_pid" 2>/dev/null || true
  # shellcheck disable=SC2086 # the API's and the plans' ids
  python3 "$root/bench/seed-keys.py" "$dir/$name" "$url" $ids "$n"
  taskset -c 1 "${kp[@]}" serve >"$dir/$name/server.log" 2>&1 &
  pids+=($!)
  pid[$name]=$!
  wait_for "http://127.0.0.1:$port/readyz"
}
# A local PostgreSQL server goes to CPU 0 with the load generator for the run (its
# processes' affinity is put back afterwards): the system under test is alone on CPU 1.
if [[ $pg_server == *@127.0.0.1* || $pg_server == *@localhost* ]]; then
  for p in $(pgrep -x postgres || true); do
    mask=$(taskset -p "$p" 2>/dev/null | awk '{print $NF}') || continue
    taskset -a -p 1 "$p" >/dev/null 2>&1 && pinned_pg+=("$p:$mask")
  done
  echo "== PostgreSQL's ${#pinned_pg[@]} processes on CPU 0 for the run"
fi
declare -A pid
echo "== seeding $n keys into each Keyport (SQLite, PostgreSQL)"
setup_keyport sqlite 3211 "sqlite://$dir/sqlite/keyport.db"
psql -q "$pg_server/postgres" -c "DROP DATABASE IF EXISTS keyport_side_by_side" -c "CREATE DATABASE keyport_side_by_side"
setup_keyport postgres 3212 "$pg_url"

{
  haproxy_preamble
  haproxy_key_check g4 3221 "$dir/sqlite/keys.map" 100
  haproxy_upstream 3231
} >"$dir/haproxy.cfg"
taskset -c 1 haproxy -f "$dir/haproxy.cfg" -db &
pids+=($!)
pid[G4]=$!
taskset -c 1 "$plain" 127.0.0.1:3213 &
pids+=($!)
pid[plain]=$!
wait_for http://127.0.0.1:3231/
wait_for http://127.0.0.1:3221/ -H "X-Api-Key: $(head -1 "$dir/sqlite/keys.txt")"
wait_for http://127.0.0.1:3213/v1/keys/verify -d '{}'

# --- Throughput: interleaved repetitions ---
declare -A url mode keys token
url[G4]=http://127.0.0.1:3221/ mode[G4]=header keys[G4]=$dir/sqlite/keys.txt token[G4]=
for name in sqlite postgres plain; do mode[$name]=verify; done
url[sqlite]=http://127.0.0.1:3211/v1/keys/verify keys[sqlite]=$dir/sqlite/keys.txt token[sqlite]=$(cat "$dir/sqlite/token")
url[postgres]=http://127.0.0.1:3212/v1/keys/verify keys[postgres]=$dir/postgres/keys.txt token[postgres]=$(cat "$dir/postgres/token")
url[plain]=http://127.0.0.1:3213/v1/keys/verify keys[plain]=$dir/sqlite/keys.txt token[plain]=x
systems=(G4 sqlite postgres plain)
declare -A sent
load() { # system seconds
  MODE=${mode[$1]} KEYS_FILE=${keys[$1]} TOKEN=${token[$1]} \
    taskset -c 0 wrk -t1 -c64 -d"$2"s -s "$root/bench/side-by-side.lua" "${url[$1]}"
}
count() { awk '/requests in/ {print $1}' "$1"; }
# CPU time (user + system, all threads, clock ticks) a system's process has used so far:
# per request it is steadier than requests/s on a machine whose neighbours steal time.
cpu() { awk '{print $14 + $15}' "/proc/${pid[$1]}/stat"; }
hz=$(getconf CLK_TCK)
for rep in $(seq "$reps"); do
  for s in "${systems[@]}"; do
    load "$s" 3 >"$dir/warm-$s-$rep.txt"
    before=$(cpu "$s")
    if [[ -n ${PERF:-} && $rep == 1 && $s != plain ]]; then
      mkdir -p "$PERF"
      perf record -q -F 499 --call-graph dwarf,16384 -p "${pid[$s]}" -o "$PERF/$s.data" -- sleep "$duration" 2>/dev/null &
      perf_pid=$!
    fi
    load "$s" "$duration" >"$dir/wrk-$s-$rep.txt"
    if [[ -n ${perf_pid:-} ]]; then wait "$perf_pid" || true; perf_pid=; fi
    used=$(( $(cpu "$s") - before ))
    awk -v t="$used" -v hz="$hz" -v n="$(count "$dir/wrk-$s-$rep.txt")" \
      'BEGIN {printf "%.1f\n", 1e6 * t / hz / n}' >>"$dir/cpu-$s"
    sent[$s]=$(( ${sent[$s]:-0} + $(count "$dir/warm-$s-$rep.txt") + $(count "$dir/wrk-$s-$rep.txt") ))
    rps=$(awk '/Requests\/sec/ {printf "%d", $2}' "$dir/wrk-$s-$rep.txt")
    bad=$(awk '/Non-2xx/ {print $NF}' "$dir/wrk-$s-$rep.txt")
    errors=$(awk '/Socket errors/' "$dir/wrk-$s-$rep.txt")
    echo "rep $rep  $s: $rps requests/s, $(tail -1 "$dir/cpu-$s") µs CPU per request, non-2xx ${bad:-0} $errors"
    echo "$rps" >>"$dir/rps-$s"
  done
done
median() { sort -n "$1" | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
g4=$(median "$dir/rps-G4")
echo
g4_cpu=$(median "$dir/cpu-G4")
echo "| system | requests/s (median of $reps) | × G4 | µs CPU per request (median) | G4's ÷ this |"
echo "|---|---|---|---|---|"
for s in "${systems[@]}"; do
  m=$(median "$dir/rps-$s")
  c=$(median "$dir/cpu-$s")
  echo "| $s | $m | $(awk -v a="$m" -v b="$g4" 'BEGIN {printf "%.2f", a / b}') | $c | $(awk -v a="$c" -v b="$g4_cpu" 'BEGIN {printf "%.2f", b / a}') |"
done

# --- Every request recorded, each one VALID ---
recorded() { # name → "code requests" lines from usage_minutes
  local sql=${SQL:-"SELECT code, SUM(requests) FROM usage_minutes GROUP BY code ORDER BY code"}
  if [[ $1 == sqlite ]]; then
    python3 -c "import sqlite3, sys; [print(*r) for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2])]" \
      "$dir/sqlite/keyport.db" "$sql"
  else
    psql -qAt -F ' ' "$pg_url" -c "$sql"
  fi
}
echo
for s in sqlite postgres; do
  # The writer stores its sums every 10 s, every minute while it holds more than 10,000
  # rows (100,000 keys do): wait until every counted request is in, at most 75 s.
  for _ in $(seq 75); do
    valid=$(recorded "$s" | awk '$1 == "VALID" {print $2}')
    (( ${valid:-0} >= sent[$s] )) && break
    sleep 1
  done
  lines=$(recorded "$s")
  echo "$s usage rollups: $(echo "$lines" | tr '\n' ' ')for ${sent[$s]} requests counted by wrk (+ up to 64 in flight per run)"
  valid=$(echo "$lines" | awk '$1 == "VALID" {print $2}')
  other=$(echo "$lines" | awk '$1 != "VALID" {s += $2} END {print s + 0}')
  if (( other > 0 || valid > sent[$s] + 64 * 2 * reps )); then
    echo "$s: some answers were not VALID" >&2
    exit 1
  fi
  # At saturation the writer shares the one core with the requests; what it cannot store
  # in time is dropped and counted, never waited for.
  echo "$s: $(( sent[$s] - valid > 0 ? sent[$s] - valid : 0 )) events dropped ($(awk -v v="$valid" -v s="${sent[$s]}" 'BEGIN {printf "%.1f", (s > v) ? 100 * (s - v) / s : 0}')%)"
  # A writer that falls behind keeps the counts and skips raw events.
  raw=$(SQL="SELECT 'raw', COUNT(*) FROM usage_events" recorded "$s" | awk '{print $2}')
  echo "$s: $raw raw events stored ($(awk -v r="$raw" -v v="$valid" 'BEGIN {printf "%.1f", v ? 100 * r / v : 0}')% of the counted)"
done

# --- Latency at a fixed 25% of G4's rate (oha, corrected for coordinated omission) ---
if ! command -v oha >/dev/null; then
  echo "oha not installed: latency skipped (cargo install oha --version 1.16.0 --locked)"
  exit 0
fi
rate=$(( g4 / 4 ))
echo
echo "== p99 at $rate requests/s (25% of G4), oha -c64 --latency-correction, ${duration} s, median of $reps"
p99() { # system → p99 in µs
  local key body
  key=$(cat "$dir/${2:-sqlite}/latency-key.txt")
  body="{\"key\":\"$key\",\"api\":\"bench\",\"scope\":\"read\"}"
  taskset -c 0 oha --no-tui --output-format json -z "${duration}s" -c 64 -q "$rate" --latency-correction -m POST \
    -H "Authorization: Bearer ${token[$1]}" -H "Content-Type: application/json" -d "$body" "${url[$1]}" |
    python3 -c 'import json, sys; r = json.load(sys.stdin); print(round(r["latencyPercentiles"]["p99"] * 1e6), r["statusCodeDistribution"])'
}
for rep in $(seq "$reps"); do
  for s in plain sqlite postgres; do
    out=$(p99 "$s" "$([[ $s == postgres ]] && echo postgres || echo sqlite)")
    echo "rep $rep  $s: p99 ${out%% *} µs, statuses ${out#* }"
    echo "${out%% *}" >>"$dir/p99-$s"
  done
done
base=$(median "$dir/p99-plain")
echo
echo "| system | p99 µs (median of $reps) | added to the plain handler |"
echo "|---|---|---|"
for s in plain sqlite postgres; do
  m=$(median "$dir/p99-$s")
  echo "| $s | $m | $(( m - base )) µs |"
done
