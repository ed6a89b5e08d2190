-- wrk script for the validate_invalid scenario: every request is a POST /validate of validate_invalid_body.json (the
-- same order with 3 invalid fields) as application/json, and every answer must be 422: wrk_report.lua counts the
-- answers with any other status as errors ("status"). Both files are found next to this one.

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local body = assert(io.open(dir .. "validate_invalid_body.json", "rb"))
wrk.method = "POST"
wrk.body = body:read("*a")
body:close()
wrk.headers["Content-Type"] = "application/json"
expected_status = 422

dofile(dir .. "wrk_report.lua")
