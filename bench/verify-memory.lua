-- wrk script for bench/verify.sh: POST /v1/keys/verify with a key that has no use limit
-- (decided from memory alone); counts the answers that are not VALID, over all threads.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.body = '{"key": "' .. os.getenv("FREE_KEY") .. '", "api": "bench", "scope": "read"}'

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  invalid = 0 -- a global of this thread, read by done()
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"code":"VALID"', 1, true) then
    invalid = invalid + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("invalid")
  end
  io.write(string.format("not VALID: %d\n", total))
end
