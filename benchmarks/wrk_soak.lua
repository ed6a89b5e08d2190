-- wrk script for the soak (benchmarks/soak.py): the requests cycle through the mix read from the file named by the
-- first script argument (`wrk ... URL -- MIXFILE`), and every response is classified by its status and body against
-- the answers the driver validated before the run: a response that matches no kind's answer is `unexpected`.
-- At the end, one line "WRK_SOAK_JSON {...}": per kind the requests sent and the answers matched, wrk's errors.
--
-- The mix file, per kind: a line "KIND METHOD PATH CONTENT-TYPE STATUS REQUEST-BYTES ANSWER-BYTES" (CONTENT-TYPE "-"
-- for none), then the request body, a newline, the expected answer body, a newline.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

local function read_bytes(f, n)
   if n == 0 then
      return ""
   end
   local data = f:read(n)
   assert(data and #data == n, "mix file: short body")
   return data
end

function init(args)
   local f = assert(io.open(args[1], "rb"))
   mix, expect, kinds, sent, got = {}, {}, {}, {}, {}
   while true do
      local line = f:read("*l")
      if not line or line == "" then
         break
      end
      local kind, method, path, ctype, status, req_len, answer_len =
         line:match("^(%S+) (%S+) (%S+) (%S+) (%d+) (%d+) (%d+)$")
      assert(kind, "mix file: bad line " .. line)
      local body = read_bytes(f, tonumber(req_len))
      f:read(1)
      local answer = read_bytes(f, tonumber(answer_len))
      f:read(1)
      local headers = {}
      if ctype ~= "-" then
         headers["Content-Type"] = ctype
      end
      table.insert(mix, { kind = kind, request = wrk.format(method, path, headers, body ~= "" and body or nil) })
      table.insert(kinds, kind)
      expect[status .. " " .. answer] = kind
      sent[kind], got[kind] = 0, 0
   end
   f:close()
   unexpected, sample, at = 0, "", 0
end

function request()
   at = at % #mix + 1
   local m = mix[at]
   sent[m.kind] = sent[m.kind] + 1
   return m.request
end

function response(status, headers, body)
   local kind = expect[status .. " " .. (body or "")]
   if kind then
      got[kind] = got[kind] + 1
   else
      unexpected = unexpected + 1
      if sample == "" then
         sample = status .. " " .. string.sub(body or "", 1, 120)
      end
   end
end

local function json_string(s)
   return '"' .. s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

local function json_counts(names, counts)
   local parts = {}
   for _, name in ipairs(names) do
      table.insert(parts, json_string(name) .. ": " .. counts[name])
   end
   return "{" .. table.concat(parts, ", ") .. "}"
end

function done(summary, latency, requests)
   local names, total_sent, total_got, total_unexpected, first = nil, {}, {}, 0, ""
   for _, thread in ipairs(threads) do
      names = names or thread:get("kinds")
      local s, g = thread:get("sent"), thread:get("got")
      for kind, n in pairs(s) do
         total_sent[kind] = (total_sent[kind] or 0) + n
         total_got[kind] = (total_got[kind] or 0) + g[kind]
      end
      total_unexpected = total_unexpected + thread:get("unexpected")
      if first == "" then
         first = thread:get("sample")
      end
   end
   local e = summary.errors
   io.write(string.format(
      'WRK_SOAK_JSON {"requests": %d, "duration_us": %d, "sent": %s, "got": %s, "unexpected": %d, "sample": %s, '
         .. '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}}\n',
      summary.requests, summary.duration, json_counts(names, total_sent), json_counts(names, total_got),
      total_unexpected, json_string(first), e.connect, e.read, e.write, e.timeout))
end
