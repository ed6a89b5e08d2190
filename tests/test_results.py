"""Result conversion in C++: str, bytes, dict/list, Response, tuples; bad results and raising handlers."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from tiercel import Headers, Response, Tiercel


@pytest.fixture
def app_server(serve, loop_kind):
    app = Tiercel(__file__)
    app.get("/str")(lambda request: "héllo")
    app.get("/bytes")(lambda request: b"\x00\x01\xff")
    app.get("/dict")(lambda request: {"a": 1, "b": [1, 2], "c": None})
    app.get("/list")(lambda request: [1, "two", {"three": 3}])
    app.get("/tuple2")(lambda request: ("created", 201))
    app.get("/tuple3")(lambda request: ({"ok": 1}, 202, {"X-A": "1"}))
    app.get("/tuple3-robyn")(lambda request: ("robyn", {"X-B": "2"}, 203))
    app.get("/response")(lambda request: Response(418, {"X-Tea": "pot"}, "short and stout"))
    app.get("/response-body")(lambda request: Response(200, headers=Headers({"Content-Type": "text/html"}), body="<b>"))
    app.get("/response-bytes")(lambda request: Response(status_code=200, description=b"raw"))
    app.get("/response-json")(lambda request: Response(200, None, {"j": 1}))
    app.get("/no-content")(lambda request: Response(204, None, ""))
    app.get("/none")(lambda request: None)
    app.get("/object")(lambda request: object())
    app.get("/bad-tuple")(lambda request: ("x", "y"))
    app.get("/bad-header")(lambda request: Response(200, {"X-Bad": "a\r\nSet-Cookie: evil=1"}, "x"))
    app.get("/bad-json")(lambda request: {"x": {1, 2}})
    app.get("/multi")(lambda request: Response(200, [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")], "m"))

    def raising(request):
        raise RuntimeError("boom")

    async def raising_async(request):
        await asyncio.sleep(0)
        raise KeyError("async boom")

    app.get("/raise")(raising)
    app.get("/raise-async")(raising_async)
    return serve(app, loop_kind)


def test_str_bytes_json(app_server):
    with httpx.Client(base_url=app_server.url) as c:
        r = c.get("/str")
        assert (r.text, r.headers["content-type"]) == ("héllo", "text/plain; charset=utf-8")
        r = c.get("/bytes")
        assert (r.content, r.headers["content-type"]) == (b"\x00\x01\xff", "application/octet-stream")
        r = c.get("/dict")
        assert (r.json(), r.headers["content-type"]) == ({"a": 1, "b": [1, 2], "c": None}, "application/json")
        assert c.get("/list").json() == [1, "two", {"three": 3}]


def test_tuple_forms(app_server):
    with httpx.Client(base_url=app_server.url) as c:
        r = c.get("/tuple2")
        assert (r.status_code, r.text) == (201, "created")
        r = c.get("/tuple3")
        assert (r.status_code, r.json(), r.headers["x-a"]) == (202, {"ok": 1}, "1")
        r = c.get("/tuple3-robyn")
        assert (r.status_code, r.text, r.headers["x-b"]) == (203, "robyn", "2")


def test_response_objects(app_server):
    with httpx.Client(base_url=app_server.url) as c:
        r = c.get("/response")
        assert (r.status_code, r.text, r.headers["x-tea"]) == (418, "short and stout", "pot")
        r = c.get("/response-body")
        assert (r.text, r.headers["content-type"]) == ("<b>", "text/html")
        assert c.get("/response-bytes").content == b"raw"
        assert c.get("/response-json").json() == {"j": 1}
        r = c.get("/no-content")
        assert r.status_code == 204
        assert "content-length" not in r.headers
        assert c.get("/multi").headers.get_list("set-cookie") == ["a=1", "b=2"]


@pytest.mark.parametrize("path", ["/none", "/object", "/bad-tuple", "/bad-header", "/bad-json"])
def test_bad_results_are_500_and_logged(app_server, path, caplog):
    with caplog.at_level(logging.ERROR, logger="tiercel"), httpx.Client(base_url=app_server.url) as c:
        r = c.get(path)
        assert r.status_code == 500
        assert "evil" not in r.headers.get("set-cookie", "")
        assert c.get("/str").status_code == 200  # the server keeps serving, same connection
    assert any(path in rec.getMessage() for rec in caplog.records)


@pytest.mark.parametrize(("path", "exc"), [("/raise", "RuntimeError: boom"), ("/raise-async", "KeyError")])
def test_raising_handler_is_500_with_traceback_logged(app_server, path, exc, caplog):
    with caplog.at_level(logging.ERROR, logger="tiercel"), httpx.Client(base_url=app_server.url) as c:
        r = c.get(path)
        assert r.status_code == 500
        assert "boom" not in r.text  # nothing revealed to the client
        assert c.get("/str").text == "héllo"
    assert any(rec.exc_info and exc in "".join(caplog.text.splitlines()) for rec in caplog.records)
    assert "Traceback" in caplog.text


def test_response_validation():
    with pytest.raises(ValueError, match="between 100 and 999"):
        Response(42)
    with pytest.raises(TypeError, match="not both"):
        Response(200, None, "a", body="b")
    r = Response(201, {"A": "1"}, "x")
    assert (r.status_code, r.headers["a"], r.description, r.body) == (201, "1", "x", "x")
