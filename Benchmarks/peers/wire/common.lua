-- Shared by send.lua and mix.lua: the queue, the headers an SDK sends with AWS JSON 1.0, and a summary on one line.
-- wire_bench.py passes the queue URL in WIRE_QUEUE_URL and runs wrk with one connection per thread, so every
-- request of a thread travels on the same keep-alive connection.
local common = {}

common.queue_url = os.getenv("WIRE_QUEUE_URL") or "http://127.0.0.1/000000000000/wire"

-- A 100-byte body, as in every other benchmark of this repository.
common.message_body = string.rep("x", 100)

function common.headers(operation)
   return {
      ["Content-Type"] = "application/x-amz-json-1.0",
      ["X-Amz-Target"] = "AmazonSQS." .. operation,
      ["X-Amz-Date"] = "20261206T120000Z",
      ["User-Agent"] = "wire-bench/1 (wrk)",
      -- A SigV4 header as an SDK sends it: the servers read the region and account from its credential scope.
      ["Authorization"] = "AWS4-HMAC-SHA256 Credential=test/20261206/us-east-1/sqs/aws4_request, "
         .. "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
         .. "Signature=0000000000000000000000000000000000000000000000000000000000000000",
   }
end

function common.send_body()
   return '{"QueueUrl":"' .. common.queue_url .. '","MessageBody":"' .. common.message_body .. '"}'
end

-- One JSON line on stdout (wire_bench.py reads the last line starting with WIRE ): requests, seconds, latency
-- percentiles in microseconds, socket and HTTP errors, and the per-thread counters named in `counters`.
function common.report(threads, counters, summary, latency)
   local totals = {}
   for _, name in ipairs(counters) do totals[name] = 0 end
   for _, thread in ipairs(threads) do
      for _, name in ipairs(counters) do totals[name] = totals[name] + (thread:get(name) or 0) end
   end
   local errors = summary.errors
   local parts = {
      string.format('"requests":%d', summary.requests),
      string.format('"seconds":%.6f', summary.duration / 1e6),
      string.format('"p50":%d', latency:percentile(50)),
      string.format('"p99":%d', latency:percentile(99)),
      string.format('"max":%d', latency.max),
      string.format('"errors":%d', errors.connect + errors.read + errors.write + errors.timeout),
      string.format('"non2xx":%d', errors.status),
   }
   for _, name in ipairs(counters) do table.insert(parts, string.format('"%s":%d', name, totals[name])) end
   io.write("WIRE {" .. table.concat(parts, ",") .. "}\n")
end

return common
