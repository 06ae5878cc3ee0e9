-- SendMessage, then ReceiveMessage (up to 10, no wait), then DeleteMessageBatch of the handles that receive returned,
-- round and round on each connection (one per thread). A receive that returns nothing goes back to sending. The
-- receipt handles come from the answers, so a delete counts only if the server really handed out the message.
package.path = (os.getenv("WIRE_LUA_DIR") or ".") .. "/?.lua;" .. package.path
local common = require("common")

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

local send_request, receive_request, delete_headers
local step = "send"
local last = nil
local handles = {}
sent, received, deleted, delete_failed, receives, deletes = 0, 0, 0, 0, 0, 0

function init(args)
   send_request = wrk.format("POST", "/", common.headers("SendMessage"), common.send_body())
   receive_request = wrk.format("POST", "/", common.headers("ReceiveMessage"),
      '{"QueueUrl":"' .. common.queue_url .. '","MaxNumberOfMessages":10,"WaitTimeSeconds":0}')
   delete_headers = common.headers("DeleteMessageBatch")
end

function request()
   last = step
   if step == "send" then
      return send_request
   elseif step == "receive" then
      return receive_request
   end
   local entries = {}
   for index, handle in ipairs(handles) do
      entries[index] = '{"Id":"' .. index .. '","ReceiptHandle":"' .. handle .. '"}'
   end
   return wrk.format("POST", "/", delete_headers,
      '{"QueueUrl":"' .. common.queue_url .. '","Entries":[' .. table.concat(entries, ",") .. ']}')
end

function response(status, headers, body)
   if last == "send" then
      if status == 200 then sent = sent + 1 end
      step = "receive"
   elseif last == "receive" then
      receives = receives + 1
      handles = {}
      if status == 200 then
         for handle in string.gmatch(body, '"ReceiptHandle":%s*"([^"]+)"') do table.insert(handles, handle) end
      end
      received = received + #handles
      step = #handles > 0 and "delete" or "send"
   else
      deletes = deletes + 1
      -- A successful entry is {"Id":"n"}; a failed one carries Code and Message beside its Id.
      local ok = 0
      if status == 200 then
         for _ in string.gmatch(body, '{%s*"Id":%s*"%d+"%s*}') do ok = ok + 1 end
      end
      deleted = deleted + ok
      delete_failed = delete_failed + (#handles - ok)
      handles = {}
      step = "send"
   end
end

function done(summary, latency, requests)
   common.report(threads, {"sent", "received", "deleted", "delete_failed", "receives", "deletes"}, summary, latency)
end
