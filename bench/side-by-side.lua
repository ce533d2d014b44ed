-- wrk script for bench/side-by-side.sh: one request pre-formatted per key of KEYS_FILE, a
-- random one per request, so one key and 100,000 cost the load generator the same.
-- MODE=verify: POST /v1/keys/verify (Keyport's verify API, with TOKEN); MODE=header: GET of
-- the URL's path with X-Api-Key (a proxy doing the key check; bench/gateway.sh too).
local requests = {}

function init(args)
  local mode = os.getenv("MODE")
  for key in io.lines(os.getenv("KEYS_FILE")) do
    if mode == "verify" then
      requests[#requests + 1] = wrk.format("POST", "/v1/keys/verify", {
        ["Content-Type"] = "application/json",
        ["Authorization"] = "Bearer " .. os.getenv("TOKEN"),
      }, '{"key":"' .. key .. '","api":"bench","scope":"read"}')
    else
      requests[#requests + 1] = wrk.format("GET", nil, { ["X-Api-Key"] = key }) -- the URL's path
    end
  end
  math.randomseed(os.time() + tonumber(tostring(requests):sub(-8), 16))
end

function request()
  return requests[math.random(#requests)]
end
