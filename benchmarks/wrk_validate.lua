-- wrk script for the validate scenario: every request is a POST /validate of validate_body.json (~1 KiB, a valid
-- order) as application/json; the summary is printed by wrk_report.lua. Both files are found next to this one.
-- wrk.body is set once here, so building requests costs wrk nothing per request.

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local body = assert(io.open(dir .. "validate_body.json", "rb"))
wrk.method = "POST"
wrk.body = body:read("*a")
body:close()
wrk.headers["Content-Type"] = "application/json"

dofile(dir .. "wrk_report.lua")
