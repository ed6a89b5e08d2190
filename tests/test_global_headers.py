"""Global headers: add/set for responses and requests, exclusions; applied natively per route."""

from __future__ import annotations

import socket

import httpx
import pytest

from tiercel import HTTPException, Response, TestClient, Tiercel


def test_global_response_headers(serve, loop_kind):
    app = Tiercel(__file__)
    app.add_response_header("X-Frame-Options", "DENY")
    app.add_response_header("X-Multi", "1")
    app.add_response_header("X-Multi", "2")
    app.add_response_header("X-Old", "old")
    app.set_response_header("x-old", "new")  # replaces the global one, whatever its case
    app.get("/")(lambda request: "plain")
    app.get("/own")(lambda request: Response(200, {"X-Frame-Options": "SAMEORIGIN"}, "own"))
    app.get("/const", const=True)(lambda request: ("cached", 200, {"X-Multi": "mine"}))
    app.get("/health")(lambda request: "ok")
    app.get("/raise")(lambda request: (_ for _ in ()).throw(HTTPException(404, "gone")))

    async def big(request):
        return b"x" * 70000

    app.get("/big")(big)
    app.get("/boom")(lambda request: 1 / 0)
    app.exclude_response_headers_for(["/health/"])
    s = serve(app, loop_kind)
    with httpx.Client(base_url=s.url) as c:
        r = c.get("/")
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers.get_list("x-multi") == ["1", "2"]
        assert r.headers.get_list("x-old") == ["new"]
        r = c.get("/own")  # the response's own header wins
        assert r.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
        r = c.get("/const")
        assert (r.text, r.headers.get_list("x-multi"), r.headers["x-frame-options"]) == ("cached", ["mine"], "DENY")
        r = c.get("/health")
        assert r.text == "ok" and "x-frame-options" not in r.headers
        r = c.get("/raise")
        assert (r.status_code, r.headers["x-frame-options"]) == (404, "DENY")
        r = c.get("/big")
        assert (len(r.content), r.headers["x-frame-options"]) == (70000, "DENY")
        r = c.head("/")
        assert r.headers["x-frame-options"] == "DENY"
        # The answers the engine makes itself carry them too: 404, 405, a refused request, a bare 500.
        for r in (c.get("/nowhere"), c.post("/"), c.get("/boom")):
            assert (r.status_code, r.headers["x-frame-options"]) in ((404, "DENY"), (405, "DENY"), (500, "DENY"))
        with socket.create_connection(("127.0.0.1", s.port)) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n")
            raw = sock.recv(65536)
        assert raw.startswith(b"HTTP/1.1 400 ") and b"\r\nX-Frame-Options: DENY\r\n" in raw


def test_global_request_headers(serve, loop_kind):
    app = Tiercel(__file__)
    app.add_request_header("X-Added", "a")
    app.set_request_header("X-Forced", "server")

    @app.before_request()
    def before(request):
        assert request.headers.get("x-forced") == "server"
        return request

    app.get("/")(lambda request: request.headers.get_all("x-added") + request.headers.get_all("x-forced"))
    s = serve(app, loop_kind)
    r = httpx.get(s.url + "/", headers={"X-Added": "client", "X-Forced": "client"})
    assert r.json() == ["client", "a", "server"]


def test_header_names_and_values_are_checked():
    app = Tiercel(__file__)
    with pytest.raises(ValueError, match="invalid header name"):
        app.add_response_header("Bad Name", "x")
    with pytest.raises(ValueError, match="without CR, LF or NUL"):
        app.add_response_header("X-Ok", "a\r\nSet-Cookie: evil=1")
    with pytest.raises(ValueError, match="without CR, LF or NUL"):
        app.set_request_header("X-Ok", "a\nb")
    with pytest.raises(ValueError, match="must start with '/'"):
        app.exclude_response_headers_for("health")


def test_excluded_paths_match_however_the_trailing_slash_is_written():
    app = Tiercel(__file__)
    app.add_response_header("X-Global", "1")
    app.get("/health/")(lambda request: "ok")  # declared with the slash, excluded without it
    app.get("/ping")(lambda request: "pong")  # declared without it, excluded with it
    app.get("/other")(lambda request: "other")
    app.exclude_response_headers_for(["/health", "/ping/"])
    with TestClient(app) as client:
        for path in ("/health", "/health/", "/ping"):
            assert "x-global" not in client.get(path).headers, path
        assert client.get("/other").headers["x-global"] == "1"
