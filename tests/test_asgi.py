"""ASGI applications mounted in a Tiercel app (`app.mount(path, asgi_app)`) and served by the CLI: the scope the
engine builds (ASGI 3.0, HTTP 2.3), receive() and send() answered natively, streamed answers with backpressure,
misuse refused at send(), the client leaving, and a real FastAPI app behind a mount."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import subprocess
import sys
import time

import httpx
import pydantic
import pytest
from fastapi import Request  # FastAPI resolves its handlers' annotations in this module

from tiercel import Tiercel
from tiercel.exceptions import ClientDisconnected


def start(status=200, headers=()):
    return {"type": "http.response.start", "status": status, "headers": list(headers)}


def body(data=b"", more=False):
    return {"type": "http.response.body", "body": data, "more_body": more}


def test_the_scope_names_the_request_as_the_spec_says(serve):
    seen = {}

    async def app(scope, receive, send):
        seen.update(scope)
        seen["event"] = await receive()
        await send(start(200, [(b"content-type", b"text/plain")]))
        await send(body(b"ok"))
        seen["after"] = await receive()  # the response is complete

    host = Tiercel(__file__)
    host.mount("/legacy", app)
    s = serve(host)
    r = httpx.post(s.url + "/legacy/a%20b/c?x=1&y=%41", content=b"payload", headers={"X-Mixed-Case": "v"})
    assert (r.status_code, r.text) == (200, "ok")
    assert seen["type"] == "http" and seen["asgi"] == {"version": "3.0", "spec_version": "2.3"}
    assert (seen["http_version"], seen["method"], seen["scheme"]) == ("1.1", "POST", "http")
    assert seen["path"] == "/legacy/a b/c"  # decoded, the mount's prefix included
    assert seen["raw_path"] == b"/legacy/a%20b/c" and seen["query_string"] == b"x=1&y=%41"
    assert seen["root_path"] == "/legacy"
    headers = seen["headers"]
    assert all(isinstance(n, bytes) and isinstance(v, bytes) and n == n.lower() for n, v in headers)
    assert (b"x-mixed-case", b"v") in headers and (b"content-length", b"7") in headers
    assert seen["client"][0] == "127.0.0.1"
    assert seen["event"] == {"type": "http.request", "body": b"payload", "more_body": False}
    assert seen["after"] == {"type": "http.disconnect"}


def test_native_routes_win_and_everything_under_the_mount_goes_to_it(serve):
    async def app(scope, receive, send):
        await send(start(200))
        await send(body(f"{scope['method']} {scope['path']} {scope['root_path']!r}".encode()))

    host = Tiercel(__file__)
    host.get("/native")(lambda: "native")
    host.mount("/", app)
    s = serve(host)
    assert httpx.get(s.url + "/native").text == "native"
    assert httpx.get(s.url + "/").text == "GET / ''"
    assert httpx.delete(s.url + "/x/y").text == "DELETE /x/y ''"
    assert httpx.post(s.url + "/native").text == "POST /native ''"  # the native route has no POST
    head = httpx.head(s.url + "/x")
    assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == "10"  # "HEAD /x ''"


def test_a_streamed_answer_is_chunked_or_framed_by_the_apps_length(serve):
    async def app(scope, receive, send):
        length = [(b"content-length", b"6")] if scope["path"] == "/framed" else []
        await send(start(200, length))
        await send(body(b"abc", more=True))
        await send(body(b"", more=True))
        await send(body(b"def"))

    host = Tiercel(__file__)
    host.mount("/", app)
    s = serve(host)
    chunked = httpx.get(s.url + "/chunked")
    assert chunked.text == "abcdef" and chunked.headers["transfer-encoding"] == "chunked"
    framed = httpx.get(s.url + "/framed")
    assert framed.text == "abcdef" and framed.headers["content-length"] == "6"
    assert "transfer-encoding" not in framed.headers


def test_misuse_raises_at_send(serve):
    errors: list[str] = []

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return  # no lifespan events taken (the server goes on without them)

        async def refused(message):
            try:
                await send(message)
            except (RuntimeError, TypeError, ValueError) as e:
                errors.append(f"{type(e).__name__}: {e}")

        await refused(body(b"early"))
        await refused({"type": "http.response.start", "status": "200"})
        await refused(start(1000))
        await refused(start(200, [(b"x-bad", b"a\r\nInjected: 1")]))
        await refused({"type": "websocket.send"})
        await refused(["not", "a", "dict"])
        await send(start(200, [(b"transfer-encoding", b"gzip")]))  # ignored: the server frames the body
        await refused(start(200))
        await send(body(b"fine"))
        await refused(body(b"late"))

    host = Tiercel(__file__)
    host.mount("/", app)
    s = serve(host)
    r = httpx.get(s.url + "/")
    assert r.text == "fine" and "transfer-encoding" not in r.headers
    assert errors == [
        "RuntimeError: http.response.start must come before http.response.body",
        "TypeError: http.response.start needs an int 'status'",
        "ValueError: the status must be from 100 to 999",
        "ValueError: invalid header x-bad: it could split the response",
        "ValueError: unknown ASGI message type 'websocket.send' on HTTP",
        "TypeError: an ASGI message is a dict with a 'type'",
        "RuntimeError: http.response.start was sent already",
        "RuntimeError: the response is complete: nothing may be sent after it",
    ]


def test_a_body_longer_than_its_content_length_is_refused_and_the_answer_cut(serve):
    refusals: list[str] = []

    async def app(scope, receive, send):
        await send(start(200, [(b"content-length", b"3")]))
        try:
            await send(body(b"abcdef", more=True))
        except RuntimeError as e:
            refusals.append(str(e))

    host = Tiercel(__file__)
    host.mount("/", app)
    s = serve(host)
    with pytest.raises(httpx.HTTPError):
        httpx.get(s.url + "/")
    assert refusals == ["the response body is longer than its Content-Length"]


def test_an_app_that_fails_or_answers_nothing_gets_a_500(serve, caplog):
    async def app(scope, receive, send):
        if scope["path"] == "/raise":
            raise ValueError("boom")
        if scope["path"] == "/midway":
            await send(start(200))
            await send(body(b"part", more=True))
            raise ValueError("midway")

    host = Tiercel(__file__)
    host.mount("/", app)
    s = serve(host)
    with caplog.at_level(logging.INFO, logger="tiercel"):
        assert httpx.get(s.url + "/raise").status_code == 500
        assert httpx.get(s.url + "/silent").status_code == 500
        with pytest.raises(httpx.RemoteProtocolError):  # cut short: not taken for a complete answer
            httpx.get(s.url + "/midway")
    text = caplog.text
    assert "Exception in ASGI application" in text and "boom" in text and "midway" in text
    assert "returned without a response" in text


def test_send_waits_while_the_client_does_not_read_and_raises_once_it_left(serve):
    sent = []
    outcome = []

    async def app(scope, receive, send):
        await send(start(200))
        try:
            for _ in range(2000):
                await send(body(b"x" * 65536, more=True))
                sent.append(1)
        except ClientDisconnected as e:
            outcome.append(isinstance(e, OSError))
        disconnect = await receive()
        outcome.append(disconnect["type"])

    host = Tiercel(__file__)
    host.mount("/", app)
    s = serve(host)
    sock = socket.create_connection(("127.0.0.1", s.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.5)
    stalled = len(sent)
    time.sleep(0.3)
    assert len(sent) == stalled < 200, "send() went on while nobody read: no backpressure"
    sock.close()
    deadline = time.monotonic() + 10
    while len(outcome) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert outcome == [True, "http.disconnect"]


def test_mount_takes_asgi_applications_only():
    host = Tiercel(__file__)

    def wsgi(environ, start_response): ...

    with pytest.raises(TypeError, match="mount\\(\\) takes an ASGI 3 application .* is a WSGI application"):
        host.mount("/old", wsgi)
    with pytest.raises(TypeError, match="not callable"):
        host.mount("/x", "app")


class Item(pydantic.BaseModel):  # FastAPI resolves the annotations of its handlers in this module
    name: str
    price: float


def test_a_fastapi_app_behind_a_mount(serve):
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import StreamingResponse

    api = FastAPI()

    @api.get("/items/{item_id}")
    async def read_item(item_id: int, q: str | None = None):
        if item_id == 0:
            raise HTTPException(404, "no such item")
        return {"id": item_id, "q": q}

    @api.post("/items")
    async def create_item(item: Item):
        return item

    @api.get("/count")
    async def count():
        async def numbers():
            for i in range(3):
                yield f"{i}\n"
                await asyncio.sleep(0)

        return StreamingResponse(numbers(), media_type="text/plain")

    host = Tiercel(__file__)
    host.get("/health", const=True)(lambda: "ok")
    host.mount("/api", api)
    s = serve(host)
    api_url = s.url + "/api"
    assert httpx.get(s.url + "/health").text == "ok"
    assert httpx.get(api_url + "/items/3?q=x").json() == {"id": 3, "q": "x"}
    assert httpx.get(api_url + "/items/0").json() == {"detail": "no such item"}
    assert httpx.get(api_url + "/items/abc").status_code == 422
    assert httpx.post(api_url + "/items", json={"name": "kite", "price": 2}).json() == {"name": "kite", "price": 2.0}
    assert httpx.post(api_url + "/items", json={"name": "kite"}).status_code == 422
    assert httpx.get(api_url + "/count").text == "0\n1\n2\n"
    assert "/items/{item_id}" in httpx.get(api_url + "/openapi.json").json()["paths"]
    assert "swagger-ui" in httpx.get(api_url + "/docs").text


def test_an_http2_request_says_so_in_its_scope(serve):
    versions = []

    async def app(scope, receive, send):
        versions.append(scope["http_version"])
        await send(start(200))
        await send(body(b"h2"))

    host = Tiercel(__file__)
    host.mount("/", app)
    s = serve(host)
    with httpx.Client(http1=False, http2=True) as client:
        r = client.get(s.url + "/")
    assert (r.http_version, r.text, versions) == ("HTTP/2", "h2", ["2"])


ASGI_MODULE = """
from fastapi import FastAPI

