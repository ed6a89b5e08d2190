-- wrk script for the pipelined scenario: each connection sends 16 requests for the URL's path in one write and
-- reads their 16 answers (HTTP/1.1 pipelining, as TechEmpower's plaintext test); the summary is printed by
-- wrk_report.lua, found next to this file. The batch is built once, so building requests costs wrk nothing.

local DEPTH = 16
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"

init = function(args)
   local batch = {}
   for i = 1, DEPTH do batch[i] = wrk.format(nil, nil) end
   pipeline = table.concat(batch)
end

request = function()
   return pipeline
end

dofile(dir .. "wrk_report.lua")
