-- wrk script: POSTs one binary body (read from a file) with the given headers, over and over;
-- at the end writes one JSON line of results (throughput, latency percentiles, errors).
--   BODY_FILE=path  HEADERS='Name: value|Name: value'  RESULT_FILE=path (default: stdout)
--   wrk -t1 -c16 -d6s --timeout 60s -s bench/serve/post_binary.lua http://127.0.0.1:PORT/path
local function read_file(path)
  local f = assert(io.open(path, "rb"), "cannot open BODY_FILE " .. tostring(path))
  local data = f:read("*a")
  f:close()
  return data
end

wrk.method = "POST"
wrk.body = read_file(os.getenv("BODY_FILE"))
wrk.headers["Content-Type"] = "application/octet-stream"
for pair in string.gmatch(os.getenv("HEADERS") or "", "[^|]+") do
  local name, value = string.match(pair, "^%s*([^:]+):%s*(.-)%s*$")
  if name then wrk.headers[name] = value end
end

function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  local line = string.format(
    '{"requests":%d,"seconds":%.3f,"rps":%.4f,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,' ..
    '"max_ms":%.3f,"mean_ms":%.3f,"bytes":%d,"err_connect":%d,"err_read":%d,"err_write":%d,' ..
    '"err_status":%d,"err_timeout":%d}',
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, latency.mean / 1000, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout)
  local out = os.getenv("RESULT_FILE")
  if out and out ~= "" then
    local f = assert(io.open(out, "w"))
    f:write(line, "\n")
    f:close()
  else
    io.write(line, "\n")
  end
end
