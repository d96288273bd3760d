-- wrk script for the Lessor / OpenBao comparison (bench/compare.py).
--
-- It does two things wrk cannot do from the command line alone:
--   * sends the Vault token, read from the environment so it never lands on a command line
--     that `ps` can show;
--   * prints one machine-readable line (prefix BENCH_JSON) with throughput, latency
--     percentiles and error counts, so compare.py does not have to parse wrk's human output.
-- Latencies are in microseconds, as wrk records them.

local token = os.getenv("BENCH_TOKEN")
if token == nil or token == "" then
  error("BENCH_TOKEN is not set")
end

wrk.method = "GET"
wrk.headers["X-Vault-Token"] = token

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d,' ..
    '"mean_us":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
