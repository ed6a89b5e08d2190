"""The native Request: lazy attributes, percent-decoding, Headers and QueryParams APIs, body and JSON."""

from __future__ import annotations

import asyncio
import json
import threading

import httpx
import pytest
from conftest import raw_request, split_responses

from tiercel import Headers, QueryParams, Request, Tiercel


@pytest.fixture
def echo(serve, loop_kind):
    app = Tiercel(__file__)

    @app.post("/echo/:name")
    def echo_handler(request: Request):
        qp = request.query_params
        return {
            "method": request.method,
            "path": request.path,
            "url": [request.url.scheme, request.url.host, request.url.path],
            "path_params": request.path_params,
            "query": qp.to_dict(),
            "q_get": qp.get("a"),
            "q_first": qp.get_first("a"),
            "q_all": qp.get_all("a"),
            "q_default": qp.get("missing", "dflt"),
            "q_contains": [qp.contains("a"), "a" in qp, "zz" in qp],
            "q_keys": list(qp.keys()),
            "h_ua": request.headers.get("x-custom"),
            "h_all": request.headers.get_all("X-Multi"),
            "h_has": [request.headers.contains("X-CUSTOM"), "x-custom" in request.headers, "nope" in request.headers],
            "body": request.body if isinstance(request.body, str) else None,
            "body_is_bytes": isinstance(request.body, bytes),
            "raw_len": len(request.raw_body),
            "ip": request.ip_addr,
        }

    @app.post("/json")
    def json_handler(request):
        try:
            return {"parsed": request.json()}
        except ValueError as e:
            return {"error": type(e).__name__}, 400

    return serve(app, loop_kind)


def test_request_attributes(echo):
    r = httpx.post(
        echo.url + "/echo/caf%C3%A9%20au%20lait?a=1&b=x+y&a=2&c=%26%3D&flag",
        headers=[("X-Custom", "v"), ("X-Multi", "1"), ("X-Multi", "2")],
        content=b"hello body",
    )
    d = r.json()
    assert d["method"] == "POST"
    assert d["path"] == "/echo/café au lait"
    assert d["url"] == ["http", f"127.0.0.1:{echo.port}", "/echo/café au lait"]
    assert d["path_params"] == {"name": "café au lait"}
    assert d["query"] == {"a": ["1", "2"], "b": ["x y"], "c": ["&="], "flag": [""]}
    assert d["q_get"] == "2"  # Robyn: get returns the last value
    assert d["q_first"] == "1"
    assert d["q_all"] == ["1", "2"]
    assert d["q_default"] == "dflt"
    assert d["q_contains"] == [True, True, False]
    assert d["q_keys"] == ["a", "b", "c", "flag"]
    assert d["h_ua"] == "v"
    assert d["h_all"] == ["1", "2"]
    assert d["h_has"] == [True, True, False]
    assert d["body"] == "hello body"
    assert d["raw_len"] == 10
    assert d["ip"] == "127.0.0.1"


def test_binary_body_is_bytes(echo):
    d = httpx.post(echo.url + "/echo/x", content=b"\xff\xfe\x00").json()
    assert d["body_is_bytes"] is True
    assert d["raw_len"] == 3


def test_json_body_and_bad_json(echo):
    assert httpx.post(echo.url + "/json", json={"a": [1, 2]}).json() == {"parsed": {"a": [1, 2]}}
    r = httpx.post(echo.url + "/json", content=b"{not json")
    assert (r.status_code, r.json()) == (400, {"error": "JSONBodyError"})  # a ValueError, caught by the handler
    r = httpx.post(echo.url + "/json", content=b"")
    assert (r.status_code, r.json()) == (400, {"error": "JSONBodyError"})


def test_request_kept_by_handler_outlives_the_buffer(serve):
    """A handler that stores the request: it is detached from the connection buffer and stays valid."""
    app = Tiercel(__file__)
    kept = []

    @app.post("/keep/:id")
    def keep(request):
        kept.append(request)
        return "kept"

    s = serve(app)
    with httpx.Client(base_url=s.url) as c:
        for i in range(20):
            c.post(f"/keep/{i}?q={i}", content=f"body-{i}" * 100, headers={"X-I": str(i)})
    for i, req in enumerate(kept):
        assert req.path_params == {"id": str(i)}
        assert req.query_params.get("q") == str(i)
        assert req.headers.get("x-i") == str(i)
        assert req.body == f"body-{i}" * 100


