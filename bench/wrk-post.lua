-- wrk script of bench/loadgen-vs-wrk.ts (the same as ../shared/peers/post.lua): POST the bodies of a
-- file, separated by an empty line, in rotation. `ringest bench --bodies FILE` reads the same file.
-- usage: wrk -t1 -c64 -d15s -s bench/wrk-post.lua 'http://127.0.0.1:PORT/write?precision=ms' -- BODIES_FILE
-- Requests are formatted once in init(), so request() costs wrk almost nothing.
-- done() prints one JSON line with wrk's own figures.

local reqs = {}
local n = 0

function init(args)
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a")
  f:close()
  local start = 1
  while true do
    local s = string.find(data, "\n\n", start, true)
    if not s then break end
    local body = string.sub(data, start, s) -- keeps the last line's newline
    reqs[#reqs + 1] = wrk.format("POST", nil, { ["Content-Type"] = "text/plain; charset=utf-8" }, body)
    start = s + 2
  end
  assert(#reqs > 0, "no bodies in " .. args[1])
end

function request()
  n = n % #reqs + 1
  return reqs[n]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_s":%.3f,"rps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"non2xx":%d,"sock_errors":%d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3,
    e.status, e.connect + e.read + e.write + e.timeout))
end
