-- wrk script for bench/infer_bench.sh: POSTs one Open Inference Protocol v2
-- infer request over and over and prints one line of JSON at the end:
--   {"requests":..,"duration_s":..,"rps":..,"p50_ms":..,"p99_ms":..,"mean_ms":..,
--    "errors":..,"non2xx":..}
-- errors = socket errors (connect, read, write, timeout) + non-2xx answers.
--
--   BODY=body.json URL_PATH=/v2/models/fmnist/infer \
--     wrk -t 2 -c 8 -d 10s --latency -s bench/infer/infer.lua http://127.0.0.1:PORT
--
-- BODY: file holding the JSON body (bench/infer/make_body.py writes one);
-- without it a body of one 1x1x28x28 image of deterministic values is built.
-- URL_PATH: the path to POST to (default /v2/models/fmnist/infer); the path
-- of the URL on the command line is ignored. TOKEN: sent as a bearer token.

local function read_file(path)
  local f = assert(io.open(path, "rb"), "infer.lua: cannot open BODY=" .. path)
  local s = f:read("*a")
  f:close()
  return s
end

local function built_body()
  -- A fixed pseudo-random image (an LCG, so every run and every thread sends
  -- the same bytes), written with 6 significant digits like a client would.
  local v, seed = {}, 12345
  for i = 1, 28 * 28 do
    seed = (seed * 1103515245 + 12345) % 2147483648
    v[i] = string.format("%.6g", seed / 2147483648)
  end
  return '{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","data":[' ..
    table.concat(v, ",") .. ']}]}'
end

local body_file = os.getenv("BODY")
wrk.method = "POST"
wrk.path = os.getenv("URL_PATH") or "/v2/models/fmnist/infer"
wrk.body = (body_file and body_file ~= "") and read_file(body_file) or built_body()
wrk.headers["Content-Type"] = "application/json"
-- TOKEN: a drover user token, for the server's inference router (which checks callers).
local token = os.getenv("TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
-- No request() function: wrk then sends the request it formats once from the
-- fields above, the cheapest path for the client (which shares the CPUs).

-- Each wrk thread runs its own Lua state; setup() runs in the main one and
-- keeps the threads so done() can add up their counters.
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

non2xx = 0  -- global: thread:get reads a thread's globals
function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do
    bad = bad + (t:get("non2xx") or 0)
  end
  local e = summary.errors
  local socket = e.connect + e.read + e.write + e.timeout
  local seconds = summary.duration / 1e6  -- wrk's times are in microseconds
  io.write(string.format(
    '{"requests":%d,"duration_s":%.3f,"rps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,"mean_ms":%.3f,' ..
    '"errors":%d,"non2xx":%d}\n',
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.mean / 1000,
    socket + bad, bad))
end
