-- wrk script for the benchmark runner (benchmarks/measure.py): at the end, print one line "WRK_JSON {...}"
-- with totals, latency percentiles (microseconds) and error counts ("status" counts responses >= 400).
-- No request()/response() hooks: they would slow wrk down on the hot path.

done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, '
         .. '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d}, '
         .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
      summary.requests, summary.duration, summary.bytes,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      e.connect, e.read, e.write, e.status, e.timeout))
end
