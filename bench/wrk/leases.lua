-- wrk script for the lease benchmark (bench/leases.py): issue, renew and revoke.
--
-- Mode comes from BENCH_MODE:
--   issue   GET the URL (database/creds/<role>); every lease_id that comes back is appended to
--           BENCH_IDS_DIR/ids-<thread>.txt, so the same leases can be renewed and revoked later.
--   renew   PUT the URL (sys/leases/renew) with {"lease_id": …}, walking the ids of
--   revoke  BENCH_IDS_FILE; thread k of n takes lines k, k+n, k+2n, … so no two threads send
--           the same id. Renew starts over when it reaches the end (renewing again is fine).
--           A revoke needs a live lease: a revoke thread stops once it has as many answers as
--           ids, and drops a file BENCH_DONE_DIR/done-<thread> so that leases.py can end wrk
--           (SIGINT) when every thread is done; wrk's duration is then the real one. Requests
--           sent after a thread ran out of ids (at most one per connection, at the very end)
--           are counted in "overrun": they revoke a lease that is already gone.
-- The token comes from BENCH_TOKEN so it never lands on a command line `ps` can show.
-- done() prints one BENCH_JSON line; latencies are in microseconds, as wrk records them.

local token = os.getenv("BENCH_TOKEN")
if token == nil or token == "" then
  error("BENCH_TOKEN is not set")
end
local mode = os.getenv("BENCH_MODE") or "issue"
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")

local threads = {}
local next_tid = 0

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

local ids = {}
local cursor = 0
local out = nil
overrun = 0

function init(args)
  wrk.headers["X-Vault-Token"] = token
  if mode == "issue" then
    wrk.method = "GET"
    out = assert(io.open(os.getenv("BENCH_IDS_DIR") .. "/ids-" .. tid .. ".txt", "a"))
    -- Line-buffered: wrk exits without closing Lua files, and a lost tail would lose leases
    -- that then never get revoked by the renew/revoke runs (cleanup still drops the roles).
    out:setvbuf("line")
  else
    wrk.method = "PUT"
    wrk.headers["Content-Type"] = "application/json"
    local n = 0
    for line in io.lines(os.getenv("BENCH_IDS_FILE")) do
      if n % nthreads == tid and line ~= "" then
        table.insert(ids, line)
      end
      n = n + 1
    end
    if #ids == 0 then
      error("no lease ids for thread " .. tid)
    end
  end
end

function request()
  if mode == "issue" then
    return wrk.format()
  end
  cursor = cursor + 1
  if cursor > #ids then
    overrun = overrun + 1
  end
  local id = ids[((cursor - 1) % #ids) + 1]
  return wrk.format(nil, nil, nil, '{"lease_id":"' .. id .. '"}')
end

first_error = ""

local received = 0

function response(status, headers, body)
  -- Keeps the first failure's status and message (Vault error bodies carry no secrets), so
  -- a nonzero error count in the report can be explained.
  if status >= 300 and first_error == "" then
    first_error = status .. " " .. string.sub(body or "", 1, 300)
  end
  if out ~= nil and status == 200 then
    local id = body:match('"lease_id"%s*:%s*"([^"]+)"')
    if id ~= nil and id ~= "" then
      out:write(id, "\n")
    end
  end
  if mode == "revoke" then
    received = received + 1
    if received == #ids then
      local marker = assert(io.open(os.getenv("BENCH_DONE_DIR") .. "/done-" .. tid, "w"))
      marker:close()
      wrk.thread:stop()
    end
  end
end

function done(summary, latency, requests)
  local over = 0
  for _, thread in ipairs(threads) do
    over = over + (thread:get("overrun") or 0)
    local first = thread:get("first_error") or ""
    if first ~= "" then
      io.write("BENCH_ERR ", (string.gsub(first, "\n", " ")), "\n")
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d,' ..
    '"mean_us":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"overrun":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    over))
end
