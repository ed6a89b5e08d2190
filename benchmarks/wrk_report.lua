-- wrk script for the benchmark runner (benchmarks/measure.py): at the end, print one line "WRK_JSON {...}"
-- with totals, latency percentiles (microseconds) and error counts ("status" counts responses >= 400).
-- No request()/response() hooks: they would slow wrk down on the hot path. The one exception: a script that loads
-- this one after setting `expected_status` (a scenario whose every answer is an error status, e.g. 422) gets a
-- response() hook counting the answers with any other status, and "status" counts those instead.

local threads = {}

if expected_status then
   wrong_status = 0 -- per thread: each thread runs this script in its own Lua state
   setup = function(thread)
      table.insert(threads, thread)
   end
   response = function(status, headers, body)
      if status ~= expected_status then
         wrong_status = wrong_status + 1
      end
   end
end

done = function(summary, latency, requests)
   local e = summary.errors
   local status = e.status
   if expected_status then
      status = 0
      for _, thread in ipairs(threads) do
         status = status + thread:get("wrong_status")
      end
   end
   io.write(string.format(
      'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, '
         .. '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d}, '
         .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
      summary.requests, summary.duration, summary.bytes,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      e.connect, e.read, e.write, status, e.timeout))
end
