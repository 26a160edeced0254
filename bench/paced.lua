-- wrk script for bench/serve_latency.py: random paths from $CARTWISE_PATHS, each
-- connection pausing $CARTWISE_DELAY_MS between requests so the total rate is fixed.
local paths = {}
for line in io.lines(os.getenv("CARTWISE_PATHS")) do
  paths[#paths + 1] = line
end
local pause = tonumber(os.getenv("CARTWISE_DELAY_MS"))
local thread_id = 0

setup = function(thread)
  thread_id = thread_id + 1
  thread:set("seed", thread_id)
end

init = function(args)
  math.randomseed(seed or 1)
end

request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end

delay = function()
  return pause
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %.3f %.3f %.3f %.3f\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
