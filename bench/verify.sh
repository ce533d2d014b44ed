#!/usr/bin/env bash
# Verify API throughput and latency: seeds a published API, a subscribed application and a
# key with 10^9 uses (so every request takes the atomic use-count path), then loads
# POST /v1/keys/verify with wrk (Debian package `wrk`) and GET /v1/auth_request, checks that
# every request was VALID (the uses left drop by exactly the number of requests); then a key
# without a use limit (decided from memory alone; every answer checked VALID), and times
# revoke-to-refusal.
#
#   cargo leptos build --release --split && bash bench/verify.sh
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/keyport_bench bash bench/verify.sh
#   DURATION=30s CONNECTIONS=64 bash bench/verify.sh
set -euo pipefail
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 1; }
# Benchmark users have no second factor; let them issue keys without step-up.
export KEYPORT_STEP_UP_REQUIRES_MFA=false
# shellcheck source=bench/keyport.sh
source "$(dirname "$0")/keyport.sh" 3201
TOKEN=$("$bin" service-token create --name bench)
export TOKEN
KEYS=$(node "$root/bench/verify.mjs" seed)
KEY=$(echo "$KEYS" | sed -n 1p)
FREE_KEY=$(echo "$KEYS" | sed -n 2p)
export KEY FREE_KEY
duration=${DURATION:-15s} connections=${CONNECTIONS:-32}
echo "== POST /v1/keys/verify (wrk, 2 threads, $connections connections, $duration)"
wrk -t2 -c"$connections" -d"$duration" --latency -s "$root/bench/verify.lua" "$BASE/v1/keys/verify" | tee "$dir/wrk-verify.txt"
echo "== GET /v1/auth_request (wrk, 2 threads, $connections connections, $duration)"
wrk -t2 -c"$connections" -d"$duration" --latency \
  -H "X-Keyport-Token: $TOKEN" -H "X-Api-Key: $KEY" -H "X-Original-URI: /bench/items" \
  "$BASE/v1/auth_request" | tee "$dir/wrk-auth.txt"
echo "== POST /v1/keys/verify, a key without a use limit: decided from memory (wrk, 2 threads, $connections connections, $duration)"
wrk -t2 -c"$connections" -d"$duration" --latency -s "$root/bench/verify-memory.lua" "$BASE/v1/keys/verify" | tee "$dir/wrk-memory.txt"
if ! grep -q "^not VALID: 0$" "$dir/wrk-memory.txt"; then
  echo "some verifications of the unlimited key were not VALID" >&2
  exit 1
fi
requests=$(( $(awk '/requests in/ {print $1}' "$dir/wrk-verify.txt") + $(awk '/requests in/ {print $1}' "$dir/wrk-auth.txt") ))
non2xx=$(cat "$dir"/wrk-verify.txt "$dir"/wrk-auth.txt | awk '/Non-2xx/ {s += $NF} END {print s + 0}')
node "$root/bench/verify.mjs" check "$requests" "$non2xx" $((2 * connections))
