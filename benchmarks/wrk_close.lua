-- wrk script for the https_handshake scenario: every request says `Connection: close`, so the server closes
-- the connection after its response and wrk opens (and handshakes) a new one for the next request; the summary
-- is printed by wrk_report.lua, found next to this file.

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
wrk.headers["Connection"] = "close"

dofile(dir .. "wrk_report.lua")
