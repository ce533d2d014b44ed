#!/usr/bin/env bash
# Keyport's gateway side by side with nginx and HAProxy, in one run, as
# ../shared/docs/benchmark.md sets out: each system under test alone on CPU 1, the load
# generator and the upstream on CPU 0; wrk -t1 -c64, 3 s warm-up + 15 s, 3 interleaved
# repetitions, median; 1 key and 100,000 random keys (a request pre-formatted per key).
#   G0  direct to the upstream U (nginx, return 200 with 200 bytes)
#   G1  nginx proxy_pass to U (keep-alive pool)
#   G2  nginx + njs: SHA-256 of X-Api-Key looked up in a map (401), limit_req per digest
#   G3  HAProxy, keep-alive, backend U
#   G4  HAProxy: SHA-256 of X-Api-Key in a map (401), stick-table per-key rate limit
#   K0  Keyport's proxy stack without Keyport (server/examples/plain_proxy.rs)
#   K1  keyport gateway on SQLite, the full check: key, scope from the API's OpenAPI
#       operation, IP allowlist, GCRA limits (key and plan), the plan's monthly quota
#       (leased from the database in blocks), a usage event per call
# The per-key limits of G2, G4 and K1 are set high (LIMIT, default 1,000,000/s) for the
# throughput runs, so one key is checked and counted, never refused. QUOTA= (empty) runs K1
# without the quota: what deciding from memory costs without a counter in the database.
# Then, with oha (cargo install oha --version 1.16.0 --locked) if installed: p99 at a fixed
# 25% of G3's one-key rate (--latency-correction, -c64) for each system; the limiters: one
# key limited to 100 requests/s offered 1,000/s for 10 s (G2, G4, K1), passes per second
# (bench/limiter.mjs). Keyport's memory is measured before them: idle, after the runs, and
# while 8 clients each download 50 MB through it.
#
#   cargo leptos build --release --split
#   cargo build --release -p server --example plain_proxy
#   bash bench/gateway.sh                # KEYS=1000 REPS=1 DURATION=5 for a quick look
#                                        # PERF=/tmp/perf: profiles of K0 and K1 with every key
# Needs the Debian packages wrk, haproxy, nginx, libnginx-mod-http-js and curl.
set -euo pipefail
for tool in wrk haproxy nginx taskset python3 node curl; do
  command -v "$tool" >/dev/null || PATH=$PATH:/usr/sbin command -v "$tool" >/dev/null ||
    { echo "needs $tool: apt-get install wrk haproxy nginx libnginx-mod-http-js" >&2; exit 1; }
done
PATH=$PATH:/usr/sbin
njs=/usr/lib/nginx/modules/ngx_http_js_module.so
[[ -f $njs ]] || { echo "needs nginx's njs module: apt-get install libnginx-mod-http-js" >&2; exit 1; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/haproxy.sh
source "$root/bench/haproxy.sh"
bin=${KEYPORT_BIN:-$root/target/release/keyport}
plain=${PLAIN_PROXY_BIN:-$root/target/release/examples/plain_proxy}
unset KEYPORT_BIN PLAIN_PROXY_BIN # Keyport reads every KEYPORT_* variable as configuration
[[ -x $bin && -x $plain ]] || { echo "build first (see the top of $0)" >&2; exit 1; }
n=${KEYS:-100000} reps=${REPS:-3} duration=${DURATION:-15} limit=${LIMIT:-1000000}
quota=${QUOTA-1000000000} # QUOTA= (empty): K1 without the plan's quota, decided from memory alone
dir=$(mktemp -d)
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
wait_for() { # url [curl options]: until it answers 2xx
  for _ in $(seq 300); do curl -fsS -o /dev/null "$@" 2>/dev/null && return 0; sleep 0.2; done
  echo "$1 did not answer" >&2
  exit 1
}
declare -A pid

# --- Upstream U on CPU 0: 200 bytes at /, 50 MB at /big ---
head -c 200 /dev/zero | tr '\0' 'x' >"$dir/body.txt"
head -c $((50 * 1024 * 1024)) /dev/zero >"$dir/big"
nginx_head() { # name: one worker in the foreground, its files in $dir, an http block begun
  cat <<EOF
worker_processes 1;
daemon off;
pid $dir/$1.pid;
error_log $dir/$1-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $dir; proxy_temp_path $dir; fastcgi_temp_path $dir;
  uwsgi_temp_path $dir; scgi_temp_path $dir;
EOF
}
{ nginx_head upstream; cat <<EOF; } >"$dir/upstream.conf"
  server {
    listen 127.0.0.1:3331;
    location = /big { alias $dir/big; }
    location / { return 200 "$(cat "$dir/body.txt")"; }
  }
}
EOF
taskset -c 0 nginx -c "$dir/upstream.conf" -e "$dir/upstream-error.log" &
pids+=($!)
wait_for http://127.0.0.1:3331/

