-- wrk script for ops/bench. MODE=healthz: GET /healthz. MODE=purchase: POST a purchase to
-- SALE_ID as a new user every request. PACE_MS, when set, makes each connection wait that long
-- before each request, so the connections together offer about connections * 1000 / PACE_MS
-- requests a second (the pipeline behind a 202 does not slow them down). Either way, done()
-- prints one JSON line for ops/bench.
local mode = os.getenv("MODE") or "healthz"
local sale = os.getenv("SALE_ID") or "default"
local run = os.getenv("RUN") or "r"
local threads = {}
local counter = 0
local pace_ms = tonumber(os.getenv("PACE_MS") or "")
-- thread_id is a global each thread gets from setup(); a local here would hide it.

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function request()
  if mode == "healthz" then
    return wrk.format("GET", "/healthz")
  end
  counter = counter + 1
  local body = string.format('{"user_id":"b%s-%d-%d"}', run, thread_id, counter)
  return wrk.format("POST", "/api/v1/sales/" .. sale .. "/purchases",
    { ["Content-Type"] = "application/json" }, body)
end

if pace_ms then
  function delay()
    return pace_ms
  end
end

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "rps": %.1f, "errors": %d, "non_2xx_3xx": %d, ' ..
    '"latency_avg_ms": %.3f, "latency_p50_ms": %.3f, "latency_p99_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    errors, summary.errors.status, latency.mean / 1000, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000))
end
