-- wrk script: rotate /probe targets over consecutive line IDs, so that a closed-loop run
-- touches many lines rather than one; print a JSON summary wrk's text output lacks.
--
-- Arguments after "--": <path prefix> <first ID> <count> [<path suffix>].
-- With count 0 the prefix is the whole path (blackbox_exporter, one fixed target).

local threads = {}

function setup(thread)
  -- Each thread starts at a different ID so that two threads do not walk in step.
  thread:set("offset", #threads * 7919)
  table.insert(threads, thread)
end

function init(args)
  prefix = args[1] or "/"
  first = tonumber(args[2] or "0")
  count = tonumber(args[3] or "0")
  suffix = args[4] or ""
  counter = offset or 0
end

function request()
  local path = prefix
  if count > 0 then
    path = prefix .. tostring(first + (counter % count)) .. suffix
  end
  counter = counter + 1
  return wrk.format("GET", path)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
