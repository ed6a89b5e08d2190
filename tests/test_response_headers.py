"""The header fields the engine adds itself (Date, Server, Content-Type, Content-Length, Transfer-Encoding,
Connection, Vary) appear once: the app's or handler's own when set, else the engine's. Framing fields a handler sets
are checked, never sent as given. Bodyless answers (1xx, 204, 304) get no default Content-Type. Checked byte-exact on
raw sockets, on every answer path, and once over HTTP/2."""

from __future__ import annotations

import logging

import httpx
import pytest
from conftest import raw_request

from tiercel import ALLOW_CORS, HTTPException, Response, SSEResponse, StreamingResponse, Tiercel, serve_file

ENGINE_FIELDS = ("date", "server", "content-type", "content-length", "transfer-encoding", "connection", "vary")


def head_fields(raw: bytes) -> list[tuple[str, str]]:
    """The (lower-cased name, value) fields of the first response in `raw`, in order, repeats kept."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    return [(n.lower(), v.strip()) for n, v in (line.split(":", 1) for line in head[1:])]


def values(raw: bytes, name: str) -> list[str]:
    return [v for n, v in head_fields(raw) if n == name]


def status_of(raw: bytes) -> int:
    return int(raw[9:12])


def request(port: int, method: str, path: str, extra: bytes = b"") -> bytes:
    return raw_request(port, f"{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n".encode() + extra + b"\r\n")


def assert_each_once(raw: bytes) -> None:
    for name in ENGINE_FIELDS:
        assert len(values(raw, name)) <= 1, (name, raw[:600])


@pytest.fixture
def files(tmp_path):
    (tmp_path / "a.txt").write_text("file body")
    return tmp_path


def every_path_app(files) -> Tiercel:
    app = Tiercel(__file__)
    app.get("/plain")(lambda request: "plain")
    app.get("/dict")(lambda request: {"a": 1})
    app.get("/response")(lambda request: Response(200, {"X-A": "1"}, "r"))
    app.get("/const", const=True)(lambda request: "const")
    app.get("/stream")(lambda request: StreamingResponse(iter(["a", "b"])))
    app.get("/sse")(lambda request: SSEResponse(iter(["data: 1\n\n"])))
    app.get("/file")(lambda request: serve_file(files / "a.txt"))
    app.get("/nofile")(lambda request: serve_file(files / "missing.txt"))
    app.get("/boom")(lambda request: 1 / 0)
    app.get("/gone")(lambda request: (_ for _ in ()).throw(HTTPException(410, "gone")))
    app.serve_directory("/static", str(files))
    return app


PATHS = [
    ("GET", "/plain", 200),
    ("HEAD", "/plain", 200),
    ("GET", "/dict", 200),
    ("GET", "/response", 200),
    ("GET", "/const", 200),
    ("GET", "/stream", 200),
    ("GET", "/sse", 200),
    ("GET", "/file", 200),
    ("GET", "/nofile", 404),
    ("GET", "/static/a.txt", 200),
    ("GET", "/static/missing.txt", 404),
    ("GET", "/boom", 500),
    ("GET", "/gone", 410),
    ("GET", "/nowhere", 404),
    ("POST", "/plain", 405),
]


def test_one_server_header_on_every_path(serve, files, caplog):
    """The app's global Server replaces the engine's; without it the setting's is sent; either way each field the
    engine adds is there once."""
    app = every_path_app(files)
    app.set_response_header("server", "myapp")
    plain = every_path_app(files)
    with caplog.at_level(logging.ERROR, logger="tiercel"):
        for s, server in ((serve(app), "myapp"), (serve(plain, server_header="custom"), "custom")):
            for method, path, status in PATHS:
                raw = request(s.port, method, path)
                assert status_of(raw) == status, (method, path)
                assert values(raw, "server") == [server], (method, path, raw[:400])
                assert len(values(raw, "date")) == 1
                assert_each_once(raw)
            raw = raw_request(s.port, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n")  # refused input
            assert status_of(raw) == 400 and values(raw, "server") == [server]
            assert_each_once(raw)


def test_handler_server_and_date_headers_are_sent_once(serve):
    app = Tiercel(__file__)
    date = "Tue, 15 Nov 1994 08:12:31 GMT"
    app.get("/own")(lambda request: Response(200, {"Server": "x", "Date": date}, "own"))
    app.get("/tuple")(lambda request: ("t", 200, {"server": "y"}))
    app.get("/stream")(lambda request: StreamingResponse(iter(["a"]), headers={"Server": "z"}))
    app.get("/const", const=True)(lambda request: Response(200, {"Server": "c"}, "c"))
    app.set_response_header("Server", "global")
    s = serve(app)
    for path, server in (("/own", "x"), ("/tuple", "y"), ("/stream", "z"), ("/const", "c")):
        raw = request(s.port, "GET", path)
        assert values(raw, "server") == [server], raw
        assert_each_once(raw)
    assert values(request(s.port, "GET", "/own"), "date") == [date]


def test_handler_server_header_replaces_the_setting(serve):
    app = Tiercel(__file__)
    app.get("/")(lambda request: Response(200, {"Server": "x"}, "own"))
    s = serve(app)
    assert values(request(s.port, "GET", "/"), "server") == ["x"]
    assert values(request(s.port, "GET", "/nowhere"), "server") == ["tiercel"]


def test_global_content_type_does_not_double_the_engines(serve, files):
    app = Tiercel(__file__)
    app.set_response_header("Content-Type", "application/json")
    app.get("/")(lambda request: "text")
    app.get("/file")(lambda request: serve_file(files / "missing.txt"))
    s = serve(app)
    for method, path in (("GET", "/"), ("GET", "/nowhere"), ("POST", "/"), ("GET", "/file")):
        raw = request(s.port, method, path)
        assert values(raw, "content-type") == ["text/plain; charset=utf-8"], (path, raw)


@pytest.mark.parametrize("name", ["Content-Length", "transfer-encoding", "Connection"])
def test_global_framing_headers_are_refused(name):
    app = Tiercel(__file__)
    with pytest.raises(ValueError, match="cannot be a global response header"):
        app.add_response_header(name, "3")
    with pytest.raises(ValueError, match="cannot be a global response header"):
        app.set_response_header(name, "3")


def test_handler_content_length_is_checked_against_the_body(serve, caplog):
    app = Tiercel(__file__)
    app.get("/right")(lambda request: Response(200, {"Content-Length": "5"}, "hello"))
    app.get("/wrong")(lambda request: Response(200, {"Content-Length": "3"}, "hello"))
    app.get("/bad")(lambda request: Response(200, {"Content-Length": "+5"}, "hello"))
    app.get("/two")(lambda request: Response(200, [("Content-Length", "5"), ("Content-Length", "6")], "hello"))
    app.get("/empty")(lambda request: Response(200, {"Content-Length": "10"}, ""))
    app.head("/size")(lambda request: Response(200, {"Content-Length": "1234"}, ""))
    app.get("/stream")(lambda request: StreamingResponse(iter(["a"]), headers={"Content-Length": "1"}))
    s = serve(app)
    raw = request(s.port, "GET", "/right")
    assert values(raw, "content-length") == ["5"] and raw.endswith(b"\r\n\r\nhello")
    raw = request(s.port, "HEAD", "/right")
    assert values(raw, "content-length") == ["5"] and raw.endswith(b"\r\n\r\n")
    # An explicit HEAD route may announce the length of what a GET would send (RFC 9110 §9.3.2).
    raw = request(s.port, "HEAD", "/size")
    assert (status_of(raw), values(raw, "content-length")) == (200, ["1234"]) and raw.endswith(b"\r\n\r\n")
    for path in ("/wrong", "/bad", "/two", "/empty", "/stream"):
        with caplog.at_level(logging.ERROR, logger="tiercel"):
            caplog.clear()
            raw = request(s.port, "GET", path)
        assert status_of(raw) == 500, path
        assert values(raw, "content-length") == [str(len("Internal Server Error\n"))]
        assert "Content-Length" in caplog.text, path


def test_handler_transfer_encoding_and_connection_cannot_change_framing(serve, caplog):
    app = Tiercel(__file__)
    app.get("/te")(lambda request: Response(200, {"Transfer-Encoding": "chunked"}, "hello"))
    app.get("/stream")(lambda request: StreamingResponse(iter(["ab"]), headers={"Transfer-Encoding": "chunked"}))
    app.get("/gzip")(lambda request: StreamingResponse(iter(["ab"]), headers={"Transfer-Encoding": "gzip, chunked"}))
    app.get("/conn")(lambda request: Response(200, {"Connection": "keep-alive, x-hop"}, "hello"))
    s = serve(app)
    with caplog.at_level(logging.ERROR, logger="tiercel"):
        raw = request(s.port, "GET", "/te")
    assert status_of(raw) == 500 and "Transfer-Encoding" in caplog.text
    raw = request(s.port, "GET", "/stream")
    assert values(raw, "transfer-encoding") == ["chunked"] and raw.endswith(b"2\r\nab\r\n0\r\n\r\n")
    with caplog.at_level(logging.ERROR, logger="tiercel"):
        assert status_of(request(s.port, "GET", "/gzip")) == 500
    raw = request(s.port, "GET", "/conn")  # the handler's Connection is dropped; the connection's own is sent
    assert values(raw, "connection") == ["close"] and raw.endswith(b"hello")
    raw = raw_request(s.port, b"GET /conn HTTP/1.1\r\nHost: t\r\n\r\n", until_close=False)
    assert values(raw, "connection") == []


def test_compression_vary_is_not_doubled(serve):
    app = Tiercel(__file__)
    app.configure_compression(minimum_size=10, codings=["gzip"])
    app.get("/")(lambda request: Response(200, {"Vary": "Accept-Encoding", "Content-Type": "text/plain"}, "x" * 100))
    s = serve(app)
    raw = request(s.port, "GET", "/", b"Accept-Encoding: gzip\r\n")
    assert values(raw, "vary") == ["Accept-Encoding"] and values(raw, "content-encoding") == ["gzip"]


def test_cors_fields_the_response_sets_are_not_doubled(serve):
    app = Tiercel(__file__)
    ALLOW_CORS(app, ["https://a.example"])
    app.add_response_header("Vary", "Accept-Language")
    app.get("/own")(lambda request: Response(200, {"Access-Control-Allow-Origin": "https://b.example"}, "own"))
    app.get("/vary")(lambda request: Response(200, {"Vary": "origin"}, "v"))
    app.get("/plain")(lambda request: "plain")
    s = serve(app)
    origin = b"Origin: https://a.example\r\n"
    raw = request(s.port, "GET", "/own", origin)
    assert values(raw, "access-control-allow-origin") == ["https://b.example"]  # the handler's own wins
    assert values(request(s.port, "GET", "/vary", origin), "vary") == ["origin", "Accept-Language"]
    # Vary is a list: the global one, the CORS one, each adds its token on a line of its own.
    assert values(request(s.port, "GET", "/plain", origin), "vary") == ["Accept-Language", "Origin"]
    raw = request(s.port, "GET", "/nowhere", origin)  # the connection's own 404 carries the CORS fields too
    assert (values(raw, "vary"), values(raw, "access-control-allow-origin")) == (
        ["Accept-Language", "Origin"],
        ["https://a.example"],
    )


def test_one_server_header_over_http2(serve):
    app = Tiercel(__file__)
    app.get("/own")(lambda request: Response(200, {"Server": "x"}, "own"))
    app.get("/plain")(lambda request: "plain")
    app.set_response_header("Server", "myapp")
    s = serve(app)
    with httpx.Client(http1=False, http2=True, base_url=s.url) as c:
        r = c.get("/own")
        assert (r.http_version, r.headers.get_list("server"), r.text) == ("HTTP/2", ["x"], "own")
        assert c.get("/plain").headers.get_list("server") == ["myapp"]
        assert c.get("/nowhere").headers.get_list("server") == ["myapp"]


# ---------------------------------------------------------------------------------------------------
# No body, no Content-Type (RFC 9110 §15.3.5, §15.4.5)


def test_bodyless_statuses_carry_no_default_content_type(serve):
    app = Tiercel(__file__)
    app.get("/204")(lambda request: Response(204))
    app.get("/304")(lambda request: Response(304, {"ETag": '"v1"'}))
    app.get("/tuple")(lambda request: ("", 204))
    app.get("/dict")(lambda request: ({}, 204))
    app.get("/const", const=True)(lambda request: Response(204))
    app.get("/stream")(lambda request: StreamingResponse(iter([]), status_code=204))
    app.get("/typed")(lambda request: Response(204, {"Content-Type": "application/json"}))
    app.get("/ok")(lambda request: "text")
    s = serve(app)
    for method in ("GET", "HEAD"):
        for path in ("/204", "/tuple", "/dict", "/const", "/stream"):
            raw = request(s.port, method, path)
            assert status_of(raw) == 204, (method, path)
            assert values(raw, "content-type") == [] and values(raw, "content-length") == [], (method, path, raw)
            assert raw.endswith(b"\r\n\r\n")
        raw = request(s.port, method, "/304")
        assert (status_of(raw), values(raw, "content-type"), values(raw, "etag")) == (304, [], ['"v1"'])
        # A Content-Type the handler sets itself is its choice and is sent as written.
        assert values(request(s.port, method, "/typed"), "content-type") == ["application/json"]
        # HEAD of a 200 carries the GET's Content-Type (RFC 9110 §9.3.2).
        assert values(request(s.port, method, "/ok"), "content-type") == ["text/plain; charset=utf-8"]