# --- Keyport: set up through the portal, seed the keys, then `keyport gateway` on CPU 1 ---
password='bench password, not secret'
mkdir -p "$dir/kp"
kp=(env KEYPORT_LISTEN=127.0.0.1:3311 KEYPORT_DATA_DIR="$dir/kp" KEYPORT_DATABASE_URL="sqlite://$dir/kp/keyport.db"
  KEYPORT_GATEWAY_LISTEN=127.0.0.1:3337 KEYPORT_GATEWAY_ALLOW_INTERNAL_UPSTREAMS=true
  LEPTOS_SITE_ROOT="$root/target/site" LEPTOS_OUTPUT_NAME=keyport KEYPORT_LOG=warn "$bin")
"${kp[@]}" migrate >/dev/null
for role in publisher developer; do
  printf '%s\n' "$password" |
    "${kp[@]}" user create --email "$role@bench.test" --role "$role" --password-stdin >/dev/null
done
"${kp[@]}" serve >"$dir/kp/setup.log" 2>&1 &
setup_pid=$!
wait_for http://127.0.0.1:3311/readyz
ids=$(BASE=http://127.0.0.1:3311 PASSWORD=$password UPSTREAM=http://127.0.0.1:3331 METERED_RATE=$limit QUOTA=$quota \
  node "$root/bench/gateway.mjs")
kill "$setup_pid"
wait "$setup_pid" 2>/dev/null || true
echo "== seeding $n keys (scope read, allowed from 127.0.0.0/8, each limited to $limit/s)"
# shellcheck disable=SC2086 # the API's and the plans' ids
KEY_RATE=$limit IP_ALLOWLIST=127.0.0.0/8 python3 "$root/bench/seed-keys.py" "$dir/kp" "sqlite://$dir/kp/keyport.db" $ids "$n"
taskset -c 1 "${kp[@]}" gateway >"$dir/kp/gateway.log" 2>&1 &
pids+=($!)
pid[K1]=$!
head -1 "$dir/kp/keys.txt" >"$dir/one-key.txt"
wait_for http://127.0.0.1:3337/bench/ -H "X-Api-Key: $(cat "$dir/one-key.txt")"
rss() { awk '/VmRSS/ {print $2}' "/proc/${pid[K1]}/status"; } # kB
idle_rss=$(rss)

