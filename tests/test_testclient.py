"""TestClient: in-process requests through the engine's own sessions, routing and dispatch (no socket)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from tiercel import HTTPException, Response, SubRouter, TestClient, Tiercel
from tiercel import testing as testing_module


def make_app() -> Tiercel:
    app = Tiercel(__file__)

    @app.get("/")
    def index():
        return "hello"

    @app.get("/users/:uid")
    async def user(uid: int, q: str | None = None):
        await asyncio.sleep(0.01)  # a real suspension: the client must run the loop until the answer
        return {"uid": uid, "q": q}

    @app.post("/echo")
    def echo(request):
        return Response(201, {"X-Len": str(len(request.raw_body))}, request.raw_body)

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret detail")

    @app.get("/teapot")
    def teapot():
        raise HTTPException(418, {"why": "short and stout"})

    @app.get("/const", const=True)
    def const():
        return "fixed"

    return app


def test_methods_params_headers_and_bodies():
    with TestClient(make_app()) as client:
        r = client.get("/")
        assert (r.status_code, r.text, r.headers["content-type"]) == (200, "hello", "text/plain; charset=utf-8")
        assert client.get("/users/5", params={"q": "a b"}).json() == {"uid": 5, "q": "a b"}
        assert client.get("/users/5?q=x").json() == {"uid": 5, "q": "x"}
        r = client.post("/echo", content=b"\x00\x01binary")
        assert (r.status_code, r.content, r.headers["x-len"]) == (201, b"\x00\x01binary", "8")
        assert client.post("/echo", json={"a": [1, 2]}).content == b'{"a":[1,2]}'
        assert client.post("/echo", data={"k": "v w"}).content == b"k=v+w"
        r = client.head("/")
        assert (r.status_code, r.content, r.headers["content-length"]) == (200, b"", "5")
        assert client.get("/const").text == "fixed"


def test_the_same_errors_as_the_server():
    with TestClient(make_app()) as client:
        assert client.get("/nope").status_code == 404
        r = client.delete("/")
        assert (r.status_code, r.headers["allow"]) == (405, "GET, HEAD")
        assert client.get("/users/x").status_code == 400
        r = client.get("/boom")
        assert (r.status_code, r.text) == (500, "Internal Server Error\n")
        assert client.get("/teapot").json() == {"why": "short and stout"}
        # The engine's own limits apply: a request line over the limit is a 414 from the native parser.
        assert client.get("/" + "a" * 9000).status_code == 414
        r = client.get("/", headers={"Transfer-Encoding": "chunked", "Content-Length": "3"})
        assert r.status_code == 400


def test_dev_mode_shows_the_traceback():
    with TestClient(make_app(), dev=True) as client:
        r = client.get("/boom")
        assert r.status_code == 500 and "RuntimeError: secret detail" in r.text


def test_limits_are_the_servers():
    with TestClient(make_app(), max_body=4) as client:
        assert client.post("/echo", content=b"12345").status_code == 413
        assert client.post("/echo", content=b"1234").status_code == 201


def test_lifecycle_handlers_run_on_enter_and_exit():
    app = make_app()
    events: list[str] = []
    app.startup_handler(lambda: events.append("start"))

    @app.shutdown_handler
    async def stop():
        events.append("stop")

    client = TestClient(app)
    assert events == []
    with client:
        assert events == ["start"]
        client.get("/")
    assert events == ["start", "stop"]
    # Without `with`: startup before the first request, shutdown on close().
    client = TestClient(app)
    client.get("/")
    assert events == ["start", "stop", "start"]
    client.close()
    assert events == ["start", "stop", "start", "stop"]


def test_cookies_persist_and_are_deleted():
    app = Tiercel(__file__)

    @app.get("/login")
    def login():
        r = Response(200, None, "in")
        r.set_cookie("sid", "abc", http_only=True)
        return r

    @app.get("/logout")
    def logout():
        r = Response(200, None, "out")
        r.set_cookie("sid", "", max_age=0)
        return r

    @app.get("/who")
    def who(cookies):
        return cookies

    with TestClient(app) as client:
        assert client.get("/login").cookies == {"sid": "abc"}
        assert client.get("/who").json() == {"sid": "abc"}
        assert client.get("/who", cookies={"extra": "1"}).json() == {"sid": "abc", "extra": "1"}
        client.get("/logout")
        assert client.get("/who").json() == {}


def test_middleware_routers_and_base_url():
    app = Tiercel(__file__)
    api = SubRouter(__file__, prefix="/api")

    @api.get("/ping")
    def ping(headers):
        return headers.get("x-seen")

    @app.before_request()
    def mark(request):
        request.headers.set("x-seen", "yes")

    app.include_router(api)
    with TestClient(app, base_url="http://example.test/api", headers={"X-Default": "1"}) as client:
        assert client.get("/ping").text == "yes"
        assert client.get("http://other/api/ping").text == "yes"


def test_slow_handler_times_out():
    app = Tiercel(__file__)

    @app.get("/slow")
    async def slow():
        await asyncio.sleep(5)
        return "late"

    with TestClient(app, timeout=0.2) as client, pytest.raises(TimeoutError, match="no response within 0.2 s"):
        client.get("/slow")


def test_no_python_reimplementation_of_the_pipeline():
    """The client only writes bytes and reads bytes: no tiercel function runs between send and answer."""
    app = make_app()
    seen: list[str] = []

    handlers: list[str] = []
    package = str(testing_module.__file__).rsplit("/", 1)[0]

    def profile(frame, event, arg):
        if event != "call":
            return
        code = frame.f_code
        if code.co_name in ("user", "echo"):
            handlers.append(code.co_name)
        elif code.co_filename.startswith(package) and code.co_filename != testing_module.__file__:
            seen.append(f"{code.co_filename}:{code.co_name}")

    with TestClient(app) as client:
        client.get("/")
        sys.setprofile(profile)
        try:
            client.get("/users/3")
            client.post("/echo", content=b"x")
        finally:
            sys.setprofile(None)
    assert set(handlers) == {"user", "echo"}  # the profiler was watching
    assert seen == []