api = FastAPI()


@api.get("/hello/{name}")
async def hello(name: str):
    return {"hello": name}


def wsgi(environ, start_response):
    start_response("200 OK", [])
    return [b"old"]
"""


def test_the_cli_serves_an_asgi_app_and_names_a_wsgi_one(run_script, tmp_path):
    (tmp_path / "service.py").write_text(ASGI_MODULE)
    p = run_script("-m", "tiercel", "service:api", "--app-dir", str(tmp_path), "--port", "0", cwd=str(tmp_path))
    assert httpx.get(p.url + "/hello/ada").json() == {"hello": "ada"}
    assert "/hello/{name}" in httpx.get(p.url + "/openapi.json").json()["paths"]  # FastAPI's own document
    r = subprocess.run(
        [sys.executable, "-m", "tiercel", "service:wsgi", "--app-dir", str(tmp_path), "--port", "0"],
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode != 0 and "is a WSGI application (function)" in r.stderr and "Traceback" not in r.stderr


LIFESPAN_MODULE = """
import contextlib, os, sys
from fastapi import FastAPI, Request


@contextlib.asynccontextmanager
async def lifespan(app):
    if os.environ.get("FAIL_STARTUP"):
        raise RuntimeError("no database")
    print("startup ran", flush=True)
    yield {"pool": "the-pool"}
    print("shutdown ran", flush=True)


