"""Before/after-request hooks and lifecycle handlers, over real sockets.

Hooks are compiled into each route's native stage list at start-up; C++ calls them per request.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging

import httpx
import pytest

from tiercel import Request, Response, Tiercel

trace: contextvars.ContextVar[str] = contextvars.ContextVar("trace", default="")


def _app() -> Tiercel:
    app = Tiercel(__file__)
    app.get("/plain")(lambda request: "plain")
    return app


def test_global_and_scoped_order_for_every_method(serve, loop_kind):
    app = _app()
    calls: list[str] = []

    @app.before_request("/item")
    def scoped_before(request):
        calls.append("scoped-before")
        return request

    @app.before_request()
    def global_before(request):
        calls.append("global-before")
        request.headers.set("x-seen", "yes")
        return request

    @app.after_request()
    def global_after(response):
        calls.append("global-after")
        response.headers.set("x-after", "global")
        return response

    @app.after_request("/item/")  # the trailing slash is normalised as the router does
    def scoped_after(request, response):
        calls.append("scoped-after")
        response.headers.append("x-order", "scoped")
        return response

    for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
        app.add_route(method, "/item", lambda request: f"{request.method} {request.headers.get('x-seen')}")

    s = serve(app, loop_kind)
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
        calls.clear()
        r = httpx.request(method, s.url + "/item")
        assert r.status_code == 200
        assert r.text == f"{method} yes"
        assert r.headers["x-after"] == "global"
        assert r.headers["x-order"] == "scoped"
        assert calls == ["global-before", "scoped-before", "global-after", "scoped-after"]
    calls.clear()
    r = httpx.get(s.url + "/plain")
    assert (r.text, r.headers["x-after"]) == ("plain", "global")
    assert "x-order" not in r.headers
    assert calls == ["global-before", "global-after"]


def test_short_circuit_skips_handler_but_not_after_hooks(serve, loop_kind):
    app = Tiercel(__file__)
    handled: list[str] = []

    @app.before_request()
    def guard(request):
        if request.headers.get("x-token") != "secret":
            return Response(401, {"WWW-Authenticate": "Bearer"}, "no")
        return None  # None continues, as returning the request does

    @app.after_request()
    def stamp(response):
        response.headers.set("x-stamped", "1")
        # None keeps the response as it is

    @app.get("/")
    def index(request):
        handled.append("index")
        return {"ok": True}

    s = serve(app, loop_kind)
    r = httpx.get(s.url + "/")
    assert (r.status_code, r.text, r.headers["www-authenticate"], r.headers["x-stamped"]) == (401, "no", "Bearer", "1")
    assert handled == []
    r = httpx.get(s.url + "/", headers={"x-token": "secret"})
    assert (r.status_code, r.json(), r.headers["x-stamped"]) == (200, {"ok": True}, "1")
    assert r.headers["content-type"] == "application/json"
    assert handled == ["index"]


def test_short_circuit_with_plain_values(serve):
    app = Tiercel(__file__)
    app.before_request("/tuple")(lambda request: ("teapot", 418))
    app.before_request("/dict")(lambda request: {"blocked": True})
    app.get("/tuple")(lambda request: "never")
    app.get("/dict")(lambda request: "never")
    s = serve(app)
    r = httpx.get(s.url + "/tuple")
    assert (r.status_code, r.text) == (418, "teapot")
    r = httpx.get(s.url + "/dict")
    assert (r.status_code, r.json()) == (200, {"blocked": True})


def test_async_hooks_and_contextvars(serve, loop_kind):
    app = Tiercel(__file__)

    @app.before_request()
    async def tag(request):
        await asyncio.sleep(0.001)  # really suspends
        trace.set("before:" + request.path_params.get("name", "?"))
        return request

    @app.get("/hello/:name")
    async def hello(request):
        await asyncio.sleep(0)
        return "handler saw " + trace.get()

    @app.get("/sync/:name")
    def hello_sync(request):
        return "sync handler saw " + trace.get()

    @app.after_request()
    def after(response):
        response.headers.set("x-trace", trace.get())
        return response

    s = serve(app, loop_kind)
    with httpx.Client(base_url=s.url) as c:
        for name in ("a", "b"):
            r = c.get(f"/hello/{name}")
            assert (r.text, r.headers["x-trace"]) == (f"handler saw before:{name}", f"before:{name}")
            r = c.get(f"/sync/{name}")
            assert (r.text, r.headers["x-trace"]) == (f"sync handler saw before:{name}", f"before:{name}")


def test_contextvars_do_not_leak_between_requests(serve):
    app = Tiercel(__file__)

    @app.before_request()
    def mark(request):
        seen = trace.get()
        trace.set(request.query_params.get("v", ""))
        request.headers.set("x-previous", seen)
        return request

    app.get("/")(lambda request: request.headers.get("x-previous"))
    s = serve(app)
    assert httpx.get(s.url + "/?v=one").text == ""
    assert httpx.get(s.url + "/?v=two").text == ""


def test_pipelined_requests_through_async_hooks_stay_in_order(serve):
    import socket

    app = Tiercel(__file__)

    @app.before_request()
    async def slow_first(request):
        await asyncio.sleep(0.05 if request.path_params["n"] == "0" else 0)
        return request

    app.get("/n/:n")(lambda request: request.path_params["n"])
    s = serve(app)
    with socket.create_connection(("127.0.0.1", s.port)) as sock:
        sock.sendall(b"".join(b"GET /n/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(3)))
        data = b""
        while data.count(b"HTTP/1.1 200") < 3 or not data.endswith(b"2"):
            chunk = sock.recv(65536)
            assert chunk
            data += chunk
    bodies = [part.rsplit(b"\r\n\r\n", 1)[-1][:1] for part in data.split(b"HTTP/1.1 ")[1:]]
    assert bodies == [b"0", b"1", b"2"]


def test_errors_in_hooks_are_500_and_logged(serve, caplog, loop_kind):
    app = Tiercel(__file__)

    @app.before_request("/before")
    def broken_before(request):
        raise RuntimeError("before broke")

    @app.after_request("/after")
    async def broken_after(response):
        await asyncio.sleep(0)
        raise ValueError("after broke")

    app.before_request("/bad")(lambda request: ("x", "y"))  # not a valid response
    app.get("/before")(lambda request: "x")
    app.get("/after")(lambda request: "x")
    app.get("/bad")(lambda request: "x")
    app.get("/fine")(lambda request: "fine")
    s = serve(app, loop_kind)
    with caplog.at_level(logging.ERROR, logger="tiercel"):
        assert httpx.get(s.url + "/before").status_code == 500
        assert httpx.get(s.url + "/after").status_code == 500
        r = httpx.get(s.url + "/bad")
        assert r.status_code == 500
        assert "tuple" not in r.text  # nothing about the error reaches the client
        assert httpx.get(s.url + "/fine").text == "fine"  # the worker lives on
    text = caplog.text
    assert "before-request hook for GET /before" in text and "before broke" in text
    assert "after-request hook for GET /after" in text and "after broke" in text
    assert "Bad return value from before-request hook for GET /bad" in text


def test_after_hook_changes_do_not_accumulate_on_shared_responses(serve):
    app = Tiercel(__file__)
    shared = Response(200, {"X-Base": "1"}, "shared")
    app.get("/shared")(lambda request: shared)
    app.get("/const", const=True)(lambda request: Response(200, {"X-Const": "1"}, "const body"))

    @app.after_request()
    def add(response):
        response.headers.append("x-added", "1")
        return response

    s = serve(app)
    for path in ("/shared", "/const", "/shared", "/const"):
        r = httpx.get(s.url + path)
        assert r.headers.get_list("x-added") == ["1"], path
    assert httpx.get(s.url + "/const").text == "const body"
    assert shared.headers.get_all("x-added") == []


def test_const_route_with_before_hook_runs_the_hook(serve):
    app = Tiercel(__file__)
    calls = []
    app.before_request("/c")(lambda request: calls.append(1))
    app.get("/c", const=True)(lambda: "cached")
    s = serve(app)
    assert [httpx.get(s.url + "/c").text for _ in range(3)] == ["cached"] * 3
    assert calls == [1, 1, 1]


def test_before_hook_may_return_the_request(serve):
    app = Tiercel(__file__)
    app.before_request()(lambda request: request)
    app.get("/r")(lambda request: str(isinstance(request, Request)))
    s = serve(app)
    assert httpx.get(s.url + "/r").text == "True"


def test_hook_signatures_are_checked_at_registration():
    app = Tiercel(__file__)
    with pytest.raises(TypeError, match="before-request hook is called with the request"):
        app.before_request()(lambda a, b: a)
    with pytest.raises(TypeError, match="after-request hook is called with the response"):
        app.after_request()(lambda a, b, c: a)
    with pytest.raises(TypeError, match="must be callable"):
        app.before_request()(42)
    with pytest.raises(ValueError, match="must start with '/'"):
        app.before_request("item")
    with pytest.raises(TypeError, match="called with no arguments"):
        app.startup_handler(lambda x: x)


def test_bare_decorator_registers_global_hook(serve):
    app = Tiercel(__file__)

    @app.after_request
    def stamp(response):
        response.headers.set("x-bare", "1")

    app.get("/")(lambda: "x")
    s = serve(app)
    assert httpx.get(s.url + "/").headers["x-bare"] == "1"


def test_startup_and_shutdown_handlers_and_state(serve, loop_kind):
    app = Tiercel(__file__)
    events: list[str] = []

    @app.startup_handler
    async def open_pool():
        await asyncio.sleep(0)
        app.state.pool = ["connection"]
        events.append("startup-async")

    def sync_startup():
        events.append("startup-sync")

    app.startup_handler(sync_startup)

    @app.shutdown_handler
    async def close_pool():
        events.append("shutdown-async")
        app.state.pool = None

    @app.shutdown_handler
    def broken_shutdown():
        raise RuntimeError("shutdown broke")

    @app.shutdown_handler
    def after_broken():
        events.append("shutdown-sync")

    app.get("/")(lambda request: app.state.pool[0])
    s = serve(app, loop_kind)
    assert events == ["startup-async", "startup-sync"]
    assert httpx.get(s.url + "/").text == "connection"
    s.stop()
    assert events == ["startup-async", "startup-sync", "shutdown-async", "shutdown-sync"]
    assert app.state.pool is None
    assert "pool=None" in repr(app.state)


def test_failing_startup_handler_stops_the_start(serve):
    app = Tiercel(__file__)

    @app.startup_handler
    def fail():
        raise RuntimeError("cannot reach the database")

    with pytest.raises(RuntimeError, match="cannot reach the database"):
        serve(app)


def test_contextvars_set_by_plain_handlers_do_not_reach_the_next_request(serve, loop_kind):
    app = Tiercel(__file__)

    @app.get("/sync")
    def sync_handler(request):
        seen = trace.get()
        trace.set("sync:" + request.query_params.get("v", ""))
        return seen

    @app.get("/async")
    async def async_handler(request):
        seen = trace.get()
        trace.set("async:" + request.query_params.get("v", ""))
        return seen

    s = serve(app, loop_kind)
    with httpx.Client(base_url=s.url) as c:
        for path in ("/sync", "/async", "/sync", "/async"):
            assert c.get(path, params={"v": "x"}).text == "", path
