-- wrk script for bench/auth.py: Kubernetes login and API-key verify.
--
-- BENCH_MODE:
--   login   POST {"role": BENCH_ROLE, "jwt": …} with no Vault token, cycling through the JWTs
--           of BENCH_TOKENS_FILE (thread k of n starts at line k and steps by n).
--   verify  PUT {"key": …} with the key from BENCH_KEY and the token from BENCH_TOKEN.
--   get     GET the URL with the token from BENCH_TOKEN (lookup-self, apikey/creds/<role>).
-- Secrets come from the environment or a file, never a command line `ps` can show.
-- done() prints one BENCH_JSON line (microseconds) and the first non-2xx answer as BENCH_ERR.

local mode = os.getenv("BENCH_MODE") or "get"
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
local threads = {}
local next_tid = 0

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

local bodies = {}
local cursor = 0
first_error = ""

function init(args)
  wrk.headers["Content-Type"] = "application/json"
  if mode == "login" then
    wrk.method = "POST"
    local role = os.getenv("BENCH_ROLE") or "app"
    local n = 0
    for line in io.lines(os.getenv("BENCH_TOKENS_FILE")) do
      if line ~= "" and n % nthreads == tid then
        table.insert(bodies, '{"role":"' .. role .. '","jwt":"' .. line .. '"}')
      end
      n = n + 1
    end
    if #bodies == 0 then error("no tokens for thread " .. tid) end
  else
    wrk.headers["X-Vault-Token"] = os.getenv("BENCH_TOKEN")
    if mode == "verify" then
      wrk.method = "PUT"
      wrk.body = '{"key":"' .. os.getenv("BENCH_KEY") .. '"}'
    else
      wrk.method = "GET"
    end
  end
end

function request()
  if mode == "login" then
    cursor = cursor + 1
    return wrk.format(nil, nil, nil, bodies[((cursor - 1) % #bodies) + 1])
  end
  return wrk.format()
end

function response(status, headers, body)
  if status >= 300 and first_error == "" then
    first_error = status .. " " .. string.sub(body or "", 1, 300)
  end
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    local first = thread:get("first_error") or ""
    if first ~= "" then
      io.write("BENCH_ERR ", (string.gsub(first, "\n", " ")), "\n")
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d,' ..
    '"mean_us":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