api = FastAPI(lifespan=lifespan)


@api.get("/pool")
async def pool(request: Request):
    return {"pool": request.state.pool}


async def refuses(scope, receive, send):  # as Django's ASGI handler: no lifespan
    if scope["type"] != "http":
        raise ValueError("Django can only handle ASGI/HTTP connections, not lifespan.")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"no lifespan needed"})
"""


def test_lifespan_runs_around_serving_and_its_state_reaches_each_request(run_script, tmp_path):
    (tmp_path / "life.py").write_text(LIFESPAN_MODULE)
    p = run_script("-m", "tiercel", "life:api", "--app-dir", str(tmp_path), "--port", "0", cwd=str(tmp_path))
    assert any("startup ran" in line for line in p.output)  # before the server said it listens
    assert httpx.get(p.url + "/pool").json() == {"pool": "the-pool"}
    assert p.stop() == 0
    assert "shutdown ran" in "".join(p.output)


def test_a_failed_startup_stops_the_start_in_one_line(tmp_path):
    (tmp_path / "life.py").write_text(LIFESPAN_MODULE.replace('raise RuntimeError("no database")', "raise"))
    failing = tmp_path / "failing.py"
    failing.write_text(
        "async def app(scope, receive, send):\n"
        "    await receive()\n"
        "    await send({'type': 'lifespan.startup.failed', 'message': 'no database'})\n"
    )
    r = subprocess.run(
        [sys.executable, "-m", "tiercel", "failing:app", "--app-dir", str(tmp_path), "--port", "0"],
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode != 0
    assert "tiercel: error: the ASGI application at / failed its startup: no database" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("mode", ["auto", "on", "off"])
def test_an_app_that_refuses_lifespan(run_script, tmp_path, mode):
    (tmp_path / "life.py").write_text(LIFESPAN_MODULE)
    args = ["-m", "tiercel", "life:refuses", "--app-dir", str(tmp_path), "--port", "0", "--lifespan", mode]
    if mode == "on":
        r = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=30, cwd=tmp_path)
        assert r.returncode != 0 and "does not take lifespan events" in r.stderr and "--lifespan on" in r.stderr
        return
    p = run_script(*args, cwd=str(tmp_path))
    assert httpx.get(p.url + "/").text == "no lifespan needed"
    assert any("takes no lifespan events" in line for line in p.output) == (mode == "auto")


def test_lifespan_off_sends_nothing(run_script, tmp_path):
    (tmp_path / "life.py").write_text(LIFESPAN_MODULE)
    p = run_script(
        "-m", "tiercel", "life:api", "--app-dir", str(tmp_path), "--port", "0", "--lifespan", "off", cwd=str(tmp_path)
    )  # fmt: skip
    assert not any("startup ran" in line for line in p.output)
    assert httpx.get(p.url + "/pool").status_code == 500  # request.state has no pool: the app's own error


def test_the_test_client_runs_a_mounted_apps_lifespan():
    from fastapi import FastAPI

    from tiercel import TestClient

    events = []

    async def lifespan(app):
        events.append("startup")
        yield {"greeting": "hello"}
        events.append("shutdown")

    api = FastAPI(lifespan=contextlib.asynccontextmanager(lifespan))

    @api.get("/greet")
    async def greet(request: Request):
        return {"greeting": request.state.greeting}

    host = Tiercel(__file__)
    host.mount("/api", api)
    with TestClient(host) as client:
        assert client.get("/api/greet").json() == {"greeting": "hello"}
        assert events == ["startup"]
    assert events == ["startup", "shutdown"]