# --- nginx G1 (3332) and G2 (3333, and 3339 limited to 100/s) on CPU 1 ---
awk '{print $1, $2 ";"}' "$dir/kp/keys.map" >"$dir/keys.nginx.map"
cat >"$dir/digest.js" <<'EOF'
function sha256(r) {
  const key = r.headersIn['X-Api-Key'];
  return key ? require('crypto').createHash('sha256').update(key).digest('hex') : '';
}
export default { sha256 };
EOF
{ echo "load_module $njs;"; nginx_head proxies; cat <<EOF; } >"$dir/proxies.conf"
  js_import digest from $dir/digest.js;
  js_set \$key_digest digest.sha256;
  map_hash_max_size 1048576;
  map_hash_bucket_size 128;
  map \$key_digest \$key_app { include $dir/keys.nginx.map; default ""; }
  limit_req_zone \$key_digest zone=per_key:32m rate=${limit}r/s;
  limit_req_zone \$key_digest zone=per_key_100:32m rate=100r/s;
  limit_req_status 429;
  upstream u { server 127.0.0.1:3331; keepalive 64; }
  server {
    listen 127.0.0.1:3332;
    location / { proxy_pass http://u; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
  server {
    listen 127.0.0.1:3333;
    location / {
      if (\$key_app = "") { return 401; }
      limit_req zone=per_key burst=1000 nodelay;
      proxy_pass http://u; proxy_http_version 1.1; proxy_set_header Connection "";
    }
  }
  server {
    listen 127.0.0.1:3339;
    location / {
      if (\$key_app = "") { return 401; }
      limit_req zone=per_key_100;
      proxy_pass http://u; proxy_http_version 1.1; proxy_set_header Connection "";
    }
  }
}
EOF
taskset -c 1 nginx -c "$dir/proxies.conf" -e "$dir/proxies-error.log" &
pids+=($!)
pid[G1]=$!
pid[G2]=$!

# --- HAProxy G3 (3334), G4 (3335, and 3338 limited to 100/s) on CPU 1 ---
{
  haproxy_preamble
  printf 'frontend g3\n  bind 127.0.0.1:3334\n  default_backend upstream\n'
  haproxy_key_check g4 3335 "$dir/kp/keys.map" "$limit"
  haproxy_key_check g4_100 3338 "$dir/kp/keys.map" 100
  haproxy_upstream 3331
} >"$dir/haproxy.cfg"
taskset -c 1 haproxy -f "$dir/haproxy.cfg" -db &
pids+=($!)
pid[G3]=$!
pid[G4]=$!

# --- K0: the proxy stack without Keyport, on CPU 1 ---
taskset -c 1 "$plain" 127.0.0.1:3336 127.0.0.1:3331 &
pids+=($!)
pid[K0]=$!

declare -A url
url[G0]=http://127.0.0.1:3331/ url[G1]=http://127.0.0.1:3332/ url[G2]=http://127.0.0.1:3333/
url[G3]=http://127.0.0.1:3334/ url[G4]=http://127.0.0.1:3335/ url[K0]=http://127.0.0.1:3336/
url[K1]=http://127.0.0.1:3337/bench/
systems=(${SYSTEMS:-G0 G1 G2 G3 G4 K0 K1}) # SYSTEMS="G3 G4 K1": fewer (G3 and G4 give the ratios)
for s in "${systems[@]}"; do wait_for "${url[$s]}" -H "X-Api-Key: $(cat "$dir/one-key.txt")"; done

# --- Throughput: interleaved repetitions, one key and every key ---
load() { # system keys-file seconds
  MODE=header KEYS_FILE=$2 taskset -c 0 wrk -t1 -c64 -d"$3"s -s "$root/bench/side-by-side.lua" "${url[$1]}"
}
declare -A keyfile=([1]=$dir/one-key.txt [$n]=$dir/kp/keys.txt)
for rep in $(seq "$reps"); do
  for k in 1 "$n"; do
    for s in "${systems[@]}"; do
      load "$s" "${keyfile[$k]}" 3 >/dev/null
      if [[ -n ${PERF:-} && $rep == 1 && $s == K? && $k == "$n" ]]; then
        mkdir -p "$PERF"
        perf record -q -F "${PERF_FREQ:-499}" --call-graph "${PERF_CALLGRAPH:-fp}" -p "${pid[$s]}" -o "$PERF/$s.data" -- sleep "$duration" 2>/dev/null &
      fi
      load "$s" "${keyfile[$k]}" "$duration" >"$dir/wrk.txt"
      rps=$(awk '/Requests\/sec/ {printf "%d", $2}' "$dir/wrk.txt")
      bad=$(awk '/Non-2xx/ {print $NF}' "$dir/wrk.txt")
      errors=$(awk '/Socket errors/' "$dir/wrk.txt")
      echo "rep $rep  $k key(s)  $s: $rps requests/s, non-2xx ${bad:-0} $errors"
      echo "$rps" >>"$dir/rps-$s-$k"
    done
  done
done
median() { sort -n "$1" | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
echo
echo "| config | 1 key | × G3 | × G4 | $n random keys | × G3 | × G4 |"
echo "|---|---|---|---|---|---|---|"
for s in "${systems[@]}"; do
  row="| $s"
  for k in 1 "$n"; do
    m=$(median "$dir/rps-$s-$k")
    row+=" | $m | $(ratio "$m" "$(median "$dir/rps-G3-$k")") | $(ratio "$m" "$(median "$dir/rps-G4-$k")")"
  done
  echo "$row |"
done
after_rss=$(rss)

# --- Memory while streaming 50 MB to 8 clients at once ---
peak=0
for _ in 1 2 3; do
  clients=()
  for _ in $(seq 8); do
    taskset -c 0 curl -fsS -o /dev/null -H "X-Api-Key: $(cat "$dir/one-key.txt")" http://127.0.0.1:3337/bench/big &
    clients+=($!)
  done
  while :; do
    r=$(rss)
    (( r > peak )) && peak=$r
    alive=0
    for c in "${clients[@]}"; do kill -0 "$c" 2>/dev/null && alive=1; done
    (( alive )) || break
    sleep 0.05
  done
  wait "${clients[@]}"
done
echo
echo "Keyport gateway RSS: idle $((idle_rss / 1024)) MB, after the runs $((after_rss / 1024)) MB, peak while 8 clients each download 50 MB (3 rounds) $((peak / 1024)) MB"

# --- Latency at a fixed 25% of G3's one-key rate (oha), then the limiters ---
latency() {
  rate=$(( $(median "$dir/rps-G3-1") / 4 ))
  echo
  echo "== p99 at $rate requests/s (25% of G3), oha -c64 --latency-correction, ${duration} s, median of $reps"
  oha_json() { # url rate seconds
    taskset -c 0 oha --no-tui --output-format json -z "$3s" -c 64 -q "$2" --latency-correction \
      -H "X-Api-Key: $(cat "$dir/one-key.txt")" "$1"
  }
  for rep in $(seq "$reps"); do
    for s in "${systems[@]}"; do
      out=$(oha_json "${url[$s]}" "$rate" "$duration" |
        python3 -c 'import json, sys; r = json.load(sys.stdin); print(round(r["latencyPercentiles"]["p99"] * 1e6), r["statusCodeDistribution"])')
      echo "rep $rep  $s: p99 ${out%% *} µs, statuses ${out#* }"
      echo "${out%% *}" >>"$dir/p99-$s"
    done
  done
  base=$(median "$dir/p99-G0")
  echo
  echo "| config | p99 µs (median of $reps) | added to direct |"
  echo "|---|---|---|"
  for s in "${systems[@]}"; do
    m=$(median "$dir/p99-$s")
    echo "| $s | $m | $(( m - base )) µs |"
  done
}
if command -v oha >/dev/null; then
  latency
else
  echo "oha not installed: latency skipped (cargo install oha --version 1.16.0 --locked)"
fi

echo
echo "== limiters: one key limited to 100 requests/s, offered 1,000/s for 10 s (node bench/limiter.mjs on CPU 0)"
passed() { # url key-file
  taskset -c 0 node "$root/bench/limiter.mjs" "$1" "$(cat "$2")" 1000 10
}
echo "G2 nginx limit_req: $(passed http://127.0.0.1:3339/ "$dir/one-key.txt")"
echo "G4 HAProxy sc_http_req_rate: $(passed http://127.0.0.1:3338/ "$dir/one-key.txt")"
echo "K1 Keyport (the plan's GCRA limit): $(passed http://127.0.0.1:3337/bench/ "$dir/kp/latency-key.txt")"