def test_async_handler_really_suspends_while_others_are_served(serve, loop_kind):
    app = Tiercel(__file__)
    started = threading.Event()
    release = None

    @app.get("/slow")
    async def slow(request):
        nonlocal release
        release = asyncio.Event()
        started.set()
        await asyncio.wait_for(release.wait(), 10)
        await asyncio.sleep(0.01)
        return {"path": request.path, "q": request.query_params.get("x")}

    @app.get("/fast")
    def fast(request):
        return "fast"

    @app.get("/release")
    def do_release(request):
        release.set()
        return "released"

    s = serve(app, loop_kind)
    result = {}

    def call_slow():
        result["slow"] = httpx.get(s.url + "/slow?x=42", timeout=15).json()

    t = threading.Thread(target=call_slow)
    t.start()
    assert started.wait(10)
    # While /slow is suspended, other requests are answered.
    with httpx.Client(base_url=s.url) as c:
        for _ in range(20):
            assert c.get("/fast").text == "fast"
        assert c.get("/release").text == "released"
    t.join(15)
    assert result["slow"] == {"path": "/slow", "q": "42"}


def test_contextvars_and_current_task_in_async_handler(serve, loop_kind):
    import contextvars

    var = contextvars.ContextVar("var", default="unset")
    app = Tiercel(__file__)

    @app.get("/ctx/:v")
    async def ctx(request):
        task = asyncio.current_task()
        var.set(request.path_params["v"])
        async with asyncio.timeout(5) if hasattr(asyncio, "timeout") else _null():
            await asyncio.sleep(0)
        return {"task": task is not None, "var": var.get()}

    s = serve(app, loop_kind)
    with httpx.Client(base_url=s.url) as c:
        for v in ("a", "b"):
            assert c.get(f"/ctx/{v}").json() == {"task": True, "var": v}
    # Each request ran in its own context: nothing leaked into the loop's context.
    assert s.call(var.get) == "unset"


class _null:
    async def __aenter__(self):
        return self

    async def __aexit__(self, *a):
        return False


def test_headers_class():
    h = Headers({"Content-Type": "text/plain", "X-A": ["1", "2"]})
    assert h["content-type"] == "text/plain"
    assert h.get("x-a") == "1"
    assert h.get_all("X-A") == ["1", "2"]
    assert h.get("missing") is None
    assert h.get("missing", "d") == "d"
    h.set("x-a", "3")
    assert h.get_all("X-A") == ["3"]
    h.append("X-A", "4")
    assert h.get_all("x-a") == ["3", "4"]
    h["New"] = "n"
    assert "new" in h and h.contains("NEW")
    del h["new"]
    assert "new" not in h
    assert h.to_dict() == {"Content-Type": "text/plain", "X-A": "3"}
    assert len(h) == 3
    with pytest.raises(KeyError):
        h["nope"]
    with pytest.raises(TypeError, match="dict, a Headers, or an iterable"):
        Headers(42)


def test_query_params_class():
    q = QueryParams({"a": ["1", "2"], "b": "x"})
    assert q.get("a") == "2"
    assert q.get_first("a") == "1"
    assert q.get_all("a") == ["1", "2"]
    assert q["b"] == "x"
    assert q.to_dict() == {"a": ["1", "2"], "b": ["x"]}
    assert list(q) == ["a", "b"]
    assert q.items() == [("a", "1"), ("a", "2"), ("b", "x")]
    assert "a" in q and "z" not in q


def test_cookies_are_parsed(serve):
    app = Tiercel(__file__)
    app.get("/")(lambda request: request.cookies)
    s = serve(app)
    raw = (
        b'GET / HTTP/1.1\r\nHost: t\r\nCookie: session=abc123; theme="dark"; ; novalue; =nameless; a=1\r\n'
        b"Cookie: a=2; b= spaced \r\nConnection: close\r\n\r\n"
    )
    (status, _, body), *_ = split_responses(raw_request(s.port, raw))[0]
    assert status == 200
    assert json.loads(body) == {"session": "abc123", "theme": "dark", "a": "1", "b": "spaced"}
    assert httpx.get(s.url + "/").json() == {}
