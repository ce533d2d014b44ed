-- wrk script for bench/verify.sh: POST /v1/keys/verify with the key and token from the environment.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.body = '{"key": "' .. os.getenv("KEY") .. '", "api": "bench", "scope": "read"}'
