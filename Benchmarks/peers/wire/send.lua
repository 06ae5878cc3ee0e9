-- AWS JSON 1.0 SendMessage, the same request over and over on keep-alive connections.
package.path = (os.getenv("WIRE_LUA_DIR") or ".") .. "/?.lua;" .. package.path
local common = require("common")

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

wrk.method = "POST"
wrk.path = "/"
wrk.headers = common.headers("SendMessage")
wrk.body = common.send_body()

function done(summary, latency, requests)
   common.report(threads, {}, summary, latency)
end
