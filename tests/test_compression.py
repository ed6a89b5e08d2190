"""Response compression: negotiated by Accept-Encoding (gzip, br, zstd), a minimum size and a content-type
allow-list, off by default, never for already-encoded bodies, streams, file ranges or server-sent events."""

from __future__ import annotations

import gzip

import brotli
import httpx
import pytest
import zstandard

from tiercel import Response, SSEResponse, StreamingResponse, TestClient, Tiercel

TEXT = "all work and no play makes a dull server " * 100
DECODE = {
    "gzip": gzip.decompress,
    "br": brotli.decompress,
    "zstd": lambda b: zstandard.ZstdDecompressor().decompress(b),
}


def make_app(**settings) -> Tiercel:
    app = Tiercel(__file__)
    app.configure_compression(**settings)

    @app.get("/text")
    def text():
        return TEXT

    @app.get("/json")
    def json_route():
        return {"items": [TEXT[:50]] * 40}

    @app.get("/small")
    def small():
        return "tiny"

    @app.get("/binary")
    def binary():
        return TEXT.encode()  # application/octet-stream: not in the allow-list

    @app.get("/encoded")
    def encoded():
        return Response(200, {"Content-Encoding": "gzip", "Content-Type": "text/plain"}, gzip.compress(TEXT.encode()))

    @app.get("/stream")
    def stream():
        return StreamingResponse(iter([TEXT] * 3))

    @app.get("/sse")
    def sse():
        return SSEResponse(iter([TEXT]), ping_interval=0)

    @app.get("/const", const=True)
    def const():
        return TEXT

    return app


def raw(client: httpx.Client, path: str, accept: str) -> httpx.Response:
    r = client.get(path, headers={"Accept-Encoding": accept})
    return r


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_each_coding(serve, coding):
    s = serve(make_app())
    with httpx.Client(base_url=s.url) as c, c.stream("GET", "/text", headers={"Accept-Encoding": coding}) as r:
        body = b"".join(r.iter_raw())
        assert r.headers["content-encoding"] == coding
        assert r.headers["vary"] == "Accept-Encoding"
        assert int(r.headers["content-length"]) == len(body) < len(TEXT)
    assert DECODE[coding](body).decode() == TEXT


def test_negotiation(serve):
    s = serve(make_app())
    cases = {
        "gzip, br": "br",  # the server's preference among equals
        "gzip;q=1, br;q=0.5": "gzip",
        "br;q=0, gzip": "gzip",
        "*": "br",
        "*;q=0, gzip": "gzip",
        "identity": None,
        "compress, deflate": None,
        "": None,
    }
    with httpx.Client(base_url=s.url) as c:
        for accept, expected in cases.items():
            with c.stream("GET", "/text", headers={"Accept-Encoding": accept}) as r:
                assert r.headers.get("content-encoding") == expected, accept


def test_what_is_never_compressed(serve):
    s = serve(make_app())
    with httpx.Client(base_url=s.url) as c:
        for path in ("/small", "/binary", "/stream", "/sse"):
            with c.stream("GET", path, headers={"Accept-Encoding": "gzip, br"}) as r:
                assert "content-encoding" not in r.headers, path
        r = c.get("/encoded", headers={"Accept-Encoding": "br"})
        assert r.headers["content-encoding"] == "gzip" and r.text == TEXT  # left as the handler encoded it
        r = c.get("/json", headers={"Accept-Encoding": "gzip"})
        assert r.headers["content-encoding"] == "gzip" and r.json()["items"][0] == TEXT[:50]
        r = c.get("/const", headers={"Accept-Encoding": "gzip"})
        assert r.headers["content-encoding"] == "gzip" and r.text == TEXT
        r = c.head("/text", headers={"Accept-Encoding": "gzip"})
        assert r.headers["content-encoding"] == "gzip" and r.content == b""


def test_off_by_default_and_settings():
    app = Tiercel(__file__)
    app.get("/t")(lambda: TEXT)
    with TestClient(app) as client:
        r = client.get("/t", headers={"Accept-Encoding": "gzip"})
        assert "content-encoding" not in r.headers and "vary" not in r.headers
    app = make_app(minimum_size=10, content_types=["application/octet-stream"], codings=["gzip"], level=9)
    with TestClient(app) as client:
        assert client.get("/binary", headers={"Accept-Encoding": "br, gzip"}).headers["content-encoding"] == "gzip"
        assert "content-encoding" not in client.get("/text", headers={"Accept-Encoding": "gzip"}).headers
    with pytest.raises(ValueError, match="cannot compress with 'lzw'"):
        Tiercel(__file__).configure_compression(codings=["lzw"])
    with pytest.raises(ValueError, match="minimum_size"):
        Tiercel(__file__).configure_compression(minimum_size=-1)
