# Sourced by bench/gateway.sh and bench/side-by-side.sh: HAProxy's configuration as
# ../shared/docs/benchmark.md gives it (one thread), in pieces each script puts together.

# haproxy_preamble: the global and default sections.
haproxy_preamble() {
  cat <<EOF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
EOF
}

# haproxy_key_check NAME PORT MAP LIMIT: G4, a frontend on 127.0.0.1:PORT that looks the
# SHA-256 of X-Api-Key up in MAP (401 when absent) and limits each key to LIMIT requests
# per second in a stick-table (429 above), with its table.
haproxy_key_check() {
  cat <<EOF
frontend $1
  bind 127.0.0.1:$2
  http-request set-var(txn.c) req.hdr(x-api-key),sha2(256),hex,lower,map_str($3)
  http-request deny deny_status 401 unless { var(txn.c) -m found }
  http-request track-sc0 var(txn.c) table $1_keys
  http-request deny deny_status 429 if { sc_http_req_rate(0) gt $4 }
  default_backend upstream
backend $1_keys
  stick-table type string len 64 size 1m expire 60s store http_req_rate(1s)
EOF
}

# haproxy_upstream PORT: the backend every frontend forwards to, on 127.0.0.1:PORT.
haproxy_upstream() {
  cat <<EOF
backend upstream
  http-reuse always
  server u 127.0.0.1:$1
EOF
}
